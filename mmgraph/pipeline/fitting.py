"""Training a stage's model to its outputs: :func:`mmgraph.training.loop.fit` with the run's
checkpoint folder, then the weights, the training state and the timings written."""

from __future__ import annotations

import shutil
from typing import Callable

import torch

from mmgraph.config import OptimConfig
from mmgraph.io import write_json
from mmgraph.models.reloadable import Reloadable
from mmgraph.pipeline.runner import StageContext
from mmgraph.runs import layout
from mmgraph.training.checkpoint import Checkpoint
from mmgraph.training.distributed import ShardedTraining
from mmgraph.training.loop import BatchLoss, FitResult, fit

__all__ = ["fit_and_save"]


def fit_and_save(ctx: StageContext, name: str, model: Reloadable, loss: BatchLoss,
                 examples: tuple[torch.Tensor, ...], validate: Callable[[], dict[str, float]],
                 optim: OptimConfig, metric: str, generator: torch.Generator,
                 fingerprint: str, extra: dict | None = None, maximize: bool = True,
                 deadline: float | None = None, sharded: ShardedTraining | None = None
                 ) -> FitResult | None:
    """Train ``name``'s model (``teacher`` or ``student``) with checkpoints in
    ``<name>/checkpoint/`` by ``optim`` (the section's ``optim`` with the batch size in effect);
    write its weights and ``state.json`` (the config section, best epoch and score, history,
    ``extra``; the weights with their architecture,
    :meth:`~mmgraph.models.reloadable.Reloadable.save_pretrained`) and the seconds per epoch to
    ``timings.json``, then
    drop the checkpoint; return the fit's result (``None`` on ranks other than 0). Under
    torch.distributed every rank trains; rank 0 writes. ``deadline`` and ``sharded``: see
    :func:`mmgraph.training.loop.fit`; sharded, each rank keeps its own checkpoint, and the
    model is gathered whole before rank 0 writes it."""
    run = ctx.run
    folder = run.path(name, layout.CHECKPOINT_FOLDER)
    if sharded is not None:
        folder = folder / f"rank-{ctx.dist.rank}-of-{ctx.dist.world_size}"
    checkpoint = Checkpoint(folder, fingerprint)
    result = fit(model, loss, examples, validate, optim, metric, generator, name, ctx.progress,
                 checkpoint, ctx.dist, ctx.cfg.seed, maximize, deadline, sharded)
    if sharded is not None:
        sharded.gather()  # every rank: each has saved its last checkpoint before this
    if not ctx.dist.is_main:
        return None
    model.save_pretrained(run.path(layout.model_file(name, "model")))
    write_json(run.path(layout.model_file(name, "state")), {
        "config": getattr(ctx.cfg, name).model_dump(mode="json"), **(extra or {}),
        "best_epoch": result.best_epoch, f"valid_{metric}": result.best_score,
        "history": result.history})
    run.record_timing(name, seconds_per_epoch=result.seconds_per_epoch)
    # outputs written: the checkpoints (sharded: every rank's) are no longer needed
    shutil.rmtree(run.path(name, layout.CHECKPOINT_FOLDER), ignore_errors=True)
    return result
