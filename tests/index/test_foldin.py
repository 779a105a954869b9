import numpy as np
import pytest

from mmgraph.index.foldin import FOLDIN_GRID, FoldIn, tune_foldin


def _loss(vector, items, history, alpha, ridge):
    """iALS's loss for one user, written out over every item."""
    scores = items @ vector
    chosen = np.zeros(len(items), bool)
    chosen[history] = True
    scale = (items ** 2).sum(1).mean()
    return (((1 - scores[chosen]) ** 2).sum() + alpha * (scores[~chosen] ** 2).sum()
            + ridge * scale * (vector ** 2).sum())


@pytest.mark.parametrize("alpha,ridge", [(0.1, 1.0), (1.0, 30.0)])
def test_fold_in_minimises_the_one_user_ials_loss(alpha, ridge):
    rng = np.random.default_rng(0)
    items = rng.normal(size=(40, 6))
    history = np.array([3, 7, 7, 21])  # a repeat counts once
    vector = FoldIn(alpha, ridge).user_vectors(items, [history])[0].astype(np.float64)
    best = _loss(vector, items, [3, 7, 21], alpha, ridge)
    for _ in range(20):  # every nearby vector is worse: the solve found the minimum
        nudged = vector + rng.normal(scale=1e-3, size=6)
        assert _loss(nudged, items, [3, 7, 21], alpha, ridge) > best
    assert not FoldIn().user_vectors(items, [np.array([], np.int64)]).any()  # no history: zero


def test_tuning_returns_the_best_scored_setting():
    rng = np.random.default_rng(1)
    items = rng.normal(size=(30, 4))
    histories = [np.array([0, 1]), np.array([5])]
    calls = []

    def score(vectors):
        calls.append(vectors.shape)
        return -abs(float(np.linalg.norm(vectors)) - 0.5)  # any deterministic preference

    best, scores = tune_foldin(items, histories, score)
    assert len(scores) == len(FOLDIN_GRID["unobserved_weight"]) * len(FOLDIN_GRID["ridge"])
    assert calls == [(2, 4)] * len(scores)
    assert scores[f"alpha={best.unobserved_weight},ridge={best.ridge}"] == max(scores.values())
