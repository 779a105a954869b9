"""The config a run resolved: ``teacher: auto`` replaced by what the run's teacher stage chose
(recorded in ``teacher/state.json``), so that readers of a finished run (serving, refit, a
single stage rerun) see the settings it actually trained with."""

from __future__ import annotations

from mmgraph.config import RunConfig, TeacherConfig, section_hash
from mmgraph.io import read_json
from mmgraph.runs import layout
from mmgraph.runs.rundir import RunDir

__all__ = ["auto_key", "resolved_config"]


def auto_key(cfg: RunConfig) -> str:
    """Names the auto sections a resolution was made for (stale ones are not applied)."""
    return section_hash(cfg.teacher, cfg.tune)


def resolved_config(cfg: RunConfig, run: RunDir) -> RunConfig:
    """``cfg`` with its ``teacher: auto`` replaced by what ``run``'s teacher stage chose for
    it; ``cfg`` itself when it is not auto or the stage has not chosen yet."""
    path = run.path(layout.TEACHER_STATE)
    if not cfg.teacher.auto or not path.is_file():
        return cfg
    state = read_json(path)
    if state.get("auto_key") != auto_key(cfg):
        return cfg
    return cfg.model_copy(update={"teacher": TeacherConfig.model_validate(
        state["resolved_teacher"])})
