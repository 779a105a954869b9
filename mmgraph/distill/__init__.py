"""Distillation from the teacher into the student: the losses, and the cold-start mapper that
places content-only items in the student's space."""

from mmgraph.distill.coldstart import ColdStartMapper, content_vectors, fit_coldstart_mapper
from mmgraph.distill.losses import (bpr_loss, hint_loss, info_nce_loss, rank_weights,
                                    ranking_distillation_loss, sampled_softmax_loss,
                                    soft_label_kd_loss)

__all__ = ["bpr_loss", "sampled_softmax_loss", "soft_label_kd_loss", "rank_weights",
           "ranking_distillation_loss", "info_nce_loss", "hint_loss", "ColdStartMapper",
           "content_vectors", "fit_coldstart_mapper"]
