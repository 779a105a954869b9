"""The rating task through the pipeline: biased graph teacher, hard/soft/mixed students, MAE
and RMSE, and served lists ranked by predicted rating."""

import json

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from mmgraph.config import RunConfig
from mmgraph.pipeline import run_all
from mmgraph.runs import RunDir


def _ratings(num_users: int = 40, num_items: int = 30) -> pd.DataFrame:
    """Ratings = user mood + item quality + noise, on ~40% of the pairs."""
    rng = np.random.default_rng(0)
    users, items = np.nonzero(rng.random((num_users, num_items)) < 0.4)
    mood, quality = rng.normal(0, 0.7, num_users), rng.normal(0, 0.7, num_items)
    rating = np.clip(np.round(3.2 + mood[users] + quality[items]
                              + rng.normal(0, 0.3, len(users))), 1, 5)
    return pd.DataFrame({"user_id": users, "item_id": items, "rating": rating,
                         "timestamp": np.arange(len(users))})


def _config(tmp_path, **student) -> RunConfig:
    _ratings().to_parquet(tmp_path / "inter.parquet")
    return RunConfig.model_validate({
        "name": "rate", "runs_root": str(tmp_path / "runs"), "seed": 2, "task": "rating",
        "data": {"interactions": str(tmp_path / "inter.parquet")}, "encoders": {"text": None},
        "evaluation": {"early_stopping_metric": "rmse"},
        "teacher": {"components": ["lightgcn"], "dim": 8,
                    "optim": {"epochs": 60, "eval_every": 10, "lr": 0.05, "patience": 10}},
        "student": {"dim": 4, "optim": {"epochs": 60, "eval_every": 10, "lr": 0.05,
                                        "patience": 10}, **student}})


@pytest.mark.parametrize("kd_weight", [0.0, 0.5, 1.0])
def test_rating_run_beats_the_training_mean_and_serves_by_predicted_rating(tmp_path, kd_weight):
    cfg = _config(tmp_path, kd_weight=kd_weight)
    metrics = run_all(cfg, progress=False)
    for model in ("teacher", "student"):
        assert metrics[model]["test"]["rmse"] < 0.9 * metrics["training mean"]["test"]["rmse"]
        assert 0 < metrics[model]["test"]["mae"] <= metrics[model]["test"]["rmse"]
    run = RunDir(cfg.run_dir)
    student = load_file(str(run.path("student", "embeddings.safetensors")))
    assert student["users"].shape == (40, 4 + 2) and (student["users"][:, 4] == 1).all()
    recommended = pd.read_parquet(run.path("recommendations.parquet"))
    first = recommended[recommended["user_id"] == recommended["user_id"].iloc[0]]
    assert first["score"].is_monotonic_decreasing and first["score"].between(0, 7).all()
    state = json.loads(run.path("teacher", "state.json").read_text())
    assert state["valid_rmse"] == min(h["rmse"] for h in state["history"] if "rmse" in h)


def test_rating_task_settings_are_checked():
    base = {"name": "x", "data": {"interactions": "x.csv"}, "task": "rating"}
    with pytest.raises(ValueError, match="teacher.components: \\[lightgcn\\]"):
        RunConfig.model_validate({**base, "evaluation": {"early_stopping_metric": "rmse"}})
    with pytest.raises(ValueError, match="early_stopping_metric to rmse or mae"):
        RunConfig.model_validate({**base, "teacher": {"components": ["lightgcn"]}})
    with pytest.raises(ValueError, match="is a rating metric"):
        RunConfig.model_validate({"name": "x", "data": {"interactions": "x.csv"},
                                  "evaluation": {"early_stopping_metric": "mae"}})
