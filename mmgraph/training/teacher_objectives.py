"""Per-batch objectives of the teacher over propagated embeddings: the ranking loss (sampled
negatives: BPR or sampled softmax) and the whole-data loss (every unobserved pair weighted,
iALS-style, in closed form)."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import torch

from mmgraph.data.user_items import UserItems
from mmgraph.distill.losses import bpr_loss, sampled_softmax_loss
from mmgraph.graph.adjacency import BipartiteAdjacency
from mmgraph.models.teacher import MultimodalTeacher
from mmgraph.training.sampling import sample_negatives

__all__ = ["teacher_ranking_loss", "teacher_whole_data_loss"]


class _Pattern(NamedTuple):
    """A batch's distinct (user, item) pairs as a CSR ``[U, I]`` pattern (``crow``, ``col``),
    how often each pair occurs in the batch (``counts``: distributed padding repeats pairs),
    and the transposed pattern ``[I, U]`` (``t_crow``, ``t_col``) with ``order``, the CSR
    position of each of its entries: what the scores' backward multiplies by."""

    crow: torch.Tensor
    col: torch.Tensor
    counts: torch.Tensor
    t_crow: torch.Tensor
    t_col: torch.Tensor
    order: torch.Tensor
    shape: tuple[int, int]

    @classmethod
    def of(cls, users: torch.Tensor, items: torch.Tensor, num_users: int, num_items: int
           ) -> "_Pattern":
        codes, counts = torch.unique(users * num_items + items, return_counts=True)
        rows, cols = codes // num_items, codes % num_items  # sorted by (row, col): CSR order
        order = torch.argsort(cols * num_users + rows)
        return cls(_crow(rows, num_users), cols, counts.to(torch.float32),
                   _crow(cols[order], num_items), rows[order], order, (num_users, num_items))

    def csr(self, values: torch.Tensor) -> torch.Tensor:
        return torch.sparse_csr_tensor(self.crow, self.col, values, self.shape)

    def transposed_csr(self, values: torch.Tensor) -> torch.Tensor:
        return torch.sparse_csr_tensor(self.t_crow, self.t_col, values[self.order],
                                       self.shape[::-1])


def _crow(sorted_rows: torch.Tensor, num_rows: int) -> torch.Tensor:
    """CSR row pointers ``[num_rows + 1]`` of entries whose rows are ``sorted_rows``."""
    return torch.searchsorted(sorted_rows, torch.arange(num_rows + 1, device=sorted_rows.device))


class _PairScores(torch.autograd.Function):
    """``p_u . q_i`` for each pair of a :class:`_Pattern`, ``[nnz]`` in CSR order: a sampled
    dense–dense matmul (no ``[nnz, d]`` gather). The backward is two CSR matmuls, by the
    pattern and by its transpose built once with it (torch's own ``sampled_addmm`` backward
    took twice as long at 8M pairs)."""

    @staticmethod
    def forward(ctx: Any, users: torch.Tensor, items: torch.Tensor, pattern: _Pattern
                ) -> torch.Tensor:
        ctx.save_for_backward(users, items)
        ctx.pattern = pattern
        ones = torch.ones(len(pattern.col), dtype=users.dtype, device=users.device)
        return torch.sparse.sampled_addmm(pattern.csr(ones), users, items.T, beta=0.0).values()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        users, items = ctx.saved_tensors
        pattern: _Pattern = ctx.pattern
        return pattern.csr(grad) @ items, pattern.transposed_csr(grad) @ users, None


def teacher_ranking_loss(model: MultimodalTeacher, adjacency: BipartiteAdjacency,
                         features: dict[str, torch.Tensor], item_adjacency: torch.Tensor | None,
                         seen: UserItems, reg: float, generator: torch.Generator,
                         loss: str = "bpr", num_negatives: int = 1, temperature: float = 1.0,
                         replicas: int = 1
                         ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The teacher's ranking loss on full-graph propagated embeddings plus L2 on the batch's
    ego embeddings: BPR against one unseen negative, or sampled softmax (``loss="softmax"``)
    against ``num_negatives`` unseen negatives per user at ``temperature``. Sharded by user
    over ``replicas`` ranks (each a ``1 / replicas`` share of the global batch): this rank's
    share of the global batch's loss."""
    count = 1 if loss == "bpr" else num_negatives

    def batch_loss(users: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        negatives = sample_negatives(users, seen, generator, count).to(adjacency.device)
        users, positives = users.to(adjacency.device), positives.to(adjacency.device)
        user_out, item_out = model(adjacency, features, item_adjacency)
        u = user_out[users]
        positive = (u * item_out[positives]).sum(-1)
        negative = torch.einsum("bd,bcd->bc", u, item_out[negatives])
        ranking = (bpr_loss(positive, negative[:, 0]) if loss == "bpr"
                   else sampled_softmax_loss(positive, negative, temperature))
        penalty = model.ego_norms(users, torch.cat([positives, negatives[:, 0]]), features)
        return (ranking + reg * penalty / (2 * len(users))) / replicas

    return batch_loss


def teacher_whole_data_loss(model: MultimodalTeacher, adjacency: BipartiteAdjacency,
                            features: dict[str, torch.Tensor],
                            item_adjacency: torch.Tensor | None, num_interactions: int,
                            unobserved_weight: float, reg: float,
                            total_interactions: int | None = None, replicas: int = 1
                            ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    r"""iALS's whole-data loss on the propagated embeddings, without sampling any negative.

    Every training interaction pulls its score to 1 and every user–item pair, seen or not, to 0
    with weight :math:`\alpha_0` (``unobserved_weight``), plus L2 (``reg``) on every ego row:

    .. math::
        L = \tfrac{1}{E}\Big[\sum_{(u,i) \in E} (p_u^\top q_i - 1)^2
            + \alpha_0 \sum_{u,i} (p_u^\top q_i)^2 + \lambda \lVert E^{(0)} \rVert^2\Big].

    The sum over all :math:`U \times I` pairs is :math:`\langle P^\top P, Q^\top Q\rangle`
    (``[d, d]`` Gramians: Hu et al., ICDM 2008; Rendle et al., RecSys 2022, "Revisiting the
    Performance of iALS"; with a GNN as in ENMF, Chen et al., TOIS 2020), so a step costs the
    propagation plus :math:`O((U + I) d^2)`, linear in the data, and a full-batch step (the
    batch is every interaction) sees the whole catalogue. A batch of interactions ``[B]``
    averages its squared errors; the whole-data and L2 terms are the batch's share of
    :math:`L` either way.

    Sharded by user over ``replicas`` ranks: ``num_interactions`` are this rank's and
    ``total_interactions`` every rank's (:math:`E`); the rank's loss is its share of
    :math:`L`: its users' errors, their pairs with every item (:math:`\langle P_r^\top P_r,
    Q^\top Q\rangle`: the shares sum to the whole), its users' L2 and ``1 / replicas`` of the
    items'.
    """
    total = num_interactions if total_interactions is None else total_interactions

    whole: list[_Pattern] = []  # the full batch's pattern: the same pairs every epoch

    def pattern_of(users: torch.Tensor, positives: torch.Tensor) -> _Pattern:
        """The batch's pattern; a full batch (every interaction, in any order) builds it once
        (coalescing 8M pairs was a quarter of a 10M-interaction step)."""
        if len(users) != num_interactions:
            return _Pattern.of(users, positives, model.num_users, model.num_items)
        if not whole:
            whole.append(_Pattern.of(users, positives, model.num_users, model.num_items))
        return whole[0]

    def batch_loss(users: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        users, positives = users.to(adjacency.device), positives.to(adjacency.device)
        user_out, item_out = model(adjacency, features, item_adjacency)
        pattern = pattern_of(users, positives)
        scores = _PairScores.apply(user_out, item_out, pattern)
        full = len(users) == num_interactions  # sharded: a global batch's share otherwise
        observed = (pattern.counts * (scores - 1) ** 2).sum() / (
            total if full else len(users) * replicas)
        all_pairs = ((user_out.T @ user_out) * (item_out.T @ item_out)).sum()
        every_row = model.ego_norms(None, None, features, 1 / replicas)
        return observed + (unobserved_weight * all_pairs + reg * every_row) / total

    return batch_loss
