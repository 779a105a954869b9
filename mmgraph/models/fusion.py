r"""Fusion of per-modality item features into one content vector per item.

Every variant maps ``{modality: [N, d_m]}`` to ``[N, dim]``:

- ``sum``: :math:`c = \sum_m W_m x^m` (per-modality linear projections, added);
- ``concat_mlp``: :math:`c = \mathrm{MLP}([x^1 \| x^2 \| \dots])` (one hidden layer, GELU);
- ``attention``: :math:`h_m = W_m x^m`, :math:`a_m = \mathrm{softmax}_m(q^\top \tanh(A h_m))`,
  :math:`c = \sum_m a_m h_m` (per-item modality weights, as in MMGCN/LATTICE-style fusion);
- ``gated``: :math:`c = \sum_m \sigma(G_m h_m) \odot h_m` (element-wise gates per modality).

Missing media: the encoders give an item whose media could not be read a zero row (and record
it in a mask). Projections have no bias, so a zero row contributes nothing to ``sum`` and
``gated``, and ``attention`` gives it no weight.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Fusion", "FUSIONS", "build_fusion"]


class Fusion(nn.Module):
    """Base: knows its modalities (sorted, so the order never depends on dict order)."""

    def __init__(self, content_dims: dict[str, int], dim: int):
        super().__init__()
        self.modalities = sorted(content_dims)


class _ProjectedFusion(Fusion):
    """Fusions over per-modality linear projections ``d_m → dim``."""

    def __init__(self, content_dims: dict[str, int], dim: int):
        super().__init__(content_dims, dim)
        self.projections = nn.ModuleDict({m: nn.Linear(content_dims[m], dim, bias=False)
                                          for m in self.modalities})

    def projected(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Stacked projections, ``[N, M, dim]`` for ``M`` modalities."""
        return torch.stack([self.projections[m](features[m]) for m in self.modalities], dim=1)


class SumFusion(_ProjectedFusion):
    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.projected(features).sum(1)


class ConcatMLPFusion(Fusion):
    def __init__(self, content_dims: dict[str, int], dim: int):
        super().__init__(content_dims, dim)
        total = sum(content_dims.values())
        self.mlp = nn.Sequential(nn.Linear(total, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.mlp(torch.cat([features[m] for m in self.modalities], dim=-1))


class AttentionFusion(_ProjectedFusion):
    def __init__(self, content_dims: dict[str, int], dim: int):
        super().__init__(content_dims, dim)
        self.key = nn.Linear(dim, dim)
        self.query = nn.Parameter(torch.randn(dim) / dim ** 0.5)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        stacked = self.projected(features)  # [N, M, dim]
        present = stacked.abs().sum(-1) > 0  # a zero row is missing media
        logits = (torch.tanh(self.key(stacked)) @ self.query).masked_fill(~present, -1e9)
        weights = torch.softmax(logits, dim=1)  # [N, M]
        return (weights.unsqueeze(-1) * stacked).sum(1)


class GatedFusion(_ProjectedFusion):
    def __init__(self, content_dims: dict[str, int], dim: int):
        super().__init__(content_dims, dim)
        self.gates = nn.ModuleDict({m: nn.Linear(dim, dim) for m in self.modalities})

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        projected = self.projected(features)
        gates = torch.stack([torch.sigmoid(self.gates[m](projected[:, i]))
                             for i, m in enumerate(self.modalities)], dim=1)
        return (gates * projected).sum(1)


FUSIONS: dict[str, type[Fusion]] = {"sum": SumFusion, "concat_mlp": ConcatMLPFusion,
                                    "attention": AttentionFusion, "gated": GatedFusion}


def build_fusion(kind: str, content_dims: dict[str, int], dim: int) -> Fusion:
    return FUSIONS[kind](content_dims, dim)
