"""Symmetric-normalised sparse adjacencies (torch CSR) for LightGCN-style propagation.

CSR tensors are the fast path on CPU without pyg-lib/torch-sparse (6x faster than the
``edge_index`` scatter path on 1M interactions, see ../shared/OFFLINE.md).
"""

from __future__ import annotations

import torch
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import to_torch_csr_tensor

__all__ = ["bipartite_adjacency", "item_adjacency", "symmetric_spmm"]


def bipartite_adjacency(user_item: torch.Tensor, num_users: int, num_items: int,
                        edge_weight: torch.Tensor | None = None) -> torch.Tensor:
    r"""LightGCN's :math:`\hat A = D^{-1/2} A D^{-1/2}` over users and items as one graph.

    Args:
        user_item: ``[2, E]`` (user index, item index), deduplicated.
        edge_weight: optional ``[E]`` weights (A holds them instead of ones).

    Returns:
        CSR ``[U + I, U + I]``; users are rows ``0..U-1``, items ``U..U+I-1``.
    """
    users, items = user_item[0], user_item[1] + num_users
    edge_index = torch.cat([torch.stack([users, items]), torch.stack([items, users])], dim=1)
    size = num_users + num_items
    weight = None if edge_weight is None else torch.cat([edge_weight, edge_weight])
    edge_index, weight = gcn_norm(edge_index, weight, size, add_self_loops=False)
    return to_torch_csr_tensor(edge_index, weight, size=(size, size))


def item_adjacency(edge_index: torch.Tensor, edge_weight: torch.Tensor | None,
                   num_items: int) -> torch.Tensor:
    """Normalised item–item kNN adjacency, CSR ``[I, I]`` (FREEDOM-style content graph)."""
    edge_index, weight = gcn_norm(edge_index, edge_weight, num_items, add_self_loops=False)
    return to_torch_csr_tensor(edge_index, weight, size=(num_items, num_items))


class _SymmetricSpmm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, adjacency: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adjacency = adjacency
        return torch.sparse.mm(adjacency, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, torch.sparse.mm(ctx.adjacency, grad)  # A^T = A


def symmetric_spmm(adjacency: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``adjacency @ x`` for a symmetric sparse CSR ``adjacency [N, N]`` and ``x [N, d]``.

    The gradient w.r.t. ``x`` is ``A^T g = A g``: reusing ``A`` avoids the CSR transpose that
    autograd otherwise builds on every backward. Measured on ml-100k (3 layers, 64-d, fwd+bwd):
    8 ms instead of 42 ms with ``torch.sparse.mm`` (LGConv's path).
    """
    return _SymmetricSpmm.apply(adjacency, x)
