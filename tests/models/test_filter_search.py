import numpy as np
import pytest
import torch

from mmgraph.graph import knn_graph
from mmgraph.models.filter_search import PLAIN, fixed_filter, tuned_filter
from mmgraph.models.spectral import interaction_matrix, spectral_filter
from mmgraph.models.temporal import recency_history
from tests.models.test_spectral import _formula, _graph


def test_tuned_filter_keeps_the_setting_validation_ranks_best():
    """Every (b, rho) pair is scored once; the returned embeddings are that pair's filter."""

    pairs = _graph(9, 12, seed=2)
    target = spectral_filter(pairs, 9, 12, degree_exponent=0.5, ridge=0.1)

    def score(embeddings):  # closeness to the (b=0.5, rho=0.1) filter's scores
        return -float(((embeddings[0] @ embeddings[1].T) - target[0] @ target[1].T).abs().max())

    (users, items), tried, chosen, _ = tuned_filter(pairs, 9, 12, score, (0.0, 0.5),
                                                    (0.01, 0.1, 1.0))
    assert list(tried) == [f"b={b},rho={r}" for b in (0.0, 0.5) for r in (0.01, 0.1, 1.0)]
    assert max(tried, key=tried.get) == "b=0.5,rho=0.1"
    assert chosen == {**PLAIN, "degree_exponent": 0.5, "ridge": 0.1}
    np.testing.assert_allclose((users @ items.T).numpy(), (target[0] @ target[1].T).numpy(),
                               atol=1e-6)


def test_tuned_filter_chooses_the_content_weight_too():
    """Each content weight is its own decomposition; the one validation ranks best is kept,
    and without a content graph only the weight 0 is tried."""

    pairs, features = _graph(9, 12, seed=5), torch.rand(12, 5)
    content = knn_graph(features, 3)
    target = spectral_filter(pairs, 9, 12, degree_exponent=0.2, ridge=0.1,
                             content_graph=content, content_weight=0.3)

    def score(embeddings):
        return -float(((embeddings[0] @ embeddings[1].T) - target[0] @ target[1].T).abs().max())

    _, tried, chosen, _ = tuned_filter(pairs, 9, 12, score, (0.2,), (0.1,), (0.0, 0.3, 1.0),
                                       content_graph=content)
    assert list(tried) == ["b=0.2,rho=0.1", "b=0.2,rho=0.1,beta=0.3", "b=0.2,rho=0.1,beta=1.0"]
    assert chosen == {**PLAIN, "degree_exponent": 0.2, "ridge": 0.1, "content_weight": 0.3}
    _, tried, chosen, _ = tuned_filter(pairs, 9, 12, score, (0.2,), (0.1,), (0.0, 0.3))
    assert list(tried) == ["b=0.2,rho=0.1"] and chosen["content_weight"] == 0.0


def test_tuned_filter_scores_users_from_the_history_validation_ranks_best():
    """A weighted history replaces R in the user side only (s_u = w_u D^-b V f V^T D^b, the
    same decomposition); each half-life is one more setting beside the plain rows."""

    pairs = _graph(9, 12, seed=5)
    times = torch.from_numpy(np.random.default_rng(5).uniform(0, 100, pairs.shape[1]))
    histories = {half_life: recency_history(pairs, times, 9, 12, half_life)
                 for half_life in (1.0, 3.0)}
    r = interaction_matrix(pairs, 9, 12).toarray()
    plain = _formula(pairs, 9, 12, 0.2, 0.1)
    weighted = histories[3.0].toarray()
    expected = (weighted * r.sum(0) ** -0.2) @ np.linalg.pinv(r * r.sum(0) ** -0.2) @ plain

    def score(embeddings):
        return -float(np.abs((embeddings[0] @ embeddings[1].T).numpy() - expected).max())

    (users, items), tried, chosen, _ = tuned_filter(pairs, 9, 12, score, (0.2,), (0.1,),
                                                    histories=histories)
    assert list(tried) == ["b=0.2,rho=0.1", "b=0.2,rho=0.1,h=1", "b=0.2,rho=0.1,h=3"]
    assert chosen["history_half_life"] == 3.0
    np.testing.assert_allclose((users @ items.T).numpy(), expected, atol=1e-4)


@pytest.mark.parametrize("dense_items", [100, 5])  # dense, and subspace iteration (exact here)
def test_the_user_exponent_and_the_ideal_pass_are_their_formula(dense_items):
    pairs = _graph(9, 12, seed=3)
    expected = _formula(pairs, 9, 12, 0.3, 0.2, c=0.5, ideal=(3, 0.7))

    def score(embeddings):
        return -float(np.abs((embeddings[0] @ embeddings[1].T).numpy() - expected).max())

    (users, items), tried, chosen, _ = tuned_filter(
        pairs, 9, 12, score, (0.3,), (0.05, 0.2), user_exponents=(0.0, 0.5),
        ideals=[(3, 0.7), (3, 2.0)], rank=12, dense_items=dense_items)
    assert chosen == {**PLAIN, "degree_exponent": 0.3, "user_exponent": 0.5, "ridge": 0.2,
                      "ideal_rank": 3, "ideal_weight": 0.7}
    np.testing.assert_allclose((users @ items.T).numpy(), expected, atol=1e-4)
    # one axis group after the other: the ideal passes only on the best decomposition
    assert list(tried) == ["b=0.3,rho=0.05", "b=0.3,rho=0.2", "b=0.3,rho=0.05,c=0.5",
                           "b=0.3,rho=0.2,c=0.5", "b=0.3,rho=0.05,c=0.5,ideal=3x0.7",
                           "b=0.3,rho=0.2,c=0.5,ideal=3x0.7", "b=0.3,rho=0.05,c=0.5,ideal=3x2.0",
                           "b=0.3,rho=0.2,c=0.5,ideal=3x2.0"]
    fixed, _ = fixed_filter(pairs, 9, 12, chosen, rank=12, dense_items=dense_items)
    np.testing.assert_allclose((fixed[0] @ fixed[1].T).numpy(), expected, atol=1e-4)


def test_a_given_cooccurrence_takes_no_user_exponent():
    pairs = _graph(6, 8, seed=1)
    plain = interaction_matrix(pairs, 6, 8)
    _, tried, _, _ = tuned_filter(pairs, 6, 8, lambda e: 0.0, (0.2,), (0.1,),
                                  user_exponents=(0.0, 0.5), cooccurrence=plain.T @ plain)
    assert list(tried) == ["b=0.2,rho=0.1"]
