"""The stages by name, in pipeline order, and the whole run over them."""

from __future__ import annotations

import contextlib

from mmgraph.config import RunConfig
from mmgraph.lock import exclusive_writer
from mmgraph.pipeline.refit import refit
from mmgraph.pipeline.runner import Stage, StageContext
from mmgraph.pipeline.stages.encode import encode
from mmgraph.pipeline.stages.evaluate import evaluate
from mmgraph.pipeline.stages.graph import graph
from mmgraph.pipeline.stages.index import index
from mmgraph.pipeline.stages.split import split
from mmgraph.pipeline.stages.student import student
from mmgraph.pipeline.stages.teacher import teacher
from mmgraph.runs import RunDir, resolved_config

__all__ = ["STAGES", "run_all"]

#: Stage name → stage, in pipeline order (the CLI's subcommands use these names).
STAGES: dict[str, Stage] = {stage.__name__: Stage(stage.__name__, stage) for stage in (
    split, encode, graph, teacher, student, index, evaluate)}


def run_all(cfg: RunConfig, progress: bool = True) -> dict:
    """Every stage in order in one context, holding the run directory's writer lock (on rank
    0, which alone writes), then the final refit if configured; returns the metrics."""
    ctx = StageContext.build(cfg, RunDir(cfg.run_dir), progress)
    run, is_main = ctx.run, ctx.dist.is_main
    with exclusive_writer(run.root) if is_main else contextlib.nullcontext():
        if is_main:
            run.remove_stray_temp_files()
            run.write_config(resolved_config(cfg, run))
        for stage in STAGES.values():
            result = stage.work(ctx)
        if cfg.final_refit:
            refit(cfg, run, progress)
    return result
