"""Uniform negative sampling that avoids each user's training items."""

from __future__ import annotations

import numpy as np
import torch

from mmgraph.data.user_items import UserItems

__all__ = ["sample_negatives"]


def sample_negatives(users: torch.Tensor, seen: UserItems, generator: torch.Generator,
                     num: int = 1, max_rounds: int = 20) -> torch.Tensor:
    """Items drawn uniformly among those each user has not seen, ``[B, num]`` for ``users [B]``.

    Rejection sampling: redraw the hits on seen items, up to ``max_rounds`` times (a user who has
    seen almost every item may keep a seen one after that, which only weakens one sample).
    """
    items = torch.randint(seen.num_items, (len(users), num), generator=generator)
    user_np = users.numpy()[:, None]
    for _ in range(max_rounds):
        clash = seen.contains(np.broadcast_to(user_np, items.shape), items.numpy())
        if not clash.any():
            break
        redraw = torch.from_numpy(clash)
        items[redraw] = torch.randint(seen.num_items, (int(redraw.sum()),), generator=generator)
    return items
