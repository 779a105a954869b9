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


@pytest.mark.parametrize("num_items,dim,history", [
    (40, 6, [3, 7, 7, 21]),       # a short history: the Woodbury update
    (40, 6, list(range(0, 30, 2))),  # longer than the dimension: the direct solve
    (5, 12, [0, 2]),              # fewer items than dimensions: their span
])
@pytest.mark.parametrize("alpha", [0.1, 1.0])
def test_every_solve_equals_the_dense_closed_form(num_items, dim, history, alpha):
    rng = np.random.default_rng(num_items)
    items = rng.normal(size=(num_items, dim))
    chosen = items[np.unique(history)]
    scale = (items ** 2).sum(1).mean()
    system = alpha * items.T @ items + (1 - alpha) * chosen.T @ chosen + 3.0 * scale * np.eye(dim)
    expected = np.linalg.solve(system, chosen.sum(0))
    got = FoldIn(alpha, 3.0).user_vectors(items, [np.asarray(history)])[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


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


@pytest.mark.parametrize("num_items,dim,history,alpha", [
    (40, 6, 3, 0.3), (40, 6, 25, 0.3), (4, 12, 3, 0.1), (40, 6, 5, 1.0), (40, 6, 1, 0.0)])
def test_contributions_add_up_to_the_folded_in_score(num_items, dim, history, alpha):
    """Each history item's term, summed, is the folded-in vector's score of the target, for
    short (Woodbury) and long (direct) histories, wide vectors and alpha at both ends."""
    rng = np.random.default_rng(num_items + history)
    items = rng.normal(size=(num_items, dim)).astype(np.float32)
    chosen = np.sort(rng.choice(num_items, history, replace=False))
    foldin = FoldIn(alpha, 2.0)
    user = foldin.user_vectors(items, [chosen])[0].astype(np.float64)
    for target in (0, num_items - 1, int(chosen[0])):
        terms = foldin.contributions(items, chosen, target)
        assert terms.shape == (history,)
        assert terms.sum() == pytest.approx(items[target] @ user, rel=1e-4, abs=1e-6)
    assert foldin.contributions(items, chosen[:0], 0).shape == (0,)
