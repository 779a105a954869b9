"""``mmgraph.evaluate``: how well a served :class:`~mmgraph.Recommender` ranks a user's own
held-out interactions — the frame they kept back from :func:`mmgraph.fit` (a later week, a
held-out share), measured as served: the full catalogue ranked, every item the run knows the
user interacted with left out, users the run does not know served as it serves them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmgraph.data.tables import ITEM, USER
from mmgraph.data.user_items import UserItems
from mmgraph.errors import DataError
from mmgraph.evaluation.metrics import list_metrics, ranking_metrics
from mmgraph.recommender import Recommender

__all__ = ["evaluate"]


def evaluate(recommender: Recommender, test: pd.DataFrame, ks: tuple[int, ...] | None = None,
             *, user_column: str | None = None, item_column: str | None = None) -> dict:
    """Recall@K, NDCG@K, coverage@K and popularity@K (:mod:`mmgraph.evaluation.metrics`) of
    the top-``max(ks)`` lists ``recommender`` serves to the users of ``test``, one row per
    held-out user–item pair.

    ``ks`` and the column names default to the run's (``evaluation.ks``, ``data.columns``).
    Held-out items the run does not know count as misses (they cannot be recommended). Also
    returned: ``users`` (evaluated), ``served_by`` (users per source: ``model``, ``history``
    from :meth:`~mmgraph.Recommender.update`, ``popular`` for users the run does not know),
    ``unknown_items`` and ``already_interacted`` (held-out pairs the run trained on: a leak
    to fix, they cannot be hit).
    """
    cfg = recommender.run.read_config() if recommender.run is not None else None
    user_column = user_column or (cfg.data.columns.user if cfg else USER)
    item_column = item_column or (cfg.data.columns.item if cfg else ITEM)
    ks = tuple(ks or (cfg.evaluation.ks if cfg else (10, 20)))
    missing = [c for c in (user_column, item_column) if c not in test.columns]
    if missing:
        raise DataError(f"The test frame given to mmgraph.evaluate has no column {missing[0]!r} "
                        f"(it has {list(test.columns)}); name the columns with user_column= "
                        f"and item_column=.")
    pairs = test[[user_column, item_column]].drop_duplicates()
    if pairs.empty:
        raise DataError("The test frame given to mmgraph.evaluate has no rows.")
    users = pd.Index(pairs[user_column].unique())
    _, ranked, _, source = recommender.ranked(list(users), max(ks))

    items = recommender.index.item_ids.positions(pairs[item_column], "the test frame")
    unknown = items < 0
    catalogue = len(recommender.index.item_ids)
    items[unknown] = catalogue + np.arange(int(unknown.sum()))  # never ranked: a miss
    rows = users.get_indexer(pairs[user_column])
    truth = UserItems(rows, items, len(users), catalogue + int(unknown.sum()))

    counts = recommender.item_popularity
    metrics = ranking_metrics(ranked, np.arange(len(users)), truth, ks)
    for k in ks:
        metrics.update(list_metrics(ranked, counts, k))
    known = recommender.data.users.positions(pairs[user_column], "the test frame")
    seen = (known >= 0) & ~unknown  # contains() never finds an item added since
    already = (int(recommender.interacted.contains(known[seen], items[seen]).sum())
               if seen.any() else 0)
    sources, per_source = np.unique(source, return_counts=True)
    return {**metrics, "users": len(users),
            "served_by": {str(s): int(n) for s, n in zip(sources, per_source)},
            "unknown_items": int(unknown.sum()), "already_interacted": already}
