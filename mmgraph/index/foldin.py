r"""Fold-in: a user vector from an item history against the frozen served item vectors, without
retraining (a new user, a user who just clicked something).

The ridge solution of iALS's loss for one user (Hu et al., ICDM 2008; implicit's
``recalculate_user``), with every unseen item pulled to 0 at weight :math:`\alpha`:

.. math::
    p = \arg\min_p \sum_{i \in H} (1 - p^\top q_i)^2 + \alpha \sum_{i \notin H} (p^\top q_i)^2
        + \lambda \lVert p \rVert^2
      = \big(\alpha Q^\top Q + (1 - \alpha) Q_H^\top Q_H + \lambda I\big)^{-1} \sum_{i \in H} q_i,

one ``d × d`` solve per user after the shared Gramian :math:`Q^\top Q`: :math:`O(|H| d^2 + d^3)`.
:math:`\lambda` is ``ridge`` times the mean squared norm of the item vectors, so one grid fits
any scale. The index stage chooses both on validation (``index/foldin.json``): the users' own
training histories, folded in, rank their valid items. NumPy only: serving starts without torch.

Shapes: ``items [I, d]``, histories of item rows, user vectors ``[B, d]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

__all__ = ["FoldIn", "tune_foldin", "FOLDIN_GRID", "FOLDIN_USERS"]

#: Settings tried on validation: unobserved weight alpha × relative ridge.
FOLDIN_GRID = {"unobserved_weight": (0.1, 0.3, 1.0), "ridge": (1.0, 3.0, 10.0, 30.0, 100.0)}

#: Valid users (a seeded sample) that choose the setting: enough to order 15 settings, few
#: enough that the choice costs seconds at 10M interactions.
FOLDIN_USERS = 2000


@dataclass(frozen=True)
class FoldIn:
    """Fold-in settings: ``unobserved_weight`` (alpha) and ``ridge`` (lambda over the mean
    squared item norm)."""

    unobserved_weight: float = 0.3
    ridge: float = 3.0

    def user_vectors(self, items: np.ndarray, histories: Sequence[np.ndarray],
                     gramian: np.ndarray | None = None) -> np.ndarray:
        """``[B, d]`` float32 user vectors for ``histories`` (arrays of row indices into
        ``items [I, d]``); an empty history gives a zero vector. ``gramian`` (``items.T @
        items`` in float64) can be passed in when it is reused."""
        items = np.asarray(items, np.float64)
        gramian = items.T @ items if gramian is None else gramian
        scale = np.trace(gramian) / max(len(items), 1)  # the mean squared item norm
        base = (self.unobserved_weight * gramian
                + self.ridge * max(scale, 1e-12) * np.eye(items.shape[1]))
        out = np.zeros((len(histories), items.shape[1]))
        for row, history in enumerate(histories):
            chosen = items[np.unique(np.asarray(history, np.int64))]
            if len(chosen):
                system = base + (1 - self.unobserved_weight) * chosen.T @ chosen
                out[row] = np.linalg.solve(system, chosen.sum(0))
        return out.astype(np.float32)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def tune_foldin(items: np.ndarray, histories: Sequence[np.ndarray],
                score: Callable[[np.ndarray], float]) -> tuple[FoldIn, dict[str, float]]:
    """The :data:`FOLDIN_GRID` setting whose folded-in vectors of ``histories`` score best by
    ``score`` (e.g. valid NDCG@20 of those users); returns it and every setting's score."""
    gramian = np.asarray(items, np.float64).T @ np.asarray(items, np.float64)
    scores: dict[str, float] = {}
    best, best_score = FoldIn(), float("-inf")
    for alpha in FOLDIN_GRID["unobserved_weight"]:
        for ridge in FOLDIN_GRID["ridge"]:
            candidate = FoldIn(alpha, ridge)
            value = score(candidate.user_vectors(items, histories, gramian))
            scores[f"alpha={alpha},ridge={ridge}"] = value
            if value > best_score:
                best, best_score = candidate, value
    return best, scores
