"""Replay ml-100k day by day: an incremental `mmgraph update` against a full retrain and against
fold-in alone, each scored on the next block of interactions.

The interactions, ordered by time, are cut into an initial block (the first ``--initial``
share) and ``--blocks`` equal blocks after it. A run with the quickstart's settings is trained
on the initial block (tuned on its own random split). Then, after each block ``b``:

- **update**: ``mmgraph update`` of the previous generation with block ``b`` (filters
  recomputed, LightGCN continued from its weights and the student distilled from the updated
  teacher's start, each for a quarter of the epochs the run chose);
- **retrain**: the same, but the models trained from nothing for all those epochs
  (``update(..., share=1, cold=True)``: the full retrain on everything so far with the run's
  settings);
- **fold-in**: no training; the run as first trained, every user's block interactions folded
  into their vector (``Recommender.update``).

Each is scored on block ``b + 1`` by ``mmgraph.evaluate`` (NDCG@20 and Recall@20 of the served
lists, full ranking, every item the model knows the user chose left out), with its seconds.

``--generated N`` replays ``bench/scale.py``'s generated catalogue of N interactions instead,
with timestamps and tastes that drift over its 100 days (``generate(..., drift=True)``), its
items' genre as the content (scale.py's setting: the attribute encoder, one decomposition per
filter).

Usage:
    python bench/incremental.py                 # data/ml-100k (make quickstart first)
    python bench/incremental.py --blocks 4 --initial 0.8
    python bench/incremental.py --generated 1000000 --initial 0.95 --blocks 5 \
        --overrides '{"teacher": {...}}'   # 1% blocks; docs/benchmarks.md has the overrides
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

import mmgraph
from mmgraph.config import merge_nested, validate_config
from mmgraph.pipeline.update import update
from scale import generate

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "ml-100k")
    parser.add_argument("--generated", type=int, metavar="N",
                        help="replay N generated interactions with drifting tastes instead")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-incremental")
    parser.add_argument("--initial", type=float, default=0.75)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--share", type=float, default=0.25,
                        help="share of the tuned epochs an update trains")
    parser.add_argument("--lr-scale", type=float, default=1.0,
                        help="an update's learning rates over the run's")
    parser.add_argument("--overrides", default="{}", help="JSON config sections merged over "
                        "configs/quickstart.yaml's (as bench/scale.py's)")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    raw = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    if args.generated:
        args.data = args.out / "generated"
        generate(args.generated, args.data, drift=True)
        raw["encoders"] = {"text": None, "categorical": {"columns": ["genre"]}}
        raw["teacher"]["filter"] = {"content_weight": 0.0}
    every = pd.read_parquet(args.data / "interactions.parquet")
    every = every.sort_values("timestamp", kind="stable").reset_index(drop=True)
    start = int(len(every) * args.initial)
    size = (len(every) - start) // args.blocks
    blocks = [every.iloc[start + b * size: start + (b + 1) * size] for b in range(args.blocks)]
    (args.out / "tables").mkdir(parents=True)
    every.iloc[:start].to_parquet(args.out / "tables" / "initial.parquet", index=False)
    for number, block in enumerate(blocks, 1):
        block.to_parquet(args.out / "tables" / f"block{number}.parquet", index=False)

    merge_nested(raw, json.loads(args.overrides))
    raw.update(name="replay", runs_root=str(args.out / "runs"))
    raw["data"] = {"interactions": str(args.out / "tables" / "initial.parquet"),
                   "items": str(args.data / "items.parquet"),
                   **({"columns": {"rating": None}} if args.generated else {})}
    started = time.perf_counter()
    mmgraph.run(validate_config(raw, "the replay's config"), progress=False)
    print(f"initial run: {time.perf_counter() - started:.0f} s; {platform.machine()}, "
          f"{torch.get_num_threads()} threads; {len(every.iloc[:start])} interactions, "
          f"{args.blocks} blocks of {size}\n")
    base = args.out / "runs" / "replay"
    folded = mmgraph.Recommender.load(base)
    warm, cold = base, base
    print("| after block | next-block NDCG@20 update / retrain / fold-in | update / retrain | "
          "update / fold-in | Recall@20 update / retrain / fold-in | seconds update / "
          "retrain / fold-in |")
    print("|---|---|---|---|---|---|")
    for number in range(1, args.blocks):
        table = args.out / "tables" / f"block{number}.parquet"
        seconds = {}
        started = time.perf_counter()
        warm = update(warm, table, args.share, progress=False, lr_scale=args.lr_scale).root
        seconds["update"] = time.perf_counter() - started
        started = time.perf_counter()
        cold = update(cold, table, share=1.0, progress=False, cold=True).root
        seconds["retrain"] = time.perf_counter() - started
        started = time.perf_counter()
        block = blocks[number - 1]
        for user, items in block.groupby("user_id")["item_id"]:
            folded.update(user, items.tolist())
        seconds["fold-in"] = time.perf_counter() - started
        nxt = blocks[number]
        scores = {name: mmgraph.evaluate(recommender, nxt, ks=(20,))
                  for name, recommender in (("update", mmgraph.Recommender.load(warm)),
                                            ("retrain", mmgraph.Recommender.load(cold)),
                                            ("fold-in", folded))}
        ndcg = {name: s["ndcg@20"] for name, s in scores.items()}
        recall = {name: s["recall@20"] for name, s in scores.items()}
        print(f"| {number} | {ndcg['update']:.4f} / {ndcg['retrain']:.4f} / "
              f"{ndcg['fold-in']:.4f} | {ndcg['update'] / ndcg['retrain']:.3f}× | "
              f"{ndcg['update'] / ndcg['fold-in']:.3f}× | {recall['update']:.4f} / "
              f"{recall['retrain']:.4f} / {recall['fold-in']:.4f} | "
              f"{seconds['update']:.1f} / {seconds['retrain']:.1f} / "
              f"{seconds['fold-in']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
