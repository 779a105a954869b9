"""FAISS retrieval over item embeddings, with each user's seen items excluded.

The index is built from a FAISS index-factory string (``"Flat"`` = exact; ``"HNSW32"``,
``"IVF256,Flat"``, ``"IVF256,SQ8"``, ``"SQfp16"``, ... for approximate or compressed search) with
inner-product or cosine metric, wrapped in ``IndexIDMap2`` so that an item's label is its
position in the id map and stays stable while items are added and removed. Removal is physical
where the index type supports it (Flat, IVF) and a tombstone filtered at search time otherwise
(HNSW). Saved as a folder: ``index.faiss`` + ``item_ids.parquet`` + ``removed.parquet`` +
``manifest.json``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Sequence

import faiss
import numpy as np
import pandas as pd

from mmgraph.data.ids import IdMap
from mmgraph.data.tables import ITEM
from mmgraph.data.user_items import UserItems
from mmgraph.errors import ConfigError, DataError, RunDirError
from mmgraph.io import (atomic_path, file_sha256, read_faiss_index, read_json, read_parquet,
                        write_json, write_parquet)
from mmgraph.runs import layout

__all__ = ["RetrievalIndex"]

_METRICS = {"ip": faiss.METRIC_INNER_PRODUCT, "cosine": faiss.METRIC_INNER_PRODUCT}


class RetrievalIndex:
    """Top-k item search for query vectors: a FAISS index whose labels are positions in
    ``item_ids`` (an :class:`~mmgraph.data.ids.IdMap`), plus the ``removed`` flags. Make one
    with :meth:`build` or :meth:`load`; :meth:`top_items` answers in item ids, :meth:`search`
    in labels."""

    def __init__(self, index: faiss.Index, item_ids: IdMap, metric: str, factory: str,
                 model_hash: str, removed: np.ndarray | None = None):
        self.index, self.item_ids = index, item_ids
        self.metric, self.factory, self.model_hash = metric, factory, model_hash
        #: ``[len(item_ids)]`` bool: removed items (their labels are never returned).
        self.removed = np.zeros(len(item_ids), bool) if removed is None else removed
        #: (tombstone count, search parameters, their selectors) of :meth:`_removed_filter`.
        self._filter: tuple | None = None

    @classmethod
    def build(cls, item_vectors: np.ndarray, item_ids: IdMap | Sequence, metric: str = "ip",
              factory: str = "Flat", model_hash: str = "") -> "RetrievalIndex":
        """Index ``item_vectors``.

        Args:
            item_vectors: ``[num_items, dim]`` float32; row ``i`` is the ``i``-th item id.
            item_ids: the items' ids (a list, array or pandas index of unique ids, or an
                :class:`~mmgraph.data.ids.IdMap`).
            metric: ``"ip"`` (dot product, the models' score) or ``"cosine"``.
            factory: FAISS index-factory string (``"Flat"``, ``"HNSW32"``, ``"IVF256,Flat"``).
            model_hash: identifies the model the vectors came from; checked on load.
        """
        if metric not in _METRICS:
            raise ConfigError(f"RetrievalIndex.build: metric {metric!r}; use one of "
                              f"{sorted(_METRICS)}.")
        if not isinstance(item_ids, IdMap):
            item_ids = IdMap(list(item_ids), ITEM)
        if np.ndim(item_vectors) != 2 or len(item_vectors) != len(item_ids):
            raise DataError(f"RetrievalIndex.build: {len(item_ids)} item ids for vectors of "
                            f"shape {tuple(np.shape(item_vectors))}; pass one [dim] row per id.")
        vectors = cls._prepare(item_vectors, metric)
        try:
            index = faiss.index_factory(vectors.shape[1], f"IDMap2,{factory}", _METRICS[metric])
        except RuntimeError as exc:
            reason = str(exc).strip().splitlines()[-1]
            raise ConfigError(f"FAISS cannot build index '{factory}' for {vectors.shape[1]}-d "
                              f"vectors ({reason}); see the FAISS index-factory docs, e.g. "
                              f"Flat, SQfp16, HNSW32, IVF256,Flat") from exc
        if not index.is_trained:
            try:
                index.train(vectors)
            except RuntimeError as exc:  # e.g. IVF with more lists than items, PQ too few
                reason = str(exc).strip().splitlines()[-1]
                raise ConfigError(f"FAISS cannot train index '{factory}' on {len(vectors)} "
                                  f"items ({reason}); pick an index for this catalogue size, "
                                  f"e.g. Flat, or IVF with at most about items / 39 lists."
                                  ) from exc
        index.add_with_ids(vectors, np.arange(len(vectors), dtype=np.int64))
        return cls(index, item_ids, metric, factory, model_hash)

    @staticmethod
    def _prepare(vectors: np.ndarray, metric: str) -> np.ndarray:
        """Contiguous float32 rows; a normalised copy for cosine (the caller's array is kept).
        A row with a NaN or infinite value (past float32's range, too) is a :class:`DataError`
        naming it: it would score every query NaN and be served at random."""
        with np.errstate(over="ignore"):  # a value past float32's range becomes inf: refused
            cast = np.ascontiguousarray(vectors, dtype=np.float32)
        _require_finite(cast)
        if metric != "cosine":
            return cast
        normalised = cast.copy()  # cast may be the caller's own array
        faiss.normalize_L2(normalised)
        return normalised

    @property
    def _tombstones(self) -> int:
        """Removed items still physically in the index (HNSW cannot delete them)."""
        return int(self.removed.sum()) - (len(self.item_ids) - int(self.index.ntotal))

    def _removed_filter(self, tombstones: int) -> faiss.SearchParameters | None:
        """Search parameters whose ID selector skips the ``tombstones`` removed items an HNSW
        index still holds, so the graph search itself passes over them (FAISS's own
        filtering) instead of fetching them and dropping them after; ``None`` when there are
        none, or for an index that takes no selector here (it over-fetches instead)."""
        if tombstones == 0 or not isinstance(
                faiss.downcast_index(self.index.index), faiss.IndexHNSW):
            return None
        # Removals only grow and HNSW keeps every one: their count names the set.
        if self._filter is None or self._filter[0] != tombstones:
            batch = faiss.IDSelectorBatch(np.flatnonzero(self.removed).astype(np.int64))
            keep = faiss.IDSelectorNot(batch)
            # FAISS holds raw pointers: the selectors live as long as the parameters here.
            self._filter = (tombstones, faiss.SearchParameters(sel=keep), keep, batch)
        return self._filter[1]

    def set_params(self, **params: float) -> "RetrievalIndex":
        """Set FAISS search parameters (``nprobe=16`` for IVF, ``efSearch=128`` for HNSW)."""
        space = faiss.ParameterSpace()
        for name, value in params.items():
            try:
                space.set_index_parameter(self.index, name, value)
            except RuntimeError as exc:
                raise ConfigError(f"index '{self.factory}' has no search parameter '{name}'"
                                  ) from exc
        return self

    @property
    def dim(self) -> int:
        return self.index.d

    def __len__(self) -> int:
        """Number of searchable items."""
        return int(len(self.removed) - self.removed.sum())

    def add(self, item_vectors: np.ndarray, ids: list | np.ndarray) -> None:
        """Add new items (e.g. cold-start items mapped from content), ``[n, dim]`` rows for
        ``ids``; no retraining. An id the index has ever held is an error: a label stays
        with its id, so a removed id is retired (serve a new vector under a new id)."""
        ids = pd.Index(ids)
        labels = self.item_ids.positions(ids, "add")
        if (labels >= 0).any():
            retired = self.removed[labels[labels >= 0]]
            known = ids[labels >= 0]
            state = "were removed from" if retired.all() else "are already in"
            raise DataError(f"add: {known[:5].tolist()} {state} this index, and an index never "
                            f"holds an id twice (a removed id stays retired); add the new "
                            f"vectors under new ids, or build a new index.")
        if item_vectors.shape != (len(ids), self.dim):
            raise DataError(f"expected item vectors of shape ({len(ids)}, {self.dim}), got "
                            f"{tuple(item_vectors.shape)}")
        vectors = self._prepare(item_vectors, self.metric)  # refused before any change
        item_ids = self.item_ids.extended(ids, "add")
        start = len(self.item_ids)
        self.index.add_with_ids(vectors, np.arange(start, start + len(ids), dtype=np.int64))
        self.item_ids = item_ids
        self.removed = np.concatenate([self.removed, np.zeros(len(ids), bool)])

    def remove(self, ids: list | np.ndarray) -> None:
        """Remove items by id; they are never returned again (unknown ids, and ids removed
        before, are an error)."""
        labels = self.item_ids.indices(np.asarray(ids), "remove")
        if self.removed[labels].any():
            raise DataError(f"remove: {pd.Index(ids)[self.removed[labels]][:5].tolist()} were "
                            f"removed from this index already.")
        self.removed[labels] = True
        try:
            self.index.remove_ids(faiss.IDSelectorArray(labels))
        except RuntimeError:  # e.g. HNSW: they stay as tombstones, filtered at search time
            pass

    def search(self, queries: np.ndarray, k: int, exclude: UserItems | None = None,
               users: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item indices and scores per query, ``[B, k]`` each.

        With ``exclude`` and ``users [B]`` (the queries' user indices), each user's seen items
        are removed: the search fetches ``k`` + that batch's largest seen count, so exact
        indexes return exactly the top ``k`` unseen items. Missing slots are ``-1`` / ``-inf``.
        ``k`` past the index's size is cut to it (the result is ``[B, ntotal]``).
        """
        k = self.bounded_k(k)
        if np.ndim(queries) != 2 or np.shape(queries)[1] != self.dim:
            raise DataError(f"search: queries of shape {tuple(np.shape(queries))}; this index "
                            f"takes [B, {self.dim}] vectors.")
        queries = self._prepare(queries, self.metric)
        extra = int(exclude.counts[users].max()) if exclude is not None and len(users) else 0
        tombstones = self._tombstones
        removed_filter = self._removed_filter(tombstones)
        if removed_filter is None:
            extra += tombstones  # fetched, then dropped below
        fetch = max(min(k + extra, self.index.ntotal), 1)
        scores, items = self.index.search(queries, fetch, params=removed_filter)
        valid = items >= 0
        valid[valid] = ~self.removed[items[valid]]
        if exclude is not None:
            valid &= ~exclude.contains(users[:, None], np.maximum(items, 0))
        # Stable: keep the valid hits in rank order, then pad.
        order = np.argsort(~valid, axis=1, kind="stable")[:, :k]
        top_items = np.take_along_axis(items, order, axis=1)
        top_scores = np.take_along_axis(scores, order, axis=1)
        kept = np.take_along_axis(valid, order, axis=1)
        top_items[~kept], top_scores[~kept] = -1, -np.inf
        if top_items.shape[1] < k:
            pad = k - top_items.shape[1]
            top_items = np.pad(top_items, ((0, 0), (0, pad)), constant_values=-1)
            top_scores = np.pad(top_scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        return top_items, top_scores

    def top_items(self, queries: np.ndarray, k: int) -> pd.DataFrame:
        """``query, item_id, rank, score`` rows, best first: the top ``k`` items (by id) for
        each of the ``[B, dim]`` ``queries`` (``query`` is its row)."""
        items, scores = self.search(np.atleast_2d(queries), k)
        rows, ranks = np.nonzero(items >= 0)
        return pd.DataFrame({"query": rows, ITEM: self.item_ids.to_ids(items[rows, ranks]),
                             "rank": ranks + 1, "score": scores[rows, ranks]})

    def search_users(self, user_vectors: np.ndarray, users: np.ndarray, k: int,
                     exclude: UserItems | None = None, batch_size: int = 256
                     ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` for ``users [B]`` (rows of ``user_vectors``), ``batch_size`` at a time;
        returns item indices and scores, ``[B, k]`` each. Users are batched in order of their
        seen counts, so each batch over-fetches only as much as its own users need."""
        k = self.bounded_k(k)
        order = np.argsort(exclude.counts[users], kind="stable") if exclude is not None \
            else np.arange(len(users))
        ordered = users[order]
        found = [self.search(user_vectors[ordered[s:s + batch_size]], k, exclude,
                             ordered[s:s + batch_size]) for s in range(0, len(users), batch_size)]
        if not found:
            return np.empty((0, k), np.int64), np.empty((0, k), np.float32)
        items, scores = np.empty((len(users), k), np.int64), np.empty((len(users), k), np.float32)
        items[order] = np.concatenate([f[0] for f in found])
        scores[order] = np.concatenate([f[1] for f in found])
        return items, scores

    def bounded_k(self, k: int) -> int:
        """``k`` as an int in ``[1, ntotal]``: no allocation larger than the catalogue."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"k must be a whole number of at least 1 (the items to return "
                              f"per query), got {k!r}.")
        return int(min(k, max(self.index.ntotal, 1)))

    def save(self, folder: str | Path) -> None:
        """Write the index's files into ``folder``, all or nothing: every file is written
        under a temporary name first, and only once all are written are they renamed into
        place (the manifest last), so a failure half-way leaves a saved index as it was."""
        folder = Path(folder)
        with contextlib.ExitStack() as renames:  # leaving it renames, in reverse order
            manifest = renames.enter_context(atomic_path(folder / layout.INDEX_MANIFEST_NAME))
            written = {name: renames.enter_context(atomic_path(folder / name))
                       for name in INDEX_FILES}
            faiss.write_index(self.index, str(written[layout.INDEX_FAISS_NAME]))
            self.item_ids.save(written[layout.INDEX_ITEM_IDS_NAME])
            write_parquet(written[layout.INDEX_REMOVED_NAME],
                          pd.DataFrame({"removed": self.removed}))
            write_json(manifest, {
                "dim": self.dim, "metric": self.metric, "factory": self.factory,
                "ntotal": int(self.index.ntotal), "num_ids": len(self.item_ids),
                "model_hash": self.model_hash,
                "sha256": {name: file_sha256(path) for name, path in written.items()}})

    @classmethod
    def load(cls, folder: str | Path, expected_model_hash: str | None = None) -> "RetrievalIndex":
        folder = Path(folder)
        manifest = _checked_manifest(folder)
        if expected_model_hash is not None and manifest["model_hash"] != expected_model_hash:
            raise RunDirError(
                f"Index in {folder} was built from model {manifest['model_hash']}, not from the "
                f"current model {expected_model_hash}; rebuild it (mmgraph index).")
        index = read_faiss_index(folder / layout.INDEX_FAISS_NAME)
        item_ids = IdMap.load(folder / layout.INDEX_ITEM_IDS_NAME)
        removed = np.array(  # a writable copy: remove() flags rows
            read_parquet(folder / layout.INDEX_REMOVED_NAME, ["removed"])["removed"], dtype=bool)
        if (index.ntotal != manifest["ntotal"] or len(item_ids) != manifest["num_ids"]
                or len(removed) != len(item_ids) or index.d != manifest["dim"]):
            raise RunDirError(f"Index in {folder} does not match its manifest or id map "
                              f"({index.ntotal} vectors, {len(item_ids)} ids); rebuild it.")
        return cls(index, item_ids, manifest["metric"], manifest["factory"],
                   manifest["model_hash"], removed)


#: Largest magnitude of a vector component: a score sums products of two vectors' components
#: and must stay finite in float32 (3.4e38), whatever the dimension.
MAX_COMPONENT = 1e15


def _require_finite(vectors: np.ndarray) -> None:
    """Refuse rows with a NaN or infinite value, then rows with a value past
    :data:`MAX_COMPONENT`, naming them; one pass over a good batch (queries come here too)."""
    if vectors.ndim != 2:
        return
    within = (np.abs(vectors) <= MAX_COMPONENT).all(axis=1)  # False for NaN and inf too
    if within.all():
        return
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if len(bad):
        raise DataError(f"vector row(s) {bad[:5].tolist()} hold NaN or infinite values (or "
                        f"values past float32's range); pass finite vectors.")
    huge = np.flatnonzero(~within)
    raise DataError(f"vector row(s) {huge[:5].tolist()} hold values past ±{MAX_COMPONENT:g}, "
                    f"so their scores would overflow float32; scale the vectors down.")


#: The files of a saved index whose sha256 its manifest records.
INDEX_FILES = (layout.INDEX_FAISS_NAME, layout.INDEX_ITEM_IDS_NAME,
               layout.INDEX_REMOVED_NAME)
_MANIFEST_TYPES = {"dim": int, "metric": str, "factory": str, "ntotal": int, "num_ids": int,
                   "model_hash": (str, type(None)), "sha256": dict}


def _checked_manifest(folder: Path) -> dict:
    """``manifest.json`` with every key of the right type, and every index file unchanged
    since :meth:`RetrievalIndex.save` (sha256), or a :class:`RunDirError` naming the file."""
    path = folder / layout.INDEX_MANIFEST_NAME
    manifest = read_json(path)
    wrong = [key for key, kind in _MANIFEST_TYPES.items()
             if not isinstance(manifest, dict) or key not in manifest
             or not isinstance(manifest[key], kind)]
    if not wrong and manifest["metric"] not in _METRICS:
        wrong = ["metric"]
    if wrong:
        raise RunDirError(f"{path} lacks or mistypes {wrong}: it was edited or written by an "
                          f"older mmgraph; rebuild the index (`mmgraph index`).")
    for name in INDEX_FILES:
        file = folder / name
        if not file.is_file():
            raise RunDirError(f"{file} is missing; rebuild the index (`mmgraph index`).")
        if file_sha256(file) != manifest["sha256"].get(name):
            raise RunDirError(f"{file} changed since the index was saved (sha256 differs from "
                              f"{path}), so its answers cannot be trusted; rebuild the index "
                              f"(`mmgraph index`) or restore the file.")
    return manifest
