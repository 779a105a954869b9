"""Full-ranking evaluation: Recall@K and NDCG@K, batched over users, seen items excluded."""

from mmgraph.evaluation.metrics import hit_matrix, ranking_metrics
from mmgraph.evaluation.ranking import (evaluate_embeddings, evaluate_weighted_sums,
                                        popularity_scores, topk_items, topk_of_weighted_sums)

__all__ = ["ranking_metrics", "hit_matrix", "topk_items", "topk_of_weighted_sums",
           "evaluate_embeddings", "evaluate_weighted_sums", "popularity_scores"]
