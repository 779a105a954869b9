"""The users of a split shared out over the ranks of a torch.distributed job (issue 35): each
rank takes a contiguous range of users and their interactions, the closed-form filters sum
their graph products over the ranks (:func:`mmgraph.models.spectral.filter_basis`'s
``reduce``), and the users' rows come back together for validation on rank 0, whose verdict
every rank follows. In one process the shard is every user and nothing is communicated.

Shapes: ``pairs [2, E]`` (user index, item index) → this rank's ``[2, E_r]`` with users
numbered from 0; users ``[U_r, k]`` → ``[U, k]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist

from mmgraph.data.user_items import UserItems
from mmgraph.models.spectral import Reduce
from mmgraph.runs import IndexedSplit
from mmgraph.training.distributed import Distributed, sum_over_ranks, user_shard

__all__ = ["UserShard"]


@dataclass(frozen=True)
class UserShard:
    """This rank's ``users`` (a range of the split's ``num_users``) in the job ``ctx``."""

    users: range
    num_users: int
    ctx: Distributed

    @classmethod
    def of(cls, num_users: int, ctx: Distributed) -> UserShard:
        return cls(user_shard(num_users, ctx), num_users, ctx)

    @property
    def reduce(self) -> Reduce | None:
        """The sum over the ranks of what each computed from its users (``None``: one
        process)."""
        return sum_over_ranks(self.ctx)

    def local(self, pairs: torch.Tensor, *columns: torch.Tensor
              ) -> tuple[torch.Tensor, ...]:
        """This rank's ``pairs`` (users renumbered from 0) and the same entries of each of
        ``columns`` (``[E]``, aligned with ``pairs``)."""
        if not self.ctx.enabled:
            return (pairs, *columns)
        mine = (pairs[0] >= self.users.start) & (pairs[0] < self.users.stop)
        shard = torch.stack([pairs[0][mine] - self.users.start, pairs[1][mine]])
        return (shard, *(column[mine] for column in columns))

    def user_items(self, data: IndexedSplit) -> UserItems:
        """The training items of this rank's users (numbered from 0)."""
        pairs = self.local(data.train_pairs)[0]
        return UserItems(pairs[0].numpy(), pairs[1].numpy(), len(self.users), len(data.items))

    def gather(self, users: torch.Tensor) -> torch.Tensor:
        """Every rank's user rows ``[U_r, k]``, in user order, ``[U, k]`` on every rank."""
        if not self.ctx.enabled:
            return users
        world = self.ctx.world_size
        sizes = [len(user_shard(self.num_users, Distributed(rank, world))) for rank in range(world)]
        padded = users.new_zeros(max(sizes), *users.shape[1:])
        padded[:len(users)] = users
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded)
        return torch.cat([part[:size] for part, size in zip(parts, sizes)])

    def agree(self, value: float) -> float:
        """Rank 0's ``value`` on every rank (a verdict every rank acts on alike)."""
        if not self.ctx.enabled:
            return value
        holder = torch.tensor([value], dtype=torch.float64)
        dist.broadcast(holder, src=0)
        return float(holder[0])
