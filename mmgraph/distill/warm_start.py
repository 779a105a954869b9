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

from mmgraph.distill.soft_labels import teacher_top_scores
from mmgraph.models.student import IDStudent, low_rank_factors

__all__ = ["start_from_teacher"]


def start_from_teacher(student: IDStudent, teacher_users: torch.Tensor,
                       teacher_items: torch.Tensor, teacher_topk: torch.Tensor | None,
                       kd_topk: int) -> None:
    """Set ``student``'s tables to the best rank-``dim`` factorisation of
    ``diag(1 / spread) teacher_users @ teacher_items.T``.

    Shapes: ``teacher_users [U, D]``, ``teacher_items [I, D]``, ``teacher_topk [U, K]`` (the
    teacher's top unseen items per user, ``-1`` pads; ``None`` or ``kd_topk == 0``: no
    per-user scaling).
    """
    users, items = teacher_users.cpu(), teacher_items.cpu()
    if teacher_topk is not None and kd_topk > 0:
        spread = teacher_top_scores(users, items, teacher_topk[:, :kd_topk].cpu())[1]
        users = users / spread[:, None]
    device = student.user_embedding.weight.device
    student.start_from(*(t.to(device) for t in
                         low_rank_factors(users, items, student.user_embedding.embedding_dim)))
