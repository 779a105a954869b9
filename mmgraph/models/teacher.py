r"""The multimodal graph teacher: LightGCN propagation over users and items, with frozen content
features fused into the items and propagated over the item–item kNN graph.

LightGCN (He et al., SIGIR 2020) propagates ego embeddings :math:`E^{(0)}` without weights or
non-linearities, :math:`E^{(l+1)} = \hat A E^{(l)}`, and averages the layers,
:math:`E = \frac{1}{L+1}\sum_l E^{(l)}`. Here an item's ego embedding is its ID embedding plus a
fusion of its content features, :math:`e_i^{(0)} = v_i + f(x_i^1, \dots, x_i^M)` (see
:mod:`mmgraph.models.fusion`). As in FREEDOM (Zhou & Shen, MM 2023), the items' final embedding
adds :math:`L_S` propagation steps over the (frozen) item–item content graph,
:math:`h = \tilde S^{L_S} E_I^{(0)}`. Built without content dims but given the item–item graph,
this is FREEDOM's own design: content only shapes the graph and the ID embeddings propagate
over it. Scores are dot products (logits).

Shapes:
    - ``features[m]``: ``[num_items, d_m]``
    - ``forward`` → users ``[num_users, dim]``, items ``[num_items, dim]``
"""

from __future__ import annotations

import torch
from torch import nn

from mmgraph.graph.adjacency import symmetric_spmm
from mmgraph.models.fusion import build_fusion

__all__ = ["MultimodalTeacher"]


class MultimodalTeacher(nn.Module):
    """LightGCN over the user–item graph, content fused into items; ID-only without content."""

    def __init__(self, num_users: int, num_items: int, dim: int = 64, num_layers: int = 3,
                 content_dims: dict[str, int] | None = None, fusion: str = "sum",
                 item_layers: int = 1):
        super().__init__()
        self.num_users, self.num_items, self.num_layers = num_users, num_items, num_layers
        self.item_layers = item_layers
        self.user_embedding = nn.Embedding(num_users, dim)
        self.item_embedding = nn.Embedding(num_items, dim)
        self.fusion = build_fusion(fusion, content_dims, dim) if content_dims else None
        nn.init.normal_(self.user_embedding.weight, std=0.1)
        nn.init.normal_(self.item_embedding.weight, std=0.1)

    def item_ego(self, features: dict[str, torch.Tensor],
                 items: torch.Tensor | None = None) -> torch.Tensor:
        """Layer-0 embeddings of ``items [B]`` (default: all): ID plus fused content,
        ``[B, dim]``."""
        if items is None:
            ego = self.item_embedding.weight
        else:
            ego = self.item_embedding(items)
            features = {m: x[items] for m, x in features.items()}
        return ego + self.fusion(features) if self.fusion is not None else ego

    def forward(self, adjacency: torch.Tensor, features: dict[str, torch.Tensor],
                item_adjacency: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Propagate; ``adjacency`` is the symmetric normalised ``[U+I, U+I]`` CSR,
        ``item_adjacency`` the symmetric normalised ``[I, I]`` kNN CSR (or ``None``)."""
        items0 = self.item_ego(features)
        x = torch.cat([self.user_embedding.weight, items0])
        total = x
        for _ in range(self.num_layers):
            x = symmetric_spmm(adjacency, x)
            total = total + x
        total = total / (self.num_layers + 1)
        users, items = total[:self.num_users], total[self.num_users:]
        if item_adjacency is not None:
            content = items0
            for _ in range(self.item_layers):
                content = symmetric_spmm(item_adjacency, content)
            items = items + content
        return users, items

    def ego_norms(self, users: torch.Tensor | None, items: torch.Tensor | None,
                  features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Sum of squared layer-0 norms of a batch's ``users [B]`` and ``items [B']`` (LightGCN's
        L2 penalty); ``None`` stands for every row, without gathering it."""
        user_rows = self.user_embedding.weight if users is None else self.user_embedding(users)
        return user_rows.pow(2).sum() + self.item_ego(features, items).pow(2).sum()
