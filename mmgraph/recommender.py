"""The one-line serving API over a finished run: ``Recommender.load(run_dir).recommend(ids, k)``."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mmgraph.data.tables import ITEM, load_items
from mmgraph.data.user_items import UserItems
from mmgraph.index.retrieval import RetrievalIndex
from mmgraph.pipeline.artifacts import (IndexedSplit, load_split, recommendation_frame,
                                        served_embeddings, verify_served_files)
from mmgraph.pipeline.rundir import RunDir

__all__ = ["Recommender", "recommendation_frame"]


class Recommender:
    """Top-k items for known users that they have not interacted with, from the student's
    embeddings via the FAISS index."""

    def __init__(self, user_vectors: np.ndarray, index: RetrievalIndex, data: IndexedSplit,
                 items_table: Path | None = None, item_column: str = ITEM):
        self.user_vectors, self.index, self.data = user_vectors, index, data
        self.items_table, self.item_column = items_table, item_column

    @classmethod
    def load(cls, run_dir: str | Path) -> "Recommender":
        run = RunDir(run_dir)
        run.fingerprint("index")  # a clear error unless this folder holds a finished run
        vectors, _, model_hash = served_embeddings(run, digests=verify_served_files(run))
        index = RetrievalIndex.load(run.path("index"), expected_model_hash=model_hash)
        cfg = run.read_config()
        if cfg is None:
            return cls(vectors, index, load_split(run))
        return cls(vectors, index, load_split(run), cfg.data.items, cfg.data.columns.item)

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
        items = load_items(self.items_table, self.item_column)
        wanted = [column for column in columns if column in items.columns]
        if not wanted:
            return frame
        return frame.merge(items[[ITEM, *wanted]], on=ITEM, how="left")
