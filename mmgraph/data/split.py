"""Seeded split of interactions into train / valid / test, at random or by time.

Three kinds (``split.kind``; docs/evaluation.md says what each one leaks):

- ``random``: each user's interactions are shuffled and cut.
- ``temporal_per_user``: each user's interactions are ordered by time and the latest are held
  out (leave-last-out): the model never trains on a user's future, but different users' times
  still interleave (one user's test can precede another's training interactions).
- ``temporal_global``: one cut in time for everyone: everything before the valid cut trains,
  nothing of the future leaks; held-out interactions of users with no training interaction
  (they arrived after the cut) are dropped, since no history ranks anything for them.

``valid`` and ``test`` are shares (``0.1``: 10% of each user's interactions, or of all
interactions for ``temporal_global``) or, per user, counts (``1``: the user's last one).
A user always keeps at least one training interaction. ``train_share`` below 1 then thins the
training part: each user keeps that seeded random share of their training interactions (at
least one), the held-out parts unchanged: the sparse regime, where what content adds shows.
Duplicate (user, item) pairs are collapsed first (the latest one is kept), since one item cannot
be both seen in train and held out in test.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from mmgraph.data.tables import ITEM, TIMESTAMP, USER
from mmgraph.errors import DataError

__all__ = ["SPLIT_KINDS", "deduplicate", "split_interactions", "split_description"]

log = logging.getLogger(__name__)

SPLIT_KINDS = ("random", "temporal_per_user", "temporal_global")
PARTS = ("train", "valid", "test")


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


def split_interactions(interactions: pd.DataFrame, kind: str = "random", valid: float = 0.1,
                       test: float = 0.1, seed: int = 0, source: str = "the interactions",
                       train_share: float = 1.0) -> dict[str, pd.DataFrame]:
    """``{"train", "valid", "test"}`` frames of ``interactions`` (see the module docstring);
    the temporal kinds need a ``timestamp`` column (ties are broken at random by ``seed``): a
    :class:`DataError` naming ``source`` (the table's file) without one."""
    if kind not in SPLIT_KINDS:
        raise ValueError(f"unknown split kind {kind!r}; expected one of {SPLIT_KINDS}")
    if kind != "random" and TIMESTAMP not in interactions:
        raise DataError(f"split.kind {kind} orders interactions by time, but {source} has no "
                        f"{TIMESTAMP} column here. Name its time column in "
                        f"data.columns.timestamp, or use split.kind: random.")
    frame = deduplicate(interactions)
    parts = (_split_global(frame, valid, test, seed) if kind == "temporal_global" else
             _split_per_user(frame, kind, valid, test, seed))
    if train_share < 1:
        parts["train"] = _thinned(parts["train"], train_share, seed)
    return parts


def _split_per_user(frame: pd.DataFrame, kind: str, valid: float, test: float, seed: int
                    ) -> dict[str, pd.DataFrame]:
    """The per-user kinds: each user's interactions shuffled (``random``) or ordered by time,
    the held-out parts cut from the front of that order."""
    rng = np.random.default_rng(seed)
    keys = [rng.random(len(frame))]
    if kind == "temporal_per_user":  # latest last; the held-out parts are cut from the end
        keys = [keys[0], -frame[TIMESTAMP].to_numpy()]
    ordered, position, count = _ordered_per_user(frame, keys)
    n_test, n_valid = _held_out(count, test), _held_out(count, valid)
    # Never leave a user without training data: shrink the held-out parts for tiny users.
    overflow = np.maximum(n_test + n_valid - (count - 1), 0)
    n_valid = n_valid - np.minimum(overflow, n_valid)
    n_test = np.minimum(n_test, count - 1 - n_valid)
    part = np.where(position < n_test, "test",
                    np.where(position < n_test + n_valid, "valid", "train"))
    return {name: ordered[part == name].sort_index().reset_index(drop=True) for name in PARTS}


def _ordered_per_user(frame: pd.DataFrame, keys: list[np.ndarray]
                      ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """``frame`` grouped by user, each user's rows sorted by ``keys`` (``np.lexsort``'s order:
    the last key primary), with each row's position in its user's order and its user's row
    count."""
    ordered = frame.iloc[np.lexsort((*keys, frame[USER].factorize()[0]))]
    position = ordered.groupby(USER, sort=False).cumcount().to_numpy()
    count = ordered.groupby(USER, sort=False)[USER].transform("size").to_numpy()
    return ordered, position, count


def _thinned(train: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """Each user's seeded random ``share`` of ``train`` (rounded half up, at least one row)."""
    ordered, position, count = _ordered_per_user(
        train, [np.random.default_rng([seed, 1]).random(len(train))])
    keep = position < np.maximum(np.floor(count * share + 0.5), 1)
    return ordered[keep].sort_index().reset_index(drop=True)


def split_description(kind: str, valid: float, test: float, seed: int,
                      train_share: float = 1.0) -> str:
    """One line for ``metrics.json``'s protocol, e.g. ``per-user random 80%/10%/10%, seed 7``."""
    thinned = ("" if train_share >= 1 else
               f"; each user keeps a random {train_share:.0%} of their training interactions")
    return _split_words(kind, valid, test, seed) + thinned


def _split_words(kind: str, valid: float, test: float, seed: int) -> str:
    if kind == "temporal_global":
        return (f"one time cut for every user: the latest {test:.0%} of interactions test, the "
                f"{valid:.0%} before them valid (users without training interactions dropped), "
                f"ties broken by seed {seed}")
    what = "random" if kind == "random" else "temporal (each user's latest held out)"
    counts = isinstance(valid, (int, np.integer)) or isinstance(test, (int, np.integer))
    held = (f"{_amount(valid)} valid and {_amount(test)} test per user" if counts else
            f"{1 - valid - test:.0%}/{valid:.0%}/{test:.0%}")
    return f"per-user {what} {held}, seed {seed}"


def _amount(value: float) -> str:
    return f"{value}" if isinstance(value, (int, np.integer)) else f"{value:.0%}"


def _held_out(count: np.ndarray, amount: float) -> np.ndarray:
    """Per user: ``amount`` interactions if it is a count (an int), else that share of the
    user's ``count`` (rounded half up)."""
    if isinstance(amount, (int, np.integer)):
        return np.full(len(count), int(amount))
    return np.floor(count * amount + 0.5).astype(int)


def _split_global(frame: pd.DataFrame, valid: float, test: float, seed: int
                  ) -> dict[str, pd.DataFrame]:
    """One time cut for every user: the latest ``test`` share of all interactions is test, the
    ``valid`` share before it valid; held-out rows of users without training rows dropped."""
    if isinstance(valid, (int, np.integer)) or isinstance(test, (int, np.integer)):
        raise ValueError("split kind temporal_global cuts at a time: valid and test are shares "
                         "of all interactions (e.g. 0.1), not counts per user")
    tiebreak = np.random.default_rng(seed).random(len(frame))
    order = np.lexsort((tiebreak, frame[TIMESTAMP].to_numpy()))
    rank = np.empty(len(frame), np.int64)
    rank[order] = np.arange(len(frame))
    n_test = int(np.floor(len(frame) * test + 0.5))
    n_valid = int(np.floor(len(frame) * valid + 0.5))
    part = np.where(rank >= len(frame) - n_test, "test",
                    np.where(rank >= len(frame) - n_test - n_valid, "valid", "train"))
    parts = {name: frame[part == name].reset_index(drop=True) for name in PARTS}
    known = parts["train"][USER].unique()
    for name in ("valid", "test"):
        held = parts[name]
        kept = held[held[USER].isin(known)].reset_index(drop=True)
        if len(kept) < len(held):
            log.info("split: %d %s interactions of %d users with no training interaction "
                     "dropped (they arrived after the cut)", len(held) - len(kept), name,
                     held.loc[~held[USER].isin(known), USER].nunique())
        parts[name] = kept
    return parts
