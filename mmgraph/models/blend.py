r"""Blend several scorers' embeddings into one teacher whose scores are a weighted sum.

Each component :math:`c` scores by dot product, :math:`s^c_{ui} = \langle p^c_u, q^c_i\rangle`.
Its scores are put on one scale by their standard deviation :math:`\sigma_c` (over a seeded
sample of user–item pairs), and the blend is

.. math::
    s_{ui} = \sum_c \frac{w_c}{\sigma_c} s^c_{ui}
           = \Big\langle \big[\tfrac{w_c}{\sigma_c} p^c_u\big]_c, \big[q^c_i\big]_c \Big\rangle,

so the blended teacher is again a pair of embedding tables (the components side by side) and
everything downstream (evaluation, soft labels, FAISS) treats it like any other model. With
weights summing to 1 the blended scores have a standard deviation of at most 1 (1 when the
components agree), whatever the components' own scales, which gives the student's distillation
temperature about the same meaning for every teacher.

Shapes: ``users [U, d_c]`` and ``items [I, d_c]`` per component → ``[U, sum d_c]``,
``[I, sum d_c]``.
"""

from __future__ import annotations

import itertools
from typing import Callable

import torch

__all__ = ["score_std", "score_stds", "blend_embeddings", "choose_blend"]

Embeddings = tuple[torch.Tensor, torch.Tensor]


def score_std(users: torch.Tensor, items: torch.Tensor, samples: int = 100_000,
              seed: int = 0) -> float:
    """Standard deviation of ``users @ items.T`` over ``samples`` random user–item pairs
    (scored 10,000 pairs at a time, so wide embeddings need little memory)."""
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randint(users.shape[0], (samples,), generator=generator)
    cols = torch.randint(items.shape[0], (samples,), generator=generator)
    scores = torch.cat([(users[r] * items[c]).sum(-1)
                        for r, c in zip(rows.split(10_000), cols.split(10_000))])
    return float(scores.std().clamp_min(1e-12))


def score_stds(parts: dict[str, Embeddings], seed: int = 0) -> dict[str, float]:
    """:func:`score_std` of every component, computed once for all the blends tried."""
    return {name: score_std(*part, seed=seed) for name, part in parts.items()}


def blend_embeddings(parts: dict[str, Embeddings], weights: dict[str, float],
                     stds: dict[str, float]) -> Embeddings:
    """The components side by side, user rows scaled by ``weight / score std`` (``stds`` from
    :func:`score_stds`); components of weight 0 are left out."""
    kept = [name for name in parts if weights.get(name, 0.0) > 0]
    users = torch.cat([parts[n][0] * (weights[n] / stds[n]) for n in kept], dim=1)
    items = torch.cat([parts[n][1] for n in kept], dim=1)
    return users, items


def choose_blend(parts: dict[str, Embeddings],
                 score_all: Callable[[list[Embeddings], list[list[float]]], list[float]],
                 stds: dict[str, float], steps: int = 10
                 ) -> tuple[dict[str, float], dict[str, float]]:
    r"""The components' weights (multiples of ``1/steps`` summing to 1) that validation ranks
    best; ``C(steps + n - 1, n - 1)`` blends for ``n`` components (11 for two, 66 for three).

    ``score_all(components, weightings)`` scores every blend at once: the blend with weights
    ``w`` scores :math:`\sum_c (w_c / \sigma_c) \langle p^c_u, q^c_i\rangle`, exactly the
    dot product of :func:`blend_embeddings`, so each component's scores can be computed once
    for all blends (:func:`mmgraph.evaluation.evaluate_weighted_sums`). Returns the weights and
    every tried blend's score, keyed ``"name=w,name=w"``."""
    names = list(parts)
    candidates = [dict(zip(names, [c / steps for c in (*counts, steps - sum(counts))]))
                  for counts in itertools.product(range(steps + 1), repeat=len(names) - 1)
                  if sum(counts) <= steps]
    values = score_all([parts[name] for name in names],
                       [[weights[name] / stds[name] for name in names] for weights in candidates])
    tried = {",".join(f"{n}={w:g}" for n, w in weights.items()): value
             for weights, value in zip(candidates, values)}
    best = max(range(len(candidates)), key=lambda i: (values[i], -i))  # ties: the first
    return candidates[best], tried
