"""Seeded per-user random split of interactions into train / valid / test.

Each user's interactions are shuffled and cut: ``round(n * test)`` go to test,
``round(n * valid)`` to valid and the rest (at least one) to train. Duplicate
(user, item) pairs are collapsed first (the latest one is kept), since one item cannot be both
seen in train and held out in test.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from mmgraph.data.tables import ITEM, TIMESTAMP, USER

__all__ = ["deduplicate", "split_per_user"]

log = logging.getLogger(__name__)


def deduplicate(interactions: pd.DataFrame) -> pd.DataFrame:
    """Keep one row per (user, item): the latest by timestamp when present, else the last."""
    frame = interactions
    if TIMESTAMP in frame:
        frame = frame.sort_values(TIMESTAMP, kind="stable")
    deduped = frame.drop_duplicates([USER, ITEM], keep="last").sort_index()
    dropped = len(interactions) - len(deduped)
    if dropped:
        log.info("dropped %d duplicate (user, item) interactions", dropped)
    return deduped.reset_index(drop=True)


def split_per_user(interactions: pd.DataFrame, valid: float, test: float,
                   seed: int) -> dict[str, pd.DataFrame]:
    """Split each user's interactions at random into ``{"train", "valid", "test"}`` frames."""
    frame = deduplicate(interactions)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(frame)), frame[USER].factorize()[0]))
    shuffled = frame.iloc[order]
    position = shuffled.groupby(USER, sort=False).cumcount().to_numpy()
    count = shuffled.groupby(USER, sort=False)[USER].transform("size").to_numpy()
    n_test = np.floor(count * test + 0.5).astype(int)
    n_valid = np.floor(count * valid + 0.5).astype(int)
    # Never leave a user without training data: shrink the held-out parts for tiny users.
    overflow = np.maximum(n_test + n_valid - (count - 1), 0)
    n_valid = n_valid - np.minimum(overflow, n_valid)
    n_test = np.minimum(n_test, count - 1 - n_valid)
    part = np.where(position < n_test, "test",
                    np.where(position < n_test + n_valid, "valid", "train"))
    return {name: shuffled[part == name].sort_index().reset_index(drop=True)
            for name in ("train", "valid", "test")}
