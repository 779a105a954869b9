"""``teacher: auto``: the teacher's settings chosen on the run's own validation split, within
``tune.budget_s`` seconds, for users whose catalogue nobody has tuned for.

The teacher stage searches what the config's teacher section leaves unset, cheap first:

1. the graph filters (closed form, seconds): the co-occurrence filter, and the time-weighted
   one when the interactions have timestamps, each over ``teacher.filter``'s grids as without
   ``auto``; the time filter also over ``tune.time_scales`` (the second and later scales only
   while two thirds of the budget are left);
2. LightGCN with content (:data:`RECIPE`, :data:`OPTIM_RECIPE`), trained until early stopping
   or the end of the budget (checked at each validation); left out when the filters spent the
   budget. With two or more modalities and ``fusion_level`` unset, each of
   :func:`fusion_levels` in turn, while budget is left, the best on validation kept: a tower
   per modality (MMGCN's model level) first, then the modalities fused into one item
   embedding. On the multimodal demo (three modalities) the towers reached valid NDCG@20
   0.0734 against the fused 0.0584; on ml-100k (text only) fusing was the better
   (docs/benchmarks.md), so one modality trains the feature level alone;
3. the blend weights on validation, as ``blend: auto``; a component of weight 0 is dropped.

What it chose (:func:`resolved_teacher`) goes to ``teacher/state.json`` and, with ``auto`` off,
into the run's ``config.yaml`` (:func:`mmgraph.runs.resolved_config`): rerunning that config
trains the same components the same number of epochs and blends them with the same weights,
exactly, with no clock involved. The budget is wall time on the machine that runs the search,
so two machines may choose differently; each records what it chose.
"""

from __future__ import annotations

import time

from mmgraph.config import TeacherConfig

__all__ = ["RECIPE", "OPTIM_RECIPE", "Budget", "auto_start", "fusion_levels", "resolved_teacher"]

#: What ``auto`` starts from where the teacher section is silent: every component, and
#: LightGCN's settings that ranked best on the ml-100k quickstart's validation split (128-d,
#: Adam at 0.01, validated every 5 epochs, 4 validations of patience).
RECIPE: dict[str, object] = {"components": ("lightgcn", "filter", "time_filter"),
                             "blend": "auto", "dim": 128}
#: The same for ``teacher.optim``.
OPTIM_RECIPE: dict[str, object] = {"lr": 0.01, "reg": 1e-4, "batch_size": 4096, "epochs": 200,
                                   "eval_every": 5, "patience": 4}


class Budget:
    """Seconds left of ``seconds`` from now (``time.monotonic``)."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.started = seconds, time.monotonic()

    @property
    def deadline(self) -> float:
        return self.started + self.seconds

    def spent(self) -> float:
        return time.monotonic() - self.started

    def left(self) -> float:
        return self.seconds - self.spent()


def auto_start(teacher: TeacherConfig, has_timestamps: bool) -> TeacherConfig:
    """``teacher`` with :data:`RECIPE`'s values where it sets none; the time filter left out
    without timestamps (unless the section names it)."""
    unset = {key: value for key, value in RECIPE.items() if key not in teacher.model_fields_set}
    if not has_timestamps and "components" in unset:
        unset["components"] = tuple(c for c in unset["components"] if c != "time_filter")
    optim = teacher.optim.model_copy(update={
        key: value for key, value in OPTIM_RECIPE.items()
        if key not in teacher.optim.model_fields_set})
    return teacher.model_copy(update={**unset, "optim": optim})


def fusion_levels(teacher: TeacherConfig, modalities: int) -> tuple[str, ...]:
    """The LightGCN fusion levels ``auto`` tries, in order, for ``teacher`` (the config's
    section) over ``modalities`` content modalities: the model level, then the feature level,
    when there are two or more and the section sets neither the level nor other than fused
    content; else the section's level alone."""
    if (modalities >= 2 and teacher.content == "fused"
            and "fusion_level" not in teacher.model_fields_set):
        return ("model", "feature")
    return (teacher.fusion_level,)


def resolved_teacher(start: TeacherConfig, weights: dict[str, float], time_scale: float,
                     lightgcn_epochs: int | None, fusion_level: str) -> TeacherConfig:
    """The fixed teacher section that reruns ``auto``'s choice: ``start`` with the components
    of positive weight, those weights, the chosen ``time_scale``, LightGCN's epochs run
    (``None``: it was not trained) and its ``fusion_level``, ``auto`` off."""
    kept = tuple(name for name in start.components if weights.get(name, 0.0) > 0)
    update = {"auto": False, "components": list(kept), "time_scale": time_scale,
              "blend": {name: weights[name] for name in kept} if len(kept) > 1 else "auto",
              "fusion_level": fusion_level}
    given = start.model_dump(mode="json")
    if lightgcn_epochs is not None and "lightgcn" in kept:
        update["optim"] = {**given["optim"], "epochs": lightgcn_epochs}
    return TeacherConfig.model_validate({**given, **update})
