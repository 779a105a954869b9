"""The served student: plain user and item ID embedding tables, scored by dot product.

Shapes: ``user_embedding [num_users, dim]``, ``item_embedding [num_items, dim]``; the optional
``projection`` (``dim → teacher_dim``, training only) maps student rows into the teacher's space
for the contrastive and hint losses and is not used to serve. The tables have sparse gradients
(trained with SparseAdam: a step costs the batch's rows, not the catalogue).

:func:`low_rank_factors` gives the student a start from the teacher: the best rank-``dim``
factorisation of the teacher's score matrix, so distillation refines a close copy instead of
growing one from noise (a user's row is updated once per epoch, so from noise it takes many).
"""

from __future__ import annotations

import torch
from torch import nn

from mmgraph.models.reloadable import Reloadable

__all__ = ["IDStudent", "low_rank_factors"]


class IDStudent(Reloadable):
    """Matrix factorisation: ``score(u, i) = <p_u, q_i>``; small ``dim`` for cheap serving."""

    def __init__(self, num_users: int, num_items: int, dim: int = 32,
                 teacher_dim: int | None = None):
        super().__init__()
        self.config = {"num_users": num_users, "num_items": num_items, "dim": dim,
                       "teacher_dim": teacher_dim}
        self.user_embedding = nn.Embedding(num_users, dim, sparse=True)
        self.item_embedding = nn.Embedding(num_items, dim, sparse=True)
        self.projection = nn.Linear(dim, teacher_dim, bias=False) if teacher_dim else None
        nn.init.normal_(self.user_embedding.weight, std=0.1)
        nn.init.normal_(self.item_embedding.weight, std=0.1)

    def user_tables(self) -> list[nn.Embedding]:
        return [self.user_embedding]

    @torch.no_grad()
    def start_from(self, users: torch.Tensor, items: torch.Tensor) -> None:
        """Copy factors ``users [U, r]`` and ``items [I, r]`` (``r <= dim``) into the first
        ``r`` columns of the tables; the other columns keep their random start (all-zero
        columns would never get a gradient)."""
        rank = users.shape[1]
        self.user_embedding.weight[:, :rank] = users
        self.item_embedding.weight[:, :rank] = items

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All user and item embeddings (the same contract as the teacher's forward)."""
        return self.user_embedding.weight, self.item_embedding.weight


def low_rank_factors(users: torch.Tensor, items: torch.Tensor, dim: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """The best rank-``dim`` approximation of ``users @ items.T`` (Eckart–Young), as factors
    ``[U, r]`` and ``[I, r]`` with ``r = min(dim, D, U, I)`` and the singular values split
    evenly (``sqrt``) between the sides, without forming the ``[U, I]`` matrix.

    ``users [U, D]``, ``items [I, D]``: thin QR of each side, ``users = Q_u R_u`` and
    ``items = Q_i R_i``, then the SVD of the small core ``R_u R_i^T = A S B^T``; the factors
    are ``Q_u A_r S_r^{1/2}`` and ``Q_i B_r S_r^{1/2}``. Cost ``O((U + I) D^2)``.
    """
    q_users, r_users = torch.linalg.qr(users.double())
    q_items, r_items = torch.linalg.qr(items.double())
    left, singular, right = torch.linalg.svd(r_users @ r_items.T)
    rank = min(dim, len(singular))
    root = singular[:rank].sqrt()
    return ((q_users @ left[:, :rank]) * root).float(), ((q_items @ right[:rank].T) * root).float()
