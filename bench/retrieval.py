"""Retrieval benchmark: exact vs IVF vs HNSW through ``RetrievalIndex``, in one run.

1. Generated, clustered item vectors (default 1M × 64: 1,000 cluster centres, each item its
   centre plus noise in a shared 16-d subspace and a little isotropic noise; queries drawn the
   same way), inner-product search (the student's score): build seconds, queries/s at batch 1
   and batch 1,000, p50/p99 latency at batch 1, recall@20 against exact search.
2. A finished run's student (default ``runs/quickstart``, from ``mmgraph quickstart``):
   recall@20 of the approximate indexes on its items, and the latency of the one-line API,
   ``Recommender.load(run).recommend([user], k=20)``, one user per call (p50/p99).

Usage:
    python bench/retrieval.py                       # about 15 min on 2 cores
    python bench/retrieval.py --items 100000        # quicker
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import faiss
import numpy as np
import torch

from mmgraph.data import IdMap
from mmgraph.index import RetrievalIndex
from mmgraph.recommender import Recommender

ROOT = Path(__file__).resolve().parents[1]
K = 20

#: label → (factory, search parameters)
CONFIGS = {
    "exact (Flat)": ("Flat", {}),
    "IVF1024,Flat nprobe 8": ("IVF1024,Flat", {"nprobe": 8}),
    "IVF1024,Flat nprobe 32": ("IVF1024,Flat", {"nprobe": 32}),
    "HNSW32 efSearch 64": ("HNSW32", {"efSearch": 64}),
    "HNSW32 efSearch 128": ("HNSW32", {"efSearch": 128}),
    "IVF1024,SQ8 nprobe 32": ("IVF1024,SQ8", {"nprobe": 32}),
}


def clustered(n: int, dim: int, seed: int, clusters: int = 1000, rank: int = 16) -> np.ndarray:
    """``[n, dim]`` float32 points around ``clusters`` centres (fixed by the base seed 0)."""
    base = np.random.default_rng(0)
    centres = base.normal(size=(clusters, dim)).astype(np.float32)
    basis = base.normal(size=(rank, dim)).astype(np.float32) / np.sqrt(rank)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):
        size = min(100_000, n - start)
        out[start:start + size] = (centres[rng.integers(clusters, size=size)]
                                   + 0.6 * rng.normal(size=(size, rank)).astype(np.float32) @ basis
                                   + 0.05 * rng.normal(size=(size, dim)).astype(np.float32))
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the exact top-k found, ``[B, k]`` each."""
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def measure(index: RetrievalIndex, queries: np.ndarray, single: int) -> dict[str, float]:
    latencies = []
    for query in queries[:single]:
        started = time.perf_counter()
        index.search(query[None], K)
        latencies.append(time.perf_counter() - started)
    batch_seconds = []
    for _ in range(3):
        started = time.perf_counter()
        index.search(queries, K)
        batch_seconds.append(time.perf_counter() - started)
    return {"qps batch 1": 1 / float(np.mean(latencies)),
            "p50 ms": 1000 * float(np.percentile(latencies, 50)),
            "p99 ms": 1000 * float(np.percentile(latencies, 99)),
            "qps batch 1000": len(queries) / float(np.median(batch_seconds))}


def generated_table(num_items: int, dim: int, num_queries: int, single: int) -> None:
    items = clustered(num_items, dim, seed=1)
    queries = clustered(num_queries, dim, seed=2)
    ids = IdMap(np.arange(num_items), "item_id")
    rows, truth = {}, None
    for label, (factory, params) in CONFIGS.items():
        started = time.perf_counter()
        index = RetrievalIndex.build(items, ids, "ip", factory).set_params(**params)
        build = time.perf_counter() - started
        found = index.search(queries, K)[0]
        truth = found if truth is None else truth
        rows[label] = {"build s": build, "recall@20": recall(found, truth),
                       **measure(index, queries, single)}
        del index
    exact = rows["exact (Flat)"]
    print(f"{num_items:,} × {dim} clustered vectors, {num_queries} queries, inner product, "
          f"k={K}; {platform.machine()}, {faiss.omp_get_max_threads()} threads, faiss "
          f"{faiss.__version__}\n")
    print("| index | build s | recall@20 | qps batch 1 | × exact | p50 ms | p99 ms | "
          "qps batch 1000 | × exact |\n|---|---|---|---|---|---|---|---|---|")
    for label, r in rows.items():
        print(f"| {label} | {r['build s']:.1f} | {r['recall@20']:.3f} | {r['qps batch 1']:,.0f} "
              f"| {r['qps batch 1'] / exact['qps batch 1']:.1f} | {r['p50 ms']:.2f} | "
              f"{r['p99 ms']:.2f} | {r['qps batch 1000']:,.0f} | "
              f"{r['qps batch 1000'] / exact['qps batch 1000']:.1f} |")
    good = [(r["qps batch 1"] / exact["qps batch 1"], label) for label, r in rows.items()
            if r["recall@20"] >= 0.95 and label != "exact (Flat)"]
    if good:
        speedup, label = max(good)
        print(f"\nfastest index with recall@20 >= 0.95 at batch 1: {label}, {speedup:.1f}× exact")
    else:
        print("\nno approximate index reached recall@20 >= 0.95")


def run_table(run_dir: Path, calls: int) -> None:
    recommender = Recommender.load(run_dir)
    exact = recommender.index
    item_vectors = np.stack([exact.index.reconstruct(i) for i in range(exact.index.ntotal)])
    users = recommender.user_vectors
    truth = exact.search(users, K)[0]
    print(f"\nStudent of {run_dir.name}: {len(item_vectors)} items × {item_vectors.shape[1]}, "
          f"{len(users)} users as queries\n")
    print("| index | recall@20 |\n|---|---|")
    for factory, params in (("IVF32,Flat", {"nprobe": 4}), ("HNSW32", {"efSearch": 64}),
                            ("SQfp16", {}), ("SQ8", {})):
        index = RetrievalIndex.build(item_vectors, exact.item_ids, "ip", factory)
        found = index.set_params(**params).search(users, K)[0]
        print(f"| {factory} {params or ''} | {recall(found, truth):.3f} |")
    user_ids = recommender.data.users.ids.to_numpy()
    rng = np.random.default_rng(0)
    latencies = []
    for user in rng.choice(user_ids, size=calls):
        started = time.perf_counter()
        recommender.recommend([user], k=K)
        latencies.append(time.perf_counter() - started)
    print(f"\n`Recommender.recommend([user], k={K})`, {calls} calls, one random user each "
          f"(exact index, seen items excluded, DataFrame out): p50 "
          f"{1000 * np.percentile(latencies, 50):.2f} ms, p99 "
          f"{1000 * np.percentile(latencies, 99):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--single", type=int, default=200, help="batch-1 queries timed")
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "quickstart")
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(faiss.omp_get_max_threads())
    generated_table(args.items, args.dim, args.queries, args.single)
    run_table(args.run, args.calls)


if __name__ == "__main__":
    main()
