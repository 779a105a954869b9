"""The graph stage: the user–item graph (optionally rating-weighted) and the item–item kNN
graph over the items' content."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from mmgraph.config import FLOAT32_RANGE, section_hash
from mmgraph.data.tables import ITEM, RATING, USER
from mmgraph.errors import DataError
from mmgraph.graph.build import build_item_graph, save_graph
from mmgraph.io import read_json, read_tensors
from mmgraph.pipeline.inputs import features, pairs_with_column
from mmgraph.pipeline.runner import StageContext, reads, run_stage
from mmgraph.runs import IndexedSplit, RunDir, layout, load_split

__all__ = ["graph"]

log = logging.getLogger(__name__)


def _rated_train_pairs(run: RunDir, data: IndexedSplit, source: Path
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Training pairs ``[2, E]`` and their ratings ``[E]`` (for rating-weighted edges); ratings
    that cannot weigh an edge are a :class:`DataError` naming pairs of ``source``."""
    pairs, train = pairs_with_column(run, data, RATING, source,
                                     "graph.interaction_weight 'rating'")
    ratings = train[RATING].to_numpy(np.float64)
    tiny, largest = FLOAT32_RANGE  # the edge weights are float32
    bad = np.flatnonzero(~((ratings >= tiny) & (ratings <= largest)))  # NaN fails both
    if len(bad):
        examples = ", ".join(f"user {train[USER].iloc[r]!r} item {train[ITEM].iloc[r]!r}: "
                             f"{float(ratings[r])!r}" for r in bad[:3])
        raise DataError(f"graph.interaction_weight is 'rating', so ratings are edge weights and "
                        f"must be finite and positive ({tiny:.3g} to {largest:.3g}); {len(bad)} "
                        f"are not ({examples}). Fix or drop those rows of {source}, or set "
                        f"graph.interaction_weight: none.")
    return pairs, torch.from_numpy(ratings.astype(np.float32))


@reads("data", "graph")
def graph(ctx: StageContext) -> None:
    """Build the user–item + item–item kNN graph."""
    cfg, run = ctx.cfg, ctx.run
    fingerprint = section_hash(cfg.graph, run.fingerprint("split"), run.fingerprint("encode"))

    def work() -> None:
        data = load_split(run)
        pairs, weight = data.train_pairs, None
        if cfg.graph.interaction_weight == "rating":
            pairs, weight = _rated_train_pairs(run, data, cfg.data.interactions)
        masks = {m: v.bool() for m, v in read_tensors(run.path(layout.FEATURE_MASKS)).items()}
        built = build_item_graph(pairs, len(data.users), len(data.items), features(run),
                                 cfg.graph.knn_k, weight, masks, cfg.graph.knn_exact_items)
        save_graph(built, run.path(layout.GRAPH))
        log.info("graph: %s", read_json(run.path(layout.GRAPH_META))["num_edges"])

    run_stage(ctx, "graph", fingerprint, [layout.GRAPH_TENSORS], work)
