"""The runner: each stage sees only the config sections it declared."""

from pathlib import Path

import pytest
import torch

import mmgraph.pipeline as pipeline
from mmgraph.config import RunConfig
from mmgraph.pipeline import STAGES, StageContext
from mmgraph.pipeline.runner import reads
from mmgraph.runs import RunDir
from mmgraph.training.distributed import distributed_context


def _context(tmp_path) -> StageContext:
    cfg = RunConfig.model_validate({"name": "r", "runs_root": str(tmp_path),
                                    "data": {"interactions": str(tmp_path / "i.csv")}})
    device = torch.device("cpu")
    return StageContext(cfg, RunDir(cfg.run_dir), device, distributed_context(device), False)


def test_a_stage_reads_its_declared_sections_and_no_other(tmp_path):
    seen = {}

    @reads("graph", "seed")
    def probe(ctx):
        seen["k"], seen["seed"] = ctx.cfg.graph.knn_k, ctx.cfg.seed
        return ctx.cfg.student

    ctx = _context(tmp_path)
    with pytest.raises(AttributeError, match="the probe stage reads config section 'student' "
                                             r"but declares only \['graph', 'seed'\]"):
        probe(ctx)
    assert seen == {"k": ctx.cfg.graph.knn_k, "seed": ctx.cfg.seed}
    assert ctx.cfg.student is ctx.run_config.student  # the runner's context sees it all


def test_a_stage_replaces_only_sections_it_reads(tmp_path):
    @reads("teacher")
    def probe(ctx):
        wider = ctx.with_sections(teacher=ctx.cfg.teacher.model_copy(update={"dim": 7}))
        assert wider.cfg.teacher.dim == 7 and ctx.cfg.teacher.dim != 7
        ctx.with_sections(student=None)

    with pytest.raises(AttributeError, match=r"replaces config sections \['student'\]"):
        probe(_context(tmp_path))


def test_every_stage_declares_real_sections_and_unknown_ones_are_refused():
    for name, stage in STAGES.items():
        assert stage.work.sections, name
        assert stage.work.sections <= set(RunConfig.model_fields), name
    with pytest.raises(ValueError, match="no config section"):
        reads("teachr")


def test_only_the_runner_reads_the_whole_config():
    """Stages and the task modules read ``ctx.cfg``; the whole ``run_config`` is the runner's,
    so that what a stage reads stays declared."""
    root = Path(pipeline.__file__).parent
    readers = {str(path.relative_to(root)) for path in root.rglob("*.py")
               if ".run_config" in path.read_text(encoding="utf-8")}
    assert readers == {"runner.py"}


def test_the_architecture_page_lists_what_every_stage_reads():
    page = (Path(__file__).parents[2] / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name, stage in STAGES.items():
        sections = ", ".join(f"`{section}`" for section in sorted(stage.work.sections))
        assert f"| {name} | {sections} |" in page, f"docs/architecture.md: {name} reads {sections}"
