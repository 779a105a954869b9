"""End-to-end: `mmgraph run` on a tiny version of configs/multimodal-demo.yaml — real images
(fashion-MNIST), real sound clips and real encoders through every stage, cold start included."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml
from safetensors.torch import load_file

from mmgraph.io import file_sha256
from tests.test_cli import mmgraph

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "multimodal-demo.yaml"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    data = folder / "data"
    raw["data"].update({"interactions": str(data / "interactions.parquet"),
                        "items": str(data / "items.parquet"), "media_root": str(data / "media")})
    raw["data"]["prepare_options"].update({"num_items": 160, "num_users": 120})
    raw["runs_root"] = str(folder / "runs")
    for section in ("teacher", "student"):
        raw[section]["optim"].update({"epochs": 20, "eval_every": 5})
    raw["student"]["optim"]["batch_size"] = 16  # 120 users: 8 steps per epoch, as the full demo has
    config = folder / "demo.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = mmgraph("run", "--config", str(config))
    assert result.returncode == 0, result.stderr
    # Items have no title column: the examples name them by the text template.
    assert "Top 5 for user" in result.stdout and " tone " in result.stdout
    return folder / "runs" / "multimodal-demo", data


@pytest.mark.slow
def test_every_modality_is_encoded_and_items_without_audio_are_masked(demo_run):
    run, data = demo_run
    items = pd.read_parquet(data / "items.parquet")
    features = load_file(run / "features" / "features.safetensors")
    masks = load_file(run / "features" / "masks.safetensors")
    assert {k: tuple(v.shape) for k, v in features.items()} == {
        "text": (160, 384), "image": (160, 1280), "audio": (160, 200)}
    assert masks["image"].bool().all()
    assert masks["audio"].bool().tolist() == (items["audio"] != "").tolist()
    # Same sound (some freedesktop clips are byte-identical copies) → same vector, else not.
    audio = features["audio"][masks["audio"].bool()]
    sounds = [file_sha256(data / "media" / p) for p in items.loc[items["audio"] != "", "audio"]]
    first = {s: audio[sounds.index(s)] for s in sounds}
    assert all(torch.equal(audio[i], first[s]) for i, s in enumerate(sounds))
    assert len({tuple(v.tolist()) for v in first.values()}) == len(first)


@pytest.mark.slow
def test_audio_graph_links_only_items_with_audio(demo_run):
    run, data = demo_run
    items = pd.read_parquet(data / "items.parquet")
    graph = load_file(run / "graph" / "graph.safetensors")
    edges = graph["item__similar_audio__item.edge_index"]
    without = torch.tensor((items["audio"] == "").to_numpy()).nonzero().flatten()
    assert edges.numel() > 0 and not torch.isin(edges, without).any()


@pytest.mark.slow
def test_new_arrivals_are_placed_from_content_and_served(demo_run):
    """Items with no interactions get mapped vectors; their nearest warm items by the served
    vectors share their true class far more often than chance (10%)."""
    run, data = demo_run
    items = pd.read_parquet(data / "items.parquet").set_index("item_id")
    new_ids = set(pd.read_parquet(data / "new_arrivals.parquet")["item_id"])
    order = pd.read_parquet(run / "ids" / "items.parquet")["item_id"].tolist()
    served = F.normalize(load_file(run / "student" / "embeddings.safetensors")["items"], dim=1)
    cold = [i for i, item in enumerate(order) if item in new_ids]
    warm = [i for i, item in enumerate(order) if item not in new_ids]
    assert cold and load_file(run / "student" / "coldstart.safetensors")
    nearest = (served[cold] @ served[warm].T).topk(5, dim=1).indices
    labels = items.loc[order, "label"].to_numpy()
    same = (labels[torch.tensor(warm)[nearest].numpy()] == labels[cold][:, None]).mean()
    assert same > 0.3, same
    indexed = set(pd.read_parquet(run / "index" / "item_ids.parquet")["item_id"])
    assert new_ids <= indexed


@pytest.mark.slow
def test_metrics_and_recommendations(demo_run):
    run, _ = demo_run
    metrics = json.loads((run / "metrics.json").read_text())
    for model in ("teacher", "student", "popularity"):
        assert 0 <= metrics[model]["test"]["ndcg@20"] <= 1
    # Simulated users with strong class tastes: the multimodal teacher beats popularity.
    assert metrics["teacher"]["test"]["ndcg@20"] > metrics["popularity"]["test"]["ndcg@20"]
    recs = pd.read_parquet(run / "recommendations.parquet")
    assert recs.groupby("user_id").size().eq(20).all()
