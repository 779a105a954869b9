"""The student stage: the task's student distilled from the frozen teacher, then the items
without training interactions (cold) placed from their content by the cold-start mapper."""

from __future__ import annotations

import logging

import numpy as np
import torch

from mmgraph.config import StudentConfig, section_hash
from mmgraph.distill.coldstart import ColdStartMapper, content_vectors, fit_coldstart_mapper
from mmgraph.io import read_tensors, write_tensors
from mmgraph.pipeline.inputs import features
from mmgraph.pipeline.runner import StageContext, reads, run_stage
from mmgraph.pipeline.tasks import task_of
from mmgraph.pipeline.warm import WarmStart
from mmgraph.runs import RunDir, layout, load_split
from mmgraph.runtime import seed_everything

__all__ = ["student"]

log = logging.getLogger(__name__)


@reads("task", "student", "evaluation", "seed", "data")
def student(ctx: StageContext, warm: WarmStart | None = None) -> None:
    """Distill the student (the task's; for ranking ``student.kind``: ID embeddings, or a
    sequential transformer over each user's latest items) from the frozen teacher; then place
    the cold items from their content. Writes the served vectors to
    ``student/embeddings.safetensors``. ``warm`` (an update's previous run) starts the
    cold-start mapper, and an ID student with ``init: random``, from its trained ones."""
    cfg, run = ctx.cfg, ctx.run
    fingerprint = section_hash(cfg.student, cfg.evaluation, cfg.seed, run.fingerprint("teacher"),
                               *([warm.fingerprint("student")] if warm else []))

    def work() -> None:
        seed_everything(cfg.seed)
        data = load_split(run)
        frozen = read_tensors(run.path(layout.TEACHER_EMBEDDINGS))
        cold = data.parts["train"].item_counts == 0

        def place_cold(items: torch.Tensor) -> None:
            _place_cold_items(run, items, frozen, cold, cfg.student, cfg.seed,
                              warm.coldstart_mapper() if warm else None)

        vectors = task_of(cfg).train_student(ctx, data, frozen, fingerprint, place_cold,
                                             warm)
        if vectors is not None:  # rank 0
            write_tensors(run.path(layout.STUDENT_EMBEDDINGS), vectors)

    run_stage(ctx, "student", fingerprint, [layout.STUDENT_MODEL, layout.STUDENT_MODEL_CONFIG,
                                            layout.STUDENT_EMBEDDINGS], work, every_rank=True)


def _place_cold_items(run: RunDir, items: torch.Tensor, teacher_outputs: dict[str, torch.Tensor],
                      cold: np.ndarray, scfg: StudentConfig, seed: int,
                      start: ColdStartMapper | None = None) -> None:
    """Fit the cold-start mapper on the warm items (from ``start``, an update's previous
    mapper, when given) and save it to ``student/coldstart.safetensors`` (it also places items
    added later from their content: :meth:`mmgraph.recommender.Recommender.add_items`);
    overwrite the rows of cold items in ``items [I, d_s]`` with its output. No-op without
    content."""
    content = content_vectors({k: v.cpu() for k, v in teacher_outputs.items()}, features(run))
    cold_rows = torch.from_numpy(cold)
    if content is None or scfg.coldstart_steps == 0 or bool(cold_rows.all()):
        return
    mapper = fit_coldstart_mapper(content, items, ~cold_rows, scfg.coldstart_steps, seed=seed,
                                  start=start)
    mapper.save_pretrained(run.path(layout.COLDSTART_MAPPER))
    if bool(cold_rows.any()):
        with torch.no_grad():
            items[cold_rows] = mapper(content[cold_rows])
        log.info("student: %d cold items placed from their content", int(cold_rows.sum()))
