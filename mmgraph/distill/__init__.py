"""Distillation from the teacher into the student: losses (more variants come with the
distillation issue)."""

from mmgraph.distill.losses import bpr_loss, sampled_softmax_loss, soft_label_kd_loss

__all__ = ["bpr_loss", "sampled_softmax_loss", "soft_label_kd_loss"]
