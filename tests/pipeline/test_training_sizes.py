"""How the teacher and student stages size their steps: a full-batch whole-data teacher, and a
student whose batch grows so that an epoch has at most ``steps_per_epoch`` steps."""

import json
import math

import pandas as pd

from mmgraph.config import RunConfig
from mmgraph.pipeline import STAGES
from mmgraph.runs import RunDir


def test_whole_loss_teacher_steps_full_batch_and_student_batch_grows(tmp_path,
                                                                     tiny_interactions):
    tiny_interactions.to_csv(tmp_path / "inter.csv", index=False)
    cfg = RunConfig.model_validate({
        "name": "sizes", "seed": 1, "runs_root": str(tmp_path / "runs"),
        "data": {"interactions": str(tmp_path / "inter.csv")},
        "teacher": {"components": ["lightgcn"], "loss": "whole", "unobserved_weight": 0.5,
                    "dim": 8, "optim": {"reg": 0.1, "lr": 0.01, "epochs": 6, "eval_every": 3}},
        "student": {"dim": 4, "optim": {"batch_size": 4, "steps_per_epoch": 3, "epochs": 2,
                                        "eval_every": 1}}})
    run = RunDir(cfg.run_dir)
    for stage in ("split", "encode", "graph", "teacher", "student"):
        STAGES[stage](cfg, run, progress=False)
    train = pd.read_parquet(run.root / "splits" / "train.parquet")
    teacher = json.loads((run.root / "teacher" / "state.json").read_text())
    assert teacher["batch_size"] == len(train)  # one step per epoch over every interaction
    assert [r["epoch"] for r in teacher["history"]] == list(range(1, 7))
    assert all(math.isfinite(r["loss"]) for r in teacher["history"])
    student = json.loads((run.root / "student" / "state.json").read_text())
    assert student["batch_size"] == math.ceil(train["user_id"].nunique() / 3)  # 40 users: 14
