"""The pipeline that writes a run: its stages (:mod:`mmgraph.pipeline.stages`), the runner
that resumes them (:mod:`mmgraph.pipeline.runner`), the task they train
(:mod:`mmgraph.pipeline.tasks`) and the whole run (:func:`run_all`). Serving reads runs through
:mod:`mmgraph.runs` and never imports this package."""

from mmgraph.pipeline.registry import STAGES, run_all
from mmgraph.pipeline.runner import Stage, StageContext, run_stage

__all__ = ["STAGES", "run_all", "Stage", "StageContext", "run_stage"]
