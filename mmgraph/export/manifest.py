"""The export's manifests, checked on every read: a manifest edited by hand, cut short or
written by something else is one error naming the file, never a traceback, and the files it
names cannot lie outside the export folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from mmgraph.errors import RunDirError
from mmgraph.io import read_json

__all__ = ["Settings", "Manifest", "PartialManifest", "RankManifest", "read_manifest"]

_TABLE = r"[A-Za-z0-9_-][A-Za-z0-9_.-]*"  # no path separator, never "." or ".."
ShardName = Annotated[str, StringConstraints(pattern=rf"^{_TABLE}/part-[0-9]{{5}}$")]
ShardFile = Annotated[str, StringConstraints(
    pattern=rf"^{_TABLE}/part-[0-9]{{5}}(\.ids)?\.(parquet|npy)$")]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Settings(_Strict):
    """What an export was made from and how; a resumed export reuses shards only when equal."""

    model_hash: str | None
    format: Literal["parquet", "npy"]
    dtype: Literal["float32", "float16"]
    shard_rows: int = Field(ge=1)


class Shard(_Strict):
    rows: int = Field(ge=0)
    start: int = Field(ge=0)
    sha256: dict[ShardFile, str]


class NamedShard(Shard):
    name: ShardName


class TableShape(_Strict):
    rows: int = Field(ge=0)
    dim: int = Field(ge=0)


class Table(TableShape):
    shards: list[NamedShard]


class Manifest(Settings):
    """``manifest.json``: the finished export."""

    tables: dict[str, Table]


class PartialManifest(_Strict):
    """``manifest.partial.json``: the shards a single-process export has finished so far."""

    settings: Settings
    shards: dict[ShardName, Shard]


class RankManifest(PartialManifest):
    """``manifest.rank-<r>.json``: one rank's part; ``complete``, with the world size and the
    tables' shapes, once the rank has finished (the merge waits for every rank's)."""

    complete: bool = False
    world_size: int | None = Field(None, ge=1)
    tables: dict[str, TableShape] | None = None


def read_manifest(path: Path, kind: type[_Strict]) -> dict:
    """The manifest at ``path`` as a dict, checked against ``kind`` (one of this module's
    classes), or a :class:`RunDirError` naming the file and what is wrong in it."""
    content = read_json(path)
    try:
        return kind.model_validate(content).model_dump()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the top level"
        raise RunDirError(f"{path} is not an export manifest mmgraph wrote ({where}: "
                          f"{first['msg']}; {exc.error_count()} problem(s)); export again into "
                          f"an empty folder.") from exc
