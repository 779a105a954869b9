"""Maps between original ids (as users wrote them) and dense internal indices ``0..n-1``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mmgraph.errors import DataError
from mmgraph.io import write_parquet

__all__ = ["IdMap"]


class IdMap:
    """An ordered set of ids; the position of an id is its internal index."""

    def __init__(self, ids: pd.Index | np.ndarray | list, name: str):
        self.ids = pd.Index(ids, name=name)
        if not self.ids.is_unique:
            raise DataError(f"{name} ids must be unique; duplicates: "
                            f"{self.ids[self.ids.duplicated()].unique()[:5].tolist()}")
        self.name = name

    def __len__(self) -> int:
        return len(self.ids)

    def indices(self, values: pd.Series | np.ndarray, source: str) -> np.ndarray:
        """Internal indices of ``values``; an unknown id is a :class:`DataError` naming it."""
        positions = self.ids.get_indexer(pd.Index(values))
        unknown = positions < 0
        if unknown.any():
            examples = pd.Index(values)[unknown].unique()[:5].tolist()
            raise DataError(f"{source}: {int(unknown.sum())} row(s) name {self.name} id(s) that "
                            f"are not known, e.g. {examples}. Add them to the items table or "
                            f"drop those rows.")
        return positions.astype(np.int64)

    def to_ids(self, indices: np.ndarray) -> np.ndarray:
        return self.ids.to_numpy()[indices]

    def save(self, path: str | Path) -> None:
        write_parquet(path, pd.DataFrame({self.name: self.ids.to_numpy()}))

    @classmethod
    def load(cls, path: str | Path) -> "IdMap":
        frame = pd.read_parquet(path)
        name = frame.columns[0]
        return cls(frame[name].to_numpy(), name=name)
