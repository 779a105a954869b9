"""Read TensorFlow (v1/v2 "bundle") checkpoints in pure Python, without TensorFlow.

A checkpoint ``prefix`` has ``prefix.index`` — a LevelDB-format table (SSTable) whose keys are
tensor names and whose values are ``BundleEntryProto`` messages (dtype, shape, shard, offset,
size) — and ``prefix.data-00000-of-00001`` holding the raw little-endian tensor bytes.
Only what reading float/int tensors needs is implemented; nothing is executed or unpickled.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

__all__ = ["read_tf_checkpoint"]

_MAGIC = 0xDB4775248B80FB57
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64}  # TF DataType enum


def _varint(buffer: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buffer[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _protobuf_fields(buffer: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of a serialized protobuf message, in order."""
    fields, pos = [], 0
    while pos < len(buffer):
        tag, pos = _varint(buffer, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buffer, pos)
        elif wire == 2:
            length, pos = _varint(buffer, pos)
            value, pos = buffer[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buffer, pos)[0], pos + 4
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buffer, pos)[0], pos + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.append((number, value))
    return fields


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """Key/value entries of one SSTable block (keys are prefix-compressed)."""
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 * (num_restarts + 1)
    entries, pos, key = [], 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_length, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        entries.append((key, block[pos:pos + value_length]))
        pos += value_length
    return entries


def _read_block(data: bytes, handle: bytes) -> bytes:
    offset, pos = _varint(handle, 0)
    size, _ = _varint(handle, pos)
    if data[offset + size] != 0:
        raise ValueError("compressed checkpoint index blocks are not supported")
    return data[offset:offset + size]


def read_tf_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint at ``prefix`` (``ckpt/model`` for ``ckpt/model.index``;
    ``ckpt/`` when the files are named ``ckpt/.index``, as musicnn's are)."""
    prefix = str(prefix)
    folder, name = os.path.split(prefix)
    index = Path(prefix + ".index").read_bytes()
    footer = index[-48:]
    if struct.unpack_from("<Q", footer, 40)[0] != _MAGIC:
        raise ValueError(f"{prefix}.index is not a TensorFlow checkpoint index")
    _, pos = _varint(footer, 0)  # metaindex handle: offset, size
    _, pos = _varint(footer, pos)
    index_block = _read_block(index, footer[pos:])
    shards: dict[int, bytes] = {}
    tensors = {}
    for _, handle in _block_entries(index_block):
        for key, value in _block_entries(_read_block(index, handle)):
            if not key:
                continue  # the header entry
            entry = dict.fromkeys(("dtype", "shard", "offset", "size"), 0)
            shape = []
            for number, field in _protobuf_fields(value):
                if number == 1:
                    entry["dtype"] = field
                elif number == 2:
                    shape = [next(v for n, v in _protobuf_fields(dim) if n == 1)
                             for n, dim in _protobuf_fields(field) if n == 2]
                elif number in (3, 4, 5):
                    entry[("shard", "offset", "size")[number - 3]] = field
            if entry["dtype"] not in _DTYPES:
                continue  # strings and other types are not weights
            shard = entry["shard"]
            if shard not in shards:
                total = len(list(Path(folder).glob(name + ".data-*")))
                shards[shard] = Path(f"{prefix}.data-{shard:05d}-of-{total:05d}").read_bytes()
            raw = shards[shard][entry["offset"]:entry["offset"] + entry["size"]]
            tensors[key.decode()] = np.frombuffer(raw, dtype=_DTYPES[entry["dtype"]]).reshape(shape)
    return tensors
