"""Rating prediction on MovieLens-100K (``task: rating``) against surprise's SVD and SVD++.

Every row is scored on the quickstart's own split (per-user 80/10/10, seed 2026) by MAE and
RMSE of the held-out ratings; peers are tuned on **valid** RMSE over the grids printed beside
them and scored once on test:

- the training mean, and surprise's ``BaselineOnly`` (global mean + user and item biases,
  ALS-fitted) — the bias baselines;
- surprise's ``SVD`` (biased MF, Funk/Koren) and ``SVDpp`` (SVD++, Koren KDD 2008), the
  library's own implementations;
- mmgraph's rating teacher (LightGCN with the MiniLM text fused, plus biases) and the 32-d ID
  student distilled from it with hard labels (the true ratings, ``kd_weight`` 0), soft labels
  (the teacher's predictions on rated and random unrated pairs, 1) and a mix (0.5).

Usage:
    python bench/rating.py          # about 10 min on 2 cores
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from common import run_stages, table
from data_prep.movielens import prepare_ml100k
from mmgraph.config import load_config
from mmgraph.data.tables import ITEM, RATING, USER
from mmgraph.io import read_json
from mmgraph.pipeline import STAGES

ROOT = Path(__file__).resolve().parents[1]
METRICS = ["test RMSE", "test MAE", "valid RMSE", "setting", "fit s"]
#: The rating settings over configs/quickstart.yaml (its text encoder, graph and split).
RATING_TASK = {"task": "rating", "evaluation": {"early_stopping_metric": "rmse"},
          "teacher": {"components": ["lightgcn"], "dim": 64,
                      "optim": {"lr": 0.005, "reg": 0.05, "batch_size": 4096, "epochs": 300,
                                "eval_every": 5, "patience": 4}},
          "student": {"dim": 32,
                      "optim": {"lr": 0.005, "reg": 0.05, "batch_size": 1024, "epochs": 300,
                                "eval_every": 5, "patience": 4, "min_improvement": 0.0}}}
STUDENTS = {"hard labels (true ratings)": 0.0, "mixed labels (0.5)": 0.5,
            "soft labels (the teacher's predictions)": 1.0}


def errors(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    error = predicted - truth
    return {"MAE": float(np.abs(error).mean()), "RMSE": float(np.sqrt((error ** 2).mean()))}


def surprise_rows(parts: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """The bias baselines, SVD and SVD++, each tuned on valid RMSE, scored once on test."""
    from surprise import SVD, BaselineOnly, Dataset, Reader, SVDpp

    frame = parts["train"][[USER, ITEM, RATING]]
    trainset = Dataset.load_from_df(frame, Reader(rating_scale=(1, 5))).build_full_trainset()
    mean = float(frame[RATING].mean())
    rows = {"training mean": {**_scored({p: np.full(len(parts[p]), mean)
                                          for p in ("valid", "test")}, parts), "setting": ""}}
    grids = {
        "BaselineOnly (surprise: mean + user and item biases, ALS)": (
            lambda **s: BaselineOnly(bsl_options={"method": "als", **s}, verbose=False),
            {"reg_i": [5, 10, 25], "reg_u": [5, 15, 30]}),
        "SVD (surprise)": (lambda **s: SVD(random_state=2026, **s),
                           {"n_factors": [50, 100], "lr_all": [0.005, 0.01],
                            "reg_all": [0.02, 0.05, 0.1], "n_epochs": [20, 40]}),
        "SVD++ (surprise)": (lambda **s: SVDpp(random_state=2026, cache_ratings=True, **s),
                             {"n_factors": [20, 50], "lr_all": [0.005, 0.007],
                              "reg_all": [0.02, 0.05], "n_epochs": [20]}),
    }
    for name, (build, grid) in grids.items():
        best = None
        for values in itertools.product(*grid.values()):
            setting = dict(zip(grid, values))
            started = time.perf_counter()
            model = build(**setting)
            model.fit(trainset)
            seconds = time.perf_counter() - started
            predicted = {p: np.array([model.predict(u, i).est for u, i in
                                      zip(parts[p][USER], parts[p][ITEM])])
                         for p in ("valid", "test")}
            scored = _scored(predicted, parts)
            if best is None or scored["valid RMSE"] < best["valid RMSE"]:
                best = {**scored, "fit s": f"{seconds:.1f}",
                        "setting": ", ".join(f"{k}={v}" for k, v in setting.items())}
        rows[name] = best
    return rows


def _scored(predicted: dict[str, np.ndarray], parts: dict[str, pd.DataFrame]) -> dict:
    valid = errors(predicted["valid"], parts["valid"][RATING].to_numpy())
    test = errors(predicted["test"], parts["test"][RATING].to_numpy())
    return {"test RMSE": test["RMSE"], "test MAE": test["MAE"], "valid RMSE": valid["RMSE"]}


def mmgraph_rows(tables: tuple[Path, Path], runs: Path, cache: Path
                 ) -> tuple[dict, dict[str, pd.DataFrame]]:
    """The rating teacher and the three students (one run each; they share the teacher);
    ``cache``: the text feature cache (content-addressed, shareable between benchmarks)."""
    rows, parts = {}, {}
    for index, (name, kd_weight) in enumerate(STUDENTS.items()):
        overrides = {**RATING_TASK, "student": {**RATING_TASK["student"],
                                                "kd_weight": kd_weight}}
        cfg = load_config(ROOT / "configs" / "quickstart.yaml", overrides={
            "name": "rating", "runs_root": str(runs), **overrides,
            "encoders": {"cache_dir": str(cache)},
            "data": {"interactions": str(tables[0]), "items": str(tables[1])}})
        seconds: dict[str, float] = {}
        run = run_stages(cfg, list(STAGES), seconds)
        metrics = read_json(run.path("metrics.json"))
        if index == 0:
            rows["mmgraph teacher: LightGCN + text + biases"] = {
                **_metric_row(metrics["teacher"]), "fit s": f"{seconds['teacher']:.0f}",
                "setting": "dim 64, 3 layers"}
            parts = {p: pd.read_parquet(run.path("splits", f"{p}.parquet"))
                     for p in ("train", "valid", "test")}
        rows[f"mmgraph student 32-d: {name}"] = {
            **_metric_row(metrics["student"]), "fit s": f"{seconds['student']:.0f}",
            "setting": f"kd_weight {kd_weight}"}
    return rows, parts


def _metric_row(metrics: dict) -> dict:
    return {"test RMSE": metrics["test"]["rmse"], "test MAE": metrics["test"]["mae"],
            "valid RMSE": metrics["valid"]["rmse"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench-rating")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "bench-peers" / "cache",
                        help="text feature cache (shared with bench/peers.py)")
    parser.add_argument("--mmgraph-only", action="store_true", help="skip the surprise peers")
    args = parser.parse_args()
    tables = prepare_ml100k(args.runs / "data")
    rows, parts = mmgraph_rows(tables, args.runs, args.cache)
    if args.mmgraph_only:
        print(table(rows, METRICS))
        return
    peers = surprise_rows(parts)
    print(f"ml-100k ratings, quickstart split (per-user 80/10/10, seed 2026); "
          f"{platform.machine()}, {torch.get_num_threads()} threads\n")
    print(table({**peers, **rows}, METRICS))
    best = min((r for n, r in peers.items()), key=lambda r: r["test RMSE"])
    teacher = rows["mmgraph teacher: LightGCN + text + biases"]
    print(f"\nteacher test RMSE / best peer's: {teacher['test RMSE'] / best['test RMSE']:.3f}")
    for name in STUDENTS:
        student = rows[f"mmgraph student 32-d: {name}"]
        print(f"student ({name}) test MAE / teacher's: "
              f"{student['test MAE'] / teacher['test MAE']:.3f}")


if __name__ == "__main__":
    main()
