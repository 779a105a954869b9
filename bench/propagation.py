"""LightGCN propagation, forward + backward, side by side in one run.

1. PyG ``LGConv`` over ``edge_index`` (gather/scatter message passing, gcn-normalised);
2. ``torch.sparse.mm`` on the whole normalised ``[U + I, U + I]`` CSR (PyG's sparse path,
   int64 indices);
3. ``symmetric_spmm`` on that whole CSR (backward reuses A since A is symmetric);
4. mmgraph's ``bipartite_spmm``: the two off-diagonal blocks ``[U, I]`` and ``[I, U]`` with
   int32 indices (each product gathers rows of one side's table only; MKL takes int32 as is);
5. the same with users and items renumbered by degree, most connected first (the rows the
   propagation gathers most often lie together: does locality pay once the embeddings no longer
   fit in cache?);
6. mmgraph's ``lightgcn_propagate`` (what the teacher runs): all layers and their mean in one
   autograd node, products written into scratch tables kept between calls, Horner's rule
   backward (it computes the layer mean too, which 1–5 leave out).

Usage: python bench/propagation.py [--users 10000] [--items 20000] [--interactions 1000000]
       [--repeats 5]
Prints a Markdown table: median seconds per fwd+bwd of ``layers`` layers and ratios to (4).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch
from torch_geometric.nn import LGConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import to_torch_csr_tensor

from mmgraph.graph.adjacency import (bipartite_adjacency, bipartite_spmm, lightgcn_propagate,
                                     symmetric_spmm)


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
    whole = to_torch_csr_tensor(*gcn_norm(edge_index, None, size, add_self_loops=False),
                                size=(size, size))  # int64 indices, as PyG builds it
    x0 = torch.randn(size, args.dim, requires_grad=True)
    conv = LGConv(normalize=True)

    def run(propagate):
        def step():
            x = x0
            for _ in range(args.layers):
                x = propagate(x)
            x.pow(2).sum().backward()
        return step

    def blocks(graph):
        def propagate(x):
            return torch.cat(bipartite_spmm(graph, x[:args.users], x[args.users:]))
        return propagate

    def layer_mean():
        users, items = lightgcn_propagate(adjacency, x0[:args.users], x0[args.users:],
                                          args.layers)
        torch.cat([users, items]).pow(2).sum().backward()

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
        "torch.sparse.mm, whole CSR": median_seconds(run(lambda x: torch.sparse.mm(whole, x)),
                                                     args.repeats),
        "symmetric_spmm, whole CSR": median_seconds(run(lambda x: symmetric_spmm(whole, x)),
                                                    args.repeats),
        "mmgraph bipartite_spmm, int32 blocks": median_seconds(run(blocks(adjacency)),
                                                               args.repeats),
        "mmgraph bipartite_spmm, ids by degree": median_seconds(run(blocks(sorted_adjacency)),
                                                                args.repeats),
        "mmgraph lightgcn_propagate (layer mean)": median_seconds(layer_mean, args.repeats),
    }
    ours = results["mmgraph bipartite_spmm, int32 blocks"]
    print(f"{user_item.shape[1]:,} interactions, {args.users:,} users, {args.items:,} items, "
          f"{args.dim}-d, {args.layers} layers, median of {args.repeats}; "
          f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}\n")
    print("| propagation | s per fwd+bwd | × mmgraph |\n|---|---|---|")
    for name, seconds in results.items():
        print(f"| {name} | {seconds:.3f} | {seconds / ours:.1f} |")


if __name__ == "__main__":
    main()
