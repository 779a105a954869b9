"""Item–item kNN graphs from content similarity, with FAISS (never a dense N×N matrix)."""

from __future__ import annotations

import faiss
import numpy as np
import torch
import torch.nn.functional as F
from torch_geometric.utils import coalesce, to_undirected

__all__ = ["knn_graph"]


def _search_index(vectors: np.ndarray, exact_items: int) -> faiss.Index:
    """Exact inner product up to ``exact_items`` rows (quadratic in rows); past that FAISS's
    HNSW graph (32 links, efSearch 128): about ``N log N``, and near-exact on clustered
    embeddings (recall@20 0.999 at 100k rows here, ../shared/OFFLINE.md)."""
    if len(vectors) <= exact_items:
        index = faiss.IndexFlatIP(vectors.shape[1])
    else:
        index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction, index.hnsw.efSearch = 80, 128
    index.add(vectors)
    return index


def knn_graph(features: torch.Tensor, k: int, symmetric: bool = True,
              mask: torch.Tensor | None = None, exact_items: int = 50_000
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine top-``k`` neighbours of every row, self excluded.

    Args:
        features: ``[N, d]`` item features (normalised here).
        k: neighbours per item (capped at ``N - 1``).
        symmetric: add each edge's reverse (an edge kept by either end survives).
        mask: optional ``[N]`` bool, the rows that have content (e.g. items with audio); the
            others get no edges and are nobody's neighbour, instead of arbitrary zero-similarity
            ones.
        exact_items: up to this many rows the search is exact; past it, approximate (HNSW).

    Returns:
        ``edge_index [2, E]`` (source, target) and ``edge_weight [E]`` cosine similarities.
        Without ``symmetric``, ``E = N * k``.
    """
    if mask is not None:
        rows = torch.nonzero(mask).flatten()
        edge_index, edge_weight = knn_graph(features[rows], k, symmetric,
                                            exact_items=exact_items)
        return rows[edge_index], edge_weight  # rows ascend: the coalesced order is kept
    num = features.shape[0]
    k = min(k, num - 1)
    if k <= 0:
        return torch.empty(2, 0, dtype=torch.long), torch.empty(0)
    vectors = F.normalize(features.float(), dim=-1).numpy()
    index = _search_index(vectors, exact_items)
    # k + 1: the item itself is usually its own best match; ties can push it later, so drop it
    # wherever it appears and keep the first k others.
    scores, neighbours = index.search(vectors, k + 1)
    rows = np.arange(num)[:, None]
    not_self = neighbours != rows
    keep = not_self & (np.cumsum(not_self, axis=1) <= k)
    src = np.broadcast_to(rows, neighbours.shape)[keep]
    edge_index = torch.from_numpy(np.stack([src, neighbours[keep]]).astype(np.int64))
    edge_weight = torch.from_numpy(scores[keep].astype(np.float32))
    if symmetric:
        edge_index, edge_weight = to_undirected(edge_index, edge_weight, num_nodes=num,
                                                reduce="max")
    return coalesce(edge_index, edge_weight, num_nodes=num, reduce="max")
