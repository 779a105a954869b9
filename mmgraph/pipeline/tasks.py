"""The task a run learns (``task``), chosen once: what the teacher, student and evaluate stages
train and measure. The other stages (split, encode, graph, index) are shared.

- ``ranking`` (default): :mod:`mmgraph.pipeline.ranking` — a blended teacher, a distilled
  student, full-ranking metrics.
- ``rating``: :mod:`mmgraph.pipeline.rating` — rating regression, MAE and RMSE.

To add a task, write its three functions with these signatures and add a :class:`Task` to
:data:`TASKS` (and its name to the config's ``task`` field).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from mmgraph.config import RunConfig
from mmgraph.pipeline import rating
from mmgraph.pipeline.ranking import evaluate as ranking_evaluate
from mmgraph.pipeline.ranking import student as ranking_student
from mmgraph.pipeline.ranking import teacher as ranking_teacher

__all__ = ["Task", "TASKS", "task_of"]


@dataclass(frozen=True)
class Task:
    """The three stage bodies a task supplies.

    - ``train_teacher(ctx, data, built_graph, fingerprint, filter_settings, warm)``: writes
      ``teacher/embeddings.safetensors`` and ``teacher/state.json``.
    - ``train_student(ctx, data, teacher_vectors, fingerprint, place_cold, warm)``: returns
      the served vectors (``users``, ``items``, ...; ``None`` on ranks other than 0), the cold
      items placed by ``place_cold``. ``warm`` (a :class:`~mmgraph.pipeline.warm.WarmStart`
      or ``None``) starts the models from an earlier run's; a task that cannot refuses it.
    - ``evaluate(ctx, data)``: returns the metrics.
    """

    train_teacher: Callable[..., None]
    train_student: Callable[..., dict | None]
    evaluate: Callable[..., dict]


TASKS: dict[str, Task] = {
    "ranking": Task(ranking_teacher.train_teacher, ranking_student.train_student,
                    ranking_evaluate.evaluate),
    "rating": Task(rating.train_teacher, rating.train_student, rating.evaluate),
}


def task_of(cfg: RunConfig) -> Task:
    """The task ``cfg`` names."""
    return TASKS[cfg.task]
