"""Full-ranking evaluation: Recall@K and NDCG@K, batched over users, seen items excluded."""

from mmgraph.evaluation.metrics import hit_matrix, ranking_metrics
from mmgraph.evaluation.ranking import evaluate_embeddings, popularity_scores, topk_items

__all__ = ["ranking_metrics", "hit_matrix", "topk_items", "evaluate_embeddings",
           "popularity_scores"]
