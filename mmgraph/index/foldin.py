r"""Fold-in: a user vector from an item history against the frozen served item vectors, without
retraining (a new user, a user who just clicked something).

The ridge solution of iALS's loss for one user (Hu et al., ICDM 2008; implicit's
``recalculate_user``), with every unseen item pulled to 0 at weight :math:`\alpha`:

.. math::
    p = \arg\min_p \sum_{i \in H} (1 - p^\top q_i)^2 + \alpha \sum_{i \notin H} (p^\top q_i)^2
        + \lambda \lVert p \rVert^2
      = \big(\alpha Q^\top Q + (1 - \alpha) Q_H^\top Q_H + \lambda I\big)^{-1} \sum_{i \in H} q_i,

solved in the eigenbasis of the items' Gramian :math:`Q^\top Q = V \operatorname{diag}(s)
V^\top` (computed once, :class:`ItemBasis`), where :math:`\alpha Q^\top Q + \lambda I` is the
diagonal :math:`D = \alpha s + \lambda`: a history of :math:`h < r` items is a rank-:math:`h`
update of it, solved by the Woodbury identity in :math:`O(h^2 r + h^3)`; a longer one directly
in :math:`O(h r^2 + r^3)`, where :math:`r = \min(I, d)` (the span of the item vectors holds every
user vector, so wide vectors over few items cost :math:`r`, not :math:`d`). :math:`\lambda` is
``ridge`` times the mean squared norm of the item vectors, so one grid fits any scale. The
index stage chooses both on validation (``index/foldin.json``): the users' own training
histories, folded in, rank their valid items. NumPy only: serving starts without torch.

Shapes: ``items [I, d]``, histories of item rows, user vectors ``[B, d]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

__all__ = ["FoldIn", "ItemBasis", "tune_foldin", "FOLDIN_GRID", "FOLDIN_USERS"]

#: Settings tried on validation: unobserved weight alpha × relative ridge.
FOLDIN_GRID = {"unobserved_weight": (0.1, 0.3, 1.0), "ridge": (1.0, 3.0, 10.0, 30.0, 100.0)}

#: Valid users (a seeded sample) that choose the setting: enough to order 15 settings, few
#: enough that the choice costs seconds at 10M interactions.
FOLDIN_USERS = 2000


class ItemBasis:
    """The item vectors ``[I, d]`` in the eigenbasis of their Gramian, shared by every fold-in
    against them: ``rotated [I, r]``, ``values [r]`` (the Gramian's nonzero eigenvalues),
    ``vectors [d, r]`` (back to the items' space) and ``scale``, the mean squared item norm."""

    def __init__(self, items: np.ndarray):
        items = np.asarray(items, np.float64)
        if len(items) >= items.shape[1]:
            values, vectors = np.linalg.eigh(items.T @ items)
        else:  # fewer items than dimensions: their span is all a user vector can use
            _, singular, vectors_t = np.linalg.svd(items, full_matrices=False)
            values, vectors = singular ** 2, vectors_t.T
        self.values, self.vectors = np.maximum(values, 0.0), vectors
        self.rotated = items @ vectors
        self.scale = float(self.values.sum()) / max(len(items), 1)


@dataclass(frozen=True)
class FoldIn:
    """Fold-in settings: ``unobserved_weight`` (alpha) and ``ridge`` (lambda over the mean
    squared item norm)."""

    unobserved_weight: float = 0.3
    ridge: float = 3.0

    def user_vectors(self, items: np.ndarray, histories: Sequence[np.ndarray],
                     basis: ItemBasis | None = None) -> np.ndarray:
        """``[B, d]`` float32 user vectors for ``histories`` (arrays of row indices into
        ``items [I, d]``); an empty history gives a zero vector. ``basis`` (of ``items``) can
        be passed in when it is reused."""
        basis = ItemBasis(items) if basis is None else basis
        diagonal = self._diagonal(basis)
        rotated = np.zeros((len(histories), len(diagonal)))
        for row, history in enumerate(histories):
            chosen = basis.rotated[np.unique(np.asarray(history, np.int64))]  # [h, r]
            if len(chosen):
                rotated[row] = self._solve(diagonal, chosen, chosen.sum(0))
        return (rotated @ basis.vectors.T).astype(np.float32)

    def contributions(self, items: np.ndarray, history: np.ndarray, target: int,
                      basis: ItemBasis | None = None) -> np.ndarray:
        r"""What each item of ``history`` (rows of ``items [I, d]``, unique) adds to the
        folded-in score of item ``target``: ``[h]`` terms that sum to ``q_t^\top p``, where
        :math:`p = A^{-1} \sum_{j \in H} q_j` is :meth:`user_vectors`' vector of that history,

        .. math:: q_t^\top p = \sum_{j \in H} q_t^\top A^{-1} q_j,

        exactly (as implicit's ALS ``explain``): one solve :math:`A^{-1} q_t`, then a dot
        product per history item."""
        basis = ItemBasis(items) if basis is None else basis
        history = np.asarray(history, np.int64)
        if not len(history):
            return np.zeros(0)
        chosen = basis.rotated[history]  # [h, r]
        return chosen @ self._solve(self._diagonal(basis), chosen, basis.rotated[target])

    def _diagonal(self, basis: ItemBasis) -> np.ndarray:
        r"""``[r]`` the diagonal :math:`\alpha s + \lambda` of the system in the eigenbasis."""
        return self.unobserved_weight * basis.values + self.ridge * max(basis.scale, 1e-12)

    def _solve(self, diagonal: np.ndarray, chosen: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        r""":math:`A^{-1}` times ``rhs [r]``, for the history ``chosen [h, r]`` (rotated item
        rows), where :math:`A = D + (1 - \alpha) C^\top C`: the Woodbury identity (an
        ``h × h`` system) for a history shorter than ``r``, a direct ``r × r`` solve
        otherwise."""
        weight = 1 - self.unobserved_weight  # of the history's own term
        target = rhs / diagonal
        if weight == 0:
            return target
        if len(chosen) < len(diagonal):
            scaled = chosen / diagonal
            inner = scaled @ chosen.T + np.eye(len(chosen)) / weight
            return target - scaled.T @ np.linalg.solve(inner, chosen @ target)
        return np.linalg.solve(np.diag(diagonal) + weight * chosen.T @ chosen, rhs)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def tune_foldin(items: np.ndarray, histories: Sequence[np.ndarray],
                score: Callable[[np.ndarray], float]) -> tuple[FoldIn, dict[str, float]]:
    """The :data:`FOLDIN_GRID` setting whose folded-in vectors of ``histories`` score best by
    ``score`` (e.g. valid NDCG@20 of those users); returns it and every setting's score."""
    basis = ItemBasis(items)
    scores: dict[str, float] = {}
    best, best_score = FoldIn(), float("-inf")
    for alpha in FOLDIN_GRID["unobserved_weight"]:
        for ridge in FOLDIN_GRID["ridge"]:
            candidate = FoldIn(alpha, ridge)
            value = score(candidate.user_vectors(items, histories, basis))
            scores[f"alpha={alpha},ridge={ridge}"] = value
            if value > best_score:
                best, best_score = candidate, value
    return best, scores
