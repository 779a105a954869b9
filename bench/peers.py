"""Peers side by side with mmgraph's teacher and student, on three protocols and several seeds.

Every model is tuned on the **valid** split only, over the grid printed beside it; the chosen
setting is then scored once on **test**, with mmgraph's evaluator (full ranking over all
items, the user's train items excluded, Recall/NDCG@20, and coverage@20 / popularity@20 of the
lists). The peers (``bench/peer_models.py``, each with its paper): EASE, iALS (``implicit``),
GF-CF, ItemKNN, RP3beta, SLIM (ElasticNet, scikit-learn), BSPM, ChebyCF, SANSA (``sansa``,
``make bench-peers-install``; left out with a warning when missing), L3AE (EASE regularised
toward the MiniLM text vectors' item model: the content-aware peer), EASE scoring users from
recency-weighted histories (the time-aware peer, beside the teacher's own use of the
timestamps), popularity; PyG's
``torch_geometric.nn.models.LightGCN`` with PyG's examples/lightgcn.py recipe (``--pyg``, ~40
min); and mmgraph's teacher and student, each a pipeline run of ``configs/quickstart.yaml`` with
one config change (the ablation rows).

Protocols (``--protocol``): ``random`` (per-user 80/10/10, the quickstart's), ``temporal``
(per-user leave-last-out by time: one valid and one test item per user) and ``sparse``
(``random`` with each user keeping a random 20% of their training interactions,
``split.train_share``). ``--seeds N`` repeats on N split seeds (2026, 2027, ...) and reports
mean ± std, the ratio to the best peer and a paired t-test over (seed, user) pairs.

Usage:
    python bench/peers.py                                # one seed, every ablation row
    python bench/peers.py --protocol sparse --seeds 5   # the quickstart's rows, 5 seeds
    python bench/peers.py --pyg                          # + PyG's LightGCN
    python bench/peers.py --protocol sparse --seeds 5 --rows auto --peers GF-CF
                                    # teacher: auto and its student beside the quickstart's,
                                    # against one peer (the best of the full table)
    python bench/peers.py --protocol sparse --seeds 5 --rows ID-only
                                    # + the ID-only teacher on each seed: what the text adds
    python bench/peers.py --protocol temporal --quickstart-only --sequential
                                    # leave-last-out by time: quickstart teacher/student, the
                                    # sequential student with and without a teacher, the peers
    python bench/peers.py --dataset ml-latest-small --quickstart-only --skip-peers BSPM SLIM \
        --seeds 5                   # the quickstart on a catalogue nobody tuned it for
                                    # (pip install -e ".[datasets]" first)
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's advice; before NumPy loads

import numpy as np
import torch
from scipy import stats

import peer_models
from common import table
from data_prep import DATASETS
from mmgraph.config import SplitConfig, load_config
from mmgraph.data import split_description
from mmgraph.evaluation import list_metrics, per_user_metrics, popularity_scores, topk_items
from mmgraph.io import file_sha256, read_json, read_parquet, read_tensors, write_json
from mmgraph.data.tables import TIMESTAMP
from mmgraph.models.spectral import interaction_matrix
from mmgraph.models.temporal import recency_history
from mmgraph.pipeline import STAGES
from mmgraph.pipeline.inputs import pairs_with_column
from mmgraph.runs import IndexedSplit, RunDir, load_split

ROOT = Path(__file__).resolve().parents[1]
KS = (10, 20)
FIRST_SEED = 2026  # the quickstart's split seed
METRICS = ["recall@20", "ndcg@20", "coverage@20", "popularity@20", "valid ndcg@20", "setting",
           "fit s"]


def ranked(top: np.ndarray, data: IndexedSplit, part: str) -> dict:
    """Recall/NDCG@K of the top-K lists ``top [U, K]`` (every user's row) on ``part``, with
    coverage@20 and popularity@20 of the lists and, under ``"per_user"``, each evaluated user's
    NDCG@20 (the paired samples of the significance test)."""
    users = data.parts[part].users_with_items()
    per_user = per_user_metrics(top[users], users, data.parts[part], KS)
    return {**{name: float(values.mean()) for name, values in per_user.items()},
            **list_metrics(top[users], data.parts["train"].item_counts, max(KS)),
            "per_user": per_user["ndcg@20"].tolist()}  # a list: rows are kept as JSON


def evaluate_scores(scores: np.ndarray | torch.Tensor, data: IndexedSplit, part: str) -> dict:
    """:func:`ranked` of a dense ``[U, I]`` score matrix (ml-100k is small enough for one)."""
    scores = torch.as_tensor(np.asarray(scores, dtype=np.float32))
    return ranked(topk_items(scores, None, np.arange(len(data.users)), max(KS),
                             data.parts["train"]), data, part)


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
    return {**evaluate_scores(best_scores, data, "test"), "valid ndcg@20": best,
            "setting": ", ".join(f"{k}={v}" for k, v in best_setting.items()),
            "fit s": f"{seconds:.1f}", "grid": grid_text(grid)}


def grid_text(grid: dict[str, list]) -> str:
    return "; ".join(f"{k} in {v}" for k, v in grid.items())


# inf: every training item weighs 1
HALF_LIVES = (1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 40.0, float("inf"))
GRIDS = {  # name → (peer function, grid); each tuned on valid NDCG@20, test scored once
    "EASE": (peer_models.ease, {"lam": [50, 100, 200, 300, 500, 800, 1200, 2000, 3000, 5000]}),
    "iALS (implicit)": (peer_models.ials, {"factors": [128, 256],
                                           "regularization": [3.0, 10.0, 30.0, 100.0],
                                           "alpha": [0.3, 1.0, 3.0, 10.0]}),
    "GF-CF": (peer_models.gf_cf, {"k": [8, 16, 32, 64, 128, 256],
                                  "alpha": [0.1, 0.3, 0.5, 1.0, 2.0]}),
    "ItemKNN (cosine, shrink)": (peer_models.item_knn, {"k": [50, 100, 200, 500],
                                                        "shrink": [0, 10, 50, 100, 200, 500]}),
    "RP3beta": (peer_models.rp3beta, {"alpha": [0.25, 0.5, 0.75, 1.0],
                                      "beta": [0.2, 0.4, 0.6, 0.8], "k": [200, 1000]}),
    "SLIM (ElasticNet, scikit-learn)": (peer_models.slim, {"alpha": [1e-3, 1e-2],
                                                           "l1_ratio": [0.01, 0.1]}),
    "BSPM-EM": (peer_models.bspm, {"sharpen_time": [0.25, 0.5, 1.0], "sharpen_steps": [1],
                                   "beta": [0.0, 0.2, 0.5], "factors": [256],
                                   "combine": [False, True]}),
    "ChebyCF": (peer_models.chebycf, {"order": [8], "flatness": [5, 10, 20], "ideal_k": [256],
                                      "alpha": [0.1, 0.2], "beta": [0.1, 0.3, 0.5]}),
    "SANSA (sansa)": (peer_models.sansa, {"l2": [200, 500, 1000, 2000, 5000],
                                          "density": [0.2]}),
    "L3AE (EASE + MiniLM text graph)": (peer_models.l3ae, {
        "reg_x": [1, 10, 25, 50, 100, 200, 400, 800, 1600, 3200], "reg_f": [10],
        "reg_e": [0, 20, 50, 200, 500, 1000, 2000]}),
    "EASE on recency-weighted history (timestamps)": (peer_models.ease_recent, {
        "lam": [100, 200, 500, 1200, 3000], "half_life": list(HALF_LIVES)}),
}
CONTENT_PEERS = {"L3AE (EASE + MiniLM text graph)"}  # these take the text vectors too
TIME_PEERS = {"EASE on recency-weighted history (timestamps)"}  # and these the histories


def tuned_peer(name: str, data: IndexedSplit, text: np.ndarray,
               histories: dict[float, object]) -> dict | None:
    """The peer ``name`` of :data:`GRIDS` tuned on valid over its grid and scored once on test;
    ``None`` (with a warning) when its library is missing."""
    function, grid = GRIDS[name]
    train = interaction_matrix(data.train_pairs, len(data.users), len(data.items))
    given = ((train, text) if name in CONTENT_PEERS else
             (train, histories) if name in TIME_PEERS else (train,))
    try:
        return tune(name, grid, lambda **s: function(*given, **s), data)
    except ImportError as error:
        logging.warning("%s left out: %s", name, error)
        return None


def served_top(run: RunDir, data: IndexedSplit) -> np.ndarray:
    """The served lists of ``run``: the FAISS top ``max(KS)`` of every test user, ``[U, K]``
    item indices (-1 where a user has none)."""
    path = run.path("recommendations.parquet")
    recommendations = read_parquet(path)
    top = np.full((len(data.users), max(KS)), -1, dtype=np.int64)
    top[data.users.indices(recommendations["user_id"], str(path)),
        recommendations["rank"].to_numpy() - 1] = data.items.indices(
            recommendations["item_id"], str(path))
    return top


def pipeline_row(name: str, dataset: str, tables: tuple[Path, Path], runs: Path,
                 overrides: dict, model: str) -> dict:
    """One quickstart run on ``dataset``'s ``tables`` with ``overrides``; the test metrics of
    its ``model``."""
    cfg = load_config(ROOT / "configs" / "quickstart.yaml", overrides={
        "name": name, "runs_root": str(runs), **overrides,
        "encoders": {"cache_dir": str(runs / "cache")},  # each text is encoded once
        "data": {"prepare": dataset, "interactions": str(tables[0]), "items": str(tables[1])}})
    run = RunDir(cfg.run_dir)
    run.write_config(cfg)
    started = time.perf_counter()
    stages = list(STAGES) if model == "student" else ["split", "encode", "graph", "teacher"]
    for stage in stages:
        STAGES[stage](cfg, run, progress=False)
    seconds = time.perf_counter() - started
    data = load_split(run)
    if model == "student":
        test = ranked(served_top(run, data), data, "test")
        valid = read_json(run.path("metrics.json"))["student"]["valid"]["ndcg@20"]
    else:
        emb = read_tensors(run.path("teacher", "embeddings.safetensors"))
        top = topk_items(emb["users"], emb["items"], np.arange(len(data.users)), max(KS),
                         data.parts["train"])
        test, valid = ranked(top, data, "test"), ranked(top, data, "valid")["ndcg@20"]
    state = read_json(run.path("teacher", "state.json"))
    setting = ("" if model == "student" or "weights" not in state else
               "weights " + ", ".join(f"{k} {v:.1f}" for k, v in state["weights"].items()))
    return {**test, "valid ndcg@20": valid, "setting": setting, "fit s": f"{seconds:.0f}",
            "split": file_sha256(run.path("splits", "test.parquet"))}


AUTO_TEACHER = "teacher: auto (the quickstart without its teacher section; 60 s budget)"
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
    "teacher: + text in both filters (content_weight in 0, 0.001, 0.003, 0.01 on valid)":
        {"teacher": {"filter": {"content_weight": [0.0, 0.001, 0.003, 0.01]}}},
    AUTO_TEACHER: {"teacher": "auto"},
    "teacher: LightGCN + text + filter + time filter (quickstart)": {},
}
STUDENTS = {
    "student 32-d via FAISS: BPR only from a random start (no distillation)": {"student": {
        "kd_weight": 0.0, "rd_weight": 0.0, "contrastive_weight": 0.0, "hint_weight": 0.0,
        "init": "random"}},
    "student 32-d via FAISS: soft labels from a random start": {"student": {"init": "random"}},
    "student 32-d via FAISS: the teacher's rank-32 start alone (no training)": {"student": {
        "optim": {"epochs": 1, "eval_every": 1, "lr": 1e-9}}},
    "student 32-d via FAISS: the quickstart's, distilled from teacher: auto": {},
    "student 32-d via FAISS: quickstart (soft labels from the teacher's start)": {},
}
#: Student rows distilled from another teacher row's run than the quickstart's: its name.
ON_TEACHER = {"student 32-d via FAISS: the quickstart's, distilled from teacher: auto":
              AUTO_TEACHER}
SEQUENTIAL_OPTIM = {"lr": 0.001, "batch_size": 128}
SEQUENTIAL = {  # the sequential student (SASRec-style), for the temporal splits
    "sequential student 32-d via FAISS: SASRec-style, no distillation": {"student": {
        "kind": "sequential", "kd_weight": 0.0, "init": "random", "optim": SEQUENTIAL_OPTIM}},
    "sequential student 32-d via FAISS: next items, item table from the teacher": {"student": {
        "kind": "sequential", "kd_weight": 0.0, "optim": SEQUENTIAL_OPTIM}},
    "sequential student 32-d via FAISS: next items + soft labels (0.1), from the teacher": {
        "student": {"kind": "sequential", "kd_weight": 0.1, "optim": SEQUENTIAL_OPTIM}},
    "sequential student 32-d via FAISS: next items + soft labels (0.5), from the teacher": {
        "student": {"kind": "sequential", "kd_weight": 0.5, "optim": SEQUENTIAL_OPTIM}},
    "sequential student 32-d via FAISS: soft labels only, from the teacher": {"student": {
        "kind": "sequential", "kd_weight": 1.0, "optim": SEQUENTIAL_OPTIM}},
}


PROTOCOLS = {  # split settings of each protocol (mmgraph.config.SplitConfig)
    "random": {},                                                        # per-user 80/10/10
    "temporal": {"kind": "temporal_per_user", "valid": 1, "test": 1},    # leave-last-out
    "sparse": {"train_share": 0.2},     # 80/10/10, each user keeps 20% of their train
}


def one_split(args, split: SplitConfig, seed: int, runs: Path, teachers: dict, students: dict
              ) -> dict[str, dict]:
    """Every row on one seeded split: the peers tuned on valid (kept in ``runs/peers.json``,
    which a rerun reuses) and mmgraph's pipeline rows (whose finished stages a rerun skips)."""
    tables = DATASETS[args.dataset].preparer()(runs / "data")
    rows: dict[str, dict] = {}
    every = {"split": split.model_dump(), "seed": seed}
    reference = "teacher-quickstart"  # the last row; each ablation row is named by its place
    for name, overrides in teachers.items():
        index = list(TEACHERS).index(name)
        rows[name] = pipeline_row(reference if index == len(TEACHERS) - 1 else f"teacher-{index}",
                                  args.dataset, tables, runs, {**every, **overrides}, "teacher")
    # The students share the quickstart teacher's run (last above), or that of the teacher row
    # ON_TEACHER names: only their stages rerun.
    for name, overrides in students.items():
        teacher = ON_TEACHER.get(name)
        run_name = reference if teacher is None else f"teacher-{list(TEACHERS).index(teacher)}"
        rows[name] = pipeline_row(run_name, args.dataset, tables, runs,
                                  {**every, **TEACHERS.get(teacher, {}), **overrides}, "student")
    reference = RunDir(runs / reference)
    splits = {row.pop("split") for row in rows.values()}
    assert len(splits) == 1, "every row must use one split"
    return rows if args.no_peers else {**peers(args, reference, seed, splits.pop()), **rows}


def peers(args, reference: RunDir, seed: int, split: str) -> dict[str, dict]:
    """The tuned peers and popularity on ``reference``'s split (the text vectors for the
    content-aware peers from its features), kept in ``peers.json`` beside the runs: a rerun on
    the same split (``split``: the test file's sha256) tunes only the peers missing there or
    tuned over another grid."""
    saved = reference.root.parent / "peers.json"
    rows = read_json(saved) if saved.is_file() else {}
    if rows.pop("split", split) != split:
        rows = {}
    data = load_split(reference)
    text = read_tensors(reference.path("features", "features.safetensors"))["text"].numpy()
    pairs, train = pairs_with_column(reference, data, TIMESTAMP, reference.root, "EASE recent")
    times = torch.tensor(train[TIMESTAMP].to_numpy(np.float64))
    histories = {half_life: recency_history(pairs, times, len(data.users), len(data.items),
                                            half_life) for half_life in HALF_LIVES}
    wanted = [name for name in [*GRIDS, "popularity"] + (["PyG LightGCN"] if args.pyg else [])
              if not any(text in name for text in args.skip_peers)
              and (args.peers is None or any(text in name for text in args.peers))]
    for name in wanted:
        if name in rows and (name not in GRIDS
                             or rows[name]["grid"] == grid_text(GRIDS[name][1])):
            continue
        if name == "popularity":
            rows[name] = evaluate_scores(popularity_scores(data.parts["train"], len(data.users)),
                                         data, "test")
        elif name == "PyG LightGCN":
            from teacher import pyg_lightgcn

            rows[name] = pyg_lightgcn(reference, seed=seed, max_epochs=1500)
        elif (row := tuned_peer(name, data, text.astype(np.float64), histories)) is not None:
            rows[name] = row
        else:
            continue
        write_json(saved, {"split": split, **rows})
    return {name: rows[name] for name in wanted if name in rows}


def summary(results: list[dict[str, dict]], ours: list[str]) -> tuple[str, dict]:
    """Mean ± std over the seeds of every row, and each of ``ours`` against the best peer (by
    mean test NDCG@20): the ratio of means and a paired t-test over (seed, user) pairs."""
    names = list(results[0])
    peers = [n for n in names if not n.startswith(("teacher", "student", "sequential"))
             and n != "popularity"]
    mean = {n: float(np.mean([r[n]["ndcg@20"] for r in results])) for n in names}
    best = max(peers, key=mean.get) if peers else None  # none: --no-peers
    lines = ["| model | ndcg@20 | recall@20 | coverage@20 | popularity@20 | × best peer | p |",
             "|---|---|---|---|---|---|---|"]
    verdicts = {}
    for name in names:
        cells = []
        for metric in ("ndcg@20", "recall@20", "coverage@20", "popularity@20"):
            values = [r[name][metric] for r in results if metric in r[name]]
            digits = 1 if metric == "popularity@20" else 4
            cells.append(f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"
                         if values else "")
        if best is None:
            lines.append(f"| {name} | " + " | ".join(cells) + " |  |  |")
            continue
        ratio, p = mean[name] / mean[best], ""
        if name in ours:
            pairs = [np.concatenate([r[n]["per_user"] for r in results]) for n in (name, best)]
            p = f"{stats.ttest_rel(*pairs).pvalue:.2g}"
            verdicts[name] = {"ratio": ratio, "p": float(p)}
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ratio:.3f}× | {p} |")
    return "\n".join(lines) + (f"\n\nbest peer (mean test NDCG@20): {best}" if best else ""
                              ), verdicts


def blend_without(state: dict) -> dict[str, float]:
    """From a teacher's ``state.json``: the valid NDCG@20 of the best blend that gives each
    component weight 0 (the teacher stage scores every weighting, so the blend without a
    component is one of them), under ``"all"`` the best blend's."""
    tried = state["valid_ndcg@20_by_blend"]
    weights = {key: {name: float(w) for name, w in (p.split("=") for p in key.split(","))}
               for key in tried}
    without = {name: max(value for key, value in tried.items() if weights[key][name] == 0)
               for name in state["components"]}
    return {**without, "all": max(tried.values())}


def blend_ablation(states: list[dict]) -> str:
    """Every component of the blend against the blend without it, on valid, over the seeds'
    teacher states: does each earn its weight?"""
    scores = [blend_without(state) for state in states]
    lines = ["| component left out | valid NDCG@20 without it | with every component | "
             "without / with | seeds worse without | seeds where validation gave it weight 0 |",
             "|---|---|---|---|---|---|"]
    for name in states[0]["components"]:
        without = np.array([s[name] for s in scores])
        full = np.array([s["all"] for s in scores])
        unweighted = sum(state.get("weights", {}).get(name, 0.0) == 0 for state in states)
        lines.append(f"| {name} | {without.mean():.4f} ± {without.std():.4f} | "
                     f"{full.mean():.4f} | {without.mean() / full.mean():.3f}× | "
                     f"{int((without < full).sum())} of {len(states)} | "
                     f"{unweighted} of {len(states)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench-peers")
    parser.add_argument("--dataset", choices=["ml-100k", "ml-latest-small"], default="ml-100k",
                        help="the catalogue (data_prep's name), with configs/quickstart.yaml's "
                        "settings otherwise as they ship: ml-latest-small tries them on a "
                        "catalogue nobody tuned them on")
    parser.add_argument("--pyg", action="store_true", help="also PyG's LightGCN (~40 min)")
    parser.add_argument("--protocol", choices=list(PROTOCOLS), default="random",
                        help="the split: random 80/10/10, temporal leave-last-out, or sparse "
                        "(random, each user keeping 20%% of their training interactions)")
    parser.add_argument("--seeds", type=int, default=1, help="split seeds 2026, 2027, ...: "
                        "with more than one, only the quickstart's teacher and student among "
                        "the mmgraph rows (unless --rows), and mean ± std with a paired t-test")
    parser.add_argument("--seed-offset", type=int, default=0, help="start at seed 2026 + this "
                        "(each seed's runs are kept: several processes can run a few seeds "
                        "each, and a last --seeds N run reads them all)")
    parser.add_argument("--quickstart-only", action="store_true", help="only the quickstart's "
                        "teacher and student among the mmgraph rows (no ablation)")
    parser.add_argument("--no-peers", action="store_true", help="mmgraph's rows alone (the "
                        "ablations), without tuning the peers")
    parser.add_argument("--sequential", action="store_true", help="also the sequential "
                        "student, with and without distillation (needs timestamps)")
    parser.add_argument("--skip-peers", nargs="+", default=[], metavar="TEXT",
                        help="leave out the peers whose names contain one of these (e.g. "
                        "BSPM: 77 s per setting on ml-latest-small's 9,066 items)")
    parser.add_argument("--peers", nargs="+", metavar="TEXT", help="only the peers whose "
                        "names contain one of these (e.g. the best peer of an earlier run)")
    parser.add_argument("--rows", nargs="+", metavar="TEXT", help="only the mmgraph rows "
                        "whose names contain one of these (the quickstart's teacher and "
                        "student always run), e.g. --rows level (the fusion levels)")
    args = parser.parse_args()
    split = SplitConfig(**PROTOCOLS[args.protocol])
    if args.dataset != "ml-100k":
        args.runs = args.runs.with_name(f"{args.runs.name}-{args.dataset}")
    if args.protocol != "random":
        args.runs = args.runs.with_name(f"{args.runs.name}-{args.protocol}")
    teachers, students = TEACHERS, STUDENTS
    if args.rows:  # the ablation rows asked for, on every seed
        teachers, students = ({name: row for i, (name, row) in enumerate(rows.items())
                               if i == len(rows) - 1 or any(t in name for t in args.rows)}
                              for rows in (teachers, students))
    elif args.quickstart_only or args.seeds > 1:
        teachers, students = dict([list(TEACHERS.items())[-1]]), dict([list(STUDENTS.items())[-1]])
    if args.sequential:
        students = {**SEQUENTIAL, **students}  # the quickstart's student stays last
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("mmgraph", "httpx", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    seeds = [FIRST_SEED + args.seed_offset + i for i in range(args.seeds)]
    results = []
    # the first seed's runs stay where a one-seed run puts them
    seed_runs = [args.runs if seed == FIRST_SEED else args.runs / f"seed-{seed}" for seed in seeds]
    for seed, runs in zip(seeds, seed_runs):
        results.append(one_split(args, split, seed, runs, teachers, students))
        logging.info("seed %d done", seed)
    protocol = split_description(split.kind, split.valid, split.test, seeds[0], split.train_share)
    print(f"{args.dataset}, {protocol}"
          f"{f' (and seeds to {seeds[-1]})' if len(seeds) > 1 else ''}, test; "
          f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}\n")
    if len(seeds) == 1:
        print(table(results[0], METRICS))
        print()
    ours = [list(teachers)[-1], list(students)[-1]]  # the quickstart's rows
    ours += [name for name in [*teachers, *students]
             if name == AUTO_TEACHER or name in ON_TEACHER]
    text, verdicts = summary(results, ours)
    print(text)
    for name, verdict in verdicts.items():
        print(f"{name}: {verdict['ratio']:.3f}x the best peer's mean NDCG@20, paired t-test "
              f"over users and seeds p = {verdict['p']:.2g}")
    for name in list(teachers)[:-1]:  # each ablation against the quickstart's teacher
        pairs = [np.concatenate([r[n]["per_user"] for r in results]) for n in (name, ours[0])]
        ratio = np.mean([r[name]["ndcg@20"] for r in results]) / np.mean(
            [r[ours[0]]["ndcg@20"] for r in results])
        print(f"{name}: {ratio:.3f}x the quickstart teacher's mean NDCG@20, paired t-test "
              f"p = {stats.ttest_rel(*pairs).pvalue:.2g}")
    print("\nThe quickstart teacher's blend without each component (valid):\n")
    print(blend_ablation([read_json(runs / "teacher-quickstart" / "teacher" / "state.json")
                          for runs in seed_runs]))
    print("\nGrids (tuned on valid NDCG@20 on each seed's split):")
    for name, row in results[0].items():
        if "grid" in row:
            print(f"- {name}: {row['grid']}")
    chosen = {name: [r[name]["setting"] for r in results] for name in results[0]
              if results[0][name].get("setting")}
    print("\nChosen on valid, per seed:")
    for name, settings in chosen.items():
        print(f"- {name}: " + " | ".join(settings))


if __name__ == "__main__":
    main()
