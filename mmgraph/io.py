"""Atomic artifact I/O: every file is written to a temporary name in its folder, then renamed.

A reader therefore sees either the old file or the complete new one, never a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
from safetensors import SafetensorError

from mmgraph.errors import RunDirError

if TYPE_CHECKING:  # imported where used: serving reads arrays and starts without torch
    import faiss
    import torch

__all__ = [
    "atomic_path",
    "write_json",
    "read_json",
    "write_parquet",
    "write_tensors",
    "read_tensors",
    "read_arrays",
    "read_parquet",
    "read_faiss_index",
    "file_sha256",
    "TEMP_SUFFIX",
]

_UMASK = os.umask(0o022)  # read once (os.umask can only be read by setting it) ...
os.umask(_UMASK)  # ... and restored at once

#: Suffix of every temporary file this project writes, so clean-up after a killed process
#: deletes only its own files.
TEMP_SUFFIX = ".mmgraph.tmp"


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp's 0600 → what open() would have made
        os.replace(tmp_path, path)
    except OSError as exc:
        if exc.filename is not None or exc.errno is None:
            raise
        # a failed write (a full disk, say) names no file: name the artifact being written
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    finally:
        tmp_path.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def read_json(path: str | os.PathLike) -> Any:
    path = _existing(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path} is not valid JSON ({exc}); delete it and rerun its "
                          f"stage.") from exc


def write_parquet(path: str | os.PathLike, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor],
                  metadata: dict[str, str] | None = None) -> None:
    """Save tensors as safetensors (no code execution on load, unlike pickle)."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        try:
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp),
                      metadata=metadata)
        except SafetensorError as exc:  # an I/O failure (a full disk) is an OSError inside
            code = re.search(r"\(os error (\d+)\)", str(exc))
            if code is None:
                raise
            raise OSError(int(code[1]), os.strerror(int(code[1])), str(path)) from exc


def read_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A safetensors file as torch tensors."""
    from safetensors.torch import load_file

    return _read_safetensors(path, load_file)


#: safetensors dtype names → NumPy's (little-endian, as the format stores them)
_NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
                 "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def read_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A safetensors file as read-only NumPy arrays mapped from the file (no torch import:
    what serving and export read).

    Nothing is read until it is used: a table larger than RAM is served row by row and exported
    shard by shard, the operating system's page cache holding what is in use. The layout is
    safetensors' own (an 8-byte little-endian header length, a JSON header of ``dtype``,
    ``shape`` and ``data_offsets`` per tensor, then the bytes); every entry is checked against
    the file's size before it is mapped, so a truncated file is named, never a crash later."""
    path = _existing(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            if not 2 <= length <= size - 8:
                raise ValueError(f"header length {length} does not fit the file")
            header = json.loads(handle.read(length))
        start = 8 + length  # the tensors' bytes, which the data_offsets count from
        body = np.memmap(path, np.uint8, "r", offset=start) if size > start else \
            np.zeros(0, np.uint8)
        arrays = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            dtype, shape = np.dtype(_NUMPY_DTYPES[entry["dtype"]]), tuple(entry["shape"])
            begin, end = entry["data_offsets"]
            if not 0 <= begin <= end <= len(body) or end - begin != dtype.itemsize * int(
                    np.prod(shape)):
                raise ValueError(f"tensor {name!r} does not fit the file")
            arrays[name] = body[begin:end].view(dtype).reshape(shape)
        return arrays
    except (OSError, ValueError, KeyError, TypeError, AttributeError,
            UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
        raise _unreadable(path, "safetensors", exc) from exc


def _read_safetensors(path: str | os.PathLike, load_file: Any) -> dict[str, Any]:
    path = _existing(path)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise _unreadable(path, "safetensors", exc) from exc


def read_parquet(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """A Parquet artifact of a run; a missing, corrupt or column-less file is a
    :class:`RunDirError` naming it."""
    path = _existing(path)
    try:
        return pd.read_parquet(path, columns=columns)
    except (pa.ArrowException, OSError, ValueError, KeyError) as exc:
        raise _unreadable(path, "Parquet", exc) from exc


def read_faiss_index(path: str | os.PathLike) -> faiss.Index:
    import faiss  # here, not at the top: most users of this module never read an index

    path = _existing(path)
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        raise _unreadable(path, "FAISS index", str(exc).strip().splitlines()[-1]) from exc


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path} does not exist: run the stage that writes it first.")
    return path


def _unreadable(path: Path, kind: str, reason: object) -> RunDirError:
    return RunDirError(f"{path} is not a readable {kind} file ({reason}): it was truncated or "
                       f"replaced. Rerun the stage that writes it (or restore the file).")


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
