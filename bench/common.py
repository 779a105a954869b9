"""Helpers the benchmark scripts share: running pipeline stages, and cold-start scoring."""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from mmgraph.config import RunConfig
from mmgraph.data import UserItems
from mmgraph.evaluation.metrics import ranking_metrics
from mmgraph.pipeline import STAGES
from mmgraph.runs import RunDir

KS = (10, 20)


def run_stages(cfg: RunConfig, stages: list[str], seconds: dict[str, float] | None = None
               ) -> RunDir:
    """Run ``stages`` of ``cfg`` (finished ones are skipped), quietly; each stage's wall time
    goes into ``seconds`` when given."""
    run = RunDir(cfg.run_dir)
    run.write_config(cfg)
    for stage in stages:
        started = time.perf_counter()
        STAGES[stage](cfg, run, progress=False)
        if seconds is not None:
            seconds[stage] = time.perf_counter() - started
    return run


def content_knn_scores(features: torch.Tensor, train: UserItems, users: np.ndarray,
                       candidates: np.ndarray) -> torch.Tensor:
    """Cosine of each candidate's content to the mean content of the user's train items,
    ``[len(users), len(candidates)]``."""
    normed = F.normalize(features, dim=1)
    rows, items = train.batch_coo(users)
    profiles = torch.zeros(len(users), normed.shape[1]).index_add_(
        0, torch.from_numpy(rows), normed[torch.from_numpy(items)])
    return F.normalize(profiles, dim=1) @ normed[torch.from_numpy(candidates)].T


def cold_metrics(scores: torch.Tensor, users: np.ndarray, candidates: np.ndarray,
                 truth: UserItems) -> dict[str, float]:
    """Metrics of ranking only the cold ``candidates`` by ``scores [B, C]``."""
    top = torch.topk(scores, max(KS), dim=1).indices.numpy()
    return ranking_metrics(candidates[top], users, truth, KS)


def random_cold_metrics(users: np.ndarray, candidates: np.ndarray, truth: UserItems,
                        seeds: int = 20) -> dict[str, float]:
    """:func:`cold_metrics` of random scores, averaged over ``seeds`` seeds."""
    runs = [cold_metrics(torch.rand(len(users), len(candidates),
                                    generator=torch.Generator().manual_seed(s)),
                         users, candidates, truth) for s in range(seeds)]
    return {m: float(np.mean([r[m] for r in runs])) for m in runs[0]}


def table(rows: dict[str, dict], columns: list[str]) -> str:
    """A Markdown table of ``rows`` (name → metrics); seconds per epoch to 2 decimals, other
    floats to 4, missing cells empty."""
    lines = ["| model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in rows.items():
        cells = [f"{row[c]:.2f}" if c == "s/epoch" and c in row else
                 f"{row[c]:.4f}" if isinstance(row.get(c), float) else str(row.get(c, ""))
                 for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
