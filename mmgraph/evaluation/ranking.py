"""Batched full ranking over all items, with each user's seen items excluded.

Scores are computed one block of users at a time (``[batch, num_items]``), never as a dense
users × items matrix.
"""

from __future__ import annotations

import numpy as np
import torch

from mmgraph.data.user_items import UserItems
from mmgraph.evaluation.metrics import ranking_metrics

__all__ = ["topk_items", "evaluate_embeddings", "popularity_scores"]


@torch.no_grad()
def topk_items(user_emb: torch.Tensor, item_emb: torch.Tensor, users: np.ndarray, k: int,
               exclude: UserItems | None = None, batch_size: int = 1024) -> np.ndarray:
    """Top-``k`` item indices per user by dot product, ``[len(users), k]``.

    ``user_emb [U, d]`` (or ``[U, I]`` fixed scores with ``item_emb=None``); excluded items never
    appear; if fewer than ``k`` items remain, the tail is ``-1``.
    """
    out = np.empty((len(users), k), dtype=np.int64)
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        index = torch.from_numpy(batch)
        scores = user_emb[index] @ item_emb.T if item_emb is not None else user_emb[index].clone()
        if exclude is not None:
            exclude.mask_scores(scores, batch)
        values, items = torch.topk(scores, min(k, scores.shape[1]), dim=1)
        items[torch.isinf(values) & (values < 0)] = -1
        out[start:start + len(batch), :items.shape[1]] = items.numpy()
        out[start:start + len(batch), items.shape[1]:] = -1
    return out


def evaluate_embeddings(user_emb: torch.Tensor, item_emb: torch.Tensor | None, truth: UserItems,
                        exclude: UserItems, ks: tuple[int, ...], batch_size: int = 1024,
                        users: np.ndarray | None = None) -> dict[str, float]:
    """Recall@K/NDCG@K of dot-product ranking for every user with held-out items (or for those
    of ``users`` that have held-out items: a slice such as the sparsest users)."""
    evaluated = truth.users_with_items()
    users = evaluated if users is None else np.intersect1d(evaluated, users)
    topk = topk_items(user_emb, item_emb, users, max(ks), exclude, batch_size)
    return ranking_metrics(topk, users, truth, ks)


def popularity_scores(train: UserItems, num_users: int) -> torch.Tensor:
    """The popularity baseline as a ``[1, I]`` score row (item train counts) expanded to
    ``[num_users, I]`` (a view: no memory per user)."""
    counts = train.item_counts.astype(np.float32)
    return torch.from_numpy(counts)[None, :].expand(num_users, -1)
