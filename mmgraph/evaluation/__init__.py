"""Full-ranking evaluation: Recall@K and NDCG@K (per user or averaged), batched over users, seen
items excluded; coverage and average popularity of the top-K lists."""

from mmgraph.evaluation.metrics import (hit_matrix, list_metrics, per_user_metrics,
                                        ranking_metrics)
from mmgraph.evaluation.ranking import (evaluate_embeddings, evaluate_weighted_sums,
                                        popularity_scores, topk_items, topk_of_weighted_sums)

__all__ = ["ranking_metrics", "per_user_metrics", "list_metrics", "hit_matrix", "topk_items",
           "topk_of_weighted_sums", "evaluate_embeddings", "evaluate_weighted_sums",
           "popularity_scores"]
