"""The teacher stage: the task's teacher trained over the run's split and graph; with
``teacher: auto`` the run's ``config.yaml`` then holds what the search chose."""

from __future__ import annotations

from mmgraph.config import section_hash
from mmgraph.graph.build import load_graph
from mmgraph.pipeline.runner import StageContext, reads, run_stage
from mmgraph.pipeline.tasks import task_of
from mmgraph.pipeline.warm import WarmStart
from mmgraph.runs import layout, load_split
from mmgraph.runtime import seed_everything

__all__ = ["teacher"]


@reads("task", "teacher", "tune", "evaluation", "seed", "data")
def teacher(ctx: StageContext, filter_settings: dict[str, dict[str, float]] | None = None,
            warm: WarmStart | None = None) -> None:
    """Train the teacher (ranking: its components blended on validation, see
    :mod:`mmgraph.pipeline.ranking.teacher`). ``filter_settings`` (``{component:
    {"degree_exponent", "ridge", "content_weight"}}``, e.g. a tuned run's, for a refit)
    replaces the config's filter grids; ``warm`` (an update's previous run) starts LightGCN
    from its trained one."""
    cfg, run = ctx.cfg, ctx.run
    tcfg = cfg.teacher
    fingerprint = section_hash(tcfg, cfg.tune if tcfg.auto else None, cfg.evaluation, cfg.seed,
                               run.fingerprint("graph"), repr(filter_settings),
                               *([warm.fingerprint("teacher")] if warm else []))
    outputs = [layout.TEACHER_STATE, layout.TEACHER_EMBEDDINGS]
    if "lightgcn" in tcfg.components and not tcfg.auto:
        outputs += [layout.TEACHER_MODEL, layout.TEACHER_MODEL_CONFIG]

    def work() -> None:
        seed_everything(cfg.seed)
        data, built = load_split(run), load_graph(run.path(layout.GRAPH))
        task_of(cfg).train_teacher(ctx, data, built, fingerprint, filter_settings, warm)

    run_stage(ctx, "teacher", fingerprint, outputs, work, every_rank=True)
    if tcfg.auto:
        ctx.record_config()
