"""The served student's item vectors divided by a power of their norm, against the popularity
bias that distillation amplifies (UnKD: Chen et al., WSDM 2023).

Kim et al., "Test Time Embedding Normalization for Popularity Bias Mitigation", CIKM 2023
(arXiv:2308.11288): a trained item vector's norm tracks the item's popularity (for the
quickstart's student, log norm and log training count correlate at 0.90), so ranking by
``u · v_i / ||v_i||^γ`` lifts the less popular items; γ = 1 is their full normalisation
(cosine ranking), γ = 0 the plain inner product. The rescaled vectors are still served by
inner product, so the FAISS ``ip`` index, fold-in and "more like this" read them unchanged.
:func:`choose_norm_exponent` picks γ on validation: the smallest one whose top-K lists cover
as much of the catalogue as the teacher's, unless it costs more than
:data:`ACCURACY_TOLERANCE` (2%) of validation accuracy.
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["NORM_EXPONENTS", "ACCURACY_TOLERANCE", "rescale_items", "choose_norm_exponent"]

#: The exponents ``student.item_norm_exponent: auto`` tries, smallest first.
NORM_EXPONENTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
#: The share of γ = 0's validation metric that ``auto`` may give up for coverage: about the
#: noise of validation NDCG@20 with one held-out item per user (ml-100k's temporal split).
ACCURACY_TOLERANCE = 0.02


def rescale_items(items: torch.Tensor, exponent: float) -> torch.Tensor:
    """``items [I, d]`` with each row divided by its norm to the power ``exponent`` (a new
    tensor; rows of norm 0 stay 0)."""
    if exponent == 0:
        return items.clone()
    norms = items.norm(dim=1, keepdim=True)
    return items / torch.where(norms > 0, norms, torch.ones_like(norms)) ** exponent


def choose_norm_exponent(score: Callable[[float], tuple[float, float]], target_coverage: float
                         ) -> tuple[float, dict[str, dict[str, float]]]:
    """The exponent for the served item vectors and every tried one's scores.

    ``score(γ)`` gives ``(validation metric, coverage@K)`` of the student's lists with its
    items rescaled by γ; every exponent of :data:`NORM_EXPONENTS` is scored (validation is
    noisy: accuracy need not fall monotonically with γ). Among those whose metric is within
    :data:`ACCURACY_TOLERANCE` of γ = 0's, the smallest whose coverage reaches
    ``target_coverage`` (the teacher's); when none reaches it, the one covering the most."""
    scores = {str(exponent): dict(zip(("metric", "coverage"), score(exponent)))
              for exponent in NORM_EXPONENTS}
    floor = scores[str(NORM_EXPONENTS[0])]["metric"] * (1 - ACCURACY_TOLERANCE)
    admissible = [g for g in NORM_EXPONENTS if scores[str(g)]["metric"] >= floor]
    reaching = [g for g in admissible if scores[str(g)]["coverage"] >= target_coverage]
    if reaching:
        return reaching[0], scores
    return max(admissible, key=lambda g: scores[str(g)]["coverage"]), scores
