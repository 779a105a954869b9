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

Three levels of multimodal fusion (``fusion_level``):

- ``feature`` (above): the modalities are fused into one item ego embedding before the graph.
- ``decision``: the graph propagates ID embeddings only; each modality :math:`m` adds a scorer
  of its own, :math:`s_m(u, i) = g_m(x_i^m)\,(W_m e_u)^\top P_m x_i^m`, on its projected
  content :math:`P_m x_i^m` (smoothed over the item graph), with a learned per-item gate
  :math:`g_m = \sigma(a_m^\top x_i^m + c_m)`; the score is :math:`e_u^\top e_i + \sum_m
  s_m(u, i)`.
- ``model``: an independent LightGCN tower per modality (its own user table, items' ego
  embeddings :math:`P_m x_i^m`) beside the ID tower, as in MMGCN (Wei et al., MM 2019); the
  score is the sum of the towers' dot products.

Every level serves as one dot product: users and items are the levels' parts side by side
(``dim`` each), so the rest of the pipeline does not tell them apart.

Shapes:
    - ``features[m]``: ``[num_items, d_m]``
    - ``forward`` → users ``[num_users, D]``, items ``[num_items, D]``: ``D = dim`` at the
      feature level, ``(1 + M) dim`` at the decision and model levels (``M`` modalities)
"""

from __future__ import annotations

import torch
from torch import nn

from mmgraph.graph.adjacency import BipartiteAdjacency, lightgcn_propagate, symmetric_spmm
from mmgraph.models.fusion import build_fusion
from mmgraph.models.reloadable import Reloadable

__all__ = ["MultimodalTeacher"]


class MultimodalTeacher(Reloadable):
    """LightGCN over the user–item graph with content fused at ``fusion_level`` (see the module
    docstring); ID-only without content."""

    def __init__(self, num_users: int, num_items: int, dim: int = 64, num_layers: int = 3,
                 content_dims: dict[str, int] | None = None, fusion: str = "sum",
                 item_layers: int = 1, fusion_level: str = "feature"):
        super().__init__()
        self.config = {"num_users": num_users, "num_items": num_items, "dim": dim,
                       "num_layers": num_layers, "content_dims": dict(content_dims or {}),
                       "fusion": fusion, "item_layers": item_layers, "fusion_level": fusion_level}
        self.num_users, self.num_items, self.num_layers = num_users, num_items, num_layers
        self.item_layers, self.fusion_level = item_layers, fusion_level
        self.user_embedding = nn.Embedding(num_users, dim)
        self.item_embedding = nn.Embedding(num_items, dim)
        content_dims = content_dims or {}
        self.modalities = sorted(content_dims)
        self.fusion = (build_fusion(fusion, content_dims, dim)
                       if content_dims and fusion_level == "feature" else None)
        nn.init.normal_(self.user_embedding.weight, std=0.1)  # after the fusion: a seeded run
        nn.init.normal_(self.item_embedding.weight, std=0.1)  # draws what it always drew
        if fusion_level != "feature" and content_dims:
            self.projections = nn.ModuleDict({m: nn.Linear(content_dims[m], dim, bias=False)
                                              for m in self.modalities})
        if fusion_level == "decision" and content_dims:
            self.user_heads = nn.ModuleDict({m: nn.Linear(dim, dim, bias=False)
                                             for m in self.modalities})
            self.gates = nn.ModuleDict({m: nn.Linear(content_dims[m], 1)
                                        for m in self.modalities})
        if fusion_level == "model" and content_dims:
            self.user_towers = nn.ModuleDict({m: nn.Embedding(num_users, dim)
                                              for m in self.modalities})
            for table in self.user_towers.values():
                nn.init.normal_(table.weight, std=0.1)

    def user_tables(self) -> list[nn.Embedding]:
        """The ID table, then each modality tower's (model level)."""
        towers = self.user_towers.values() if hasattr(self, "user_towers") else []
        return [self.user_embedding, *towers]

    def replace_user_rows(self, weights: list[torch.Tensor]) -> None:
        super().replace_user_rows(weights)
        self.num_users = len(weights[0])

    def item_ego(self, features: dict[str, torch.Tensor],
                 items: torch.Tensor | None = None) -> torch.Tensor:
        """Layer-0 embeddings of ``items [B]`` (default: all) in the ID graph: ID plus fused
        content at the feature level, ID alone otherwise, ``[B, dim]``."""
        if items is None:
            ego = self.item_embedding.weight
        else:
            ego = self.item_embedding(items)
            features = {m: x[items] for m, x in features.items()}
        return ego + self.fusion(features) if self.fusion is not None else ego

    def content_vector(self, features: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The items' content as the model sees it, ``[I, dim]`` (feature level: the fused
        content tower) or ``[I, M dim]`` (the modalities' projections side by side): the
        cold-start mapper's input. ``None`` without content."""
        if self.fusion is not None:
            return self.fusion(features)
        if self.fusion_level == "feature" or not self.modalities:
            return None
        return torch.cat([self.projections[m](features[m]) for m in self.modalities], dim=1)

    def _propagate(self, adjacency: BipartiteAdjacency, users: torch.Tensor,
                   items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """LightGCN's layer mean over ``adjacency`` from ego ``users``/``items``."""
        return lightgcn_propagate(adjacency, users, items, self.num_layers)

    def _smoothed(self, item_adjacency: torch.Tensor | None, items: torch.Tensor
                  ) -> torch.Tensor:
        """``items`` plus ``item_layers`` steps over the item–item graph (none without one)."""
        if item_adjacency is None:
            return items
        content = items
        for _ in range(self.item_layers):
            content = symmetric_spmm(item_adjacency, content)
        return items + content

    def forward(self, adjacency: BipartiteAdjacency, features: dict[str, torch.Tensor],
                item_adjacency: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Propagate; ``adjacency`` is the normalised user–item graph's two blocks,
        ``item_adjacency`` the symmetric normalised ``[I, I]`` kNN CSR (or ``None``)."""
        items0 = self.item_ego(features)
        users, items = self._propagate(adjacency, self.user_embedding.weight, items0)
        if item_adjacency is not None:
            content = items0
            for _ in range(self.item_layers):
                content = symmetric_spmm(item_adjacency, content)
            items = items + content
        if self.fusion_level == "feature" or not self.modalities:
            return users, items
        user_parts, item_parts = [users], [items]
        for m in self.modalities:
            projected = self.projections[m](features[m])
            if self.fusion_level == "decision":
                gate = torch.sigmoid(self.gates[m](features[m]))
                user_parts.append(self.user_heads[m](users))
                item_parts.append(gate * self._smoothed(item_adjacency, projected))
            else:
                tower_users, tower_items = self._propagate(
                    adjacency, self.user_towers[m].weight, projected)
                user_parts.append(tower_users)
                item_parts.append(tower_items)
        return torch.cat(user_parts, dim=1), torch.cat(item_parts, dim=1)

    def ego_norms(self, users: torch.Tensor | None, items: torch.Tensor | None,
                  features: dict[str, torch.Tensor], item_share: float = 1.0) -> torch.Tensor:
        """Sum of squared layer-0 norms of a batch's ``users [B]`` and ``items [B']`` (LightGCN's
        L2 penalty; every tower's at the model level); ``None`` stands for every row, without
        gathering it. The items' norms count ``item_share`` times (sharded by user, each of N
        ranks counts 1/N of every item's)."""
        user_rows = self.user_embedding.weight if users is None else self.user_embedding(users)
        if items is None:
            item_rows = self.item_ego(features)
        else:  # each distinct item's content projected once: a batch repeats popular items
            distinct, inverse = items.unique(return_inverse=True)
            item_rows = self.item_ego(features, distinct)[inverse]
        user_total, item_total = user_rows.pow(2).sum(), item_rows.pow(2).sum()
        if self.fusion_level == "model":
            for m in self.modalities:
                table = self.user_towers[m]
                rows = table.weight if users is None else table(users)
                content = features[m] if items is None else features[m][items]
                user_total = user_total + rows.pow(2).sum()
                item_total = item_total + self.projections[m](content).pow(2).sum()
        return user_total + item_share * item_total
