"""The served student: plain user and item ID embedding tables, scored by dot product.

Shapes: ``user_embedding [num_users, dim]``, ``item_embedding [num_items, dim]``; the optional
``projection`` (``dim → teacher_dim``, training only) maps student rows into the teacher's space
for the contrastive and hint losses and is not used to serve. The tables have sparse gradients
(trained with SparseAdam: a step costs the batch's rows, not the catalogue).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["IDStudent"]


class IDStudent(nn.Module):
    """Matrix factorisation: ``score(u, i) = <p_u, q_i>``; small ``dim`` for cheap serving."""

    def __init__(self, num_users: int, num_items: int, dim: int = 32,
                 teacher_dim: int | None = None):
        super().__init__()
        self.user_embedding = nn.Embedding(num_users, dim, sparse=True)
        self.item_embedding = nn.Embedding(num_items, dim, sparse=True)
        self.projection = nn.Linear(dim, teacher_dim, bias=False) if teacher_dim else None
        nn.init.normal_(self.user_embedding.weight, std=0.1)
        nn.init.normal_(self.item_embedding.weight, std=0.1)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All user and item embeddings (the same contract as the teacher's forward)."""
        return self.user_embedding.weight, self.item_embedding.weight
