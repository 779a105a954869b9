"""The unit of a user's soft labels: the teacher's scores of the user's own top items and
their spread. A teacher's score scale grows with a user's activity (a graph filter's scores sum
over the user's items), so each user's teacher scores are divided by their std over the user's
top items before the temperature (:func:`mmgraph.training.student_distillation`)."""

from __future__ import annotations

import torch

__all__ = ["teacher_top_scores"]


def teacher_top_scores(teacher_users: torch.Tensor, teacher_items: torch.Tensor,
                       top: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's scores of each user's own top items, ``[U, K]`` for ``top [U, K]``
    (``-1`` pads score item 0 and are left out of the spread), and each user's spread (std)
    over them, ``[U]``: the unit of that user's soft labels."""
    scores = torch.cat([
        (teacher_users[rows, None, :] * teacher_items[top[rows].clamp(min=0)]).sum(-1)
        for rows in torch.arange(len(top)).split(256)])
    return scores, _row_std(scores, top >= 0)


def _row_std(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Std of each row of ``values [U, K]`` over its ``valid [U, K]`` entries, ``[U]``; rows with
    fewer than two entries or no spread get 1 (their scores are left as they are)."""
    count = valid.sum(1)
    mean = (values * valid).sum(1) / count.clamp(min=1)
    variance = ((values - mean[:, None]) ** 2 * valid).sum(1) / (count - 1).clamp(min=1)
    std = variance.sqrt()
    return torch.where((count > 1) & (std > 1e-6), std, torch.ones_like(std))
