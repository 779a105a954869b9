"""Batched full ranking over all items, with each user's seen items excluded.

Scores are computed one block of users at a time (``[batch, num_items]``), never as a dense
users × items matrix.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from mmgraph.data.user_items import UserItems
from mmgraph.evaluation.metrics import ranking_metrics

__all__ = ["topk_items", "topk_of_weighted_sums", "evaluate_embeddings",
           "evaluate_weighted_sums", "popularity_scores"]


Embeddings = tuple[torch.Tensor, Optional[torch.Tensor]]


@torch.no_grad()
def topk_items(user_emb: torch.Tensor, item_emb: torch.Tensor | None, users: np.ndarray, k: int,
               exclude: UserItems | None = None, batch_size: int = 1024) -> np.ndarray:
    """Top-``k`` item indices per user by dot product, ``[len(users), k]``.

    ``user_emb [U, d]`` (or ``[U, I]`` fixed scores with ``item_emb=None``); excluded items never
    appear; if fewer than ``k`` items remain, the tail is ``-1``.
    """
    return topk_of_weighted_sums([(user_emb, item_emb)], [[1.0]], users, k, exclude,
                                 batch_size)[0]


@torch.no_grad()
def topk_of_weighted_sums(components: list[Embeddings], weightings: list[list[float]],
                          users: np.ndarray, k: int, exclude: UserItems | None = None,
                          batch_size: int = 1024) -> list[np.ndarray]:
    r"""Top-``k`` item indices per user, ``[len(users), k]``, for each weighted sum
    :math:`\sum_c w_c \langle p^c_u, q^c_i\rangle` of the components' dot-product scores, one
    array per weighting ``[w_1, …, w_C]``.

    Each component scores a user batch once, whatever the number of weightings (a search over
    blend weights costs one scoring pass, not one per blend), into buffers reused from batch to
    batch (a fresh ``[batch, I]`` block per batch costs its page faults: a third of the product
    at 125k items). ``components``: ``(users [U, d_c], items [I, d_c])``, or ``(scores [U, I],
    None)``; excluded items never appear; if fewer than ``k`` items remain, the tail is ``-1``.
    """
    outs = [np.full((len(users), k), -1, dtype=np.int64) for _ in weightings]
    buffers: list[torch.Tensor] = []
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        index = torch.from_numpy(batch).to(components[0][0].device)
        if not buffers:
            num_items = (components[0][0].shape[1] if components[0][1] is None
                         else components[0][1].shape[0])
            count = len(components) + (len(components) > 1 or len(weightings) > 1)
            like = components[0][0]
            buffers = [torch.empty(min(batch_size, len(users)), num_items, dtype=like.dtype,
                                   device=like.device) for _ in range(count)]
        parts = []
        for (user_emb, item_emb), buffer in zip(components, buffers):
            part = buffer[:len(batch)]
            if item_emb is None:
                part.copy_(user_emb[index])
            else:
                torch.mm(user_emb[index], item_emb.T, out=part)
            parts.append(part)
        for weights, out in zip(weightings, outs):
            if len(parts) == 1 and len(weightings) == 1 and weights[0] == 1.0:
                scores = parts[0]  # nothing to combine: mask in place
            else:
                scores = buffers[-1][:len(batch)]
                scores.zero_()
                for part, weight in zip(parts, weights):
                    if weight != 0.0:
                        scores.add_(part, alpha=weight)
            if exclude is not None:
                exclude.mask_scores(scores, batch)
            values, items = torch.topk(scores, min(k, scores.shape[1]), dim=1)
            items[torch.isinf(values) & (values < 0)] = -1
            out[start:start + len(batch), :items.shape[1]] = items.cpu().numpy()
    return outs


def evaluate_embeddings(user_emb: torch.Tensor, item_emb: torch.Tensor | None, truth: UserItems,
                        exclude: UserItems, ks: tuple[int, ...], batch_size: int = 1024,
                        users: np.ndarray | None = None) -> dict[str, float]:
    """Recall@K/NDCG@K of dot-product ranking for every user with held-out items (or for those
    of ``users`` that have held-out items: a slice such as the sparsest users)."""
    return evaluate_weighted_sums([(user_emb, item_emb)], [[1.0]], truth, exclude, ks,
                                  batch_size, users)[0]


def evaluate_weighted_sums(components: list[Embeddings], weightings: list[list[float]],
                           truth: UserItems, exclude: UserItems, ks: tuple[int, ...],
                           batch_size: int = 1024, users: np.ndarray | None = None
                           ) -> list[dict[str, float]]:
    """:func:`evaluate_embeddings` of every weighted sum of the components' scores (see
    :func:`topk_of_weighted_sums`), one scoring pass for all of them."""
    evaluated = truth.users_with_items()
    users = evaluated if users is None else np.intersect1d(evaluated, users)
    return [ranking_metrics(topk, users, truth, ks) for topk in topk_of_weighted_sums(
        components, weightings, users, max(ks), exclude, batch_size)]


def popularity_scores(train: UserItems, num_users: int) -> torch.Tensor:
    """The popularity baseline as a ``[1, I]`` score row (item train counts) expanded to
    ``[num_users, I]`` (a view: no memory per user)."""
    counts = train.item_counts.astype(np.float32)
    return torch.from_numpy(counts)[None, :].expand(num_users, -1)
