"""Distillation from the teacher into the student: the losses and the soft labels' unit, the
student's start from the teacher, and the cold-start mapper that places content-only items in
the student's space."""

from mmgraph.distill.coldstart import ColdStartMapper, content_vectors, fit_coldstart_mapper
from mmgraph.distill.losses import (bpr_loss, hint_loss, info_nce_loss, rank_weights,
                                    ranking_distillation_loss, sampled_softmax_loss,
                                    soft_label_kd_loss)
from mmgraph.distill.soft_labels import teacher_top_scores
from mmgraph.distill.warm_start import start_from_teacher

__all__ = ["bpr_loss", "sampled_softmax_loss", "soft_label_kd_loss", "rank_weights",
           "ranking_distillation_loss", "info_nce_loss", "hint_loss", "ColdStartMapper",
           "content_vectors", "fit_coldstart_mapper", "teacher_top_scores",
           "start_from_teacher"]
