"""Uniform sampling of each user's unseen items (negatives) and seen items (positives)."""

from __future__ import annotations

import numpy as np
import torch

from mmgraph.data.user_items import UserItems

__all__ = ["sample_negatives", "sample_positives"]


def sample_negatives(users: torch.Tensor, seen: UserItems, generator: torch.Generator,
                     num: int = 1) -> torch.Tensor:
    """Items drawn uniformly among those each user has not seen, ``[B, num]`` for ``users [B]``.

    Exact: a uniform rank among the user's unseen items is mapped to that item (no rejection
    loop, so heavy users cost the same). A user who has seen every item gets uniform items.
    """
    user_np = np.repeat(users.numpy(), num)
    unseen = seen.num_items - seen.counts[user_np]
    uniform = torch.rand(len(user_np), generator=generator, dtype=torch.float64).numpy()
    ranks = np.minimum((uniform * np.maximum(unseen, 1)).astype(np.int64),
                       np.maximum(unseen - 1, 0))
    items = seen.nth_unseen(user_np, ranks)
    saturated = unseen == 0
    items[saturated] = (uniform[saturated] * seen.num_items).astype(np.int64)
    return torch.from_numpy(items).view(len(users), num)


def sample_positives(users: torch.Tensor, seen: UserItems, generator: torch.Generator
                     ) -> torch.Tensor:
    """One item drawn uniformly among each user's seen items, ``[B]`` for ``users [B]`` (every
    user must have seen at least one item)."""
    user_np = users.numpy()
    counts = seen.counts[user_np]
    if (counts == 0).any():
        raise ValueError(f"user index {int(user_np[counts == 0][0])} has no training items")
    uniform = torch.rand(len(user_np), generator=generator, dtype=torch.float64).numpy()
    offsets = np.minimum((uniform * counts).astype(np.int64), counts - 1)
    return torch.from_numpy(seen.indices[seen.indptr[user_np] + offsets])
