"""The one-line serving API over a finished run: ``Recommender.load(run_dir).recommend(ids, k)``."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mmgraph.data.tables import ITEM, load_items
from mmgraph.data.user_items import UserItems
from mmgraph.errors import DataError
from mmgraph.index.foldin import FoldIn
from mmgraph.index.retrieval import RetrievalIndex
from mmgraph.io import read_json
from mmgraph.pipeline.artifacts import (IndexedSplit, load_split, recommendation_frame,
                                        served_embeddings, verify_served_files)
from mmgraph.pipeline.rundir import RunDir

__all__ = ["Recommender", "recommendation_frame"]


class Recommender:
    """Top-k items for known users that they have not interacted with, from the student's
    embeddings via the FAISS index."""

    def __init__(self, user_vectors: np.ndarray, index: RetrievalIndex, data: IndexedSplit,
                 items_table: Path | None = None, item_column: str = ITEM,
                 foldin: FoldIn | None = None, item_vectors: np.ndarray | None = None):
        self.user_vectors, self.index, self.data = user_vectors, index, data
        self.items_table, self.item_column = items_table, item_column
        self.foldin = foldin or FoldIn()
        self._item_vectors = (np.empty((0, index.dim), np.float32) if item_vectors is None
                              else np.asarray(item_vectors, np.float32))
        self._derived: dict[str, np.ndarray] = {}  # of the item vectors; reset when items grow
        self._items_frame: tuple[Path, pd.DataFrame] | None = None

    @property
    def item_vectors(self) -> np.ndarray:
        """``[I, d]`` served item vectors by index label, for fold-in and similar items; items
        added to the index since are read back from it."""
        known, total = len(self._item_vectors), len(self.index.item_ids)
        if known < total:
            added = np.stack([self.index.index.reconstruct(label)
                              for label in range(known, total)])
            self._item_vectors = np.concatenate([self._item_vectors, added])
            self._derived = {}
        return self._item_vectors

    def _derived_from_items(self, name: str) -> np.ndarray:
        """``gramian`` (``[d, d]`` float64, shared by every fold-in) or ``unit`` (``[I, d]``
        L2-normalised rows, for cosine), computed once per item set."""
        items = self.item_vectors
        if name not in self._derived:
            if name == "gramian":
                self._derived[name] = items.astype(np.float64).T @ items.astype(np.float64)
            else:
                self._derived[name] = items / np.maximum(
                    np.linalg.norm(items, axis=1, keepdims=True), 1e-12)
        return self._derived[name]

    @classmethod
    def load(cls, run_dir: str | Path) -> "Recommender":
        run = RunDir(run_dir)
        run.fingerprint("index")  # a clear error unless this folder holds a finished run
        vectors, items, model_hash = served_embeddings(run, digests=verify_served_files(run))
        index = RetrievalIndex.load(run.path("index"), expected_model_hash=model_hash)
        cfg, settings = run.read_config(), run.path("index", "foldin.json")
        foldin = FoldIn(**{k: float(v) for k, v in read_json(settings).items()
                           if k in ("unobserved_weight", "ridge")}) if settings.is_file() else None
        table, column = (cfg.data.items, cfg.data.columns.item) if cfg else (None, ITEM)
        return cls(vectors, index, load_split(run), table, column, foldin, items)

    @cached_property
    def interacted(self) -> UserItems:
        """Every user's items in train, valid and test (built on first use)."""
        return self.data.interacted()

    def recommend(self, user_ids: list, k: int = 10,
                  exclude: Literal["interacted", "train"] = "interacted") -> pd.DataFrame:
        """``user_id, item_id, rank, score`` rows, best first. ``exclude="interacted"`` (the
        default, for serving) leaves out every item the user interacted with in any part of
        the split; ``"train"`` only the training items, as the evaluation ranks (so that its
        held-out items can be found). ``k`` is at least 1; past the catalogue's size it is
        cut to it."""
        if exclude not in ("interacted", "train"):
            raise ValueError(f"exclude={exclude!r}: use 'interacted' (serving) or 'train' "
                             f"(the evaluation's protocol).")
        users = self.data.users.indices(pd.Series(user_ids), "recommend", "This run knows "
                                        "the users of its interactions table.")
        seen = self.interacted if exclude == "interacted" else self.data.parts["train"]
        items, scores = self.index.search(self.user_vectors[users], k, seen, users)
        return recommendation_frame(users, items, scores, self.data.users,
                                    self.index.item_ids)

    def describe(self, frame: pd.DataFrame, columns: tuple[str, ...] = ("title",)
                 ) -> pd.DataFrame:
        """``frame`` (rows with an ``item_id``, e.g. :meth:`recommend`'s) with the run's items
        table's ``columns`` joined on the item id; columns the table lacks are skipped, and
        without an items table (or when it is gone) ``frame`` is returned as it is."""
        if self.items_table is None or not Path(self.items_table).is_file():
            return frame
        if self._items_frame is None or self._items_frame[0] != Path(self.items_table):
            table = Path(self.items_table)  # read and checked once, not on every call
            self._items_frame = (table, load_items(table, self.item_column))
        items = self._items_frame[1]
        wanted = [column for column in columns if column in items.columns]
        if not wanted:
            return frame
        return frame.merge(items[[ITEM, *wanted]], on=ITEM, how="left")

    def recommend_for_history(self, item_ids: list, k: int = 10) -> pd.DataFrame:
        """``item_id, rank, score`` rows for a user known only by the items they chose (a new
        user, or a session): their vector is folded in against the served item vectors
        (:mod:`mmgraph.index.foldin`, settings chosen on validation), no retraining; the
        history's items are not served. Unknown item ids are an error."""
        if not len(item_ids):
            raise DataError("recommend_for_history needs at least one item id; for a user "
                            "with no history, serve popular items.")
        rows = self.index.item_ids.indices(pd.Series(item_ids), "recommend_for_history",
                                           "Fold-in takes items of this run's index.")
        vector = self.foldin.user_vectors(self.item_vectors, [rows],
                                          self._derived_from_items("gramian"))
        seen = UserItems(np.zeros(len(rows), np.int64), rows, 1, len(self.index.item_ids))
        items, scores = self.index.search(vector, k, seen, np.zeros(1, np.int64))
        kept = items[0] >= 0
        return pd.DataFrame({ITEM: self.index.item_ids.to_ids(items[0][kept]),
                             "rank": np.arange(1, kept.sum() + 1),
                             "score": scores[0][kept].astype(np.float32)})

    def similar_items(self, item_id, k: int = 10) -> pd.DataFrame:
        """``item_id, rank, score`` rows: the ``k`` items nearest to ``item_id`` by cosine
        over the served item vectors ("more like this"). Cosine, not the inner product the
        index ranks users by: inner products favour items with long vectors (popular ones)."""
        row = self.index.item_ids.indices(pd.Series([item_id]), "similar_items",
                                          "Similar items takes an item of this run's index.")[0]
        unit = self._derived_from_items("unit")
        scores = unit @ unit[row]
        scores[row] = -np.inf  # not itself
        scores[self.index.removed[:len(scores)]] = -np.inf
        k = max(1, min(int(k), int(np.isfinite(scores).sum())))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return pd.DataFrame({ITEM: self.index.item_ids.to_ids(top), "rank": np.arange(1, k + 1),
                             "score": scores[top].astype(np.float32)})
