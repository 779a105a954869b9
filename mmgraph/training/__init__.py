"""Training: positive and negative sampling, per-batch objectives, and the early-stopping loop."""

from mmgraph.training.checkpoint import Checkpoint
from mmgraph.training.loop import FitResult, fit
from mmgraph.training.objectives import student_distillation
from mmgraph.training.teacher_objectives import teacher_ranking_loss, teacher_whole_data_loss
from mmgraph.training.sampling import sample_negatives, sample_positives

__all__ = ["Checkpoint", "fit", "FitResult", "teacher_ranking_loss", "teacher_whole_data_loss",
           "student_distillation", "sample_negatives", "sample_positives"]
