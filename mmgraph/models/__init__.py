"""Recommendation models: the multimodal graph teacher (LightGCN, its fusion modules, the
closed-form graph filters and their time-aware inputs, the blend of its components), the ID
student."""

from mmgraph.models.blend import blend_embeddings, choose_blend, score_std, score_stds
from mmgraph.models.fusion import FUSIONS, build_fusion
from mmgraph.models.filter_search import tuned_filter
from mmgraph.models.spectral import interaction_matrix, spectral_filter, spectral_start
from mmgraph.models.student import IDStudent
from mmgraph.models.teacher import MultimodalTeacher
from mmgraph.models.temporal import recency_history, time_weighted_cooccurrence

__all__ = ["MultimodalTeacher", "IDStudent", "FUSIONS", "build_fusion", "spectral_filter",
           "spectral_start", "tuned_filter", "interaction_matrix", "time_weighted_cooccurrence",
           "recency_history", "blend_embeddings", "choose_blend", "score_std", "score_stds"]
