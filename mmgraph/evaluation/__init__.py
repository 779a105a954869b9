"""Full-ranking evaluation: Recall@K and NDCG@K (per user or averaged), batched over users, seen
items excluded; coverage and average popularity of the top-K lists.

The metrics of ranked lists (:mod:`~mmgraph.evaluation.metrics`, numpy) load without torch, so
that serving can measure what it serves; the rankers of embeddings
(:mod:`~mmgraph.evaluation.ranking`, torch) are imported on first use."""

from mmgraph.evaluation.metrics import (hit_matrix, list_metrics, per_user_metrics,
                                        ranking_metrics)
from mmgraph.lazy import lazy_exports

__all__ = ["ranking_metrics", "per_user_metrics", "list_metrics", "hit_matrix", "topk_items",
           "topk_of_weighted_sums", "evaluate_embeddings", "evaluate_weighted_sums",
           "popularity_scores"]

__getattr__, __dir__ = lazy_exports(__name__, {
    name: ("mmgraph.evaluation.ranking", name) for name in (
        "topk_items", "topk_of_weighted_sums", "evaluate_embeddings", "evaluate_weighted_sums",
        "popularity_scores")})
