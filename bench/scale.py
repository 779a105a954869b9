"""The whole pipeline at growing size on generated data, with implicit's ALS side by side.

Data (seeded): ``E/40`` users and ``E/80`` items (``--items`` sets the count); every item
belongs to one of 50 planted taste clusters and has a Zipf(1.1) popularity within it; every
user has a Dirichlet(0.2) mixture over the clusters and a log-normal activity. Each interaction
draws a user by activity, a cluster from that user's mixture, then an item of that cluster by
popularity (duplicates dropped). The items table has a ``genre`` column: the item's cluster for
70% of the items, a random one for the rest, encoded as a multi-hot attribute (the content
graph). With ``--text`` it also has a ``title``: three words of the item's cluster vocabulary
(12 generated words per cluster) for the same 70%, of a random cluster's otherwise, plus one
word shared by all; encoded by the quickstart's MiniLM. With ``drift`` (``bench/incremental.py
--generated``) every interaction also has a ``timestamp``, uniform over 100 days, and each user's
taste drifts across them: a second Dirichlet(0.2) mixture is drawn per user, and an interaction
at time share ``s`` of the period draws its cluster from the second mixture with probability
``s`` (from the first otherwise), so what a user chose early predicts their later choices less
and less.

Each size runs ``mmgraph run``'s stages in a fresh process (configs/quickstart.yaml's teacher
and student, or with ``--auto`` configs/auto.yaml's ``teacher: auto``; the generated tables;
the attribute encoder, plus MiniLM with ``--text``) and reports
seconds per stage and the process's peak RSS; implicit's ALS, tuned on valid (a coordinate
search over ``ALS_*``, 15 iterations), is fitted on the same training split and scored by the
same evaluator (test NDCG@20, full ranking, train items excluded).

Usage:
    python bench/scale.py                      # 100k and 1M interactions
    python bench/scale.py --sizes 100000 1000000 10000000
    python bench/scale.py --overrides '{"teacher": {"components": ["filter"]}}'
    python bench/scale.py --sizes 100000 --items 10000 --text --auto   # issue 31's 5-min goal
    python bench/scale.py --sizes 1000000 --world 2   # under torchrun: 2 ranks, gloo over
                                                      # loopback (the multi-node code path)

With ``--world N`` each size runs under ``torchrun --standalone --nproc_per_node=N`` (one
thread per rank, torchrun's default): rank 0 generates the tables, every rank runs the stages
(the graph filters, LightGCN and the ID student sharded by user: docs/scaling.md), and
the peak RSS reported is the largest rank's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
STAGE_NAMES = ["split", "encode", "graph", "teacher", "student", "index", "evaluate"]


SYLLABLES = ("ka", "lo", "mi", "ren", "sa", "tu", "vel", "do", "ni", "por", "qua", "zi", "bel",
             "fa", "gor", "hu")


def generate(num_interactions: int, folder: Path, seed: int = 0, clusters: int = 50,
             num_items: int | None = None, text: bool = False, drift: bool = False
             ) -> tuple[Path, Path]:
    """Write ``interactions.parquet`` and ``items.parquet`` of the planted model above (the
    same tables for the same arguments; ``drift`` adds timestamps and the drifting tastes)."""
    rng = np.random.default_rng(seed)
    num_users = max(num_interactions // 40, 100)
    num_items = num_items or max(num_interactions // 80, 50)
    item_cluster = rng.permutation(np.arange(num_items) % clusters)  # no empty cluster
    popularity = 1.0 / rng.permutation(np.arange(1, num_items + 1)) ** 1.1
    tastes = rng.dirichlet(np.full(clusters, 0.2), num_users)
    activity = rng.lognormal(0.0, 1.0, num_users)
    draws = int(num_interactions * 1.15)  # headroom for the duplicates dropped below
    users = rng.choice(num_users, draws, p=activity / activity.sum())
    cumulative = np.cumsum(tastes, axis=1)
    chosen = (rng.random(draws)[:, None] > cumulative[users]).sum(1).clip(max=clusters - 1)
    if drift:
        share = rng.random(draws)  # each interaction's time, as a share of the period
        later = np.cumsum(rng.dirichlet(np.full(clusters, 0.2), num_users), axis=1)
        moved = rng.random(draws) < share
        draw = rng.random(int(moved.sum()))[:, None] > later[users[moved]]
        chosen[moved] = draw.sum(1).clip(max=clusters - 1)
    items = np.empty(draws, np.int64)
    for cluster in range(clusters):
        rows = np.flatnonzero(chosen == cluster)
        members = np.flatnonzero(item_cluster == cluster)
        weights = popularity[members] / popularity[members].sum()
        items[rows] = rng.choice(members, len(rows), p=weights)
    frame = pd.DataFrame({"user_id": users, "item_id": items})
    if drift:  # seconds from 2020-09-13, over 100 days
        frame["timestamp"] = 1_600_000_000 + (share * 100 * 86_400).astype(np.int64)
    frame = frame.drop_duplicates(["user_id", "item_id"])
    frame = frame.iloc[:num_interactions]
    genre = np.where(rng.random(num_items) < 0.7, item_cluster,
                     rng.integers(0, clusters, num_items))
    folder.mkdir(parents=True, exist_ok=True)
    interactions, item_table = folder / "interactions.parquet", folder / "items.parquet"
    frame.to_parquet(interactions, index=False)
    table = pd.DataFrame({"item_id": np.arange(num_items), "genre": [f"g{g}" for g in genre]})
    if text:
        words = ["".join(rng.choice(SYLLABLES, 3)) for _ in range(clusters * 12)]
        picks = rng.integers(0, 12, (num_items, 3)) + 12 * genre[:, None]
        table["title"] = [f"{words[a]} {words[b]} {words[c]} collection" for a, b, c in picks]
    table.to_parquet(item_table, index=False)
    return interactions, item_table


ALS_REGULARIZATION, ALS_ALPHA, ALS_FACTORS = (10.0, 100.0, 300.0), (1.0, 10.0, 30.0), (64, 128)


def tuned_als(run_dir: Path, valid_users: np.ndarray | None) -> tuple[float, str, float]:
    """implicit's ALS on the run's training split (15 iterations), tuned on valid NDCG@20 of
    ``valid_users`` (the run's validation sample; ``None`` = every valid user) by coordinate
    search: regularization × alpha over ``ALS_REGULARIZATION × ALS_ALPHA`` at the smallest of
    ``ALS_FACTORS``, then the larger widths at the best pair. Returns the best setting's test
    NDCG@20 (every test user), the setting and its fit seconds."""
    import torch
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    from mmgraph.evaluation import evaluate_embeddings
    from mmgraph.models import interaction_matrix
    from mmgraph.runs import RunDir, load_split

    data = load_split(RunDir(run_dir))
    train = interaction_matrix(data.train_pairs, len(data.users), len(data.items))
    train = train.astype(np.float32).tocsr()

    def fit(factors: int, reg: float, alpha: float) -> tuple[float, tuple, tuple, float]:
        model = AlternatingLeastSquares(factors=factors, regularization=reg, alpha=alpha,
                                        iterations=15, random_state=0,
                                        calculate_training_loss=False)
        started = time.perf_counter()
        with threadpool_limits(1, "blas"):  # implicit's advice: its own threads, serial BLAS
            model.fit(train, show_progress=False)
        seconds = time.perf_counter() - started
        users, items = torch.from_numpy(model.user_factors), torch.from_numpy(model.item_factors)
        valid = evaluate_embeddings(users, items, data.parts["valid"], data.parts["train"],
                                    (20,), users=valid_users)["ndcg@20"]
        return valid, (users, items), (factors, reg, alpha), seconds

    best = max((fit(ALS_FACTORS[0], reg, alpha) for reg in ALS_REGULARIZATION
                for alpha in ALS_ALPHA), key=lambda r: r[0])
    _, _, (_, reg, alpha), _ = best
    for factors in ALS_FACTORS[1:]:
        best = max(best, fit(factors, reg, alpha), key=lambda r: r[0])
    test = evaluate_embeddings(*best[1], data.parts["test"], data.parts["train"], (20,))
    factors, reg, alpha = best[2]
    return test["ndcg@20"], f"{factors} factors, reg {reg}, alpha {alpha}", best[3]


def worker(size: int, runs: Path, overrides: dict, num_items: int | None = None,
           text: bool = False, auto: bool = False) -> None:
    """One size, every stage, in this process (a rank of it under torchrun); prints one JSON
    line (rank 0)."""
    started_worker = time.perf_counter()
    import torch
    import torch.distributed as dist

    from mmgraph.config import load_config, merge_nested
    from mmgraph.io import read_json
    from mmgraph.pipeline import STAGES
    from mmgraph.runs import RunDir, load_split
    from mmgraph.training.distributed import barrier, distributed_context

    ranks = distributed_context()
    name = f"{size}" + (f"-{num_items}-items" if num_items else "") + ("-text" if text else "")
    folder = runs / f"data-{name}"
    if ranks.is_main:
        generate(size, folder, num_items=num_items, text=text)
    barrier(ranks)
    interactions, items = folder / "interactions.parquet", folder / "items.parquet"
    base = load_config(ROOT / "configs" / "quickstart.yaml")  # its MiniLM, resolved
    text_encoder = ({**base.encoders.text.model_dump(mode="json"), "template": "{title}"}
                    if text else None)
    settings = {
        "name": f"scale-{name}" + ("-auto" if auto else ""), "runs_root": str(runs),
        "data": {"prepare": None, "interactions": str(interactions), "items": str(items),
                 "columns": {"rating": None, "timestamp": None}},
        "encoders": {"text": text_encoder, "categorical": {"columns": ["genre"]}},
        # one decomposition per filter, as docs/scaling.md measured (the content-weight grid
        # would multiply the filters' time by its length); the generated interactions have no
        # timestamps, so the quickstart's time filter is left out (auto leaves it out itself)
        "teacher": {"filter": {"content_weight": 0.0}, **({"auto": True} if auto else {
            "components": [c for c in base.teacher.components if c != "time_filter"]})}}
    merge_nested(settings, overrides)  # at every depth: {"teacher": {"optim": {"lr": ...}}}
    cfg = load_config(ROOT / "configs" / ("auto.yaml" if auto else "quickstart.yaml"),
                      overrides=settings)
    run = RunDir(cfg.run_dir)
    if ranks.is_main:
        run.write_config(cfg)
    barrier(ranks)
    seconds = {}
    for name in STAGE_NAMES:
        started = time.perf_counter()
        STAGES[name](cfg, run, progress=False)
        seconds[name] = time.perf_counter() - started
        print(f"{size:,}: {name} {seconds[name]:.0f} s", file=sys.stderr, flush=True)
    peak = torch.tensor([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20])
    if ranks.enabled:  # the largest rank's
        dist.all_reduce(peak, op=dist.ReduceOp.MAX)
    if not ranks.is_main:
        return
    metrics = read_json(run.path("metrics.json"))
    valid_users = load_split(run).validation_users(cfg.evaluation.valid_users, cfg.seed)
    als, als_setting, als_seconds = tuned_als(run.root, valid_users)
    teacher_state = read_json(run.path("teacher", "state.json"))
    print(json.dumps({
        "interactions": size, "users": metrics["protocol"]["users"], "seconds": seconds,
        "process s": time.perf_counter() - started_worker,
        "teacher batch": teacher_state.get("batch_size"),
        "teacher epochs": len(teacher_state.get("history", [])),
        "peak RSS GiB": float(peak[0]), "world": ranks.world_size,
        "ndcg@20": {"teacher": metrics["teacher"]["test"]["ndcg@20"],
                    "student": metrics["student"]["test"]["ndcg@20"], "ALS": als,
                    "popularity": metrics["popularity"]["test"]["ndcg@20"]},
        "ALS s": als_seconds, "ALS setting": als_setting}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench-scale")
    parser.add_argument("--overrides", default="{}", help="JSON config sections merged over "
                        "configs/quickstart.yaml's, e.g. a teacher or student setting")
    parser.add_argument("--items", type=int, help="catalogue size (default: E/80)")
    parser.add_argument("--text", action="store_true", help="item titles, encoded by MiniLM")
    parser.add_argument("--auto", action="store_true", help="configs/auto.yaml: teacher: auto")
    parser.add_argument("--world", type=int, default=1, help="ranks under torchrun (gloo over "
                        "loopback on one machine: the multi-node code path)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.world > 1 and args.auto:
        parser.error("--auto times its search on one process; it does not run under torchrun")
    if args.worker:
        worker(args.worker, args.runs, json.loads(args.overrides), args.items, args.text,
               args.auto)
        return
    extra = ([f"--items={args.items}"] if args.items else []) + (
        ["--text"] if args.text else []) + (["--auto"] if args.auto else [])
    launcher = [sys.executable] if args.world == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={args.world}"]
    print(f"{platform.machine()}, {os.cpu_count()} cores; one fresh process per size"
          f"{f' ({args.world} torchrun ranks)' if args.world > 1 else ''}; "
          f"overrides {args.overrides}\n")
    print("| interactions | " + " | ".join(f"{s} s" for s in STAGE_NAMES)
          + " | total s | process s | peak RSS GiB | teacher | student | ALS | ALS fit s | "
          "ALS setting |")
    print("|---" * (len(STAGE_NAMES) + 9) + "|")
    for size in args.sizes:
        out = subprocess.run([*launcher, __file__, "--worker", str(size), "--runs",
                              str(args.runs), "--overrides", args.overrides, *extra],
                             stdout=subprocess.PIPE, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ndcg, seconds = r["ndcg@20"], r["seconds"]
        print(f"| {size:,} | " + " | ".join(f"{seconds[s]:.0f}" for s in STAGE_NAMES)
              + f" | {sum(seconds.values()):.0f} | {r['process s']:.0f} | "
              f"{r['peak RSS GiB']:.1f} | "
              f"{ndcg['teacher']:.4f} | {ndcg['student']:.4f} | {ndcg['ALS']:.4f} | "
              f"{r['ALS s']:.0f} | {r['ALS setting']} |", flush=True)


if __name__ == "__main__":
    main()
