"""Every artifact reader turns a missing, truncated or foreign file into a RunDirError that
names the file (never a library traceback)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from mmgraph.errors import RunDirError
from mmgraph.io import (read_faiss_index, read_json, read_parquet, read_tensors, write_json,
                        write_parquet, write_tensors)


@pytest.mark.parametrize("reader, writer, value", [
    (read_tensors, write_tensors, {"x": torch.arange(1000.0)}),
    (read_parquet, write_parquet, pd.DataFrame({"a": range(1000)})),
    (read_json, write_json, {"a": list(range(100))}),
])
def test_truncated_artifacts_are_named(tmp_path, reader, writer, value):
    path = tmp_path / "artifact"
    writer(path, value)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(RunDirError, match=str(path)):
        reader(path)


@pytest.mark.parametrize("reader", [read_tensors, read_parquet, read_json, read_faiss_index])
def test_missing_and_garbage_files_are_named(tmp_path, reader):
    path = tmp_path / "artifact"
    with pytest.raises(RunDirError, match="does not exist"):
        reader(path)
    path.write_bytes(b"\x00\xff garbage " * 10)
    with pytest.raises(RunDirError, match=str(path)):
        reader(path)


def test_a_parquet_file_without_the_columns_asked_for_is_named(tmp_path):
    write_parquet(tmp_path / "t.parquet", pd.DataFrame({"a": [1]}))
    with pytest.raises(RunDirError, match="t.parquet"):
        read_parquet(tmp_path / "t.parquet", ["user_id"])


def test_artifacts_get_the_permissions_open_would_give(tmp_path):
    """Temporary files are created 0600; the renamed artifact follows the umask like any file
    the user's tools write (0644 under the usual 022), not 0600."""
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    write_json(tmp_path / "a.json", {"a": 1})
    (tmp_path / "plain").write_text("x")
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode \
        & 0o777 == 0o666 & ~umask
