"""What every stage runs in: one :class:`StageContext` per run, and :func:`run_stage`, which
skips a stage already done and records one that finishes.

A stage is resumable by construction: its *fingerprint* hashes its config section and the
fingerprints of the stages it reads, so a changed setting or an upstream rerun makes it run
again, and :class:`~mmgraph.runs.RunDir` remembers the size and sha256 of every file it wrote,
so a file changed since makes it run again too. A killed stage leaves no record and reruns.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

from mmgraph.config import RunConfig
from mmgraph.runs import RunDir, resolved_config
from mmgraph.runtime import pick_device
from mmgraph.training.distributed import Distributed, barrier, distributed_context

__all__ = ["StageConfig", "StageContext", "Stage", "reads", "run_stage"]

log = logging.getLogger(__name__)


class StageConfig:
    """The sections of a run's :class:`RunConfig` that one stage declared it reads (see
    :func:`reads`). Reading any other raises, naming the stage and the section: what a stage
    depends on is written beside it and cannot drift from its code."""

    def __init__(self, config: RunConfig, stage: str, sections: frozenset[str]):
        self._config, self._stage, self._sections = config, stage, sections

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._sections:
            raise AttributeError(
                f"the {self._stage} stage reads config section {name!r} but declares only "
                f"{sorted(self._sections)}: add it to the stage's @reads(...) (and to its "
                f"fingerprint when it changes the stage's outputs)")
        return getattr(self._config, name)


@dataclass(frozen=True)
class StageContext:
    """The run a stage works on and where: its config, run folder, device, the process's place
    in a torchrun job and whether to show progress; built once per run by the runner.

    ``run_config`` is the whole run's config, the runner's to read; a stage reads ``cfg``,
    the sections it declared (``sections``, set by :func:`reads`; ``None``: all)."""

    run_config: RunConfig
    run: RunDir
    device: torch.device
    dist: Distributed
    progress: bool = True
    stage: str = ""
    sections: frozenset[str] | None = None

    @classmethod
    def build(cls, cfg: RunConfig, run: RunDir | None = None,
              progress: bool = True) -> "StageContext":
        device = pick_device(cfg.device)
        return cls(cfg, run or RunDir(cfg.run_dir), device, distributed_context(device),
                   progress)

    @property
    def cfg(self) -> RunConfig | StageConfig:
        """The config sections this stage may read."""
        if self.sections is None:
            return self.run_config
        return StageConfig(self.run_config, self.stage, self.sections)

    def for_stage(self, stage: str, sections: frozenset[str]) -> "StageContext":
        """This context as the ``stage`` that reads only ``sections`` sees it."""
        return replace(self, stage=stage, sections=sections)

    def with_sections(self, **sections: Any) -> "StageContext":
        """The same context with some of its config's sections replaced (a resolved
        ``teacher: auto``'s starting point, ...); only sections the stage reads."""
        if self.sections is not None and (unread := set(sections) - self.sections):
            raise AttributeError(f"the {self.stage} stage replaces config sections "
                                 f"{sorted(unread)} it does not read")
        return replace(self, run_config=self.run_config.model_copy(update=sections))

    def record_config(self) -> None:
        """Write the run's ``config.yaml``, with what the stages resolved so far (``teacher:
        auto``'s choice) spelled out, so that a rerun from it is exact (rank 0)."""
        if self.dist.is_main:
            self.run.write_config(resolved_config(self.run_config, self.run))


StageWork = TypeVar("StageWork", bound=Callable[..., Any])


def reads(*sections: str) -> Callable[[StageWork], StageWork]:
    """Declare the config sections a stage function reads: called with a context, it gets
    one whose ``cfg`` exposes only those (and ``sections`` lists them for docs and tests)."""
    declared = frozenset(sections)
    unknown = declared - set(RunConfig.model_fields)
    if unknown:
        raise ValueError(f"reads(): no config section {sorted(unknown)}")

    def declare(work: StageWork) -> StageWork:
        @functools.wraps(work)
        def restricted(ctx: StageContext, *args: Any, **options: Any) -> Any:
            return work(ctx.for_stage(work.__name__, declared), *args, **options)

        restricted.sections = declared  # type: ignore[attr-defined]
        return restricted  # type: ignore[return-value]

    return declare


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
