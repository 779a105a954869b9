"""Wiring of the stages over a run directory; used by the CLI and by scripts."""

from mmgraph.pipeline.artifacts import IndexedSplit, load_split
from mmgraph.pipeline.rundir import RunDir
from mmgraph.pipeline.stages import STAGES, run_all

__all__ = ["RunDir", "IndexedSplit", "load_split", "STAGES", "run_all"]
