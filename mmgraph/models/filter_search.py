r"""The graph filter's settings chosen on validation (:mod:`mmgraph.models.spectral`), for
catalogues nobody has tuned for.

The search is one axis group at a time, each at the best of the groups before it, so that its
cost is a sum of the grids' sizes rather than their product:

1. the decompositions (degree exponent :math:`b` × user exponent :math:`c` × content weight
   :math:`\beta`), each with every ridge :math:`\rho` (the ridge only re-weights one
   decomposition);
2. GF-CF's ideal low-pass (rank :math:`k` × weight :math:`\alpha`) on the best decomposition,
   again with every ridge (with the ideal pass, a flatter ridge response often wins);
3. the users' rows: plain, or recency-weighted at each half-life
   (:func:`mmgraph.models.temporal.recency_history`).

On ml-100k's sparse protocol (each user keeping 20% of their training interactions, seed
2026) the co-occurrence filter's valid NDCG@20 rises from 0.096 (the plain filter's grid) to
0.114 (:math:`c = 1/2`, :math:`\rho = 1`, an ideal pass of rank 8, :math:`h = 20`); on the
random split validation keeps the plain rows and takes the rest only for some seeds
(docs/benchmarks.md). Every setting tried and its score are returned, for the run's
``teacher/state.json``.

Shapes: ``user_item [2, E]``; ``histories``: half-life → ``[U, I]`` sparse; embeddings users
``[U, k]``, items ``[I, k]``.
"""

from __future__ import annotations

from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np
import scipy.sparse as sp
import torch

from mmgraph.models.spectral import FilterBasis, filter_basis

__all__ = ["PLAIN", "setting_key", "TunedFilter", "tuned_filter", "fixed_filter"]

Embeddings = tuple[torch.Tensor, torch.Tensor]


class TunedFilter(NamedTuple):
    """The filter validation chose: its embeddings, every setting's score (keyed as
    :func:`setting_key` writes it), the chosen setting and the decomposition behind it."""

    embeddings: Embeddings
    tried: dict[str, float]
    setting: dict[str, float | None]
    basis: FilterBasis
#: The settings of a plain filter past its degree exponent and ridge (what older runs recorded
#: nothing for).
PLAIN: dict[str, float | None] = {"user_exponent": 0.0, "content_weight": 0.0, "ideal_rank": 0,
                                  "ideal_weight": 0.0, "history_half_life": None}


def setting_key(setting: dict) -> str:
    """``"b=<b>,rho=<rho>"``, then only what differs from the plain filter: ``",c=<c>"``,
    ``",beta=<w>"``, ``",ideal=<k>x<alpha>"``, ``",h=<h>"``."""
    key = f"b={setting['degree_exponent']},rho={setting['ridge']}"
    if setting["user_exponent"] > 0:
        key += f",c={setting['user_exponent']}"
    if setting["content_weight"] > 0:
        key += f",beta={setting['content_weight']}"
    if setting["ideal_rank"] > 0:
        key += f",ideal={setting['ideal_rank']}x{setting['ideal_weight']}"
    if setting["history_half_life"] is not None:
        key += f",h={setting['history_half_life']:g}"
    return key


def tuned_filter(user_item: torch.Tensor, num_users: int, num_items: int,
                 score: Callable[[Embeddings], float], degree_exponents: Sequence[float],
                 ridges: Sequence[float], content_weights: Sequence[float] = (0.0,),
                 histories: Mapping[float, sp.spmatrix] | None = None,
                 user_exponents: Sequence[float] = (0.0,),
                 ideals: Sequence[tuple[int, float]] = (), **options) -> TunedFilter:
    """The filter at the setting ``score`` (a validation metric, higher is better) ranks best,
    searched as the module docstring says; ``ideals`` are ``(rank, weight)`` pairs tried beside
    no ideal pass, ``histories`` half-life → weighted user rows tried beside the plain ones.
    The chosen setting has ``degree_exponent``, ``user_exponent``, ``content_weight``,
    ``ridge``, ``ideal_rank``, ``ideal_weight`` and ``history_half_life`` (``None`` for the
    plain rows).
    ``options`` (``content_graph``, ``cooccurrence`` among them) go to
    :func:`mmgraph.models.spectral.filter_basis`; without a content graph only the content
    weight 0 is tried, and over a given ``cooccurrence`` only the user exponent 0."""
    if options.get("content_graph") is None:
        content_weights = [0.0]
    if options.get("cooccurrence") is not None:
        user_exponents = [0.0]
    tried: dict[str, float] = {}
    best: list = [float("-inf"), None, None, None]  # score, embeddings, setting, basis

    def consider(basis, projected, setting: dict) -> None:
        embeddings = basis.embeddings(setting["ridge"], projected, setting["ideal_rank"],
                                      setting["ideal_weight"])
        tried[setting_key(setting)] = value = score(embeddings)
        if value > best[0]:
            best[:] = [value, embeddings, setting, basis]

    for weight in content_weights:
        for exponent in degree_exponents:
            for user_exponent in user_exponents:
                basis = filter_basis(user_item, num_users, num_items, exponent,
                                     content_weight=weight, user_exponent=user_exponent,
                                     **options)
                for ridge in ridges:
                    consider(basis, None, {**PLAIN, "degree_exponent": exponent,
                                           "user_exponent": user_exponent,
                                           "content_weight": weight, "ridge": ridge})
    chosen, basis = best[2], best[3]
    for rank, weight in ideals:
        for ridge in ridges:
            consider(basis, None, {**chosen, "ridge": ridge, "ideal_rank": rank,
                                   "ideal_weight": weight})
    chosen = best[2]
    for half_life, history in (histories or {}).items():
        consider(basis, basis.project_history(history),
                 {**chosen, "history_half_life": half_life})
    return TunedFilter(best[1], tried, best[2], best[3])


def fixed_filter(user_item: torch.Tensor, num_users: int, num_items: int,
                 setting: Mapping[str, float | None], history: sp.spmatrix | None = None,
                 start: np.ndarray | None = None, **options) -> tuple[Embeddings, FilterBasis]:
    """The filter at one ``setting`` (every key :func:`tuned_filter` returns), e.g. a tuned
    run's for its refit: nothing is compared, so the refit keeps what validation chose.
    ``history``: the weighted user rows of the setting's half-life, if it has one; ``start``:
    where the decomposition's subspace iteration begins (an update's previous eigenvectors).
    Returns the embeddings and the decomposition."""
    basis = filter_basis(user_item, num_users, num_items, setting["degree_exponent"],
                         content_weight=setting["content_weight"],
                         user_exponent=setting["user_exponent"], start=start, **options)
    projected = None if history is None else basis.project_history(history)
    return basis.embeddings(setting["ridge"], projected, int(setting["ideal_rank"]),
                            setting["ideal_weight"]), basis
