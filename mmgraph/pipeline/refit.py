"""Final refit: the tuned teacher and student trained again on every interaction, for serving.

Evaluation needs held-out interactions; a deployed model should not leave them out. After a
run has chosen its settings on validation (epoch counts by early stopping, the filters'
degree exponent and ridge, the blend weights, the fold-in settings), the refit trains the same
models on train + valid + test with those settings fixed, as practitioners do before deploying
(implicit and RecBole users refit on all data by hand). Nothing is tuned on the refit: it
has no held-out part, so its models are not evaluated; the run's ``metrics.json`` describes
the tuned models.

The refit is itself a run directory, ``<run>/refit/``: the same ids and content features, one
training split holding every interaction (empty valid and test), and the graph, teacher,
student and index stages run as usual with the fixed settings. Serve it like any run
(``mmgraph serve --run <run>/refit``); its served lists leave out everything the user has
interacted with. Stages are skipped when up to date, so a refit resumes like a run.
"""

from __future__ import annotations

import functools
import logging
import shutil

import pandas as pd

from mmgraph.config import RunConfig, TeacherConfig, section_hash
from mmgraph.data.tables import ITEM, USER
from mmgraph.errors import ConfigError, RunDirError
from mmgraph.io import atomic_path, read_json, write_parquet
from mmgraph.pipeline.runner import StageContext, run_stage
from mmgraph.pipeline.stages.graph import graph
from mmgraph.pipeline.stages.index import index
from mmgraph.pipeline.stages.student import student
from mmgraph.pipeline.stages.teacher import teacher
from mmgraph.pipeline.warm import WarmStart
from mmgraph.runs import RunDir, layout, resolved_config

__all__ = ["REFIT", "refit_config", "refit", "train_with_choices_of", "write_training_split",
           "copy_features", "copy_artifact"]

log = logging.getLogger(__name__)

#: The refit's folder name inside its run.
REFIT = layout.REFIT.path
#: The config sections whose choices a refit fixes: the run must have made them with these.
#: (The data's tables are not compared: the refit reads the run's own split, checked below.)
_REFIT_SECTIONS = ("split", "encoders", "graph", "teacher", "student", "evaluation", "seed")


def refit_config(cfg: RunConfig, run: RunDir) -> RunConfig:
    """``cfg`` with every choice the finished ``run`` made on validation fixed: the teacher's
    and the student's best epoch counts (no early stopping), the teacher's blend weights and
    time scale (one of ``teacher.time_scale``'s candidates); the refit's folder is
    ``<run>/refit``. A ``teacher: auto`` config is first replaced by what the run chose
    (:func:`mmgraph.runs.resolved_config`)."""
    cfg = resolved_config(cfg, run)
    _require_same_settings(cfg, run)
    teacher_state = read_json(run.path(layout.TEACHER_STATE))
    student_state = read_json(run.path(layout.STUDENT_STATE))
    weights = teacher_state.get("weights") if isinstance(teacher_state, dict) else None
    if not isinstance(weights, dict) or set(weights) != set(cfg.teacher.components) or not all(
            isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights.values()):
        raise RunDirError(f"{run.path(layout.TEACHER_STATE)} should hold the blend weight of "
                          f"each of {cfg.teacher.components} ('weights'); it was edited. "
                          f"Rerun the teacher stage (`mmgraph teacher`).")
    teacher = cfg.teacher.model_copy(update={"blend": dict(weights),
                                             "time_scale": _time_scale(run, teacher_state,
                                                                       cfg.teacher)})
    if "lightgcn" in cfg.teacher.components:
        epochs = _best_epoch(run, layout.TEACHER_STATE, teacher_state, cfg.teacher.optim.epochs)
        teacher = teacher.model_copy(update={"optim": teacher.optim.model_copy(
            update={"epochs": epochs, "eval_every": epochs})})
    epochs = _best_epoch(run, layout.STUDENT_STATE, student_state, cfg.student.optim.epochs)
    student = cfg.student.model_copy(update={"optim": cfg.student.optim.model_copy(
        update={"epochs": epochs, "eval_every": epochs})})
    if cfg.student.kind == "id":
        student = student.model_copy(update={
            "item_norm_exponent": _item_norm_exponent(run, student_state),
            "match_teacher_exposure": _exposure_matched(run, student_state)})
    return cfg.model_copy(update={"name": REFIT, "runs_root": run.root, "teacher": teacher,
                                  "student": student, "final_refit": False})


def _time_scale(run: RunDir, state: dict, teacher: TeacherConfig
                ) -> float | tuple[float, ...]:
    """The time filter's scale ``run`` chose among ``teacher.time_scale``'s candidates (the
    section's own value when it names one, or has no time filter)."""
    if len(teacher.time_scales) == 1 or "time_filter" not in teacher.components:
        return teacher.time_scale
    chosen = state.get("time_scale")
    if chosen not in teacher.time_scales:
        raise RunDirError(f"{run.path(layout.TEACHER_STATE)} should hold the time scale the "
                          f"teacher chose among {list(teacher.time_scales)} ('time_scale'); "
                          f"it holds {chosen!r}. Rerun the teacher stage (`mmgraph teacher`).")
    return float(chosen)


def _item_norm_exponent(run: RunDir, state: dict) -> float:
    """The exponent ``run``'s ID student served its items with (0 for a run made before
    students recorded one); a :class:`RunDirError` when the record is not one."""
    exponent = state.get("item_norm_exponent", 0.0)
    if isinstance(exponent, bool) or not isinstance(exponent, (int, float)) or not (
            0 <= exponent <= 1):
        raise RunDirError(f"{run.path(layout.STUDENT_STATE)}: item_norm_exponent "
                          f"{exponent!r} should be a number from 0 to 1; it was edited. Rerun "
                          f"the student stage (`mmgraph student`).")
    return float(exponent)


def _exposure_matched(run: RunDir, state: dict) -> bool:
    """Whether ``run``'s ID student served its items matched to the teacher's exposure (no for
    a run made before students recorded it); a :class:`RunDirError` when the record is not a
    yes or no."""
    matched = state.get("match_teacher_exposure", False)
    if not isinstance(matched, bool):
        raise RunDirError(f"{run.path(layout.STUDENT_STATE)}: match_teacher_exposure "
                          f"{matched!r} should be true or false; it was edited. Rerun the "
                          f"student stage (`mmgraph student`).")
    return matched


def _require_same_settings(cfg: RunConfig, run: RunDir) -> None:
    """The refit fixes the choices ``run`` made with its own settings: a config whose model
    sections differ from the ones the run last ran with (``config.yaml``) is a
    :class:`ConfigError` naming the keys, and a file the run's stages wrote that changed since
    is a :class:`RunDirError` naming it (the refit would train on it unchecked)."""
    ran = run.read_config()
    if ran is not None:
        now, then = (c.model_dump(mode="json", exclude={"encoders": {"cache_dir"}})
                     for c in (cfg, ran))
        differ = []
        for section in _REFIT_SECTIONS:
            ours, theirs = now[section], then[section]
            if isinstance(ours, dict) and isinstance(theirs, dict):
                differ += [f"{section}.{key}" for key in sorted(set(ours) | set(theirs))
                           if ours.get(key) != theirs.get(key)]
            elif ours != theirs:
                differ.append(section)
        if differ:
            raise ConfigError(f"The config differs from the one {run.root} ran with "
                              f"({', '.join(differ[:5])}), and the refit fixes the choices "
                              f"that run made with its own settings; rerun `mmgraph run` with "
                              f"this config first, or refit with the run's config.yaml.")
    for stage in ("split", "encode", "teacher", "student", "index"):
        if changed := run.changed_files(stage):
            raise RunDirError(f"{', '.join(map(str, changed[:3]))} changed since the {stage} "
                              f"stage wrote it (sha256 differs or it is gone), so the refit "
                              f"would train on it unchecked; restore it, or rerun `mmgraph "
                              f"run` to rebuild the run.")


def _best_epoch(run: RunDir, state_file: layout.Artifact, state: dict, limit: int) -> int:
    """The best epoch a finished stage recorded: a whole number from 1 to the config's
    ``optim.epochs``, or a :class:`RunDirError` (an edited state must not train for ever)."""
    best = state.get("best_epoch") if isinstance(state, dict) else None
    if isinstance(best, bool) or not isinstance(best, int) or not 0 <= best <= limit:
        raise RunDirError(f"{run.path(state_file)} records best_epoch {best!r}; it must be a "
                          f"whole number from 0 to optim.epochs ({limit}). It was edited: "
                          f"rerun the stage that writes it (`mmgraph run`).")
    return max(best, 1)


def refit(cfg: RunConfig, run: RunDir, progress: bool = True) -> RunDir:
    """Build ``<run>/refit/`` from the finished ``run`` (see the module docstring) and return
    it. The teacher, student and index stages of ``run`` must have finished."""
    for stage in ("teacher", "student", "index"):
        run.fingerprint(stage)  # a clear error unless the tuned run is finished
    refit_cfg = refit_config(cfg, run)
    target = RunDir(refit_cfg.run_dir)
    target.write_config(refit_cfg)
    ctx = StageContext.build(refit_cfg, target, progress)

    def every_interaction() -> None:
        for ids in (layout.USER_IDS, layout.ITEM_IDS):
            copy_artifact(run, target, ids)
        parts = [pd.read_parquet(run.path(layout.split_part(name)))
                 for name in layout.SPLIT_PARTS]
        every = write_training_split(target, pd.concat(parts, ignore_index=True))
        log.info("refit: %d interactions, all of them training", len(every))

    run_stage(ctx, "split", section_hash(run.fingerprint("split"), REFIT),
              [layout.split_part(name) for name in layout.SPLIT_PARTS], every_interaction)
    run_stage(ctx, "encode", section_hash(run.fingerprint("encode"), REFIT), [layout.FEATURES],
              functools.partial(copy_features, run, target))
    train_with_choices_of(ctx, run)
    log.info("refit: served models in %s", target.root)
    return target


def train_with_choices_of(ctx: StageContext, source: RunDir, warm: WarmStart | None = None
                          ) -> None:
    """The graph, teacher, student and index stages of ``ctx``'s run with what the finished
    ``source`` chose on validation fixed: each filter's setting and the fold-in settings (the
    epochs and blend weights are in ``ctx``'s config, :func:`refit_config`); ``warm``: the
    models to start from (an update's)."""
    state = read_json(source.path(layout.TEACHER_STATE))
    settings = {name: state[f"{name}_setting"] for name in ctx.cfg.teacher.components
                if name != "lightgcn"}
    graph(ctx)
    teacher(ctx, filter_settings=settings or None, warm=warm)
    student(ctx, warm=warm)
    index(ctx, foldin=read_json(source.path(layout.FOLDIN)))


def write_training_split(target: RunDir, every: pd.DataFrame) -> pd.DataFrame:
    """``every`` interaction, ordered by user and item, as ``target``'s training part, valid
    and test empty (a run that holds nothing out); returns the training part."""
    every = every.sort_values([USER, ITEM], kind="stable").reset_index(drop=True)
    write_parquet(target.path(layout.split_part("train")), every)
    for name in ("valid", "test"):
        write_parquet(target.path(layout.split_part(name)), every.iloc[:0])
    return every


def copy_features(run: RunDir, target: RunDir) -> None:
    """``run``'s encoded item features (and their masks), as ``target``'s."""
    for features in (layout.FEATURES, layout.FEATURE_MASKS):
        copy_artifact(run, target, features)


def copy_artifact(run: RunDir, target: RunDir, artifact: layout.Artifact) -> None:
    """Copy ``run``'s ``artifact`` to the same place in ``target`` (atomically)."""
    with atomic_path(target.path(artifact)) as tmp:
        shutil.copyfile(run.path(artifact), tmp)
