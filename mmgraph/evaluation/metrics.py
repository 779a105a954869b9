r"""Full-ranking top-K metrics (the definitions of LightGCN and MMRec).

For a user :math:`u` with held-out items :math:`T_u` and a ranked list :math:`r_1, r_2, \dots`:

- Recall@K :math:`= |\{r_1, \dots, r_K\} \cap T_u| \,/\, |T_u|`
- NDCG@K :math:`= \mathrm{DCG@K} / \mathrm{IDCG@K}`, where
  :math:`\mathrm{DCG@K} = \sum_{k \le K} [r_k \in T_u] / \log_2(k+1)` and
  :math:`\mathrm{IDCG@K} = \sum_{k \le \min(K, |T_u|)} 1 / \log_2(k+1)`.

Both are averaged over users with at least one held-out item. Beyond accuracy, of the top-K
lists themselves (:func:`list_metrics`; distillation can amplify popularity bias, UnKD: Chen et
al., WSDM 2023):

- coverage@K: the share of the catalogue that appears in at least one user's top K;
- popularity@K: the average recommended popularity (ARP, Abdollahpouri et al., FLAIRS 2019),
  the mean over users of the mean training interaction count of their top-K items.
"""

from __future__ import annotations

import numpy as np

from mmgraph.data.user_items import UserItems

__all__ = ["ranking_metrics", "per_user_metrics", "list_metrics", "hit_matrix"]


def hit_matrix(topk: np.ndarray, users: np.ndarray, truth: UserItems) -> np.ndarray:
    """``hits[b, r]``: is the item at rank ``r`` of ``users[b]`` held out? ``topk [B, K]``;
    entries ``< 0`` (padding) never hit."""
    hits = truth.contains(users[:, None], np.maximum(topk, 0))
    return hits & (topk >= 0)


def per_user_metrics(topk: np.ndarray, users: np.ndarray, truth: UserItems,
                     ks: tuple[int, ...] = (10, 20)) -> dict[str, np.ndarray]:
    """Recall@K and NDCG@K of each of ``users`` that has held-out items, ``[B']`` arrays in the
    order of ``users`` (the paired samples of a significance test between two models).

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
        result[f"recall@{k}"] = hits[:, :k].sum(1) / counts
        dcg = (hits[:, :k] * discounts[:k]).sum(1)
        result[f"ndcg@{k}"] = dcg / ideal_cumulative[np.minimum(counts, k) - 1]
    return result


def ranking_metrics(topk: np.ndarray, users: np.ndarray, truth: UserItems,
                    ks: tuple[int, ...] = (10, 20)) -> dict[str, float]:
    """Mean Recall@K and NDCG@K over ``users`` (those with held-out items); the arguments are
    :func:`per_user_metrics`'."""
    return {name: float(values.mean()) if len(values) else 0.0
            for name, values in per_user_metrics(topk, users, truth, ks).items()}


def list_metrics(topk: np.ndarray, item_counts: np.ndarray, k: int) -> dict[str, float]:
    """coverage@k and popularity@k (module docstring) of the top-``k`` lists ``topk [B, >=k]``
    (entries ``< 0`` are padding); ``item_counts [I]``: each item's training interactions."""
    top = topk[:, :k]
    valid = top >= 0
    if not valid.any():
        return {f"coverage@{k}": 0.0, f"popularity@{k}": 0.0}
    popularity = np.where(valid, item_counts[np.maximum(top, 0)], 0.0).sum(1)
    per_list = popularity[valid.any(1)] / valid.sum(1)[valid.any(1)]
    return {f"coverage@{k}": float(len(np.unique(top[valid])) / len(item_counts)),
            f"popularity@{k}": float(per_list.mean())}
