"""Export manifests that were edited, cut short or written by something else: one error naming
the file (never a traceback, never a file outside the export folder), or a fresh start."""

import json
import logging

import numpy as np
import pytest

from mmgraph.errors import RunDirError
from mmgraph.export import export_embeddings, merge_export_manifests, read_embeddings


def _tables():
    rng = np.random.default_rng(0)
    return {"users": (np.arange(12), rng.normal(size=(12, 3)).astype(np.float32))}


def _edited(manifest: dict, edit: str) -> object:
    shard = manifest["tables"]["users"]["shards"][0]
    if edit == "not an object":
        return [manifest]
    if edit == "missing key":
        return {k: v for k, v in manifest.items() if k != "dtype"}
    if edit == "rows as text":
        shard["rows"] = "5"
    elif edit == "unknown format":
        manifest["format"] = "pickle"
    elif edit == "shard outside":
        shard["name"] = "../../outside/part-00000"
    elif edit == "file outside":
        shard["sha256"] = {"/etc/passwd": "0" * 64}
    return manifest


@pytest.mark.parametrize("edit", ["not an object", "missing key", "rows as text",
                                  "unknown format", "shard outside", "file outside"])
def test_a_damaged_manifest_is_named_by_the_reader(tmp_path, edit):
    export_embeddings(_tables(), tmp_path, ["users"], shard_rows=5, model_hash="h", progress=False)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(_edited(json.loads(path.read_text()), edit)))
    with pytest.raises(RunDirError, match="manifest.json is not an export manifest"):
        read_embeddings(tmp_path, "users")


def test_a_damaged_partial_manifest_means_writing_every_shard_again(tmp_path, caplog):
    (tmp_path / "manifest.partial.json").write_text('{"settings": 3, "shards": []}')
    with caplog.at_level(logging.WARNING):
        export_embeddings(_tables(), tmp_path, ["users"], shard_rows=5, model_hash="h",
                          progress=False)
    assert "every shard is written again" in caplog.text
    ids, vectors = read_embeddings(tmp_path, "users")
    assert ids.tolist() == list(range(12)) and np.array_equal(vectors, _tables()["users"][1])


def test_a_damaged_rank_manifest_stops_the_merge(tmp_path):
    for rank in (0, 1):
        export_embeddings(_tables(), tmp_path, ["users"], shard_rows=5, model_hash="h",
                          progress=False,
                          rank=rank, world_size=2)
    path = tmp_path / "manifest.rank-00001.json"
    part = json.loads(path.read_text())
    part["world_size"] = "2"
    path.write_text(json.dumps(part))
    with pytest.raises(RunDirError, match="manifest.rank-00001.json .*world_size"):
        merge_export_manifests(tmp_path)
