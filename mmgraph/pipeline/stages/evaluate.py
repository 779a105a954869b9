"""The evaluate stage: the task's metrics on valid and test, written to ``metrics.json``."""

from __future__ import annotations

from mmgraph.config import section_hash
from mmgraph.io import read_json, write_json
from mmgraph.pipeline.runner import StageContext, reads, run_stage
from mmgraph.pipeline.tasks import task_of
from mmgraph.runs import layout, load_split
from mmgraph.runs.report import write_report

__all__ = ["evaluate"]


@reads("task", "evaluation", "recommend", "split", "seed")
def evaluate(ctx: StageContext) -> dict:
    """The task's metrics (ranking: full-ranking metrics for teacher, student through the
    FAISS index as served, and popularity) on valid and test, and the training report
    (``report.html``); returns ``metrics.json``."""
    cfg, run = ctx.cfg, ctx.run
    fingerprint = section_hash(cfg.evaluation, run.fingerprint("teacher"),
                               run.fingerprint("index"))

    def work() -> None:
        write_json(run.path(layout.METRICS), task_of(cfg).evaluate(ctx, load_split(run)))
        write_report(run, finished=False)

    run_stage(ctx, "evaluate", fingerprint, [layout.METRICS, layout.REPORT], work)
    return read_json(run.path(layout.METRICS))
