"""What every stage runs in: one :class:`StageContext` per run, and :func:`run_stage`, which
skips a stage already done and records one that finishes.

A stage is resumable by construction: its *fingerprint* hashes its config section and the
fingerprints of the stages it reads, so a changed setting or an upstream rerun makes it run
again, and :class:`~mmgraph.runs.RunDir` remembers the size and sha256 of every file it wrote,
so a file changed since makes it run again too. A killed stage leaves no record and reruns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from mmgraph.config import RunConfig
from mmgraph.runs import RunDir
from mmgraph.runtime import pick_device
from mmgraph.training.distributed import Distributed, barrier, distributed_context

__all__ = ["StageContext", "Stage", "run_stage"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageContext:
    """The run a stage works on and where: its config, run folder, device, the process's place
    in a torchrun job and whether to show progress; built once per run by the runner."""

    cfg: RunConfig
    run: RunDir
    device: torch.device
    dist: Distributed
    progress: bool = True

    @classmethod
    def build(cls, cfg: RunConfig, run: RunDir | None = None,
              progress: bool = True) -> "StageContext":
        device = pick_device(cfg.device)
        return cls(cfg, run or RunDir(cfg.run_dir), device, distributed_context(device),
                   progress)

    def with_config(self, cfg: RunConfig) -> "StageContext":
        """The same context for another config (a resolved ``teacher: auto``, a refit's)."""
        return StageContext(cfg, self.run, self.device, self.dist, self.progress)


@dataclass(frozen=True)
class Stage:
    """A named stage: ``work(context, **options)``. Called as ``stage(cfg, run, progress)`` it
    builds its own context (scripts, tests, the single-stage CLI)."""

    name: str
    work: Callable[..., object]

    def __call__(self, cfg: RunConfig, run: RunDir, progress: bool = True, **options) -> object:
        return self.work(StageContext.build(cfg, run, progress), **options)


def run_stage(ctx: StageContext, stage: str, fingerprint: str, outputs: list[str | Path],
              work: Callable[[], None], every_rank: bool = False) -> None:
    """Run ``work`` unless ``stage`` is done in ``ctx.run`` with this ``fingerprint``, its
    ``outputs`` (paths relative to the run folder) exist and its files are as it wrote them;
    then record it as done with the files it wrote.

    Under torch.distributed (torchrun), rank 0 alone runs the stage unless ``every_rank``
    (training: each rank trains on its share, rank 0 writes), and the others wait for it.
    """
    run, dist = ctx.run, ctx.dist
    done = run.is_done(stage, fingerprint, [Path(p) for p in outputs])
    barrier(dist)  # every rank decides before rank 0 may change the answer
    if done:
        log.info("%s: up to date, skipped", stage)
        return
    log.info("%s: running%s", stage, f" on {dist.world_size} processes" if every_rank
             and dist.enabled else "")
    before = run.files() if dist.is_main else None
    if every_rank or dist.is_main:
        work()
    if dist.is_main:
        run.mark_done(stage, fingerprint, before)
    barrier(dist)
