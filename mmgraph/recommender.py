"""The one-line serving API over a finished run: ``Recommender.load(run_dir).recommend(ids, k)``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mmgraph.index.retrieval import RetrievalIndex
from mmgraph.pipeline.artifacts import (IndexedSplit, load_split, recommendation_frame,
                                        served_embeddings, verify_served_files)
from mmgraph.pipeline.rundir import RunDir

__all__ = ["Recommender", "recommendation_frame"]


class Recommender:
    """Top-k unseen items for known users, from the student's embeddings via the FAISS index."""

    def __init__(self, user_vectors: np.ndarray, index: RetrievalIndex, data: IndexedSplit):
        self.user_vectors, self.index, self.data = user_vectors, index, data

    @classmethod
    def load(cls, run_dir: str | Path) -> "Recommender":
        run = RunDir(run_dir)
        run.fingerprint("index")  # a clear error unless this folder holds a finished run
        verify_served_files(run)
        vectors, _, model_hash = served_embeddings(run)
        index = RetrievalIndex.load(run.path("index"), expected_model_hash=model_hash)
        return cls(vectors, index, load_split(run))

    def recommend(self, user_ids: list, k: int = 10) -> pd.DataFrame:
        """``user_id, item_id, rank, score`` rows; items the user has in train are excluded.
        ``k`` is at least 1; past the catalogue's size it is cut to it."""
        users = self.data.users.indices(pd.Series(user_ids), "recommend", "This run knows "
                                        "the users of its interactions table.")
        items, scores = self.index.search(self.user_vectors[users], k, self.data.parts["train"],
                                          users)
        return recommendation_frame(users, items, scores, self.data.users,
                                    self.index.item_ids)
