"""The served student's item vectors divided by a power of their norm, against the popularity
bias that distillation amplifies (UnKD: Chen et al., WSDM 2023).

Kim et al., "Test Time Embedding Normalization for Popularity Bias Mitigation", CIKM 2023
(arXiv:2308.11288): a trained item vector's norm tracks the item's popularity (for the
quickstart's student, log norm and log training count correlate at 0.90), so ranking by
``u · v_i / ||v_i||^γ`` lifts the less popular items; γ = 1 is their full normalisation
(cosine ranking), γ = 0 the plain inner product. The rescaled vectors are still served by
inner product, so the FAISS ``ip`` index, fold-in and "more like this" read them unchanged.

Where no γ within the tolerance covers as much as the teacher (on ml-100k's leave-last-out
split the teacher's time filter spreads its lists over 60% of the catalogue, and a 32-d
student cannot follow with one exponent), :func:`match_exposure` first scales each item so
that it appears in about as many of the student's lists as in the teacher's — distilling
the teacher's exposure of each item rather than its scores — and γ is then chosen on top.
:func:`choose_item_scaling` picks on validation: the smallest γ whose top-K lists cover as
much of the catalogue as the teacher's, unless it costs more than :data:`ACCURACY_TOLERANCE`
(2%) of validation accuracy, on the trained vectors first and then on the matched ones.

Shapes: ``items [I, d]``; top-K lists ``[B, K]`` (``-1`` pads); exposures ``[I]``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

__all__ = ["NORM_EXPONENTS", "ACCURACY_TOLERANCE", "EXPOSURE_STEPS", "EXPOSURE_RATE",
           "rescale_items", "exposure", "match_exposure", "scaling_name", "choose_item_scaling"]

#: The exponents ``student.item_norm_exponent: auto`` tries, smallest first.
NORM_EXPONENTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
#: The share of γ = 0's validation metric that ``auto`` may give up for coverage: about the
#: noise of validation NDCG@20 with one held-out item per user (ml-100k's temporal split).
ACCURACY_TOLERANCE = 0.02
#: Rounds of :func:`match_exposure` and the step of each item's log scale per round.
EXPOSURE_STEPS, EXPOSURE_RATE = 20, 0.1


def rescale_items(items: torch.Tensor, exponent: float) -> torch.Tensor:
    """``items [I, d]`` with each row divided by its norm to the power ``exponent`` (a new
    tensor; rows of norm 0 stay 0)."""
    if exponent == 0:
        return items.clone()
    norms = items.norm(dim=1, keepdim=True)
    return items / torch.where(norms > 0, norms, torch.ones_like(norms)) ** exponent


def exposure(top: np.ndarray, num_items: int) -> np.ndarray:
    """How many of the lists ``top [B, K]`` hold each item, ``[num_items]``."""
    return np.bincount(top[top >= 0].ravel(), minlength=num_items)


def match_exposure(items: torch.Tensor, lists: Callable[[torch.Tensor], np.ndarray],
                   target: np.ndarray, steps: int = EXPOSURE_STEPS,
                   rate: float = EXPOSURE_RATE) -> torch.Tensor:
    """``items [I, d]`` with each row scaled by ``s_i > 0`` so that the number of the lists
    ``lists(scaled) [B, K]`` holding item ``i`` follows ``target [I]`` (the teacher's lists'
    :func:`exposure`, for the same users): from ``s = 1``, ``steps`` rounds of
    ``log s_i += rate · (log(1 + target_i) - log(1 + exposure_i))``. A positive scale keeps
    every user's order among items of one scale; an item no user scores above zero stays
    out of reach. A step of 0.1 settles in about 10 rounds on ml-100k (0.3 oscillates)."""
    log_scale = torch.zeros(len(items), 1, dtype=items.dtype)
    wanted = torch.from_numpy(np.log1p(target)).to(items.dtype)[:, None]
    for _ in range(steps):
        held = exposure(lists(items * log_scale.exp()), len(items))
        log_scale += rate * (wanted - torch.from_numpy(np.log1p(held)).to(items.dtype)[:, None])
    return items * log_scale.exp()


Scores = dict[str, dict[str, float]]


def scaling_name(exponent: float, matched: bool) -> str:
    """A candidate's key among :func:`choose_item_scaling`'s scores: ``"γ"`` or
    ``"matched+γ"``."""
    return f"matched+{exponent}" if matched else str(exponent)


def choose_item_scaling(score: Callable[[float, bool], tuple[float, float]],
                        target_coverage: float, may_match: bool
                        ) -> tuple[float, bool, Scores]:
    """The exponent for the served item vectors, whether they are exposure-matched first,
    and every tried candidate's scores (keys ``"γ"`` and ``"matched+γ"``).

    ``score(γ, matched)`` gives ``(validation metric, coverage@K)`` of the student's lists with
    its items (exposure-matched when ``matched``) rescaled by γ. Every exponent of
    :data:`NORM_EXPONENTS` is scored on the trained items (validation is noisy: accuracy need
    not fall monotonically with γ); admissible are those within :data:`ACCURACY_TOLERANCE` of
    γ = 0's metric. The smallest admissible γ reaching ``target_coverage`` (the teacher's) is
    chosen; when none does and ``may_match``, the matched items are scored too and the
    smallest admissible matched γ reaching it; otherwise the admissible candidate covering
    the most."""
    scores: Scores = {}
    candidates: dict[str, tuple[float, bool]] = {}

    def tried(matched: bool) -> list[str]:
        for gamma in NORM_EXPONENTS:
            name = scaling_name(gamma, matched)
            scores[name] = dict(zip(("metric", "coverage"), score(gamma, matched)))
            candidates[name] = (gamma, matched)
        return [name for name, (_, m) in candidates.items() if m == matched]

    names = tried(False)
    floor = scores[names[0]]["metric"] * (1 - ACCURACY_TOLERANCE)

    def admissible(among: list[str]) -> list[str]:
        return [name for name in among if scores[name]["metric"] >= floor]

    def reaching(among: list[str]) -> list[str]:
        return [name for name in admissible(among) if scores[name]["coverage"] >= target_coverage]

    found = reaching(names)
    if not found and may_match:
        matched = tried(True)
        names, found = names + matched, reaching(matched)
    chosen = found[0] if found else max(admissible(names), key=lambda n: scores[n]["coverage"])
    return (*candidates[chosen], scores)
