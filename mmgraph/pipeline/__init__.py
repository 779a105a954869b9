"""Wiring of the stages over a run directory; used by the CLI and by scripts."""

from typing import Any

from mmgraph.pipeline.artifacts import IndexedSplit, load_split
from mmgraph.pipeline.rundir import RunDir

__all__ = ["RunDir", "IndexedSplit", "load_split", "STAGES", "run_all"]


def __getattr__(name: str) -> Any:
    """``STAGES`` and ``run_all`` load the stages (torch, PyG, ...) on first use, so that
    serving, which reads a finished run, starts without them."""
    if name in ("STAGES", "run_all"):
        from mmgraph.pipeline import stages

        return getattr(stages, name)
    raise AttributeError(f"module 'mmgraph.pipeline' has no attribute {name!r}")
