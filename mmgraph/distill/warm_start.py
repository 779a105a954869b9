"""The student's start from the teacher (``student.init: teacher``).

The student starts at the best rank-``dim`` factorisation of the teacher's score matrix
(:func:`mmgraph.models.student.low_rank_factors`), each user's scores divided by that user's
soft-label unit (:func:`mmgraph.distill.soft_labels.teacher_top_scores`): the scale at which
the distillation loss compares the student's scores with the teacher's, so a student as wide
as the teacher starts at zero distillation loss. From noise, a user's row moves once per epoch
(one list per user per epoch), so the student needed ~200 epochs on ml-100k and well over 40
at 10M interactions; from the teacher it starts at the teacher's accuracy (docs/scaling.md).
"""

from __future__ import annotations

import torch

from mmgraph.models.student import IDStudent, low_rank_factors

__all__ = ["start_from_teacher"]


def start_from_teacher(student: IDStudent, teacher_users: torch.Tensor,
                       teacher_items: torch.Tensor, spread: torch.Tensor | None) -> None:
    """Set ``student``'s tables to the best rank-``dim`` factorisation of
    ``diag(1 / spread) teacher_users @ teacher_items.T``.

    Shapes: ``teacher_users [U, D]``, ``teacher_items [I, D]``, ``spread [U]`` (each user's
    soft-label unit, :func:`mmgraph.distill.teacher_top_scores`; ``None``: no per-user
    scaling, as when the student learns without soft labels).
    """
    users, items = teacher_users.cpu(), teacher_items.cpu()
    if spread is not None:
        users = users / spread.cpu()[:, None]
    device = student.user_embedding.weight.device
    student.start_from(*(t.to(device) for t in
                         low_rank_factors(users, items, student.user_embedding.embedding_dim)))
