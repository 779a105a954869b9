"""Multi-process training on ``torch.distributed``: the process group that ``torchrun`` (or any
launcher that sets ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``) describes, and two ways to train on
it: sharded by user (:class:`ShardedTraining`: LightGCN and the ID student, each rank its
users' examples and rows, replicated parameters' gradients summed) and data parallel (a
distributed sampler over training examples and a DistributedDataParallel wrapper for our batch
losses: the rating teacher and the sequential student).

Data-parallel semantics: every global batch of ``batch_size`` examples is split over the ranks
(``batch_size / world_size`` each); DDP averages the ranks' gradients, which is the gradient of
the global batch's mean loss, so the optimiser sees what one process with the same batch size
sees. The permutation of examples is shared (``DistributedSampler`` with the run's seed);
negatives are sampled per rank (seed + rank), so runs on 1 and N processes agree statistically,
not bit for bit. Validation runs on every rank over identical weights (no extra communication,
the same early-stopping decision everywhere); only rank 0 writes files.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable, Iterator, Union

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

__all__ = ["Distributed", "distributed_context", "Batch", "rank_batches", "BatchLossModule",
           "wrap_loss", "barrier", "leave_process_group", "sum_over_ranks", "user_shard",
           "ShardedTraining", "Traffic", "TRAFFIC", "all_reduce", "all_gather", "broadcast"]


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job: ``rank`` of ``world_size`` (1 = no process group)."""

    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def distributed_context(device: torch.device | None = None) -> Distributed:
    """Join the process group described by the environment (gloo on CPU, nccl on CUDA); a
    single process when ``WORLD_SIZE`` is unset or 1."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Distributed()
    if not dist.is_initialized():
        cuda = device is not None and device.type == "cuda"
        dist.init_process_group("nccl" if cuda else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size())


@dataclass
class Traffic:
    """The bytes this process handed to torch.distributed's collectives through
    :func:`all_reduce`, :func:`all_gather` and :func:`broadcast` (each call's tensor once:
    the payload; a ring all-reduce sends about 2(N-1)/N of it over each rank's link).
    DistributedDataParallel's own all-reduces (the data-parallel models) are not counted."""

    payload: int = 0

    def count(self, tensor: torch.Tensor) -> None:
        self.payload += tensor.numel() * tensor.element_size()

    def take(self) -> int:
        """The bytes counted since the last take."""
        taken, self.payload = self.payload, 0
        return taken


#: This process's :class:`Traffic` (training records it per epoch: ``payload_bytes``).
TRAFFIC = Traffic()


def all_reduce(tensor: torch.Tensor, op: dist.ReduceOp = dist.ReduceOp.SUM) -> None:
    """``torch.distributed.all_reduce`` of ``tensor`` in place, counted in :data:`TRAFFIC`."""
    TRAFFIC.count(tensor)
    dist.all_reduce(tensor, op=op)


def all_gather(parts: list[torch.Tensor], tensor: torch.Tensor) -> None:
    """``torch.distributed.all_gather`` of this rank's ``tensor`` into ``parts``, counted in
    :data:`TRAFFIC`."""
    TRAFFIC.count(tensor)
    dist.all_gather(parts, tensor)


def broadcast(tensor: torch.Tensor, src: int) -> None:
    """``torch.distributed.broadcast`` of rank ``src``'s ``tensor``, counted in
    :data:`TRAFFIC`."""
    TRAFFIC.count(tensor)
    dist.broadcast(tensor, src=src)


def leave_process_group() -> None:
    """Wait for every rank, then leave the process group (when this process joined one),
    before the process exits: left to the interpreter's exit, gloo's threads are torn down
    while another rank may still be writing, and a rank aborted now and then under load
    ("terminate called without an active exception", SIGABRT)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(ctx: Distributed) -> None:
    """Wait for every rank (no-op in a single process)."""
    if ctx.enabled:
        dist.barrier()


def sum_over_ranks(ctx: Distributed) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A function that sums a tensor over every rank (an all-reduce of a copy: the argument is
    left as it is), the same result on each; ``None`` in a single process (nothing to sum)."""
    if not ctx.enabled:
        return None

    def summed(tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.detach().clone().contiguous()
        all_reduce(total)
        return total

    return summed


def user_shard(num_users: int, ctx: Distributed) -> range:
    """This rank's users: a contiguous range, the ``num_users`` split as evenly as can be."""
    share, extra = divmod(num_users, ctx.world_size)
    start = ctx.rank * share + min(ctx.rank, extra)
    return range(start, start + share + (ctx.rank < extra))


#: The examples of one batch: their indices ``[B]``, or every example (``slice(None)``).
Batch = Union[torch.Tensor, slice]


def rank_batches(num: int, batch_size: int, epoch: int, seed: int, ctx: Distributed,
                 generator: torch.Generator) -> Iterator[Batch]:
    """Index batches of this rank for one epoch over ``num`` training examples.

    One process: a permutation from ``generator`` split into ``batch_size`` chunks (the
    single-process run is unchanged by this module), or, when one batch holds every example,
    ``slice(None)``: a full batch's order does not matter, and shuffling and gathering 7M
    indices was 8% of a 10M-interaction full-batch step. N processes: ``DistributedSampler``
    (same permutation on every rank, padded so every rank takes the same number of steps),
    split into ``batch_size // world_size`` chunks.
    """
    if not ctx.enabled and batch_size >= num:
        yield slice(None)
        return
    if not ctx.enabled:
        yield from torch.randperm(num, generator=generator).split(batch_size)
        return
    sampler = DistributedSampler(range(num), num_replicas=ctx.world_size, rank=ctx.rank,
                                 shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    yield from torch.tensor(list(sampler)).split(max(batch_size // ctx.world_size, 1))


@dataclass(frozen=True)
class ShardedTraining:
    """Training sharded by user (issue 35): each rank trains on its own users' examples, holds
    their rows of the user tables and every row of the rest (``replicated``), and its loss is
    its share of the global batch's. After each backward the replicated parameters' gradients
    are summed over the ranks (the users' are whole where they are: the propagation's
    all-reduces bring the other ranks' share); ``gather`` makes the model whole again on every
    rank once trained (a collective)."""

    ctx: Distributed
    replicated: tuple[nn.Parameter, ...]
    gather: Callable[[], None]

    def sum_gradients(self) -> None:
        """Sum the replicated parameters' gradients over the ranks, in place. A parameter
        without one (a part no loss term uses) has none on every rank and is left out; a
        sparse gradient (an ID table's rows) is summed dense and made row-sparse again."""
        for parameter in self.replicated:
            if parameter.grad is None:
                continue
            if parameter.grad.is_sparse:
                total = parameter.grad.to_dense()
                all_reduce(total)
                # the rows any rank touched (Tensor.to_sparse(sparse_dim=1) took 0.4 s here
                # on a [12500, 64] table: 150x the all-reduce)
                rows = total.ne(0).any(dim=1).nonzero().T
                parameter.grad = torch.sparse_coo_tensor(rows, total[rows[0]], total.shape,
                                                         is_coalesced=True)
            else:
                all_reduce(parameter.grad)

    def batches(self, num_examples: int, batch_size: int, generator: torch.Generator
                ) -> Iterator[Batch]:
        """One epoch of this rank's batches of its ``num_examples``: every example at once
        when a global batch of ``batch_size`` holds every rank's, else the same number of
        ``batch_size // world_size`` batches on every rank (enough for the rank with the
        most), from a shuffled order that starts over when it runs out (a rank with fewer
        examples repeats some)."""
        total, most = torch.tensor([num_examples]), torch.tensor([num_examples])
        all_reduce(total)
        all_reduce(most, op=dist.ReduceOp.MAX)
        if batch_size >= int(total[0]):
            yield slice(None)
            return
        size = max(batch_size // self.ctx.world_size, 1)
        steps = math.ceil(int(most[0]) / size)
        order = torch.randperm(num_examples, generator=generator)
        while len(order) < steps * size:
            order = torch.cat([order, torch.randperm(num_examples, generator=generator)])
        yield from order[:steps * size].split(size)

    def same_epoch(self, epoch: int | None) -> bool:
        """Whether every rank's checkpoint is at ``epoch`` (a kill between two ranks' saves
        leaves them apart: then none resumes)."""
        mine = -1 if epoch is None else epoch
        bounds = torch.tensor([mine, -mine])  # the max of both: the largest and the smallest
        all_reduce(bounds, op=dist.ReduceOp.MAX)
        return epoch is not None and int(bounds[0]) == -int(bounds[1])


class BatchLossModule(nn.Module):
    """``forward(*columns)`` = ``batch_loss(*columns)`` over ``model``'s parameters, so that
    DistributedDataParallel can wrap losses that use the model's parts directly."""

    def __init__(self, model: nn.Module, batch_loss: Callable[..., torch.Tensor]):
        super().__init__()
        self.model, self.batch_loss = model, batch_loss

    def forward(self, *columns: torch.Tensor) -> torch.Tensor:
        return self.batch_loss(*columns)


def wrap_loss(model: nn.Module, batch_loss: Callable[..., torch.Tensor],
              ctx: Distributed) -> Callable[..., torch.Tensor]:
    """``batch_loss`` itself in one process; behind DistributedDataParallel (gradients averaged
    over ranks in ``backward``) in several."""
    if not ctx.enabled:
        return batch_loss
    device = next(model.parameters()).device
    return DistributedDataParallel(BatchLossModule(model, batch_loss),
                                   device_ids=[device] if device.type == "cuda" else None)
