"""Batch export of user/item embeddings as sharded Parquet or ``.npy`` files with a manifest.

Layout of ``out_dir``::

    manifest.json                      # model hash, format, dtype, per table: dim, rows, shards
    users/part-00000.parquet           # columns: id, embedding (fixed-size list of floats)
    items/part-00000.npy               # format="npy": [rows, dim] array (numpy.load)
    items/part-00000.ids.parquet       #   and its ids (column ``id``), readable by pyarrow

Every shard is written to a temporary name and renamed, and recorded with its SHA-256 in
``manifest.partial.json`` as soon as it is complete; a rerun with the same model and settings
skips the shards whose files still match, so a killed export resumes and never leaves a half
shard. ``manifest.json`` appears only when every shard is done.

Several processes (``rank`` of ``world_size``, e.g. from torchrun or a job array) split the
shards round-robin; each records its own in ``manifest.rank-<rank>.json``, and
:func:`merge_export_manifests` checks that every shard is there and writes ``manifest.json``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from mmgraph.data.ids import IdMap
from mmgraph.errors import ConfigError, RunDirError
from mmgraph.export.manifest import Manifest, PartialManifest, RankManifest, read_manifest
from mmgraph.io import TEMP_SUFFIX, atomic_path, file_sha256, write_json
from mmgraph.runs import (RunDir, layout, refuse_run_artifact_folder, served_embeddings,
                         verify_served_files)

__all__ = ["export_embeddings", "merge_export_manifests", "read_embeddings", "run_embeddings"]

log = logging.getLogger(__name__)

FORMATS = ("parquet", "npy")
DTYPES = ("float32", "float16")

#: table name → (ids ``[N]``, vectors ``[N, dim]``)
Embeddings = Mapping[str, tuple[np.ndarray, np.ndarray]]


def run_embeddings(run_dir: str | Path, model: str = "student") -> tuple[dict, str]:
    """The served embeddings of a finished run's ``model`` (``student`` or ``teacher``) with
    their original ids, and the hash of the file they came from."""
    run = RunDir(run_dir)
    digests = verify_served_files(run, tuple(a.path for a in (
        layout.USER_IDS, layout.ITEM_IDS, layout.model_file(model, "embeddings"))))
    user_vectors, item_vectors, model_hash = served_embeddings(run, model, digests)
    users = IdMap.load(run.path(layout.USER_IDS)).ids.to_numpy()
    items = IdMap.load(run.path(layout.ITEM_IDS)).ids.to_numpy()
    return {"users": (users, user_vectors), "items": (items, item_vectors)}, model_hash


def _write_shard(folder: Path, name: str, ids: np.ndarray, vectors: np.ndarray,
                 fmt: str) -> list[str]:
    """Write one shard atomically; return its file names (relative to ``folder``)."""
    files = layout.export_shard_files(name, fmt)
    if fmt == "parquet":
        flat = pa.array(vectors.reshape(-1))
        table = pa.table({"id": pa.array(ids),
                          "embedding": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])})
        with atomic_path(folder / files[0]) as tmp:
            pq.write_table(table, tmp)
        return list(files)
    with atomic_path(folder / files[0]) as tmp:
        pq.write_table(pa.table({"id": pa.array(ids)}), tmp)
    with atomic_path(folder / files[1]) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, vectors, allow_pickle=False)
    return list(files)


def _shard_done(out_dir: Path, shard: dict) -> bool:
    return all((out_dir / f).is_file() and file_sha256(out_dir / f) == digest
               for f, digest in shard["sha256"].items())


def export_embeddings(model: str | Path | Embeddings, out_dir: str | Path,
                      what: Iterable[str] = ("users", "items"), format: str = "parquet",
                      shard_rows: int = 100_000, dtype: str = "float32",
                      model_hash: str | None = None, progress: bool = True, rank: int = 0,
                      world_size: int = 1) -> dict:
    """Export embeddings in shards of ``shard_rows`` rows; returns the manifest (with
    ``world_size > 1``: this rank's part, to merge with :func:`merge_export_manifests`).

    Args:
        model: a finished run directory (its served student embeddings), or a mapping
            ``table → (ids [N], vectors [N, dim])`` with ``model_hash`` given.
        what: tables to export (``users``, ``items``).
        format: ``parquet`` (ids and vectors in one file) or ``npy`` (vectors; ids beside).
        dtype: ``float32`` or ``float16`` (half the bytes, for serving).
    """
    if format not in FORMATS or dtype not in DTYPES or shard_rows < 1:
        raise ConfigError(f"export: format must be one of {FORMATS}, dtype one of {DTYPES}, "
                          f"shard_rows >= 1; got {format!r}, {dtype!r}, {shard_rows}")
    if not 0 <= rank < world_size:
        raise ConfigError(f"export: rank {rank} is not in [0, world_size {world_size})")
    if isinstance(model, (str, Path)):
        tables, model_hash = run_embeddings(model)
    elif model_hash is None:
        raise ConfigError("export: pass model_hash with in-memory embeddings")
    else:
        tables = model
    refuse_run_artifact_folder(out_dir, "export_embeddings out_dir")
    what = list(what)
    unknown = [t for t in what if t not in tables]
    if unknown:
        raise ConfigError(f"export: unknown table(s) {unknown}; choose from {sorted(tables)}")
    out_dir = Path(out_dir)
    for stray in out_dir.glob(f"*/.part-*{TEMP_SUFFIX}"):  # a killed run's: never a shard
        number = re.match(r"\.part-(\d{5})", stray.name)  # another name is not ours to touch
        if number and int(number[1]) % world_size == rank:  # not another rank's
            stray.unlink(missing_ok=True)
    settings = {"model_hash": model_hash, "format": format, "dtype": dtype,
                "shard_rows": shard_rows}
    partial_path = out_dir / (layout.EXPORT_PARTIAL_MANIFEST if world_size == 1
                              else layout.export_rank_manifest(rank))
    done = _finished_shards(partial_path, world_size, settings)
    manifest = {**settings, "tables": {}}
    unrecorded = 0  # shards written since the partial manifest was last written
    for table in what:
        ids, vectors = tables[table]
        vectors = np.asarray(vectors)  # no copy: a run's are mapped, read shard by shard
        starts = range(0, len(ids), shard_rows)
        shards = []
        for number, start in enumerate(tqdm(starts, desc=f"export {table}", disable=not progress,
                                            unit="shard")):
            if number % world_size != rank:
                continue
            name = f"{table}/part-{number:05d}"
            shard = done.get(name)
            if shard is None or not _shard_done(out_dir, shard):
                stop = start + shard_rows
                files = _write_shard(out_dir / table, name.split("/")[1], ids[start:stop],
                                     np.ascontiguousarray(vectors[start:stop], dtype=dtype),
                                     format)
                shard = {"rows": len(ids[start:stop]), "start": start,
                         "sha256": {f"{table}/{f}": file_sha256(out_dir / table / f)
                                    for f in files}}
                done[name] = shard
                unrecorded += 1
                # Recorded after every shard at first, then every tenth of those done: a
                # killed export redoes at most that tenth, and the records cost O(n log n)
                # bytes instead of O(n^2) (4,000 shards took 138 s).
                if unrecorded >= max(1, len(done) // 10):
                    write_json(partial_path, {"settings": settings, "shards": done})
                    unrecorded = 0
            shards.append({"name": name, **shard})
        manifest["tables"][table] = {"rows": len(ids), "dim": int(vectors.shape[1]),
                                     "shards": shards}
    if world_size > 1:
        write_json(partial_path, {"settings": settings, "shards": done, "complete": True,
                                  "world_size": world_size, "tables": {
                                      t: {"rows": m["rows"], "dim": m["dim"]}
                                      for t, m in manifest["tables"].items()}})
        return manifest
    write_json(out_dir / layout.EXPORT_MANIFEST, manifest)
    partial_path.unlink(missing_ok=True)
    log.info("export: %s to %s", {t: m["rows"] for t, m in manifest["tables"].items()}, out_dir)
    return manifest


def _finished_shards(partial_path: Path, world_size: int, settings: dict) -> dict:
    """The shards an earlier export with the same ``settings`` recorded in ``partial_path``
    (name → rows, start, sha256); none when there is no such file or it cannot be trusted."""
    if not partial_path.is_file():
        return {}
    try:
        partial = read_manifest(partial_path, RankManifest if world_size > 1
                                else PartialManifest)
    except RunDirError as exc:
        log.warning("%s; every shard is written again", exc)
        return {}
    return partial["shards"] if partial["settings"] == settings else {}


def merge_export_manifests(out_dir: str | Path) -> dict:
    """Join the ranks' ``manifest.rank-*.json`` into ``manifest.json`` once every rank has
    finished and every shard is on disk with its checksum; returns the manifest."""
    out_dir = Path(out_dir)
    parts = [read_manifest(p, RankManifest)
             for p in sorted(out_dir.glob(layout.EXPORT_RANK_MANIFEST_GLOB))]
    if not parts:
        raise RunDirError(f"{out_dir} has no manifest.rank-*.json: run the export on every rank "
                          f"(RANK/WORLD_SIZE set) first")
    world = parts[0]["world_size"]
    if len(parts) != world or not all(p["complete"] for p in parts) or any(
            (p["settings"], p["world_size"], p["tables"]) != (parts[0]["settings"], world,
                                                              parts[0]["tables"]) for p in parts):
        raise RunDirError(f"{out_dir}: {len(parts)} finished rank manifest(s) with matching "
                          f"settings, expected {world}; rerun the missing ranks' export")
    shards = {name: shard for p in parts for name, shard in p["shards"].items()}
    manifest = {**parts[0]["settings"], "tables": {}}
    for table, info in parts[0]["tables"].items():
        count = -(-info["rows"] // parts[0]["settings"]["shard_rows"])
        names = [f"{table}/part-{n:05d}" for n in range(count)]
        bad = [n for n in names if n not in shards or not _shard_done(out_dir, shards[n])]
        if bad:
            raise RunDirError(f"{out_dir}: shard(s) {bad[:5]} missing or not matching their "
                              f"checksums; rerun the export of the ranks that own them")
        manifest["tables"][table] = {**info, "shards": [{"name": n, **shards[n]} for n in names]}
    write_json(out_dir / layout.EXPORT_MANIFEST, manifest)
    for path in out_dir.glob(layout.EXPORT_RANK_MANIFEST_GLOB):
        path.unlink()
    return manifest


def read_embeddings(out_dir: str | Path, table: str) -> tuple[np.ndarray, np.ndarray]:
    """One exported table back: ids ``[N]`` and vectors ``[N, dim]`` (checksums verified)."""
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir / layout.EXPORT_MANIFEST, Manifest)
    if table not in manifest["tables"]:
        raise RunDirError(f"{out_dir} has no exported '{table}'; it holds "
                          f"{sorted(manifest['tables'])}")
    ids, vectors = [], []
    for shard in manifest["tables"][table]["shards"]:
        if not _shard_done(out_dir, shard):
            raise RunDirError(f"{out_dir}/{shard['name']} is missing or does not match its "
                              f"checksum; rerun the export")
        files = [out_dir / name for name in layout.export_shard_files(shard["name"],
                                                                       manifest["format"])]
        if manifest["format"] == "parquet":
            frame = pq.read_table(files[0])
            ids.append(frame["id"].to_numpy())
            vectors.append(np.asarray(frame["embedding"].combine_chunks().flatten())
                           .reshape(shard["rows"], -1))
        else:
            ids.append(pq.read_table(files[0])["id"].to_numpy())
            vectors.append(np.load(files[1], allow_pickle=False))
    if not ids:
        dim = manifest["tables"][table]["dim"]
        return np.empty(0, object), np.empty((0, dim), manifest["dtype"])
    return np.concatenate(ids), np.concatenate(vectors).astype(manifest["dtype"], copy=False)

