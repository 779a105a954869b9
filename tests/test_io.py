"""Every artifact reader turns a missing, truncated or foreign file into a RunDirError that
names the file (never a library traceback)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mmgraph.errors import RunDirError
from mmgraph.io import (read_arrays, read_faiss_index, read_json, read_parquet, read_tensors,
                        write_json, write_parquet, write_tensors)


@pytest.mark.parametrize("reader, writer, value", [
    (read_tensors, write_tensors, {"x": torch.arange(1000.0)}),
    (read_arrays, write_tensors, {"x": torch.arange(1000.0)}),
    (read_parquet, write_parquet, pd.DataFrame({"a": range(1000)})),
    (read_json, write_json, {"a": list(range(100))}),
])
def test_truncated_artifacts_are_named(tmp_path, reader, writer, value):
    path = tmp_path / "artifact"
    writer(path, value)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(RunDirError, match=str(path)):
        reader(path)


@pytest.mark.parametrize("reader", [read_tensors, read_arrays, read_parquet, read_json,
                                    read_faiss_index])
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


def test_read_arrays_maps_what_safetensors_reads(tmp_path):
    """Every dtype and shape safetensors itself reads back, the same values, mapped from the file
    read-only (not a copy in memory); a header entry pointing past the file's end is named."""
    from safetensors.numpy import load_file

    path = tmp_path / "embeddings.safetensors"
    generator = torch.Generator().manual_seed(0)
    write_tensors(path, {"users": torch.randn(50, 8, generator=generator),
                         "half": torch.randn(7, generator=generator).half(),
                         "ids": torch.arange(5), "flags": torch.tensor([True, False]),
                         "empty": torch.zeros(0, 4)}, metadata={"model": "student"})
    mapped, expected = read_arrays(path), load_file(str(path))
    assert set(mapped) == set(expected)
    for name, array in expected.items():
        assert mapped[name].dtype == array.dtype and np.array_equal(mapped[name], array), name
    assert not mapped["users"].flags.writeable and not mapped["users"].flags.owndata

    header_length = int.from_bytes(path.read_bytes()[:8], "little")
    forged = path.read_bytes()[8:8 + header_length].replace(b"[40,1640]", b"[40,99999]")
    assert forged != path.read_bytes()[8:8 + header_length]
    path.write_bytes(len(forged).to_bytes(8, "little") + forged
                     + path.read_bytes()[8 + header_length:])
    with pytest.raises(RunDirError, match="'users' does not fit"):
        read_arrays(path)


def test_a_failed_write_names_the_artifact_it_was_writing(tmp_path):
    import errno

    from mmgraph.io import atomic_path

    with pytest.raises(OSError) as raised:
        with atomic_path(tmp_path / "metrics.json"):
            raise OSError(errno.ENOSPC, "No space left on device")  # how a full disk looks
    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename == str(tmp_path / "metrics.json")
    assert list(tmp_path.iterdir()) == []  # no temporary file left


def test_a_full_disk_while_writing_tensors_is_an_os_error_naming_the_file(tmp_path,
                                                                        monkeypatch):
    """Issue 36: safetensors reports a full disk as SafetensorError, which the CLI's disk-full
    handler (OSError) missed: a traceback."""
    import errno

    import safetensors.torch
    import torch
    from safetensors import SafetensorError

    from mmgraph.io import write_tensors

    def full(*args, **kwargs):  # what safetensors raises on a full tmpfs, verbatim
        raise SafetensorError("Error while serializing: I/O error: No space left on device "
                              "(os error 28)")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    with pytest.raises(OSError) as raised:
        write_tensors(tmp_path / "features.safetensors", {"a": torch.zeros(3)})
    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename == str(tmp_path / "features.safetensors")
    assert list(tmp_path.iterdir()) == []
