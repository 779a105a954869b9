"""Maps between original ids (as users wrote them) and dense internal indices ``0..n-1``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mmgraph.errors import DataError, RunDirError
from mmgraph.io import read_parquet, write_parquet

__all__ = ["IdMap"]


class IdMap:
    """An ordered set of ids; the position of an id is its internal index."""

    def __init__(self, ids: pd.Index | np.ndarray | list, name: str):
        self.ids = pd.Index(ids, name=name)
        kind = pd.api.types.infer_dtype(self.ids, skipna=False)
        if len(self.ids) and (kind not in ("integer", "string") or self.ids.hasnans):
            raise DataError(f"{name} ids must be all integers or all strings, none missing; "
                            f"got {kind} values such as {self.ids[:3].tolist()}")
        if not self.ids.is_unique:
            raise DataError(f"{name} ids must be unique; duplicates: "
                            f"{self.ids[self.ids.duplicated()].unique()[:5].tolist()}")
        self.name = name

    def __len__(self) -> int:
        return len(self.ids)

    def indices(self, values: pd.Series | np.ndarray | list, source: str, fix: str = ""
                ) -> np.ndarray:
        """Internal indices of ``values``; an unknown id, or an id of the other kind (the
        string ``"7"`` where ids are integers), is a :class:`DataError` naming it (and
        ``fix``, what to do about it)."""
        positions = self.positions(values, source)
        unknown = positions < 0
        if unknown.any():
            examples = pd.Index(values)[unknown].unique()[:5].tolist()
            raise DataError(f"{source}: {int(unknown.sum())} {self.name} value(s) are not "
                            f"among the {len(self)} known {self.name}s, e.g. {examples}. "
                            f"{fix}".rstrip())
        return positions

    def positions(self, values: pd.Series | np.ndarray | list, source: str) -> np.ndarray:
        """Internal indices of ``values``, ``-1`` where an id is unknown; ids of the other kind
        are a :class:`DataError` as in :meth:`indices`."""
        return self.ids.get_indexer(self._same_kind(values, source)).astype(np.int64)

    def extended(self, new_ids: pd.Index | np.ndarray | list, source: str) -> "IdMap":
        """A new map with ``new_ids`` appended (of the same kind; none already known)."""
        new_ids = self._same_kind(new_ids, source)
        return IdMap(self.ids.append(new_ids), self.name)

    def _same_kind(self, values: pd.Series | np.ndarray | list, source: str) -> pd.Index:
        """``values`` as an index, if integer where these ids are integers and not otherwise
        (``7`` and ``"7"`` never match silently, and a mixed table could not be saved)."""
        values = pd.Index(values)
        integers = pd.api.types.is_integer_dtype(self.ids)
        wanted = "integer" if integers else "string"  # of every value, however large
        if len(values) and len(self) and pd.api.types.infer_dtype(values, skipna=False) != wanted:
            example = next((v for v in values if not (
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) if integers
                else isinstance(v, str))), values[0])
            raise DataError(f"{source}: {self.name} ids here are "
                            f"{'integers' if integers else 'strings'}, but {example!r} is not; "
                            f"pass every {self.name} id as {'an int' if integers else 'a str'}.")
        if integers and len(values) and values.dtype == object:  # Python ints, maybe huge
            low, high = np.iinfo(np.int64).min, np.iinfo(np.int64).max
            huge = [v for v in values if not low <= v <= high]
            if huge:
                raise DataError(f"{source}: {self.name} ids here are 64-bit integers, but "
                                f"{huge[0]!r} is out of their range ({low} to {high}); use a "
                                f"smaller id.")
            values = values.astype(np.int64)
        return values

    def to_ids(self, indices: np.ndarray) -> np.ndarray:
        return self.ids.to_numpy()[indices]

    def save(self, path: str | Path) -> None:
        write_parquet(path, pd.DataFrame({self.name: self.ids.to_numpy()}))

    @classmethod
    def load(cls, path: str | Path) -> "IdMap":
        frame = read_parquet(path)
        if len(frame.columns) != 1:
            raise RunDirError(f"{path} should hold one id column, not {list(frame.columns)}; "
                              f"rerun the stage that writes it.")
        name = frame.columns[0]
        return cls(frame[name].to_numpy(), name=name)
