"""Recommendation models: the multimodal graph teacher, its fusion modules, the ID student."""

from mmgraph.models.fusion import FUSIONS, build_fusion
from mmgraph.models.student import IDStudent
from mmgraph.models.teacher import MultimodalTeacher

__all__ = ["MultimodalTeacher", "IDStudent", "FUSIONS", "build_fusion"]
