"""The one-line serving API over a finished run: ``Recommender.load(run_dir).recommend(ids, k)``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mmgraph.data.tables import ITEM, USER, load_items
from mmgraph.data.user_items import UserItems
from mmgraph.errors import DataError, RunDirError
from mmgraph.index.foldin import FoldIn, ItemBasis
from mmgraph.index.retrieval import RetrievalIndex
from mmgraph.io import read_json
from mmgraph.runs import (IndexedSplit, RunDir, layout, load_split, recommendation_frame,
                         served_embeddings, verify_served_files)

__all__ = ["Recommender", "Explanation", "recommendation_frame"]


@dataclass(frozen=True)
class Explanation:
    """:meth:`Recommender.explain`'s answer: the served ``score`` of ``item_id`` for
    ``user_id``; ``because``, the user's history items adding most to it (``item_id``,
    ``contribution``, ``share`` of the sum; largest first); ``history_score``, the sum of every
    history item's contribution (the score of the user's folded-in history)."""

    user_id: object
    item_id: object
    score: float
    history_score: float
    because: pd.DataFrame


class Recommender:
    """Top-k items that users have not interacted with, from the student's embeddings via the
    FAISS index; users met after training are served from their history by fold-in
    (:meth:`update`, :meth:`recommend_for_history`), users without any by popularity."""

    def __init__(self, user_vectors: np.ndarray, index: RetrievalIndex, data: IndexedSplit,
                 items_table: Path | None = None, item_column: str = ITEM,
                 foldin: FoldIn | None = None, item_vectors: np.ndarray | None = None,
                 run: RunDir | None = None):
        self.user_vectors, self.index, self.data, self.run = user_vectors, index, data, run
        self.items_table, self.item_column = items_table, item_column
        self.foldin = foldin or FoldIn()
        self._item_vectors = (np.empty((0, index.dim), np.float32) if item_vectors is None
                              else np.asarray(item_vectors, np.float32))
        self._derived: dict[str, object] = {}  # of the item vectors; reset when items grow
        self._items_frame: tuple[Path, pd.DataFrame] | None = None
        # user id -> (item labels of their whole history, folded-in [d] vector), from update()
        self._updated: dict[object, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def item_vectors(self) -> np.ndarray:
        """``[I, d]`` served item vectors by index label, for fold-in and similar items; items
        added to the index since are read back from it."""
        known, total = len(self._item_vectors), len(self.index.item_ids)
        if known < total:  # an item removed since is gone from FAISS: a zero row, never served
            added = np.stack([np.zeros(self.index.dim, np.float32) if self.index.removed[label]
                              else self.index.index.reconstruct(label)
                              for label in range(known, total)])
            self._item_vectors = np.concatenate([self._item_vectors, added])
            self._derived = {}
        return self._item_vectors

    def _derived_from_items(self, name: str) -> ItemBasis | np.ndarray:
        """``basis`` (the items' :class:`ItemBasis`, shared by every fold-in) or ``unit``
        (``[I, d]`` L2-normalised rows, for cosine), computed once per item set."""
        items = self.item_vectors
        if name not in self._derived:
            if name == "basis":
                self._derived[name] = ItemBasis(items)
            else:
                self._derived[name] = items / np.maximum(
                    np.linalg.norm(items, axis=1, keepdims=True), 1e-12)
        return self._derived[name]

    @classmethod
    def load(cls, run_dir: str | Path) -> "Recommender":
        run = RunDir(run_dir)
        run.fingerprint("index")  # a clear error unless this folder holds a finished run
        vectors, items, model_hash = served_embeddings(run, digests=verify_served_files(run))
        # Copies, not the file's mapping: a server keeps serving the bytes it verified even if
        # the file is later overwritten in place (a mapping would change under it, or fault).
        vectors, items = np.array(vectors), np.array(items)
        index = RetrievalIndex.load(run.path(layout.INDEX), expected_model_hash=model_hash)
        if index.metric != "ip":  # what the index stage builds: the models' score
            raise RunDirError(f"{run.path(layout.INDEX_MANIFEST)} says metric "
                              f"{index.metric!r}, but a run's index ranks by the inner "
                              f"product its models score with ('ip'); restore the file or "
                              f"rebuild the index (`mmgraph index`).")
        cfg, settings = run.read_config(), run.path(layout.FOLDIN)
        foldin = FoldIn(**{k: float(v) for k, v in read_json(settings).items()
                           if k in ("unobserved_weight", "ridge")}) if settings.is_file() else None
        table, column = (cfg.data.items, cfg.data.columns.item) if cfg else (None, ITEM)
        return cls(vectors, index, load_split(run), table, column, foldin, items, run)

    @property
    def run_dir(self) -> Path | None:
        """The run folder this recommender serves (``None`` when built from arrays)."""
        return None if self.run is None else self.run.root

    @property
    def metrics(self) -> dict:
        """The run's ``metrics.json`` (valid and test metrics of teacher, student as served
        and popularity); empty when built from arrays."""
        path = None if self.run is None else self.run.path(layout.METRICS)
        return read_json(path) if path is not None and path.is_file() else {}

    @cached_property
    def interacted(self) -> UserItems:
        """Every user's items in train, valid and test (built on first use)."""
        return self.data.interacted()

    @cached_property
    def interaction_counts(self) -> np.ndarray:
        """``[I]`` interactions per item of the run (train, valid and test), for popularity."""
        return self.interacted.item_counts.astype(np.float32)

    def recommend(self, user_ids: list, k: int = 10,
                  exclude: Literal["interacted", "train"] = "interacted",
                  unknown: Literal["popular", "error"] = "popular") -> pd.DataFrame:
        """``user_id, item_id, rank, score, source`` rows, best first, per user in the order
        given. ``source`` says how each user was served:

        - ``"model"``: a user of the run, by their trained vector. ``exclude="interacted"`` (the
          default, for serving) leaves out every item they interacted with in any part of the
          split; ``"train"`` only their training items, as the evaluation ranks (so that its
          held-out items can be found).
        - ``"history"``: a user given a history by :meth:`update`, by their folded-in vector;
          their whole history is left out.
        - ``"popular"``: any other user, by the items most interacted with in the run (score:
          the count); ``unknown="error"`` makes such a user a :class:`DataError` instead.

        ``k`` is at least 1; past the catalogue's size it is cut to it."""
        ids, items, scores, source = self.ranked(user_ids, k, exclude, unknown)
        rows, ranks = np.nonzero(items >= 0)
        return pd.DataFrame({USER: ids.to_numpy()[rows],
                             ITEM: self.index.item_ids.to_ids(items[rows, ranks]),
                             "rank": ranks + 1, "score": scores[rows, ranks],
                             "source": source[rows]})

    def recommend_arrays(self, user_ids: list, k: int = 10,
                         exclude: Literal["interacted", "train"] = "interacted",
                         unknown: Literal["popular", "error"] = "popular"
                         ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`recommend` as implicit answers, batched: item ids ``[n, k]`` (object array;
        ``None`` past the end of a short list) and their scores ``[n, k]`` (float32, ``-inf``
        there), row ``i`` for ``user_ids[i]``."""
        _, items, scores, _ = self.ranked(user_ids, k, exclude, unknown)
        ids = np.full(items.shape, None, object)
        found = items >= 0
        ids[found] = self.index.item_ids.to_ids(items[found])
        return ids, scores

    def ranked(self, user_ids: list, k: int = 10,
               exclude: Literal["interacted", "train"] = "interacted",
               unknown: Literal["popular", "error"] = "popular"
               ) -> tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`recommend`'s answer as arrays, without building a table (what the HTTP service
        answers from): the users as an index ``[n]``, item labels of :attr:`index` ``[n, k]``
        (``-1`` past the end of a short list), their scores ``[n, k]`` and each user's
        ``source`` ``[n]``."""
        if exclude not in ("interacted", "train"):
            raise ValueError(f"exclude={exclude!r}: use 'interacted' (serving) or 'train' "
                             f"(the evaluation's protocol).")
        if unknown not in ("popular", "error"):
            raise ValueError(f"unknown={unknown!r}: use 'popular' or 'error'.")
        ids = pd.Index(user_ids)
        positions = self.data.users.positions(ids, "recommend")
        updated = np.array([user in self._updated for user in ids], bool)
        popular = (positions < 0) & ~updated
        if unknown == "error" and popular.any():
            self.data.users.indices(ids[popular], "recommend", "This run knows the users of "
                                    "its interactions table; give new users a history with "
                                    "Recommender.update, or serve them popular items.")
        k = self.index.bounded_k(k)
        items = np.full((len(ids), k), -1, np.int64)
        scores = np.full((len(ids), k), -np.inf, np.float32)
        model = ~updated & ~popular
        if model.any():
            seen = self.interacted if exclude == "interacted" else self.data.parts["train"]
            items[model], scores[model] = self.index.search(
                self.user_vectors[positions[model]], k, seen, positions[model])
        for row in np.flatnonzero(updated):
            history, vector = self._updated[ids[row]]
            items[row], scores[row] = self._search_excluding(vector, history, k)
        if popular.any():
            items[popular], scores[popular] = self._most_popular(k)
        source = np.where(updated, "history", np.where(popular, "popular", "model"))
        return ids, items, scores, source

    def update(self, user_id, item_ids: list) -> None:
        """Add ``item_ids`` (items of this run's index) to ``user_id``'s history and fold the
        whole history into a new vector against the served item vectors, no retraining (as
        implicit's ``recalculate_user``): a user of the run starts from everything they
        interacted with, a new user from nothing. Later :meth:`recommend` calls serve the user
        from this vector (``source`` ``"history"``) and never serve their history back. Kept
        in memory, not written to the run."""
        rows = self._item_rows(item_ids, "update")
        user = pd.Index([user_id])
        position = self.data.users.positions(user, "update")[0]
        if user[0] in self._updated:
            history = self._updated[user[0]][0]
        else:
            history = self.interacted.row(position) if position >= 0 else rows[:0]
        history = np.union1d(history, rows)
        vector = self.foldin.user_vectors(self.item_vectors, [history],
                                          self._derived_from_items("basis"))[0]
        self._updated[user[0]] = (history, vector)

    def explain(self, user_id, item_id, k: int = 5) -> Explanation:
        """Why ``item_id`` scores as it does for ``user_id``: the ``k`` items of the user's
        history that add most to it (as implicit's ALS ``explain``). The user's history (theirs
        in the run, or as :meth:`update` left it) folded in is a vector whose score of the item
        is exactly a sum of one term per history item (:meth:`FoldIn.contributions`); that sum
        is ``history_score``, equal to ``score`` for a user served from a history. A trained
        user's vector is not their fold-in (its scale differs; fold-in ranks nearly as well),
        so for them the terms explain the folded-in score, and ``share`` (each term over the
        sum) is the scale-free reading. A user without a history is served by popularity: a
        :class:`DataError`."""
        user = pd.Index([user_id])
        label = int(self.index.item_ids.indices(pd.Series([item_id]), "explain",
                                                "Explain takes an item of this run's index.")[0])
        if user[0] in self._updated:
            history, vector = self._updated[user[0]]
        else:
            position = self.data.users.positions(user, "explain")[0]
            if position < 0:
                raise DataError(f"explain: user {user_id!r} is not a user of this run and has "
                                f"no history (Recommender.update), so they are served popular "
                                f"items; there is nothing of theirs to explain.")
            history, vector = self.interacted.row(position), self.user_vectors[position]
        terms = self.foldin.contributions(self.item_vectors, history, label,
                                          self._derived_from_items("basis"))
        top = np.argsort(-terms, kind="stable")[:max(1, int(k))]
        total = float(terms.sum())
        because = pd.DataFrame({ITEM: self.index.item_ids.to_ids(history[top]),
                                "contribution": terms[top].astype(np.float32),
                                "share": (terms[top] / total if total else terms[top] * 0
                                          ).astype(np.float32)})
        return Explanation(user[0], item_id, float(vector @ self.item_vectors[label]), total,
                           because)

    def add_items(self, items: pd.DataFrame, progress: bool = False) -> np.ndarray:
        """Serve new items from their content, without retraining: ``items`` is a table like
        the run's items table (``item_id`` plus the content columns its encoders read); the
        run's encoders, teacher content tower and cold-start mapper place them among the
        served item vectors (:mod:`mmgraph.runs.new_items`), and they join the index at
        once. Returns their vectors ``[n, d]``; ids already served are an error."""
        from mmgraph.runs.new_items import vectors_from_content  # torch: when used

        if self.run is None:
            raise DataError("add_items needs a Recommender loaded from a run folder "
                            "(Recommender.load)")
        if not isinstance(items, pd.DataFrame) or items.empty or ITEM not in items:
            got = (type(items).__name__ if not isinstance(items, pd.DataFrame)
                   else "no rows" if items.empty else f"columns {list(items.columns)}")
            raise DataError(f"add_items takes a table with an {ITEM} column and at least one "
                            f"row (plus the content columns the run's encoders read); got "
                            f"{got}.")
        vectors = vectors_from_content(self.run, items, progress)
        self.index.add(vectors, items[ITEM].to_numpy())
        return vectors

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
        rows = self._item_rows(item_ids, "recommend_for_history")
        vector = self.foldin.user_vectors(self.item_vectors, [rows],
                                          self._derived_from_items("basis"))[0]
        items, scores = self._search_excluding(vector, rows, self.index.bounded_k(k))
        kept = items >= 0
        return pd.DataFrame({ITEM: self.index.item_ids.to_ids(items[kept]),
                             "rank": np.arange(1, kept.sum() + 1), "score": scores[kept]})

    def _item_rows(self, item_ids: list, source: str) -> np.ndarray:
        """Index labels of a history's ``item_ids`` (at least one, all known to the index)."""
        if not len(item_ids):
            raise DataError(f"{source} needs at least one item id; a user with no history is "
                            f"served popular items by recommend.")
        return np.unique(self.index.item_ids.indices(
            pd.Series(item_ids), source, "Fold-in takes items of this run's index."))

    def _search_excluding(self, vector: np.ndarray, history: np.ndarray, k: int
                          ) -> tuple[np.ndarray, np.ndarray]:
        """The top ``k`` labels and scores (``[k]`` each, ``-1``-padded) for one ``[d]`` user
        vector, leaving out the labels in ``history``."""
        seen = UserItems(np.zeros(len(history), np.int64), history, 1,
                         len(self.index.item_ids))
        items, scores = self.index.search(vector[None], k, seen, np.zeros(1, np.int64))
        return items[0], scores[0]

    @property
    def item_popularity(self) -> np.ndarray:
        """``[len(index.item_ids)]`` interactions per index label in the run (train, valid
        and test), float32; items added to the index since have none yet."""
        counts = np.zeros(len(self.index.item_ids), np.float32)
        counts[:len(self.interaction_counts)] = self.interaction_counts
        return counts

    def _most_popular(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` searchable items most interacted with in the run (train, valid and test),
        ties by label; ``[k]`` labels and their counts as scores."""
        counts = self.item_popularity
        counts[self.index.removed] = -np.inf
        top = np.argsort(-counts, kind="stable")[:k]
        return np.where(np.isfinite(counts[top]), top, -1), counts[top]

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
        k = min(int(k), int(np.isfinite(scores).sum()))  # 0 when every other item is removed
        top = np.argpartition(-scores, k - 1)[:k] if k > 0 else np.zeros(0, np.int64)
        top = top[np.argsort(-scores[top], kind="stable")]
        return pd.DataFrame({ITEM: self.index.item_ids.to_ids(top), "rank": np.arange(1, k + 1),
                             "score": scores[top].astype(np.float32)})
