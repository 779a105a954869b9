r"""The sequential student: a causal transformer over a user's latest items (SASRec).

SASRec (Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018) reads a user's
last :math:`L` item ids in time order, adds learned position embeddings, and runs causal
self-attention blocks; the output at position :math:`t` is the user's state after item
:math:`t`, scored against the (shared) item embedding table by dot product,
:math:`s_{t,i} = h_t^\top e_i`. The served user vector is the last position's state, so the
student is served exactly like the ID student: user vectors and item vectors in one FAISS
index. What it adds over ID embeddings is order: the latest items weigh as attention decides,
and a user's vector can be recomputed from a new history without retraining.

Shapes:
    - ``sequences``: ``[B, L]`` item indices plus one (``0`` pads), latest last, left-padded
    - ``encode`` → ``[B, L, dim]``; ``forward`` → users ``[B, dim]``
    - ``items`` → ``[num_items, dim]``
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from mmgraph.models.reloadable import Reloadable

__all__ = ["SequentialStudent", "latest_sequences"]


class SequentialStudent(Reloadable):
    """SASRec-style causal transformer; ``dim`` also sizes the feed-forward layers, as in the
    paper."""

    def __init__(self, num_items: int, dim: int = 32, max_length: int = 50, layers: int = 2,
                 heads: int = 2, dropout: float = 0.2):
        super().__init__()
        self.config = {"num_items": num_items, "dim": dim, "max_length": max_length,
                       "layers": layers, "heads": heads, "dropout": dropout}
        self.dim, self.max_length, self.heads = dim, max_length, heads
        self.item_embedding = nn.Embedding(num_items + 1, dim, padding_idx=0)
        self.position = nn.Embedding(max_length, dim)
        block = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=dim, dropout=dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        nn.init.normal_(self.item_embedding.weight, std=0.1)
        with torch.no_grad():
            self.item_embedding.weight[0] = 0

    @torch.no_grad()
    def start_items_from(self, items: torch.Tensor) -> None:
        """Item table from ``items [num_items, dim]`` (e.g. the teacher's low-rank item
        factors), rescaled to the random start's standard deviation (0.1), so the input scale
        the transformer sees is unchanged; the pad row stays zero."""
        self.item_embedding.weight[1:] = items * (0.1 / items.std().clamp_min(1e-12))

    @property
    def items(self) -> torch.Tensor:
        """The item vectors that score and serve, ``[num_items, dim]``."""
        return self.item_embedding.weight[1:]

    def encode(self, sequences: torch.Tensor) -> torch.Tensor:
        """Every position's state, ``[B, L, dim]`` for ``sequences [B, L]`` (``L <=
        max_length``). A position sees itself and earlier items, never pads."""
        length = sequences.shape[1]
        positions = torch.arange(self.max_length - length, self.max_length,
                                 device=sequences.device)  # latest item: the last position
        x = self.item_embedding(sequences) * math.sqrt(self.dim) + self.position(positions)
        x = self.dropout(x) * (sequences > 0).unsqueeze(-1)
        future = torch.ones(length, length, dtype=torch.bool, device=sequences.device).triu(1)
        blocked = future | (sequences == 0)[:, None, :]  # [B, L, L]: query row, key column
        blocked &= ~torch.eye(length, dtype=torch.bool, device=sequences.device)  # no empty row
        mask = blocked.repeat_interleave(self.heads, dim=0)
        return self.norm(self.encoder(x, mask=mask))

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        """The users' vectors: the state after each sequence's latest item, ``[B, dim]``."""
        return self.encode(sequences)[:, -1]

    @torch.no_grad()
    def user_vectors(self, sequences: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """:meth:`forward` over many sequences ``[U, L]`` in batches, in eval mode (no
        dropout), ``[U, dim]`` on the CPU."""
        training = self.training
        self.eval()
        device = self.item_embedding.weight.device
        vectors = torch.cat([self(rows.to(device)).cpu() for rows in sequences.split(batch_size)])
        self.train(training)
        return vectors


def latest_sequences(users: np.ndarray, items: np.ndarray, times: np.ndarray, num_users: int,
                     length: int) -> torch.Tensor:
    """Each user's latest ``length`` items in time order, ``[num_users, length]`` of item
    index + 1, left-padded with 0 (ties in time keep the input order).

    ``users``, ``items``, ``times``: ``[E]`` interactions (indices and timestamps)."""
    order = np.lexsort((np.arange(len(users)), times, users))
    users, items = users[order], items[order]
    ends = np.searchsorted(users, np.arange(num_users), side="right")
    from_end = ends[users] - np.arange(len(users))  # 1 for a user's latest item
    keep = from_end <= length
    table = torch.zeros(num_users, length, dtype=torch.long)
    table[torch.from_numpy(users[keep]), torch.from_numpy(length - from_end[keep])] = \
        torch.from_numpy(items[keep] + 1)
    return table
