r"""Rating prediction on top of the ranking models: embeddings plus biases.

The predicted rating of user :math:`u` for item :math:`i` is the biased matrix factorisation
of Koren et al. ("Matrix Factorization Techniques for Recommender Systems", 2009),

.. math::
    \hat r_{ui} = \mu + b_u + b_i + e_u^\top e_i,

with :math:`e_u, e_i` the teacher's propagated graph embeddings or the student's ID rows. Both
sides fold into one dot product of augmented vectors, :math:`[e_u, 1, \mu + b_u]^\top
[e_i, b_i, 1]`, which is how a rating run saves and serves them: the FAISS index then ranks a
user's items by predicted rating, and its scores are the predicted ratings.

Shapes: ``users [U, d]``, ``items [I, d]`` → augmented ``[U, d + 2]``, ``[I, d + 2]``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Biases", "augmented", "predicted_ratings"]


class Biases(nn.Module):
    """The global mean (fixed: the training ratings' mean) and a bias per user and per item,
    starting at zero; ``sparse`` tables for the student (SparseAdam)."""

    def __init__(self, num_users: int, num_items: int, mean: float, sparse: bool = False):
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.user_bias = nn.Embedding(num_users, 1, sparse=sparse)
        self.item_bias = nn.Embedding(num_items, 1, sparse=sparse)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``mu + b_u + b_i`` for pairs ``users [B]``, ``items [B]`` → ``[B]``."""
        return self.mean + self.user_bias(users).squeeze(-1) + self.item_bias(items).squeeze(-1)

    def norms(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Sum of the squared biases of a batch's pairs (their L2 penalty)."""
        return self.user_bias(users).pow(2).sum() + self.item_bias(items).pow(2).sum()


def augmented(users: torch.Tensor, items: torch.Tensor, biases: Biases
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """``[e_u, 1, mu + b_u]`` and ``[e_i, b_i, 1]``: their dot product is the rating."""
    ones_u, ones_i = users.new_ones(len(users), 1), items.new_ones(len(items), 1)
    user_side = torch.cat([users, ones_u, biases.mean + biases.user_bias.weight], dim=1)
    item_side = torch.cat([items, biases.item_bias.weight, ones_i], dim=1)
    return user_side, item_side


def predicted_ratings(users: torch.Tensor, items: torch.Tensor, pairs: torch.Tensor,
                      batch_size: int = 1_000_000) -> torch.Tensor:
    """Dot products of augmented ``users [U, d]`` and ``items [I, d]`` for ``pairs [2, E]``,
    ``[E]``, in blocks of pairs."""
    return torch.cat([(users[block[0]] * items[block[1]]).sum(-1)
                      for block in pairs.split(batch_size, dim=1)]) if pairs.shape[1] else \
        users.new_zeros(0)
