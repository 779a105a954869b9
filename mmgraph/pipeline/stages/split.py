"""The split stage: validate the tables (prepared first when the config names a known dataset),
fix the id maps and save the seeded split."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from data_prep import DATASETS
from mmgraph.config import DataConfig, section_hash
from mmgraph.data.ids import IdMap
from mmgraph.data.split import split_interactions
from mmgraph.data.tables import ITEM, RATING, USER, load_interactions, require_file
from mmgraph.errors import ConfigError, DataError
from mmgraph.io import file_sha256, read_json, write_json, write_parquet
from mmgraph.pipeline.inputs import load_items_table
from mmgraph.pipeline.runner import StageContext, reads, run_stage
from mmgraph.runs import layout
from mmgraph.training.distributed import barrier

__all__ = ["prepare_data", "split"]

log = logging.getLogger(__name__)


def prepare_data(data: DataConfig) -> None:
    """Build the input tables with data_prep when the config names a known dataset."""
    if data.prepare is None:
        return
    folder = data.interactions.parent
    stamp = {"dataset": data.prepare, "options": data.prepare_options}
    stamp_path = folder / layout.PREPARED_STAMP
    built = data.interactions.is_file() and (data.items is None or data.items.is_file())
    if built and (not stamp_path.is_file() or read_json(stamp_path) == stamp):
        return
    inter_path, items_path = DATASETS[data.prepare].preparer()(
        folder, **data.prepare_options)
    if inter_path != data.interactions or (data.items and items_path != data.items):
        raise ConfigError(f"data.prepare '{data.prepare}' writes {inter_path} and {items_path}; "
                          f"point data.interactions and data.items at those files.")
    write_json(stamp_path, stamp)
    log.info("prepared %s into %s", data.prepare, folder)


def _positives(interactions: pd.DataFrame, data: DataConfig) -> pd.DataFrame:
    """The interactions that count as positives: all, or those rated at least
    ``data.rating_threshold``."""
    threshold = data.rating_threshold
    if threshold is None:
        return interactions
    if RATING not in interactions:
        raise DataError(f"data.rating_threshold {threshold} keeps interactions by rating, but "
                        f"{data.interactions} has no rating column here. Name it in "
                        f"data.columns.rating, or set data.rating_threshold: null.")
    kept = interactions[interactions[RATING] >= threshold].reset_index(drop=True)
    if kept.empty:
        raise DataError(f"No interaction of {data.interactions} is rated at least "
                        f"{threshold} (data.rating_threshold; ratings range "
                        f"{interactions[RATING].min()}–{interactions[RATING].max()}).")
    log.info("split: %d of %d interactions rated at least %s kept as positives", len(kept),
             len(interactions), threshold)
    return kept


@reads("data", "split", "seed")
def split(ctx: StageContext) -> None:
    """Validate the tables, fix the id maps and save the seeded per-user split."""
    cfg, run = ctx.cfg, ctx.run
    if ctx.dist.is_main:
        prepare_data(cfg.data)
    barrier(ctx.dist)
    files = [cfg.data.interactions] + ([cfg.data.items] if cfg.data.items else [])
    for path in files:
        require_file(path)
    fingerprint = section_hash(cfg.data, cfg.split, cfg.seed, *map(file_sha256, files))

    def work() -> None:
        interactions = _positives(load_interactions(cfg.data.interactions, cfg.data.columns),
                                  cfg.data)
        items_table = load_items_table(cfg.data)
        item_ids = (items_table[ITEM].to_numpy() if items_table is not None
                    else np.sort(interactions[ITEM].unique()))
        items = IdMap(item_ids, ITEM)
        items.indices(interactions[ITEM], str(cfg.data.interactions),  # every item is known
                      f"Add them to {cfg.data.items} or drop those rows.")
        parts = split_interactions(interactions, cfg.split.kind, cfg.split.valid,
                                   cfg.split.test, cfg.seed, str(cfg.data.interactions),
                                   cfg.split.train_share)
        users = IdMap(np.sort(parts["train"][USER].unique()), USER)  # users with a history
        users.save(run.path(layout.USER_IDS))
        items.save(run.path(layout.ITEM_IDS))
        for name, frame in parts.items():
            write_parquet(run.path(layout.split_part(name)), frame)
        log.info("split: %s", {name: len(frame) for name, frame in parts.items()})

    run_stage(ctx, "split", fingerprint, [layout.split_part(n) for n in layout.SPLIT_PARTS],
              work)
