"""Read and validate the two input tables: interactions and items (CSV, TSV or Parquet).

After loading, columns carry canonical names (``user_id``, ``item_id``, ``rating``,
``timestamp``) whatever the user's files call them; ids keep their original values: strings
exactly as written in CSV/TSV (``007`` is not ``7``), the stored type in Parquet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mmgraph.config import ColumnsConfig
from mmgraph.errors import DataError

__all__ = ["require_file", "read_table", "load_interactions", "load_items", "USER", "ITEM",
           "RATING", "TIMESTAMP"]

USER, ITEM, RATING, TIMESTAMP = "user_id", "item_id", "rating", "timestamp"
_READERS = {".csv": ",", ".tsv": "\t"}


def require_file(path: str | Path) -> Path:
    """``path`` as a Path if it is a file; else a :class:`DataError` saying how to fix it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Table {path} does not exist. Check the path in the config's data "
                        f"section (relative paths are read from the config file's folder).")
    return path


def read_table(path: str | Path, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a ``.csv``, ``.tsv`` or ``.parquet`` file; errors name the file and the fix.

    In text files, ``text_columns`` (the ids) are read as the strings they are: ``007`` and
    ``7`` stay two ids (an empty cell, ``NA`` or ``null`` is a missing id: an error naming the
    row). Parquet columns keep their stored types."""
    path = require_file(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix in _READERS:
            frame = pd.read_csv(path, sep=_READERS[suffix], dtype={c: str for c in text_columns})
        else:
            raise DataError(f"Table {path} has suffix '{suffix}'; use .csv, .tsv or .parquet.")
    except DataError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"Table {path} is empty: it needs a header row and data rows.") from exc
    except Exception as exc:  # pyarrow/pandas raise many types for corrupt files
        raise DataError(f"Table {path} could not be read as {suffix[1:]}: {exc}") from exc
    if frame.empty:
        raise DataError(f"Table {path} has no data rows.")
    return frame


def _require_columns(frame: pd.DataFrame, path: Path, needed: dict[str, str]) -> None:
    missing = {role: col for role, col in needed.items() if col not in frame.columns}
    if missing:
        wanted = ", ".join(f"'{col}' ({role})" for role, col in missing.items())
        raise DataError(f"Table {path} lacks column(s) {wanted}; it has {list(frame.columns)}. "
                        f"Rename them or set data.columns in the config.")


def _bad_rows(mask: np.ndarray, limit: int = 5) -> str:
    rows = np.flatnonzero(mask)[:limit] + 1
    more = f" and {int(mask.sum()) - limit} more" if mask.sum() > limit else ""
    return ", ".join(str(r) for r in rows) + more


_INT64_LOW, _INT64_HIGH = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


def _checked_ids(frame: pd.DataFrame, path: Path, column: str) -> pd.Series:
    """The id column, every value an integer or every value a string (a categorical column
    as its values); anything else is a :class:`DataError` naming the file, column and row."""
    ids = frame[column]
    if isinstance(ids.dtype, pd.CategoricalDtype):
        ids = ids.astype(ids.cat.categories.dtype)
    missing = (ids.isna() | ids.eq("")).to_numpy(bool)  # a NaN, None or "" is no id
    if missing.any():
        raise DataError(f"Table {path} column '{column}' is empty in data row(s) "
                        f"{_bad_rows(missing)} (1-based, header excluded). Every row needs an id.")
    kind = pd.api.types.infer_dtype(ids, skipna=False)
    if kind not in ("string", "integer"):
        odd = ~ids.map(lambda v: isinstance(v, (str, int, np.integer))
                       and not isinstance(v, (bool, np.bool_))).to_numpy(bool)
        if not odd.any():  # integers and strings mixed: the rows unlike the first one
            first = isinstance(ids.iloc[0], str)
            odd = (ids.map(lambda v: isinstance(v, str)) != first).to_numpy(bool)
        value = ids[odd].iloc[0]
        example = value.item() if isinstance(value, np.generic) else value
        raise DataError(f"Table {path} column '{column}' has ids of dtype {ids.dtype} ({kind}) "
                        f"in data row(s) {_bad_rows(odd)} (1-based, header excluded), e.g. "
                        f"{example!r}; ids must be all integers or all strings.")
    if kind == "integer" and (ids.dtype == object or pd.api.types.is_unsigned_integer_dtype(
            ids)):  # Python ints or uint64: any past int64's range is named, not wrapped
        huge = (ids.to_numpy() > np.uint64(_INT64_HIGH)) if ids.dtype != object else \
            ~ids.map(lambda v: _INT64_LOW <= v <= _INT64_HIGH).to_numpy(bool)
        if huge.any():
            raise DataError(f"Table {path} column '{column}' has ids outside the 64-bit "
                            f"integer range in data row(s) {_bad_rows(huge)} (1-based, header "
                            f"excluded), e.g. {int(ids[huge].iloc[0])}; ids must fit in int64 "
                            f"({_INT64_LOW} to {_INT64_HIGH}): renumber them or give them as "
                            f"strings.")
        ids = ids.astype(np.int64)
    if not pd.api.types.is_integer_dtype(ids):
        text = ids.astype(str)
        padded = (text != text.str.strip()).to_numpy()
        if padded.any():
            raise DataError(f"Table {path} column '{column}' has ids with leading or trailing "
                            f"whitespace in data row(s) {_bad_rows(padded)} (1-based, header "
                            f"excluded), e.g. {text[padded].iloc[0]!r}. Ids are kept exactly "
                            f"as written, so ' 7' and '7' would be two ids: strip them.")
    return ids


def _check_numeric(frame: pd.DataFrame, path: Path, column: str) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=float))
    if bad.any():
        raise DataError(f"Table {path} column '{column}' is missing, non-numeric, NaN or inf in "
                        f"data row(s) {_bad_rows(bad)} (1-based, header excluded). Fix or drop "
                        f"those rows.")
    return values


def load_interactions(path: str | Path, columns: ColumnsConfig = ColumnsConfig()) -> pd.DataFrame:
    """Load interactions as a frame with ``user_id, item_id`` and, when present, ``rating,
    timestamp``. Every interaction counts as a positive. A rating or timestamp column named in
    the config must exist; left at its default name, it is used when the table has it."""
    path = Path(path)
    frame = read_table(path, (columns.user, columns.item))
    roles = {USER: columns.user, ITEM: columns.item}
    roles.update({role: col for role, col in ((RATING, columns.rating),
                                              (TIMESTAMP, columns.timestamp))
                  if col and (col in frame.columns or role in columns.model_fields_set)})
    _require_columns(frame, path, roles)
    frame = frame[list(roles.values())].rename(columns={v: k for k, v in roles.items()})
    for column in (USER, ITEM):
        frame[column] = _checked_ids(frame, path, column)
    for column in (RATING, TIMESTAMP):
        if column in frame:
            frame[column] = _check_numeric(frame, path, column)
    return frame.reset_index(drop=True)


def load_items(path: str | Path, item_column: str = "item_id") -> pd.DataFrame:
    """Load the items table; its id column is renamed ``item_id``, other columns are kept."""
    path = Path(path)
    frame = read_table(path, (item_column,))
    _require_columns(frame, path, {ITEM: item_column})
    frame = frame.rename(columns={item_column: ITEM})
    frame[ITEM] = _checked_ids(frame, path, ITEM)
    duplicated = frame[ITEM].duplicated().to_numpy()
    if duplicated.any():
        examples = frame[ITEM][duplicated].unique()[:5].tolist()
        raise DataError(f"Table {path} lists item id(s) {examples} more than once (data rows "
                        f"{_bad_rows(duplicated)}); each item needs exactly one row.")
    return frame.reset_index(drop=True)
