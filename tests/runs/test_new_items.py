"""New items served from content after training: the student stage's own cold-start path."""

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from mmgraph.config import load_config
from mmgraph.errors import DataError
from mmgraph.pipeline import run_all
from mmgraph.runs import RunDir, load_split
from mmgraph.recommender import Recommender


@pytest.fixture(scope="module", params=["feature", "decision", "model"])
def finished(tmp_path_factory, request):
    """40 users × 30 items with genres; items 25-29 have no interactions (cold); the teacher
    fuses the genres at each fusion level."""
    folder = tmp_path_factory.mktemp("new-items")
    rng = np.random.default_rng(0)
    genre = np.arange(30) % 3
    users, items = np.nonzero(rng.random((40, 25)) < 0.2 + 0.5 * (genre[:25] == np.arange(40)[
        :, None] % 3))
    pd.DataFrame({"user_id": users, "item_id": items}).to_parquet(folder / "inter.parquet")
    pd.DataFrame({"item_id": np.arange(30), "genre": [f"g{g}|all" for g in genre]}).to_parquet(
        folder / "items.parquet")
    (folder / "c.yaml").write_text(
        f"name: run\nruns_root: {folder / 'runs'}\nseed: 1\n"
        f"data: {{interactions: {folder / 'inter.parquet'}, items: {folder / 'items.parquet'}}}\n"
        "encoders: {text: null, categorical: {columns: [genre]}}\n"
        f"teacher: {{dim: 8, fusion_level: {request.param}, optim: {{epochs: 6, eval_every: 2}}}}\n"
        "student: {dim: 8, coldstart_steps: 100, optim: {epochs: 6, eval_every: 2}}\n")
    run_all(load_config(folder / "c.yaml"), progress=False)
    return RunDir(folder / "runs" / "run"), folder


def test_added_items_get_the_vectors_the_student_stage_gave_cold_items(finished):
    run, folder = finished
    recommender = Recommender.load(run.root)
    table = pd.read_parquet(folder / "items.parquet")
    cold = table[table["item_id"] >= 25].assign(item_id=lambda f: f["item_id"] + 100)
    vectors = recommender.add_items(cold)
    served = load_file(str(run.path("student", "embeddings.safetensors")))["items"]
    rows = load_split(run).items.indices(pd.Series(range(25, 30)), "test")
    np.testing.assert_allclose(vectors, served[rows], atol=1e-5)
    assert set(recommender.index.item_ids.ids) >= set(range(125, 130))
    everything = recommender.recommend([0], k=len(recommender.index.item_ids))
    assert set(everything["item_id"]) & set(range(125, 130))  # recommendable at once


def test_unknown_tokens_are_left_out_and_known_ids_refused(finished):
    run, _ = finished
    recommender = Recommender.load(run.root)
    fresh = recommender.add_items(pd.DataFrame({"item_id": [500], "genre": ["never-seen"]}))
    assert fresh.shape == (1, 8) and np.isfinite(fresh).all()
    with pytest.raises(DataError, match="already in this index"):
        recommender.add_items(pd.DataFrame({"item_id": [3], "genre": ["g0"]}))
    with pytest.raises(DataError, match="item_id column"):
        recommender.add_items(pd.DataFrame({"id": [600], "genre": ["g0"]}))
