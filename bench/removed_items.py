"""Removed items on an HNSW index: FAISS's ID selector against over-fetching, in one run.

HNSW cannot delete, so ``RetrievalIndex.remove`` leaves the items in the graph. Until now a
search fetched ``k`` plus every removed item and dropped them after (cost grows with the number
removed); it now passes ``SearchParameters(sel=IDSelectorNot(IDSelectorBatch(removed)))`` so the
graph search skips them. For a share of the catalogue removed, on generated clustered item
vectors (``bench/retrieval.py``'s), this measures both ways on the same index: recall@20 against
exact search over the remaining items, queries/s at batch 1,000 and p50 latency at batch 1
(medians of 3 rounds).

Usage:
    python bench/removed_items.py                   # 200k × 64, about 5 min on 2 cores
    python bench/removed_items.py --items 50000
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from retrieval import clustered, recall  # noqa: E402

from mmgraph.data import IdMap  # noqa: E402
from mmgraph.index import RetrievalIndex  # noqa: E402

K = 20


def over_fetch(index: RetrievalIndex, queries: np.ndarray, k: int) -> np.ndarray:
    """The previous search: fetch ``k`` + every removed item still in the graph, then drop
    the removed ones (labels ``[B, k]``, ``-1`` where too few are left)."""
    _, items = index.index.search(queries, k + int(index.removed.sum()))
    keep = (items >= 0) & ~index.removed[np.maximum(items, 0)]
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    found = np.take_along_axis(items, order, axis=1)
    found[~np.take_along_axis(keep, order, axis=1)] = -1
    return found


def timed(search, queries: np.ndarray, single: int) -> tuple[np.ndarray, float, float]:
    """Labels for ``queries``, queries/s at batch 1,000 and p50 ms at batch 1 (medians of 3)."""
    rates, latencies, found = [], [], None
    for _ in range(3):
        start = time.perf_counter()
        found = search(queries)
        rates.append(len(queries) / (time.perf_counter() - start))
        times = []
        for row in queries[:single]:
            start = time.perf_counter()
            search(row[None])
            times.append(time.perf_counter() - start)
        latencies.append(np.median(times) * 1e3)
    return found, float(np.median(rates)), float(np.median(latencies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--single", type=int, default=200)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.001, 0.01, 0.1, 0.5])
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{faiss.omp_get_max_threads()} threads, faiss {faiss.__version__}")
    print(f"{args.items:,} × {args.dim} clustered items, {args.queries} queries, "
          f"HNSW32 efSearch 64, k = {K}")
    items = clustered(args.items, args.dim, seed=1)
    queries = clustered(args.queries, args.dim, seed=2)
    start = time.perf_counter()
    index = RetrievalIndex.build(items, IdMap(np.arange(args.items), "item_id"),
                                 factory="HNSW32").set_params(efSearch=64)
    print(f"build {time.perf_counter() - start:.0f} s")
    rng = np.random.default_rng(0)
    order = rng.permutation(args.items)
    removed_so_far = 0
    print("| removed | recall@20 over-fetch | recall@20 selector | QPS over-fetch | "
          "QPS selector | ratio | p50 ms over-fetch | p50 ms selector |")
    print("|---|---|---|---|---|---|---|---|")
    for share in sorted(args.shares):
        count = int(share * args.items)
        index.remove(order[removed_so_far:count])
        removed_so_far = count
        survivors = np.sort(order[count:])
        exact = faiss.IndexFlatIP(args.dim)
        exact.add(items[survivors])
        truth = survivors[exact.search(queries, K)[1]]
        old, old_qps, old_ms = timed(lambda q: over_fetch(index, q, K), queries, args.single)
        new, new_qps, new_ms = timed(lambda q: index.search(q, K)[0], queries, args.single)
        print(f"| {share:.1%} ({count:,}) | {recall(old, truth):.3f} | {recall(new, truth):.3f} "
              f"| {old_qps:,.0f} | {new_qps:,.0f} | {new_qps / old_qps:.1f}× | {old_ms:.2f} | "
              f"{new_ms:.2f} |", flush=True)


if __name__ == "__main__":
    main()
