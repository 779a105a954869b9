import numpy as np
import torch

from mmgraph.models.spectral import interaction_matrix
from mmgraph.models.temporal import recency_history, time_weighted_cooccurrence
from tests.models.test_spectral import _graph


def test_time_weighted_cooccurrence_is_its_formula_and_tends_to_the_plain_one():
    """G_ij = sum over each user's pairs of exp(-|t_a - t_b| / tau); tau → inf gives R^T R, and
    the window / min_weight cuts only drop pairs that far apart."""
    rng = np.random.default_rng(4)
    pairs = _graph(7, 10, seed=4)
    times = torch.from_numpy(rng.uniform(0, 100, pairs.shape[1]))
    expected, (users, items), stamps = np.zeros((10, 10)), pairs.numpy(), times.numpy()
    for a in range(len(users)):
        for b in range(len(users)):
            if users[a] == users[b]:
                expected[items[a], items[b]] += np.exp(-abs(stamps[a] - stamps[b]) / 20.0)
    graph = time_weighted_cooccurrence(pairs, times, 10, time_scale=20.0, min_weight=1e-12)
    np.testing.assert_allclose(graph.toarray(), expected, atol=1e-9)
    plain = interaction_matrix(pairs, 7, 10)
    np.testing.assert_allclose(time_weighted_cooccurrence(pairs, times, 10, 1e12).toarray(),
                               (plain.T @ plain).toarray(), atol=1e-6)
    near = time_weighted_cooccurrence(pairs, times, 10, 20.0, window=1).toarray()
    assert (near <= expected + 1e-9).all() and near.trace() == expected.trace()


def test_recency_history_halves_the_weight_every_half_life_items_back():
    """The latest item weighs 1, the k-th latest 2^(-k/h); ties in time keep the given order
    and an item seen twice counts at its latest position."""
    pairs = torch.tensor([[0, 0, 0, 1, 1, 0], [3, 1, 2, 0, 1, 3]])
    times = torch.tensor([5.0, 1.0, 3.0, 2.0, 2.0, 0.0])
    history = recency_history(pairs, times, 2, 4, half_life=1.0).toarray()
    np.testing.assert_allclose(history, [[0.0, 0.25, 0.5, 1.0], [0.5, 1.0, 0.0, 0.0]])
    random = _graph(7, 10, seed=4)
    stamps = torch.from_numpy(np.random.default_rng(4).uniform(0, 100, random.shape[1]))
    far = recency_history(random, stamps, 7, 10, half_life=1e12)
    np.testing.assert_allclose(far.toarray(), interaction_matrix(random, 7, 10).toarray())
