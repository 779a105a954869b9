"""The sequential student through the whole pipeline: served like the ID student."""

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from mmgraph.config import RunConfig
from mmgraph.errors import ConfigError, DataError
from mmgraph.evaluation import evaluate_embeddings
from mmgraph.pipeline import run_all
from mmgraph.runs import RunDir, load_split
from mmgraph.recommender import Recommender


def _config(tmp_path, frame, **student) -> RunConfig:
    frame.to_csv(tmp_path / "inter.csv", index=False)
    return RunConfig.model_validate({
        "name": "seq", "runs_root": str(tmp_path / "runs"), "seed": 3,
        "data": {"interactions": str(tmp_path / "inter.csv")}, "encoders": {"text": None},
        "split": {"kind": "temporal_per_user", "valid": 1, "test": 1},
        "teacher": {"dim": 8, "optim": {"epochs": 4, "eval_every": 2}},
        "student": {"kind": "sequential", "dim": 8, "max_length": 6, "layers": 1,
                    "optim": {"epochs": 4, "eval_every": 2}, **student}})


def test_sequential_student_is_served_through_the_index(tmp_path, tiny_interactions):
    cfg = _config(tmp_path, tiny_interactions)
    metrics = run_all(cfg, progress=False)
    run = RunDir(cfg.run_dir)
    served = load_file(str(run.path("student", "embeddings.safetensors")))
    assert served["users"].shape == (40, 8) and served["items"].shape == (30, 8)
    # The test ranks from sequences through the valid item (each user here has one), valid
    # from train only: the vectors differ, and the test metrics are the test vectors'.
    assert served["test_users"].shape == (40, 8)
    assert not np.isclose(served["test_users"], served["users"]).all(axis=1).any()
    data = load_split(run)
    expected = evaluate_embeddings(torch.tensor(served["test_users"]),
                                   torch.tensor(served["items"]), data.parts["test"],
                                   data.parts["train"], (20,))
    assert metrics["student"]["test"]["ndcg@20"] == pytest.approx(expected["ndcg@20"], abs=1e-6)
    assert 0 <= metrics["student"]["test"]["ndcg@20"] <= 1
    assert "temporal" in metrics["protocol"]["split"]
    answer = Recommender.load(run.root).recommend(["0", "1"], 5)
    assert len(answer) == 10 and set(answer["source"]) == {"model"}
    state = json.loads(run.path("student", "state.json").read_text())
    assert state["best_epoch"] in (2, 4)


def test_sequential_student_needs_timestamps(tmp_path, tiny_interactions):
    cfg = _config(tmp_path, tiny_interactions, kd_weight=0.0).model_copy(
        update={"split": RunConfig.model_fields["split"].default})
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={
        "columns": cfg.data.columns.model_copy(update={"timestamp": None})})})
    with pytest.raises(ConfigError, match="student.kind sequential needs the interactions' "
                                          "timestamps"):
        run_all(cfg, progress=False)


def test_users_with_one_training_item_each(tmp_path):
    """Issue 36: with every user keeping one training item (3 interactions, one valid, one
    test), the next-item loss had no term and backward raised 'element 0 of tensors does not
    require grad'. Without a teacher term that is a clear error; with one, training runs."""
    import pandas as pd

    rows = [(user, (user * 7 + n) % 20, n) for user in range(30) for n in range(3)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    with pytest.raises(DataError, match="no user has two training interactions"):
        run_all(_config(tmp_path, frame, kd_weight=0.0), progress=False)
    (tmp_path / "kd").mkdir()
    metrics = run_all(_config(tmp_path / "kd", frame, kd_weight=0.5), progress=False)
    assert 0 <= metrics["student"]["test"]["ndcg@20"] <= 1
