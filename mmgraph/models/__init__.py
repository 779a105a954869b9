"""Recommendation models: the multimodal graph teacher and the ID-embedding student."""

from mmgraph.models.student import IDStudent
from mmgraph.models.teacher import MultimodalTeacher

__all__ = ["MultimodalTeacher", "IDStudent"]
