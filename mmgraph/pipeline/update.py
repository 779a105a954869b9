"""``mmgraph update``: new interactions folded into a finished run without training it again
from nothing, written as a new *generation* of the run beside it.

A run ``runs/shop`` updated with a day's interactions becomes ``runs/shop.1`` (then
``shop.2``, ...), a run folder of its own that serves like any run
(``mmgraph serve --run runs/shop.1``, or ``/admin/swap {"run": "shop.1"}`` from a server of
``runs/shop``: generations are siblings). The generation holds every interaction the previous
one knew (its train, valid and test) plus the new ones as training data (new users allowed;
new items too: an ID-only run's join with their interactions, a content run's come as rows of
a new-items table and are encoded by the run's encoders), and its models continue from the
previous ones:

- the closed-form filters are recomputed on the grown data with the settings the run chose
  (seconds; past ``filter.dense_items`` items their subspace iteration starts from the previous
  generation's eigenvectors), the blend keeps its weights (as :mod:`mmgraph.pipeline.refit`
  does);
- LightGCN starts from the previous generation's trained weights
  (:class:`~mmgraph.pipeline.warm.WarmStart`: rows matched by id, new users as configured)
  and trains a bounded share of the epochs that run chose (``share``, default a quarter);
- the ID student trains as long, from the updated teacher's factorisation (its ``init:
  teacher``; ``init: random`` continues from the previous student instead): on the ml-100k
  replay (``bench/incremental.py``) the previous student, tuned to the previous teacher, had
  scored 0.956–0.986× the full retrain's next-block NDCG@20, the updated teacher's start
  0.976–1.017×; the cold-start mapper continues from the previous one for a share of its
  steps;
- the index is rebuilt; the fold-in settings are kept.

Nothing of the previous generation changes: it keeps serving until the swap. An update killed
half-way leaves its generation unfinished (a server cannot load it); the same update again
resumes it, stage by stage, as a run resumes.
"""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from mmgraph.config import RunConfig, section_hash
from mmgraph.data.ids import IdMap
from mmgraph.data.tables import ITEM, RATING, TIMESTAMP, USER, load_interactions, load_items
from mmgraph.errors import ConfigError, DataError, RunDirError
from mmgraph.io import file_sha256, read_json, write_json, write_parquet
from mmgraph.lock import exclusive_writer
from mmgraph.pipeline.refit import (copy_features, refit_config, train_with_choices_of,
                                    write_training_split)
from mmgraph.pipeline.runner import StageContext, run_stage
from mmgraph.pipeline.stages.encode import encode
from mmgraph.pipeline.warm import WarmStart
from mmgraph.runs import RunDir, layout, resolved_config

__all__ = ["update", "DEFAULT_SHARE"]

log = logging.getLogger(__name__)

#: Share of the previous run's chosen epochs an update trains LightGCN and the student for.
DEFAULT_SHARE = 0.25


def update(run_dir: str | Path, interactions: str | Path, share: float = DEFAULT_SHARE,
           progress: bool = True, cold: bool = False, lr_scale: float = 1.0,
           items: str | Path | None = None) -> RunDir:
    """Write (or resume) the generation of the finished run in ``run_dir`` that adds the
    ``interactions`` table (the run's columns); returns the generation's run folder.
    ``items``: a table of new items (the run's items table's columns) joining the catalogue,
    encoded by the run's encoders (its feature cache: only they are encoded); needed for new
    items of a run with content. ``cold``: train the models from nothing instead of from the
    run's (the full retrain an update is measured against; use ``share=1``). ``lr_scale``
    multiplies the learning rates of the continued training."""
    base = RunDir(run_dir)
    for stage in ("teacher", "student", "index"):
        base.fingerprint(stage)  # a clear error unless the run is finished
    if not 0 < share <= 1:
        raise ConfigError(f"update share {share}: a share of the run's epochs, in (0, 1].")
    cfg = base.read_config()
    if cfg is None:
        raise RunDirError(f"{base.path(layout.CONFIG)} is missing; rerun `mmgraph run`.")
    cfg = resolved_config(cfg, base)
    source = Path(interactions)
    catalogue = None if items is None else _new_items(cfg, base, Path(items))
    new = _new_interactions(cfg, base, source,
                            [] if catalogue is None else catalogue[ITEM].tolist())
    digest = file_sha256(source) if items is None else section_hash(
        file_sha256(source), file_sha256(items))
    record = base.path(layout.UPDATE_RECORD)
    origin = read_json(record) if record.is_file() else None  # base is a generation
    fixed = refit_config(cfg, base)
    family = base.root.name if origin is None else origin["family"]
    number = _generation(base, family, digest, cold)
    tuned = _tuned(fixed) if origin is None else dict(origin["tuned"])
    target_cfg = _generation_config(fixed, base, f"{family}.{number}", share, tuned, lr_scale)
    target = RunDir(target_cfg.run_dir)
    if catalogue is not None:  # the grown items table, encoded through the run's cache
        target_cfg = target_cfg.model_copy(update={
            "data": target_cfg.data.model_copy(update={
                "items": target.path(layout.INPUT_ITEMS),
                "columns": target_cfg.data.columns.model_copy(update={"item": ITEM})}),
            "encoders": target_cfg.encoders.model_copy(update={
                "cache_dir": cfg.encoders.cache_dir or base.path(layout.FEATURE_CACHE)})})
    warm = None if cold else WarmStart(base)
    with exclusive_writer(target.root):
        target.remove_stray_temp_files()  # a killed update's, resumed here
        write_json(target.path(layout.UPDATE_RECORD), {
            "family": family, "generation": number, "base": base.root.name,
            "interactions": str(source), "sha256": digest, "share": share, "cold": cold,
            "tuned": tuned, "lr_scale": lr_scale})
        if catalogue is not None:
            every = load_items(cfg.data.items, cfg.data.columns.item)
            write_parquet(target.path(layout.INPUT_ITEMS),
                          pd.concat([every, catalogue], ignore_index=True))
        target.write_config(target_cfg)
        ctx = StageContext.build(target_cfg, target, progress)

        def grown_split() -> None:
            _write_grown_split(base, target, new,
                               None if catalogue is None else catalogue[ITEM].to_numpy())

        run_stage(ctx, "split", section_hash(base.fingerprint("split"), digest, "update"),
                  [layout.split_part(name) for name in layout.SPLIT_PARTS], grown_split)
        if catalogue is None:
            run_stage(ctx, "encode", section_hash(base.fingerprint("encode"), "update"),
                      [layout.FEATURES], functools.partial(copy_features, base, target))
        else:
            encode(ctx)
        train_with_choices_of(ctx, base, warm)
    log.info("update: generation %s in %s", number, target.root)
    return target


def _new_items(cfg: RunConfig, base: RunDir, source: Path) -> pd.DataFrame:
    """The new items' rows (``item_id`` and content), none already in the catalogue."""
    if cfg.data.items is None:
        raise ConfigError(f"{base.root} has no items table (an ID-only run): its new items "
                          f"need no table, they join with their interactions; drop --items.")
    frame = load_items(source, cfg.data.columns.item)
    known = IdMap.load(base.path(layout.ITEM_IDS)).positions(frame[ITEM], str(source)) >= 0
    if known.any():
        raise DataError(f"{source} lists items the catalogue already has, e.g. "
                        f"{frame[ITEM][known][:5].tolist()}; give only new items.")
    return frame


def _new_interactions(cfg: RunConfig, base: RunDir, source: Path,
                      added: list | None = None) -> pd.DataFrame:
    """The new interactions, read with the run's columns and kept as its positives are
    (``data.rating_threshold``); their columns must be its splits'. Their items must be the
    run's when it has an items table (new items need content); an ID-only run's catalogue
    grows by the new ones."""
    frame = load_interactions(source, cfg.data.columns)
    threshold = cfg.data.rating_threshold
    if threshold is not None:
        if RATING not in frame:
            raise DataError(f"{source} has no rating column, and the run keeps interactions "
                            f"rated at least {threshold} (data.rating_threshold).")
        frame = frame[frame[RATING] >= threshold]
    if frame.empty:
        raise DataError(f"{source} holds no new interaction (after data.rating_threshold); "
                        f"nothing to update.")
    items = IdMap.load(base.path(layout.ITEM_IDS))
    if added:
        items = items.extended(added, "new items")
    unknown = items.positions(frame[ITEM], str(source)) < 0
    if unknown.any() and cfg.data.items is not None:  # an ID-only run's catalogue just grows
        raise DataError(f"{source} names {int(unknown.sum())} interaction(s) with items the "
                        f"run's catalogue does not have, e.g. "
                        f"{frame[ITEM][unknown].unique()[:5].tolist()}; give their rows "
                        f"(the items table's columns) as new items (`--items`), or drop those "
                        f"interactions.")
    columns = pq.read_schema(base.path(layout.split_part("train"))).names
    missing = [c for c in columns if c not in frame]
    if missing:
        raise DataError(f"{source} lacks column(s) {missing} that the run's interactions "
                        f"have; give the new interactions the same columns.")
    return frame[columns].reset_index(drop=True)


def _generation(base: RunDir, family: str, digest: str, cold: bool) -> int:
    """The number of ``family``'s generation that adds interactions with sha256 ``digest`` to
    ``base`` (warm or ``cold``): an earlier one that did (finished or not: it resumes), else
    the next number after every generation beside it."""
    numbers = []
    for folder in base.root.parent.glob(f"{family}.*"):
        path = folder / layout.UPDATE_RECORD.path
        if not path.is_file():
            continue
        earlier = read_json(path)
        if not isinstance(earlier, dict) or earlier.get("family") != family:
            continue
        numbers.append(int(earlier["generation"]))
        if (earlier.get("base"), earlier.get("sha256"), earlier.get("cold", False)) == (
                base.root.name, digest, cold):
            return int(earlier["generation"])
    return max(numbers, default=0) + 1


def _tuned(fixed: RunConfig) -> dict[str, dict[str, float]]:
    """The epochs a family's first run chose on validation for its teacher and student (in
    its refit config ``fixed``), and their learning rates. A generation carries them on in
    ``update.json``: its own training ran a share of them at a scaled rate, so reading them
    from it would shrink the budget generation after generation."""
    tuned = {model: {"epochs": getattr(fixed, model).optim.epochs,
                     "lr": getattr(fixed, model).optim.lr} for model in ("teacher", "student")}
    tuned["student"]["coldstart_steps"] = fixed.student.coldstart_steps
    return tuned


def _generation_config(fixed: RunConfig, base: RunDir, name: str, share: float,
                       tuned: dict[str, dict[str, float]], lr_scale: float = 1.0
                       ) -> RunConfig:
    """``base``'s choices fixed (``fixed``, its refit config), the generation's name beside
    it, and LightGCN and the student trained for ``share`` of the ``tuned`` epochs at
    ``lr_scale`` times their learning rates, the cold-start mapper for ``share`` of its steps
    (it continues from the previous one's weights)."""

    def bounded(optim, model: str):
        epochs = max(1, math.ceil(tuned[model]["epochs"] * share))
        return optim.model_copy(update={"epochs": epochs, "eval_every": epochs,
                                        "lr": tuned[model]["lr"] * lr_scale})

    teacher_cfg = fixed.teacher.model_copy(update={"optim": bounded(fixed.teacher.optim,
                                                                    "teacher")})
    steps = tuned["student"].get("coldstart_steps", fixed.student.coldstart_steps)
    student_cfg = fixed.student.model_copy(update={
        "optim": bounded(fixed.student.optim, "student"),
        "coldstart_steps": math.ceil(steps * share)})
    return fixed.model_copy(update={"name": name, "runs_root": base.root.parent,
                                    "teacher": teacher_cfg, "student": student_cfg})


def _write_grown_split(base: RunDir, target: RunDir, new: pd.DataFrame,
                       new_items: np.ndarray | None = None) -> None:
    """Every interaction ``base`` knew (train, valid, test) plus ``new``, all training (an
    interaction given twice once, at its latest timestamp when there are timestamps: new rows
    may come out of time order or repeat a known one with an older time), with the user map
    grown by the new users (and an ID-only run's item map by the new items)."""
    parts = [pd.read_parquet(base.path(layout.split_part(name))) for name in layout.SPLIT_PARTS]
    every = pd.concat([*parts, new], ignore_index=True)
    if TIMESTAMP in every.columns:  # stable: equal times keep the given order (the new last)
        every = every.sort_values(TIMESTAMP, kind="stable")
    every = every.drop_duplicates([USER, ITEM], keep="last")
    users = IdMap.load(base.path(layout.USER_IDS))
    fresh = pd.Index(new[USER].unique())
    fresh = fresh[users.positions(fresh, "new interactions") < 0]
    grown = users.extended(np.sort(fresh.to_numpy()), "new interactions")
    grown.save(target.path(layout.USER_IDS))
    items = IdMap.load(base.path(layout.ITEM_IDS))
    if new_items is not None:  # in the grown items table's order, as the encode stage reads it
        added = pd.Index(new_items)
    else:  # an ID-only run's new items
        added = pd.Index(new[ITEM].unique())
        added = pd.Index(np.sort(added[items.positions(added, "new interactions") < 0]
                                 .to_numpy()))
    items.extended(added, "new items").save(target.path(layout.ITEM_IDS))
    every = write_training_split(target, every)
    log.info("update: %d interactions (%d new), %d new users, %d new items", len(every),
             len(new), len(fresh), len(added))
