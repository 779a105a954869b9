"""LightGCN propagation, forward + backward, three ways side by side in one run.

1. PyG ``LGConv`` over ``edge_index`` (gather/scatter message passing, gcn-normalised);
2. ``torch.sparse.mm`` on the normalised CSR adjacency (PyG's sparse path);
3. mmgraph's ``symmetric_spmm`` (CSR; backward reuses A since A is symmetric);
4. the same with users and items renumbered by degree, most connected first (the rows the
   propagation gathers most often lie together: does locality pay once the embeddings no longer
   fit in cache?).

Usage: python bench/propagation.py [--users 10000] [--items 20000] [--interactions 1000000]
       [--repeats 5]
Prints a Markdown table: median seconds per fwd+bwd of ``layers`` layers and ratios to (3).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch
from torch_geometric.nn import LGConv

from mmgraph.graph.adjacency import bipartite_adjacency, symmetric_spmm


def power_law_graph(num_users: int, num_items: int, num_edges: int, seed: int) -> torch.Tensor:
    """Deduplicated user–item pairs; item popularity ~ Zipf(1), ``[2, E']``."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, num_items + 1)
    items = rng.choice(num_items, size=num_edges, p=weights / weights.sum())
    users = rng.integers(num_users, size=num_edges)
    pairs = np.unique(users.astype(np.int64) * num_items + items)
    return torch.from_numpy(np.stack([pairs // num_items, pairs % num_items]))


def median_seconds(step, repeats: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    user_item = power_law_graph(args.users, args.items, args.interactions, seed=0)
    size = args.users + args.items
    adjacency = bipartite_adjacency(user_item, args.users, args.items)
    users, items = user_item[0], user_item[1] + args.users
    edge_index = torch.cat([torch.stack([users, items]), torch.stack([items, users])], dim=1)
    x0 = torch.randn(size, args.dim, requires_grad=True)
    conv = LGConv(normalize=True)

    def run(propagate):
        def step():
            x = x0
            for _ in range(args.layers):
                x = propagate(x)
            x.pow(2).sum().backward()
        return step

    def by_degree(ids: torch.Tensor, count: int) -> torch.Tensor:
        """New id of each old one: most connected first."""
        order = torch.argsort(torch.bincount(ids, minlength=count), descending=True, stable=True)
        return torch.empty_like(order).scatter_(0, order, torch.arange(count))

    sorted_adjacency = bipartite_adjacency(
        torch.stack([by_degree(user_item[0], args.users)[user_item[0]],
                     by_degree(user_item[1], args.items)[user_item[1]]]), args.users, args.items)
    results = {
        "PyG LGConv, edge_index": median_seconds(run(lambda x: conv(x, edge_index)),
                                                 args.repeats),
        "torch.sparse.mm, CSR": median_seconds(run(lambda x: torch.sparse.mm(adjacency, x)),
                                               args.repeats),
        "mmgraph symmetric_spmm, CSR": median_seconds(run(lambda x: symmetric_spmm(adjacency, x)),
                                                      args.repeats),
        "mmgraph symmetric_spmm, CSR, ids by degree": median_seconds(
            run(lambda x: symmetric_spmm(sorted_adjacency, x)), args.repeats),
    }
    ours = results["mmgraph symmetric_spmm, CSR"]
    print(f"{user_item.shape[1]:,} interactions, {args.users:,} users, {args.items:,} items, "
          f"{args.dim}-d, {args.layers} layers, median of {args.repeats}; "
          f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}\n")
    print("| propagation | s per fwd+bwd | × mmgraph |\n|---|---|---|")
    for name, seconds in results.items():
        print(f"| {name} | {seconds:.3f} | {seconds / ours:.1f} |")


if __name__ == "__main__":
    main()
