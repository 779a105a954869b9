"""Fold-in and "more like this" on a finished run: accuracy against the trained user vectors,
and latency through the serving API.

For every test user, the training history is folded in (`Recommender.recommend_for_history`'s
vector: the ridge solution of iALS's loss against the served item vectors, settings chosen on
valid by the index stage) and ranks the catalogue (train items excluded); test NDCG@20 and
Recall@20 against the same users' trained vectors. Latency: `recommend_for_history` for 20-item
histories, `update` of a known user with 5 new items followed by `recommend`,
`similar_items` and `explain`, one call at a time (DataFrame out), 1,000 calls each.

Usage:
    python bench/foldin.py                     # runs/quickstart (make quickstart first)
    python bench/foldin.py --run runs/other
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from mmgraph.evaluation.ranking import evaluate_embeddings
from mmgraph.recommender import Recommender

ROOT = Path(__file__).resolve().parents[1]


def latency_ms(call, arguments: list) -> tuple[float, float]:
    """Median and 99th percentile milliseconds of ``call(*args)`` over ``arguments``."""
    seconds = []
    for args in arguments:
        started = time.perf_counter()
        call(*args)
        seconds.append(time.perf_counter() - started)
    return float(np.percentile(seconds, 50) * 1e3), float(np.percentile(seconds, 99) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "quickstart")
    args = parser.parse_args()
    recommender = Recommender.load(args.run)
    data, items = recommender.data, recommender.item_vectors
    train, test = data.parts["train"], data.parts["test"]
    users = test.users_with_items()
    folded = recommender.user_vectors.copy()
    started = time.perf_counter()
    folded[users] = recommender.foldin.user_vectors(items, [train.row(u) for u in users])
    batch_ms = (time.perf_counter() - started) / len(users) * 1e3
    rows = {name: evaluate_embeddings(torch.from_numpy(vectors), torch.from_numpy(items), test,
                                      train, (20,))
            for name, vectors in (("trained user vectors", recommender.user_vectors),
                                  ("folded-in training histories", folded))}
    rng = np.random.default_rng(0)
    ids = data.items.ids.to_numpy()
    histories = [(rng.choice(ids, 20, replace=False).tolist(), 20) for _ in range(1000)]
    singles = [(item, 20) for item in rng.choice(ids, 1000)]
    updates = [(user, rng.choice(ids, 5, replace=False).tolist())
               for user in rng.choice(data.users.ids.to_numpy(), 1000)]
    explains = [(user, item, 5) for user, item in zip(rng.choice(data.users.ids.to_numpy(), 1000),
                                                       rng.choice(ids, 1000))]

    def update_then_recommend(user, new_items: list):
        recommender.update(user, new_items)
        return recommender.recommend([user], 20)

    print(f"{args.run}, {len(users)} test users; {platform.machine()}, "
          f"{torch.get_num_threads()} threads; fold-in {recommender.foldin}\n")
    print("| user vectors | recall@20 | ndcg@20 | vs trained |\n|---|---|---|---|")
    trained = rows["trained user vectors"]["ndcg@20"]
    for name, metrics in rows.items():
        print(f"| {name} | {metrics['recall@20']:.4f} | {metrics['ndcg@20']:.4f} | "
              f"{metrics['ndcg@20'] / trained:.3f}× |")
    print(f"\nfold-in alone: {batch_ms:.2f} ms per user")
    for name, call, arguments in (
            ("recommend_for_history (20 items, k=20)", recommender.recommend_for_history,
             histories),
            ("update (5 new items) + recommend (k=20)", update_then_recommend, updates),
            ("similar_items (k=20)", recommender.similar_items, singles),
            ("explain (a user's item, top 5 history items)", recommender.explain, explains)):
        p50, p99 = latency_ms(call, arguments)
        print(f"{name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")


if __name__ == "__main__":
    main()
