"""Property tests: whatever bytes a user's table holds, loading it either succeeds with a valid
frame or raises a DataError that names the file; never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmgraph.config import ColumnsConfig
from mmgraph.data.tables import ITEM, USER, load_interactions, load_items
from mmgraph.errors import DataError

CELLS = st.one_of(st.text(max_size=6), st.integers(-3, 10 ** 12).map(str),
                  st.sampled_from(["", "nan", "NaN", "inf", "-inf", "1e309", " ", "1,5", "é 1",
                                   "\"", "None", "5.0"]))
HEADERS = st.lists(st.sampled_from(["user_id", "item_id", "rating", "timestamp", "title",
                                    "user", "", "item_id"]), min_size=0, max_size=5)


@st.composite
def csv_tables(draw) -> str:
    header = draw(HEADERS)
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=len(header) + 1), max_size=8))
    return "\n".join([",".join(header)] + [",".join(row) for row in rows])


def _check(load, text: str, suffix: str = ".csv"):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"table{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            return load(path)
        except DataError as error:
            assert "table" in str(error), str(error)  # names the file
            return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_tables())
def test_interactions_load_or_fail_clearly(text):
    columns = ColumnsConfig(rating="rating")
    frame = _check(lambda p: load_interactions(p, columns), text)
    if frame is not None:
        assert len(frame) > 0 and frame[USER].notna().all() and frame[ITEM].notna().all()
        assert np.isfinite(frame["rating"].to_numpy(float)).all()


@settings(max_examples=200, deadline=None)
@given(csv_tables())
def test_items_load_or_fail_clearly(text):
    frame = _check(load_items, text)
    if frame is not None:
        assert frame[ITEM].is_unique and frame[ITEM].notna().all()


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64), st.sampled_from([".csv", ".tsv", ".parquet"]))
def test_arbitrary_bytes_load_or_fail_clearly(data, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"table{suffix}"
        path.write_bytes(data)
        try:
            load_interactions(path)
        except DataError as error:
            assert "table" in str(error)
