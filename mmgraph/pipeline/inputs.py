"""The stages' inputs read back as tensors: the items table, the encoded features, and a part
of the split with one of its columns (timestamps, ratings)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch

from mmgraph.config import DataConfig
from mmgraph.data.tables import ITEM, TIMESTAMP, USER, load_items
from mmgraph.errors import ConfigError
from mmgraph.io import read_parquet, read_tensors
from mmgraph.runs import IndexedSplit, RunDir, layout

__all__ = ["load_items_table", "features", "pairs_with_column", "has_timestamps"]


def load_items_table(data: DataConfig) -> pd.DataFrame | None:
    """The config's items table (``None`` without one)."""
    return load_items(data.items, data.columns.item) if data.items else None


def features(run: RunDir) -> dict[str, torch.Tensor]:
    """Modality → item content vectors ``[I, d_m]`` (the encode stage's output)."""
    return read_tensors(run.path(layout.FEATURES))


def pairs_with_column(run: RunDir, data: IndexedSplit, column: str, source: Path,
                      needed_by: str, part: str = "train") -> tuple[torch.Tensor, pd.DataFrame]:
    """A split ``part``'s pairs ``[2, E]`` (user, item indices) and the part itself (with its
    ``column`` ``[E]``); a :class:`ConfigError` saying that ``needed_by`` needs ``column`` when
    ``source`` (the interactions table) lacks it."""
    path = run.path(layout.split_part(part))
    frame = read_parquet(path)
    if column not in frame:
        raise ConfigError(f"{needed_by} needs the interactions' {column}s, but {source} has no "
                          f"{column} column; set data.columns.{column} or change {needed_by}.")
    pairs = torch.from_numpy(np.stack([data.users.indices(frame[USER], str(path)),
                                       data.items.indices(frame[ITEM], str(path))]))
    return pairs, frame


def has_timestamps(run: RunDir) -> bool:
    """Whether the saved training interactions carry timestamps."""
    return TIMESTAMP in pq.read_schema(run.path(layout.split_part("train"))).names
