"""One training loop for teacher and student: shuffled mini-batches of training examples
(interactions for the teacher, users for the student), Adam (SparseAdam for sparse-gradient
tables: :mod:`mmgraph.training.optim`), periodic validation and early stopping on a validation
metric (best weights kept), checkpointed at every validation so that a killed run resumes
exactly."""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from mmgraph.config import OptimConfig
from mmgraph.errors import TrainingDivergedError
from mmgraph.training.checkpoint import Checkpoint
from mmgraph.training.distributed import (TRAFFIC, Distributed, ShardedTraining, rank_batches,
                                         wrap_loss)
from mmgraph.training.optim import make_optimizer

__all__ = ["fit", "FitResult", "batch_for_steps"]

log = logging.getLogger(__name__)

#: ``loss(*columns) -> scalar`` for a batch of training examples, one ``[B]`` tensor per column
#: (``users, items`` of interactions for the teacher; ``users`` for the student).
BatchLoss = Callable[..., torch.Tensor]


@dataclass
class FitResult:
    best_epoch: int
    best_score: float
    history: list[dict] = field(default_factory=list)
    seconds_per_epoch: float = 0.0


def batch_for_steps(num_examples: int, batch_size: int, max_steps: int) -> int:
    """``batch_size``, or more when an epoch over ``num_examples`` would take more than
    ``max_steps`` steps: the epoch's cost then stays linear in the data (every step does work
    that does not shrink with the batch, e.g. a full-graph propagation)."""
    return max(batch_size, math.ceil(num_examples / max_steps))


def fit(model: nn.Module, batch_loss: BatchLoss, examples: tuple[torch.Tensor, ...],
        evaluate: Callable[[], dict[str, float]], cfg: OptimConfig, metric: str,
        generator: torch.Generator, desc: str, progress: bool = True,
        checkpoint: Checkpoint | None = None, ctx: Distributed = Distributed(),
        seed: int = 0, maximize: bool = True, deadline: float | None = None,
        sharded: ShardedTraining | None = None) -> FitResult:
    """Train ``model`` on ``examples`` (columns ``[N]`` each: an epoch is one shuffled pass over
    the N examples in ``cfg.batch_size`` batches); restore the best validated weights.

    With ``checkpoint``, training resumes from it when it matches, and saves to it after every
    validation (``generator`` drives all sampling, so the resumed run equals an unbroken one).
    With ``ctx`` of several ranks, each rank trains on its share of every batch under
    DistributedDataParallel (``seed`` shuffles the shared permutation; see
    :mod:`mmgraph.training.distributed`); rank 0 alone writes the checkpoint. ``maximize``
    False: the validation ``metric`` is an error (lower is better). ``deadline`` (a
    ``time.monotonic()`` value): training ends at the first validation past it, so the epochs
    run are a multiple of ``cfg.eval_every`` and a rerun with ``epochs`` set to them is exact.
    ``sharded``: training sharded by user instead (no DDP; ``examples`` and ``batch_loss`` are
    this rank's, ``checkpoint`` this rank's own, saved by every rank).
    """
    sign = 1.0 if maximize else -1.0  # compares scores as gains
    optimizer = make_optimizer(model, cfg.lr)
    step_loss = batch_loss if sharded is not None else wrap_loss(model, batch_loss, ctx)
    progress = progress and ctx.is_main
    saves = ctx.is_main or sharded is not None
    num_examples = len(examples[0])
    best = FitResult(best_epoch=0, best_score=-sign * math.inf)
    best_state, stale, train_seconds, epochs_run, finished = None, 0, 0.0, 0, False
    reference = -sign * math.inf  # the score of the last improvement that reset patience
    resumable = checkpoint is not None and (
        sharded is None or sharded.same_epoch(checkpoint.epoch()))
    restored = checkpoint.load(model, optimizer, generator) if resumable else None
    if restored is not None:
        state, best_state = restored
        best.best_epoch, best.best_score, best.history = (state["best_epoch"], state["best_score"],
                                                          state["history"])
        stale, train_seconds, epochs_run = state["stale"], state["train_seconds"], state["epoch"]
        reference = state.get("reference", best.best_score)
        finished = state["finished"]
        log.info("%s: resumed from %s at epoch %d", desc, checkpoint.folder, epochs_run)
    first = epochs_run + 1 if not finished else cfg.epochs + 1
    bar = tqdm(range(first, cfg.epochs + 1), desc=desc, unit="epoch", disable=not progress,
               initial=first - 1, total=cfg.epochs)
    for epoch in bar:
        model.train()
        started, total, count = time.perf_counter(), 0.0, 0
        TRAFFIC.take()  # from here: this epoch's training steps
        batches = (sharded.batches(num_examples, cfg.batch_size, generator) if sharded
                   else rank_batches(num_examples, cfg.batch_size, epoch, seed, ctx, generator))
        for batch in batches:
            columns = [column[batch] for column in examples]
            loss = step_loss(*columns)
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingDivergedError(
                    f"{desc}: the training loss is {value} in epoch {epoch}; nothing was "
                    f"written from this epoch on. Lower {desc}.optim.lr (now {cfg.lr}), and check "
                    f"the ratings if they weigh edges or are the targets (task: rating): a "
                    f"rating such as 1e30 overflows float32 once squared.")
            optimizer.zero_grad()
            loss.backward()
            if sharded is not None:
                sharded.sum_gradients()
            optimizer.step()
            total, count = total + value * len(columns[0]), count + len(columns[0])
        train_seconds += time.perf_counter() - started
        epochs_run = epoch
        record = {"epoch": epoch, "loss": total / max(count, 1)}  # this rank's share
        if sharded is not None:  # what this rank handed to the collectives to train the epoch
            record["payload_bytes"] = TRAFFIC.take()
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
            model.eval()
            record.update(evaluate())
            if sign * record[metric] > sign * best.best_score:
                best.best_epoch, best.best_score = epoch, record[metric]
                best_state = copy.deepcopy(model.state_dict())
            if (math.isinf(reference) or sign * record[metric]
                    > sign * reference + cfg.min_improvement * abs(reference)):
                reference, stale = record[metric], 0
            else:
                stale += 1
            bar.set_postfix(loss=f"{record['loss']:.4f}", **{metric: f"{record[metric]:.4f}"},
                            best=f"{best.best_score:.4f}@{best.best_epoch}")
            log.debug("%s epoch %d: %s", desc, epoch, record)
        best.history.append(record)
        out_of_time = deadline is not None and metric in record and time.monotonic() > deadline
        finished = stale >= cfg.patience or epoch == cfg.epochs or out_of_time
        if checkpoint is not None and metric in record and saves:
            checkpoint.save(model, optimizer, best_state, generator, {
                "epoch": epoch, "best_epoch": best.best_epoch, "best_score": best.best_score,
                "stale": stale, "reference": reference, "train_seconds": train_seconds,
                "finished": finished, "history": best.history})
        if stale >= cfg.patience:
            log.info("%s: early stop at epoch %d (best %s %.4f at epoch %d)", desc, epoch,
                     metric, best.best_score, best.best_epoch)
            break
        if out_of_time:
            log.info("%s: out of time budget at epoch %d (best %s %.4f at epoch %d)", desc,
                     epoch, metric, best.best_score, best.best_epoch)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    best.seconds_per_epoch = train_seconds / max(epochs_run, 1)
    return best
