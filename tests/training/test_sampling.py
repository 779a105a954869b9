import numpy as np
import pytest
import torch

from mmgraph.data import UserItems
from mmgraph.training import sample_negatives, sample_positives


def test_negatives_avoid_seen_items():
    seen = UserItems(np.repeat(np.arange(5), 8), np.tile(np.arange(8), 5), 5, 10)
    users = torch.arange(5).repeat(40)
    negatives = sample_negatives(users, seen, torch.Generator().manual_seed(0), num=3)
    assert negatives.shape == (200, 3)
    assert ((negatives == 8) | (negatives == 9)).all()


def test_negatives_are_uniform_over_unseen_items():
    seen = UserItems(np.array([0, 0, 0, 1]), np.array([0, 2, 5, 1]), 2, 6)
    draws = sample_negatives(torch.zeros(6000, dtype=torch.long), seen,
                             torch.Generator().manual_seed(1))
    counts = np.bincount(draws.numpy().ravel(), minlength=6)
    assert counts[[0, 2, 5]].sum() == 0
    assert np.allclose(counts[[1, 3, 4]] / 6000, 1 / 3, atol=0.03)


def test_nth_unseen_enumerates_the_complement():
    seen = UserItems(np.array([0, 0, 1, 1, 1]), np.array([1, 3, 0, 1, 2]), 3, 6)
    for user, expected in [(0, [0, 2, 4, 5]), (1, [3, 4, 5]), (2, [0, 1, 2, 3, 4, 5])]:
        ranks = np.arange(len(expected))
        assert seen.nth_unseen(np.full(len(expected), user), ranks).tolist() == expected


def test_positives_are_uniform_over_each_users_items():
    seen = UserItems(np.array([0, 0, 0, 1]), np.array([0, 2, 5, 1]), 3, 6)
    draws = sample_positives(torch.tensor([0] * 6000 + [1] * 10), seen,
                             torch.Generator().manual_seed(2)).numpy()
    assert (draws[6000:] == 1).all()
    counts = np.bincount(draws[:6000], minlength=6)
    assert counts[[1, 3, 4]].sum() == 0
    assert np.allclose(counts[[0, 2, 5]] / 6000, 1 / 3, atol=0.03)
    with pytest.raises(ValueError, match="user index 2 has no training items"):
        sample_positives(torch.tensor([2]), seen, torch.Generator())
