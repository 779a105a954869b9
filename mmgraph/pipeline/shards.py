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
from typing import Callable, TypeVar

import torch

from mmgraph.data.user_items import UserItems
from mmgraph.models.reloadable import Reloadable
from mmgraph.models.spectral import Reduce
from mmgraph.runs import IndexedSplit
from mmgraph.training.distributed import (Distributed, ShardedTraining, all_gather,
                                         broadcast, sum_over_ranks, user_shard)

__all__ = ["UserShard"]

T = TypeVar("T")


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
        """The training items of this rank's users (numbered from 0): every user's in one
        process."""
        if not self.ctx.enabled:
            return data.parts["train"]
        pairs = self.local(data.train_pairs)[0]
        return UserItems(pairs[0].numpy(), pairs[1].numpy(), len(self.users), len(data.items))

    def own_rows(self, model: Reloadable) -> None:
        """Keep only this rank's rows of ``model``'s user tables (none dropped in one
        process), before its optimiser is built."""
        if self.ctx.enabled:
            model.replace_user_rows([table.weight.detach()[self.users.start:self.users.stop]
                                     .clone() for table in model.user_tables()])

    def training(self, model: Reloadable, outputs: Callable[[], T]
                 ) -> tuple[ShardedTraining | None, Callable[[], T]]:
        """Training of ``model`` (its user tables this rank's rows, :meth:`own_rows`) sharded
        by user: the :class:`ShardedTraining` (``None`` in one process), whose ``gather``
        records ``outputs()`` of the trained model and then makes it whole again for saving,
        and a function giving those outputs afterwards (computed then in one process)."""
        if not self.ctx.enabled:
            return None, outputs
        trained: list[T] = []

        def gather() -> None:
            trained.append(outputs())
            model.replace_user_rows([self.gather(table.weight.detach())
                                     for table in model.user_tables()])

        user_rows = {id(table.weight) for table in model.user_tables()}
        replicated = tuple(p for p in model.parameters() if id(p) not in user_rows)
        return ShardedTraining(self.ctx, replicated, gather), lambda: trained[0]

    def gather(self, users: torch.Tensor) -> torch.Tensor:
        """Every rank's user rows ``[U_r, k]``, in user order, ``[U, k]`` on every rank."""
        if not self.ctx.enabled:
            return users
        world = self.ctx.world_size
        sizes = [len(user_shard(self.num_users, Distributed(rank, world))) for rank in range(world)]
        padded = users.new_zeros(max(sizes), *users.shape[1:])
        padded[:len(users)] = users
        parts = [torch.empty_like(padded) for _ in range(world)]
        all_gather(parts, padded)
        return torch.cat([part[:size] for part, size in zip(parts, sizes)])

    def agree(self, value: float) -> float:
        """Rank 0's ``value`` on every rank (a verdict every rank acts on alike)."""
        if not self.ctx.enabled:
            return value
        holder = torch.tensor([value], dtype=torch.float64)
        broadcast(holder, src=0)
        return float(holder[0])
