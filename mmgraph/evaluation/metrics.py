r"""Full-ranking top-K metrics (the definitions of LightGCN and MMRec).

For a user :math:`u` with held-out items :math:`T_u` and a ranked list :math:`r_1, r_2, \dots`:

- Recall@K :math:`= |\{r_1, \dots, r_K\} \cap T_u| \,/\, |T_u|`
- NDCG@K :math:`= \mathrm{DCG@K} / \mathrm{IDCG@K}`, where
  :math:`\mathrm{DCG@K} = \sum_{k \le K} [r_k \in T_u] / \log_2(k+1)` and
  :math:`\mathrm{IDCG@K} = \sum_{k \le \min(K, |T_u|)} 1 / \log_2(k+1)`.

Both are averaged over users with at least one held-out item.
"""

from __future__ import annotations

import numpy as np

from mmgraph.data.user_items import UserItems

__all__ = ["ranking_metrics", "hit_matrix"]


def hit_matrix(topk: np.ndarray, users: np.ndarray, truth: UserItems) -> np.ndarray:
    """``hits[b, r]``: is the item at rank ``r`` of ``users[b]`` held out? ``topk [B, K]``;
    entries ``< 0`` (padding) never hit."""
    hits = truth.contains(users[:, None], np.maximum(topk, 0))
    return hits & (topk >= 0)


def ranking_metrics(topk: np.ndarray, users: np.ndarray, truth: UserItems,
                    ks: tuple[int, ...] = (10, 20)) -> dict[str, float]:
    """Mean Recall@K and NDCG@K over ``users`` (those with held-out items).

    Args:
        topk: ``[B, K_max]`` ranked item indices for ``users [B]``; fewer than ``max(ks)``
            columns (a catalogue smaller than K) are padded with misses.
        truth: held-out items per user.
    """
    if topk.shape[1] < max(ks):
        topk = np.pad(topk, ((0, 0), (0, max(ks) - topk.shape[1])), constant_values=-1)
    counts = truth.counts[users]
    keep = counts > 0
    hits, counts = hit_matrix(topk[keep], users[keep], truth).astype(np.float64), counts[keep]
    discounts = 1.0 / np.log2(np.arange(2, max(ks) + 2))
    ideal_cumulative = np.cumsum(discounts)
    result = {}
    for k in ks:
        result[f"recall@{k}"] = float(np.mean(hits[:, :k].sum(1) / counts)) if len(counts) else 0.0
        dcg = (hits[:, :k] * discounts[:k]).sum(1)
        idcg = ideal_cumulative[np.minimum(counts, k) - 1]
        result[f"ndcg@{k}"] = float(np.mean(dcg / idcg)) if len(counts) else 0.0
    return result
