import numpy as np
import pytest

from mmgraph.data import IdMap, UserItems
from mmgraph.errors import ConfigError, DataError, RunDirError
from mmgraph.index import RetrievalIndex


def _index():
    rng = np.random.default_rng(0)
    items = rng.normal(size=(50, 8)).astype(np.float32)
    return items, RetrievalIndex.build(items, IdMap([f"i{n}" for n in range(50)], "item_id"),
                                       model_hash="abc")


def test_exact_search_excludes_seen_even_when_many_are_seen():
    items, index = _index()
    queries = np.random.default_rng(1).normal(size=(4, 8)).astype(np.float32)
    scores = queries @ items.T
    # user 0 has seen its own 30 best items: k + seen exceeds a naive first pass.
    seen_rows = [np.argsort(-scores[0])[:30], np.array([3]), np.array([], int), np.arange(45)]
    seen = UserItems(np.repeat(np.arange(4), [len(r) for r in seen_rows]),
                     np.concatenate(seen_rows), 4, 50)
    found, found_scores = index.search(queries, 10, seen, np.arange(4))
    for user in range(4):
        row = scores[user].copy()
        row[seen_rows[user]] = -np.inf
        expected = [i for i in np.argsort(-row)[:10] if np.isfinite(row[i])]
        assert found[user, :len(expected)].tolist() == expected
        assert (found[user, len(expected):] == -1).all()
    assert np.allclose(found_scores[0], np.sort(scores[0][found[0]])[::-1], atol=1e-5)


def test_save_load_and_model_mismatch(tmp_path):
    items, index = _index()
    index.save(tmp_path)
    loaded = RetrievalIndex.load(tmp_path, expected_model_hash="abc")
    query = items[:2]
    assert np.array_equal(loaded.search(query, 5)[0], index.search(query, 5)[0])
    assert loaded.item_ids.to_ids(np.array([7]))[0] == "i7"
    with pytest.raises(RunDirError, match="built from model abc"):
        RetrievalIndex.load(tmp_path, expected_model_hash="other")


def test_cosine_metric_normalises():
    items = np.array([[10.0, 0.0], [0.0, 1.0]], np.float32)
    index = RetrievalIndex.build(items, IdMap([0, 1], "item_id"), metric="cosine")
    top, _ = index.search(np.array([[0.1, 1.0]], np.float32), 1)
    assert top.tolist() == [[1]]


def test_search_users_batches_like_single_searches():
    items, index = _index()
    user_vectors = np.random.default_rng(2).normal(size=(9, 8)).astype(np.float32)
    seen = UserItems(np.array([0, 4, 8]), np.array([1, 2, 3]), 9, 50)
    users = np.array([8, 0, 4, 5])
    batched, scores = index.search_users(user_vectors, users, 5, seen, batch_size=3)
    single, single_scores = index.search(user_vectors[users], 5, seen, users)
    assert np.array_equal(batched, single) and np.allclose(scores, single_scores)


@pytest.mark.parametrize("factory", ["Flat", "HNSW16"])
def test_add_and_remove_by_id_survive_save_and_load(tmp_path, factory):
    rng = np.random.default_rng(2)
    items = rng.normal(size=(40, 8)).astype(np.float32)
    index = RetrievalIndex.build(items, IdMap([f"i{n}" for n in range(40)], "item_id"),
                                 factory=factory, model_hash="m")
    query = items[:1] * 10  # item i0 is by far its best match
    new = np.concatenate([query, rng.normal(size=(1, 8))]).astype(np.float32)
    index.remove(["i0", "i5"])
    index.add(new, ["new0", "new1"])
    index.save(tmp_path / "index")
    loaded = RetrievalIndex.load(tmp_path / "index", expected_model_hash="m")
    for current in (index, loaded):
        found, _ = current.search(query, 41)
        ids = set(current.item_ids.to_ids(found[found >= 0]))
        assert current.item_ids.to_ids(found[0, :1]).tolist() == ["new0"]
        assert ids == {f"i{n}" for n in range(40)} - {"i0", "i5"} | {"new0", "new1"}
        assert len(current) == 40
    # a seen-item filter built before the additions still applies and ignores new labels
    seen = UserItems(np.array([0]), np.array([1]), 1, 40)
    found, _ = loaded.search(query, 5, seen, np.array([0]))
    assert 1 not in found[0] and "new0" == loaded.item_ids.to_ids(found[0, :1])[0]


def test_add_rejects_known_ids_and_wrong_shapes():
    _, index = _index()
    with pytest.raises(DataError, match="already in this index"):
        index.add(np.zeros((1, 8), np.float32), ["i3"])
    with pytest.raises(DataError, match=r"shape \(1, 8\)"):
        index.add(np.zeros((1, 4), np.float32), ["x"])
    with pytest.raises(DataError, match="not among the 50 known"):
        index.remove(["nope"])
    with pytest.raises(DataError, match="ids here are strings, but 3 is not"):
        index.add(np.zeros((1, 8), np.float32), [3])  # the saved id table stays one type
    index.remove(["i3"])
    with pytest.raises(DataError, match="removed from this index already"):
        index.remove(["i3"])
    with pytest.raises(DataError, match=r"\['i3'\] were removed from this index.*new ids"):
        index.add(np.zeros((1, 8), np.float32), ["i3"])  # its label stays retired
    with pytest.raises(DataError, match="all integers or all strings"):
        RetrievalIndex.build(np.zeros((2, 8), np.float32), ["a", None])


def test_compressed_and_approximate_factories_with_search_params():
    items, _ = _index()
    ids = IdMap([f"i{n}" for n in range(50)], "item_id")
    exact = RetrievalIndex.build(items, ids).search(items[:5], 5)[0]
    for factory, params in [("SQfp16", {}), ("IVF4,Flat", {"nprobe": 4}),
                            ("HNSW16", {"efSearch": 64})]:
        approx = RetrievalIndex.build(items, ids, factory=factory).set_params(**params)
        assert (approx.search(items[:5], 5)[0] == exact).mean() >= 0.9, factory


def test_bad_factory_and_parameter_are_config_errors():
    items, index = _index()
    with pytest.raises(ConfigError, match="cannot build index 'Bogus'"):
        RetrievalIndex.build(items, index.item_ids, factory="Bogus")
    with pytest.raises(ConfigError, match="no search parameter 'nprobe'"):
        index.set_params(nprobe=4)


def test_a_loaded_index_removes_and_k_is_bounded(tmp_path):
    items, index = _index()
    index.save(tmp_path)
    loaded = RetrievalIndex.load(tmp_path)
    loaded.remove(["i3"])  # the loaded flags are writable
    found, _ = loaded.search(items[3:4], 10**12)  # cut to the catalogue, not allocated
    assert found.shape == (1, 49) and 3 not in found[0]  # 49 left after the removal
    for k in (0, -3, 2.5, True):
        with pytest.raises(ConfigError, match="k must be a whole number"):
            loaded.search(items[:1], k)


def test_a_changed_index_file_is_named_not_served(tmp_path):
    """Another valid index of the same shape, reordered ids, a garbage file, a manifest missing
    a key: each names the file instead of serving other items' answers."""
    items, index = _index()
    index.save(tmp_path)
    other = RetrievalIndex.build(items[::-1].copy(), index.item_ids, model_hash="abc")
    other.save(tmp_path / "other")
    (tmp_path / "index.faiss").write_bytes((tmp_path / "other" / "index.faiss").read_bytes())
    with pytest.raises(RunDirError, match=r"index\.faiss changed since the index was saved"):
        RetrievalIndex.load(tmp_path)
    index.save(tmp_path)
    IdMap([f"i{n}" for n in reversed(range(50))], "item_id").save(tmp_path / "item_ids.parquet")
    with pytest.raises(RunDirError, match=r"item_ids\.parquet changed"):
        RetrievalIndex.load(tmp_path)
    index.save(tmp_path)
    manifest = (tmp_path / "manifest.json").read_text()
    (tmp_path / "manifest.json").write_text(manifest.replace('"ntotal"', '"n_total"'))
    with pytest.raises(RunDirError, match=r"lacks or mistypes \['ntotal'\]"):
        RetrievalIndex.load(tmp_path)


def test_plain_ids_in_ids_out():
    """``build`` takes a plain list of ids and ``top_items`` answers in them, best first;
    a count mismatch is named."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 4)).astype(np.float32)
    ids = ["a", "b", "c", "d", "e", "f"]
    index = RetrievalIndex.build(vectors, ids)
    queries = vectors[[2, 5]] * 10
    top = index.top_items(queries, 3)
    assert top.columns.tolist() == ["query", "item_id", "rank", "score"]
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :3]
    for query in (0, 1):
        rows = top[top["query"] == query]
        assert rows["item_id"].tolist() == [ids[i] for i in expected[query]]
        assert rows["rank"].tolist() == [1, 2, 3]
    index.remove(["c"])
    assert "c" not in index.top_items(vectors[2], 6)["item_id"].tolist()
    with pytest.raises(DataError, match="5 item ids for vectors of shape"):
        RetrievalIndex.build(vectors, ids[:5])


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e39])
def test_non_finite_vectors_are_refused_by_row(bad):
    vectors = np.ones((4, 3), np.float64)
    vectors[2, 1] = bad
    with pytest.raises(DataError, match=r"vector row\(s\) \[2\] hold NaN or infinite"):
        RetrievalIndex.build(vectors, [1, 2, 3, 4])
    index = RetrievalIndex.build(np.ones((2, 3), np.float32), [1, 2], metric="cosine")
    with pytest.raises(DataError, match=r"row\(s\) \[0\]"):
        index.add(vectors[2:3].astype(np.float32) if bad != 1e39 else vectors[2:3], [9])
    index.add(np.ones((1, 3)), [9])  # the refused add changed nothing: 9 is still new
    assert len(index) == 3 and list(index.item_ids.ids) == [1, 2, 9]
    with pytest.raises(DataError, match="NaN or infinite"):
        index.search(vectors[2:3], 1)


def test_hnsw_skips_removed_items_in_the_graph_search():
    """HNSW cannot delete: its removed items stay in the graph and FAISS's ID selector skips
    them during the search, so with 90% removed a k-search still returns the k best survivors
    (those of exact search over the survivors alone)."""
    rng = np.random.default_rng(3)
    items = rng.normal(size=(500, 8)).astype(np.float32)
    ids = IdMap(np.arange(500), "item_id")
    index = RetrievalIndex.build(items, ids, factory="HNSW16").set_params(efSearch=256)
    removed = rng.choice(500, 450, replace=False)
    index.remove(removed)
    assert index.index.ntotal == 500  # still in the graph
    queries = rng.normal(size=(20, 8)).astype(np.float32)
    found, scores = index.search(queries, 10)
    survivors = np.setdiff1d(np.arange(500), removed)
    exact = survivors[np.argsort(-(queries @ items[survivors].T), axis=1)[:, :10]]
    assert not np.isin(found, removed).any() and (found >= 0).all()
    assert np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)]) >= 0.95
    assert np.all(scores[:, :-1] >= scores[:, 1:])


def test_an_id_past_int64_is_refused_before_any_change(tmp_path):
    """Issue 36: 2**70 was accepted, turned the id map into objects (every later integer id a
    'strings' error) and broke the next save half-way."""
    rng = np.random.default_rng(3)
    index = RetrievalIndex.build(rng.normal(size=(5, 4)).astype(np.float32), list(range(5)))
    with pytest.raises(DataError, match="64-bit integers, but 1180591620717411303424"):
        index.add(rng.normal(size=(1, 4)).astype(np.float32), [2**70])
    assert len(index.item_ids) == 5 and index.index.ntotal == 5
    index.add(rng.normal(size=(1, 4)).astype(np.float32), [7])  # integers still work
    index.save(tmp_path / "i")
    assert RetrievalIndex.load(tmp_path / "i").item_ids.ids.tolist() == [0, 1, 2, 3, 4, 7]


def test_a_save_that_fails_half_way_leaves_the_saved_index_as_it_was(tmp_path, monkeypatch):
    items, index = _index()
    index.save(tmp_path / "i")
    before = {p.name: p.read_bytes() for p in (tmp_path / "i").iterdir()}
    index.add(np.ones((1, 8), np.float32), ["new"])

    def fails(self, path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(IdMap, "save", fails)
    with pytest.raises(OSError, match="No space left"):
        index.save(tmp_path / "i")
    assert {p.name: p.read_bytes() for p in (tmp_path / "i").iterdir()} == before
    assert len(RetrievalIndex.load(tmp_path / "i").item_ids) == 50


def test_vectors_whose_scores_would_overflow_are_refused():
    """Issue 36: 3e38 is finite in float32, yet its scores were Infinity."""
    _, index = _index()
    with pytest.raises(DataError, match=r"row\(s\) \[0\] hold values past"):
        index.add(np.full((1, 8), 3e38, np.float32), ["huge"])
    assert len(index.item_ids) == 50


def test_a_manifest_without_keys_or_with_an_unknown_metric_is_refused(tmp_path):
    import json

    _, index = _index()
    index.save(tmp_path / "i")
    path = tmp_path / "i" / "manifest.json"
    manifest = json.loads(path.read_text())
    for edit in ({"model_hash": None}, {"metric": "euclid"}):
        broken = {k: v for k, v in {**manifest, **edit}.items() if v is not None}
        path.write_text(json.dumps(broken))
        with pytest.raises(RunDirError, match="lacks or mistypes"):
            RetrievalIndex.load(tmp_path / "i")
