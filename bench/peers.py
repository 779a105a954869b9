"""Peers side by side with mmgraph's teacher and student on the quickstart's own split.

Every model is tuned on the **valid** split only, over the grid printed beside it; the chosen
setting is then scored once on **test**, with mmgraph's evaluator (full ranking over all
items, the user's train items excluded, Recall/NDCG@20):

- EASE (Steck, WWW 2019): closed form ``B = I - P diag(1/diag P)``, ``P = (X^T X + lambda I)^-1``
  (no library ships it for this stack; it is the paper's three lines);
- iALS from the ``implicit`` library (``implicit.cpu.als.AlternatingLeastSquares``), confidence
  ``alpha * r``;
- GF-CF (Shen et al., CIKM 2021), the training-free graph filter: linear filter over the
  normalised item–item graph plus ``alpha`` times the ideal low-pass filter from a truncated
  SVD of the normalised interaction matrix;
- PyG's ``torch_geometric.nn.models.LightGCN`` with PyG's examples/lightgcn.py recipe, early
  stopped on valid (``--pyg``; its full-graph ``edge_index`` propagation takes ~40 min here);
- popularity;
- mmgraph's teacher components and blends, and students, each a pipeline run of
  ``configs/quickstart.yaml`` with one config change (the ablation rows).

Usage:
    python bench/peers.py           # about 15 min on 2 cores
    python bench/peers.py --pyg     # + PyG's LightGCN
    python bench/peers.py --split temporal_per_user --held-out 1 --quickstart-only --sequential
                                    # leave-last-out by time: quickstart teacher/student, the
                                    # sequential student with and without a teacher, the peers
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's advice; before NumPy loads

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import svds

from common import table
from data_prep import prepare_ml100k
from mmgraph.config import SplitConfig, load_config
from mmgraph.data import split_description
from mmgraph.evaluation import evaluate_embeddings, popularity_scores
from mmgraph.io import file_sha256, read_json, read_tensors
from mmgraph.models.spectral import interaction_matrix
from mmgraph.pipeline import STAGES, IndexedSplit, RunDir, load_split

ROOT = Path(__file__).resolve().parents[1]
KS = (10, 20)
METRICS = ["recall@20", "ndcg@20", "valid ndcg@20", "setting", "fit s"]


def evaluate_scores(scores: np.ndarray | torch.Tensor, data: IndexedSplit, part: str) -> dict:
    """Metrics of a dense ``[U, I]`` score matrix (ml-100k is small enough for one)."""
    scores = torch.as_tensor(np.asarray(scores, dtype=np.float32))
    return evaluate_embeddings(scores, None, data.parts[part], data.parts["train"], KS)


def tune(name: str, grid: dict[str, list], fit, data: IndexedSplit) -> dict:
    """Fit every setting of ``grid``, keep the best valid NDCG@20, score it once on test."""
    best, best_setting, best_scores, seconds = -1.0, None, None, 0.0
    for values in itertools.product(*grid.values()):
        setting = dict(zip(grid, values))
        started = time.perf_counter()
        scores = fit(**setting)
        elapsed = time.perf_counter() - started
        valid = evaluate_scores(scores, data, "valid")["ndcg@20"]
        logging.info("%s %s: valid ndcg@20 %.4f (%.1f s)", name, setting, valid, elapsed)
        if valid > best:
            best, best_setting, best_scores, seconds = valid, setting, scores, elapsed
    grid_text = "; ".join(f"{k} in {v}" for k, v in grid.items())
    return {**evaluate_scores(best_scores, data, "test"), "valid ndcg@20": best,
            "setting": ", ".join(f"{k}={v}" for k, v in best_setting.items()),
            "fit s": f"{seconds:.1f}", "grid": grid_text}


def ease(train: sp.csr_matrix, lam: float) -> np.ndarray:
    gram = (train.T @ train).toarray()
    gram[np.diag_indices_from(gram)] += lam
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0.0)
    return train @ weights


def ials(train: sp.csr_matrix, factors: int, regularization: float, alpha: float,
         iterations: int = 30, seed: int = 2026) -> np.ndarray:
    from implicit.cpu.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(factors=factors, regularization=regularization, alpha=alpha,
                                    iterations=iterations, random_state=seed,
                                    calculate_training_loss=False)
    model.fit(train.astype(np.float32), show_progress=False)
    return model.user_factors @ model.item_factors.T


def gf_cf(train: sp.csr_matrix, k: int, alpha: float) -> np.ndarray:
    user_degree = np.maximum(np.asarray(train.sum(1)).ravel(), 1)
    item_degree = np.maximum(np.asarray(train.sum(0)).ravel(), 1)
    normalised = sp.diags(user_degree ** -0.5) @ train @ sp.diags(item_degree ** -0.5)
    linear = train @ (normalised.T @ normalised)
    _, _, vt = svds(normalised.tocsc(), k=k, random_state=2026)
    ideal = (train @ sp.diags(item_degree ** -0.5)) @ vt.T @ vt @ sp.diags(item_degree ** 0.5)
    return np.asarray(linear.todense()) + alpha * ideal


def tuned_peers(data: IndexedSplit) -> dict[str, dict]:
    """EASE, iALS and GF-CF, each tuned on valid over its grid and scored once on test."""
    train = interaction_matrix(data.train_pairs, len(data.users), len(data.items))
    return {
        "EASE": tune("EASE", {"lambda": [50, 100, 200, 300, 500, 800, 1200]},
                     lambda **s: ease(train, s["lambda"]), data),
        "iALS (implicit)": tune("iALS", {"factors": [64, 128, 256, 512],
                                         "regularization": [1.0, 10.0, 30.0, 100.0],
                                         "alpha": [0.3, 1.0, 3.0, 10.0]},
                                lambda **s: ials(train, **s), data),
        "GF-CF": tune("GF-CF", {"k": [16, 32, 64, 128, 256], "alpha": [0.1, 0.3, 0.5, 1.0]},
                      lambda **s: gf_cf(train, **s), data),
    }


def pipeline_row(name: str, tables: tuple[Path, Path], runs: Path, overrides: dict,
                 model: str) -> dict:
    """One quickstart run with ``overrides``; the test metrics of its ``model``."""
    cfg = load_config(ROOT / "configs" / "quickstart.yaml", overrides={
        "name": name, "runs_root": str(runs), **overrides,
        "encoders": {"cache_dir": str(runs / "cache")},  # each text is encoded once
        "data": {"interactions": str(tables[0]), "items": str(tables[1])}})
    run = RunDir(cfg.run_dir)
    run.write_config(cfg)
    started = time.perf_counter()
    stages = list(STAGES) if model == "student" else ["split", "encode", "graph", "teacher"]
    for stage in stages:
        STAGES[stage](cfg, run, progress=False)
    seconds = time.perf_counter() - started
    data = load_split(run)
    if model == "student":
        metrics = read_json(run.path("metrics.json"))["student"]
        test, valid = metrics["test"], metrics["valid"]["ndcg@20"]
    else:
        emb = read_tensors(run.path("teacher", "embeddings.safetensors"))
        test = evaluate_embeddings(emb["users"], emb["items"], data.parts["test"],
                                   data.parts["train"], KS)
        valid = evaluate_embeddings(emb["users"], emb["items"], data.parts["valid"],
                                    data.parts["train"], KS)["ndcg@20"]
    state = read_json(run.path("teacher", "state.json"))
    setting = ("" if model == "student" or "weights" not in state else
               "weights " + ", ".join(f"{k} {v:.1f}" for k, v in state["weights"].items()))
    return {**test, "valid ndcg@20": valid, "setting": setting, "fit s": f"{seconds:.0f}",
            "split": file_sha256(run.path("splits", "test.parquet"))}


TEACHERS = {  # ablation: each row one config change from configs/quickstart.yaml
    "teacher: graph filter alone": {"teacher": {"components": ["filter"]}},
    "teacher: time-weighted graph filter alone": {"teacher": {"components": ["time_filter"]}},
    "teacher: LightGCN + text alone": {"teacher": {"components": ["lightgcn"]}},
    "teacher: LightGCN + text + filter (no time filter)":
        {"teacher": {"components": ["lightgcn", "filter"]}},
    "teacher: filter + time filter (no LightGCN)":
        {"teacher": {"components": ["filter", "time_filter"]}},
    "teacher: LightGCN ID-only + both filters": {"teacher": {"content": "none"}},
    "teacher: LightGCN + text + both filters, time_scale 1 day":
        {"teacher": {"time_scale": 86400}},
    "teacher: LightGCN with text at the decision level + both filters":
        {"teacher": {"fusion_level": "decision"}},
    "teacher: LightGCN with text at the model level (a text tower) + both filters":
        {"teacher": {"fusion_level": "model"}},
    "teacher: LightGCN + text + filter + time filter (quickstart)": {},
}
STUDENTS = {
    "student 32-d via FAISS: BPR only from a random start (no distillation)": {"student": {
        "kd_weight": 0.0, "rd_weight": 0.0, "contrastive_weight": 0.0, "hint_weight": 0.0,
        "init": "random"}},
    "student 32-d via FAISS: soft labels from a random start": {"student": {"init": "random"}},
    "student 32-d via FAISS: the teacher's rank-32 start alone (no training)": {"student": {
        "epochs": 1, "eval_every": 1, "lr": 1e-9}},
    "student 32-d via FAISS: quickstart (soft labels from the teacher's start)": {},
}
SEQUENTIAL = {  # the sequential student (SASRec-style), for the temporal splits
    "sequential student 32-d via FAISS: SASRec-style, no distillation": {"student": {
        "kind": "sequential", "kd_weight": 0.0, "init": "random", "lr": 0.001,
        "batch_size": 128}},
    "sequential student 32-d via FAISS: next items, item table from the teacher": {"student": {
        "kind": "sequential", "kd_weight": 0.0, "lr": 0.001, "batch_size": 128}},
    "sequential student 32-d via FAISS: next items + soft labels (0.1), from the teacher": {
        "student": {"kind": "sequential", "kd_weight": 0.1, "lr": 0.001, "batch_size": 128}},
    "sequential student 32-d via FAISS: next items + soft labels (0.5), from the teacher": {
        "student": {"kind": "sequential", "kd_weight": 0.5, "lr": 0.001, "batch_size": 128}},
    "sequential student 32-d via FAISS: soft labels only, from the teacher": {"student": {
        "kind": "sequential", "kd_weight": 1.0, "lr": 0.001, "batch_size": 128}},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench-peers")
    parser.add_argument("--pyg", action="store_true", help="also PyG's LightGCN (~40 min)")
    parser.add_argument("--split", default="random", help="split.kind (random, "
                        "temporal_per_user, temporal_global); runs go to <runs>-<kind>")
    parser.add_argument("--held-out", type=float, default=0.1, help="split.valid and "
                        "split.test: a share, or a whole number of interactions per user")
    parser.add_argument("--quickstart-only", action="store_true", help="only the quickstart's "
                        "teacher and student among the mmgraph rows (no ablation)")
    parser.add_argument("--sequential", action="store_true", help="also the sequential "
                        "student, with and without distillation (needs timestamps)")
    parser.add_argument("--rows", nargs="+", metavar="TEXT", help="only the mmgraph rows "
                        "whose names contain one of these (the quickstart's teacher and "
                        "student always run), e.g. --rows level (the fusion levels)")
    args = parser.parse_args()
    held_out = int(args.held_out) if args.held_out >= 1 else args.held_out
    split = SplitConfig(kind=args.split, valid=held_out, test=held_out)
    if split != SplitConfig():
        args.runs = args.runs.with_name(f"{args.runs.name}-{args.split}-{held_out}")
    teachers, students = TEACHERS, STUDENTS
    if args.quickstart_only:
        teachers, students = dict([list(TEACHERS.items())[-1]]), dict([list(STUDENTS.items())[-1]])
    if args.rows:
        teachers, students = ({name: row for i, (name, row) in enumerate(rows.items())
                               if i == len(rows) - 1 or any(t in name for t in args.rows)}
                              for rows in (teachers, students))
    if args.sequential:
        students = {**SEQUENTIAL, **students}  # the quickstart's student stays last
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("mmgraph", "httpx", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    tables = prepare_ml100k(args.runs / "data")
    rows: dict[str, dict] = {}
    every = {"split": split.model_dump()}
    for name, overrides in teachers.items():
        rows[name] = pipeline_row(f"teacher-{list(TEACHERS).index(name)}", tables, args.runs,
                                  {**every, **overrides}, "teacher")
    # The students share the quickstart teacher's run (last above): only their stages rerun.
    reference = f"teacher-{len(TEACHERS) - 1}"
    for name, overrides in students.items():
        rows[name] = pipeline_row(reference, tables, args.runs, {**every, **overrides},
                                  "student")
    reference = RunDir(args.runs / reference)
    data = load_split(reference)
    splits = {row.pop("split") for row in rows.values()}
    assert len(splits) == 1, "every row must use one split"
    peers = {**tuned_peers(data),
             "popularity": {**evaluate_scores(popularity_scores(data.parts["train"],
                                                                len(data.users)), data, "test")}}
    if args.pyg:
        sys.path.insert(0, str(ROOT / "bench"))
        from teacher import pyg_lightgcn

        peers["PyG LightGCN (examples/lightgcn.py recipe)"] = pyg_lightgcn(
            reference, seed=2026, max_epochs=1500)
    print(f"ml-100k, {split_description(split.kind, split.valid, split.test, 2026)}, test; "
          f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}\n")
    print(table({**peers, **rows}, METRICS))
    print("\nGrids (tuned on valid NDCG@20):")
    for name, row in peers.items():
        if "grid" in row:
            print(f"- {name}: {row['grid']}")
    best_name, best = max(((n, r) for n, r in peers.items()), key=lambda x: x[1]["ndcg@20"])
    print(f"\nbest peer: {best_name} (test NDCG@20 {best['ndcg@20']:.4f}, "
          f"Recall@20 {best['recall@20']:.4f})")
    for name in (list(teachers)[-1], list(students)[-1]):  # the quickstart's rows
        print(f"{name}: {rows[name]['ndcg@20'] / best['ndcg@20']:.3f}x NDCG@20, "
              f"{rows[name]['recall@20'] / best['recall@20']:.3f}x Recall@20")


if __name__ == "__main__":
    main()
