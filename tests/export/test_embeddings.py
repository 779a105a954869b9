import json
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from mmgraph.errors import ConfigError, RunDirError
from mmgraph.export import embeddings as export_module
from mmgraph.export import export_embeddings, read_embeddings


def _tables(rows=25, dim=4):
    rng = np.random.default_rng(0)
    return {"users": (np.array([f"u {n}é" for n in range(rows)]),
                      rng.normal(size=(rows, dim)).astype(np.float32)),
            "items": (np.arange(100, 100 + rows * 2), rng.normal(size=(rows * 2, dim)))}


@pytest.mark.parametrize("fmt", ["parquet", "npy"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_round_trip_in_shards_with_plain_readers(tmp_path, fmt, dtype):
    tables = _tables()
    manifest = export_embeddings(tables, tmp_path, format=fmt, shard_rows=10, dtype=dtype,
                                 model_hash="h", progress=False)
    assert [len(manifest["tables"][t]["shards"]) for t in ("users", "items")] == [3, 5]
    for table, (ids, vectors) in tables.items():
        got_ids, got = read_embeddings(tmp_path, table)
        assert got_ids.tolist() == ids.tolist() and got.dtype == np.dtype(dtype)
        assert np.allclose(got, vectors, atol=1e-2 if dtype == "float16" else 0)
    first = manifest["tables"]["users"]["shards"][0]["name"]
    if fmt == "parquet":  # plain pyarrow
        column = pq.read_table(tmp_path / f"{first}.parquet")["embedding"].to_pylist()
        assert np.allclose(column, tables["users"][1][:10], atol=1e-2)
    else:  # plain numpy
        assert np.load(tmp_path / f"{first}.npy").shape == (10, 4)


def test_rerun_skips_finished_shards_and_resumes_after_a_failure(tmp_path, monkeypatch):
    tables, written = _tables(), []
    real = export_module._write_shard

    def failing(folder, name, ids, vectors, fmt):
        if len(written) == 4:
            raise KeyboardInterrupt  # killed after four shards
        written.append(name)
        return real(folder, name, ids, vectors, fmt)

    monkeypatch.setattr(export_module, "_write_shard", failing)
    with pytest.raises(KeyboardInterrupt):
        export_embeddings(tables, tmp_path, shard_rows=10, model_hash="h", progress=False)
    assert not (tmp_path / "manifest.json").exists()
    with pytest.raises(RunDirError, match="manifest.json"):
        read_embeddings(tmp_path, "users")
    written.clear()
    monkeypatch.setattr(export_module, "_write_shard", real)
    monkeypatch.setattr(export_module, "_write_shard",
                        lambda *a: written.append(a[1]) or real(*a))
    export_embeddings(tables, tmp_path, shard_rows=10, model_hash="h", progress=False)
    assert written == ["part-00001", "part-00002", "part-00003", "part-00004"]  # of items
    assert np.array_equal(read_embeddings(tmp_path, "items")[1], tables["items"][1]
                          .astype(np.float32))
    written.clear()
    export_embeddings(tables, tmp_path, shard_rows=10, model_hash="other", progress=False)
    assert len(written) == 8  # another model: nothing reused


def test_corrupted_shard_is_reported_and_rewritten(tmp_path):
    tables = _tables()
    export_embeddings(tables, tmp_path, shard_rows=10, model_hash="h", progress=False)
    (tmp_path / "items" / "part-00000.parquet").write_bytes(b"garbage")
    with pytest.raises(RunDirError, match="part-00000.*checksum"):
        read_embeddings(tmp_path, "items")


def test_bad_arguments_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="format must be one of"):
        export_embeddings(_tables(), tmp_path, format="csv", model_hash="h")
    with pytest.raises(ConfigError, match="unknown table"):
        export_embeddings(_tables(), tmp_path, what=["videos"], model_hash="h")
    with pytest.raises(ConfigError, match="model_hash"):
        export_embeddings(_tables(), tmp_path)


KILLED_EXPORT = """
import sys, numpy as np
from mmgraph.export import export_embeddings
rng = np.random.default_rng(1)
tables = {"items": (np.arange(200_000), rng.normal(size=(200_000, 64)).astype(np.float32))}
export_embeddings(tables, sys.argv[1], ["items"], shard_rows=1_000, model_hash="h",
                  progress=False)
"""


@pytest.mark.parametrize("shards_before_kill", [1, 40])
def test_killed_export_process_resumes_to_the_same_result(tmp_path, shards_before_kill):
    """SIGKILL a real export (200 shards) once its partial manifest records some shards; the
    rerun completes, reuses the finished shards and matches an unbroken export."""
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, str(out)])
    deadline, done = time.monotonic() + 120, 0
    while done < shards_before_kill and time.monotonic() < deadline:
        try:  # replaced atomically while we read: a complete old or new file
            done = len(json.loads((out / "manifest.partial.json").read_text())["shards"])
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert done >= shards_before_kill
    assert not (out / "manifest.json").exists(), "killed too late to test resuming"
    recorded = json.loads((out / "manifest.partial.json").read_text())["shards"]
    written = {f: (out / f).stat().st_mtime_ns for shard in recorded.values()
               for f in shard["sha256"]}
    subprocess.run([sys.executable, "-c", KILLED_EXPORT, str(out)], check=True)
    assert {f: (out / f).stat().st_mtime_ns for f in written} == written  # reused, not rewritten
    ids, vectors = read_embeddings(out, "items")
    expected = np.random.default_rng(1).normal(size=(200_000, 64)).astype(np.float32)
    assert np.array_equal(ids, np.arange(200_000)) and np.array_equal(vectors, expected)
    assert not list(out.glob("*/.*.tmp")) and not (out / "manifest.partial.json").exists()


def test_ranks_split_the_shards_and_the_merge_equals_one_process(tmp_path):
    from mmgraph.export import merge_export_manifests

    tables = _tables()
    single = export_embeddings(tables, tmp_path / "one", shard_rows=10, model_hash="h",
                               progress=False)
    parts = [export_embeddings(tables, tmp_path / "ranks", shard_rows=10, model_hash="h",
                               progress=False, rank=r, world_size=3) for r in range(3)]
    owned = [[s["name"] for s in p["tables"]["items"]["shards"]] for p in parts]
    assert owned == [["items/part-00000", "items/part-00003"],
                     ["items/part-00001", "items/part-00004"], ["items/part-00002"]]
    assert not (tmp_path / "ranks" / "manifest.json").exists()
    merged = merge_export_manifests(tmp_path / "ranks")
    assert merged == single  # same shards, same checksums, same manifest
    assert not list((tmp_path / "ranks").glob("manifest.rank-*"))
    for table, (ids, vectors) in tables.items():
        got_ids, got = read_embeddings(tmp_path / "ranks", table)
        assert got_ids.tolist() == ids.tolist() and np.allclose(got, vectors)


def test_merge_refuses_until_every_rank_is_done(tmp_path):
    from mmgraph.export import merge_export_manifests

    with pytest.raises(RunDirError, match="no manifest.rank"):
        merge_export_manifests(tmp_path)
    export_embeddings(_tables(), tmp_path, shard_rows=10, model_hash="h", progress=False,
                      rank=0, world_size=2)
    with pytest.raises(RunDirError, match="1 finished rank manifest"):
        merge_export_manifests(tmp_path)
    export_embeddings(_tables(), tmp_path, shard_rows=10, model_hash="h", progress=False,
                      rank=1, world_size=2)
    (tmp_path / "items" / "part-00003.parquet").unlink()
    with pytest.raises(RunDirError, match=r"items/part-00003.*rerun the export"):
        merge_export_manifests(tmp_path)


def test_a_foreign_temporary_name_is_left_alone_and_records_stay_linear(tmp_path, monkeypatch):
    """Issue 36: a stray ``.part-abc.mmgraph.tmp`` raised ``int('abc.m')``; and the partial
    manifest was rewritten whole after every shard (quadratic: 4,000 shards took 138 s)."""
    import mmgraph.export.embeddings as embeddings

    (tmp_path / "items").mkdir(parents=True)
    foreign = tmp_path / "items" / ".part-abc.mmgraph.tmp"
    foreign.write_text("not ours")
    writes = []
    real = embeddings.write_json
    monkeypatch.setattr(embeddings, "write_json",
                        lambda path, obj: (writes.append(path.name), real(path, obj)))
    rng = np.random.default_rng(0)
    tables = {"items": (np.arange(2_000), rng.normal(size=(2_000, 4)).astype(np.float32))}
    manifest = export_embeddings(tables, tmp_path, ["items"], shard_rows=1, model_hash="h",
                                 progress=False)
    assert len(manifest["tables"]["items"]["shards"]) == 2_000
    assert foreign.read_text() == "not ours"
    assert writes.count("manifest.partial.json") < 120  # about 10 ln(2000) + 10, not 2,000
    ids, vectors = read_embeddings(tmp_path, "items")
    assert np.array_equal(ids, np.arange(2_000)) and np.allclose(vectors, tables["items"][1])
