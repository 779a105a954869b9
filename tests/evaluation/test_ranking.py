import numpy as np
import torch

from mmgraph.data import UserItems
from mmgraph.evaluation import (evaluate_embeddings, evaluate_weighted_sums, popularity_scores,
                                topk_items, topk_of_weighted_sums)


def test_topk_matches_brute_force_and_excludes_seen():
    torch.manual_seed(0)
    users, items = torch.randn(7, 4), torch.randn(11, 4)
    seen = UserItems(np.array([0, 0, 3, 6]), np.array([2, 5, 0, 10]), 7, 11)
    top = topk_items(users, items, np.arange(7), k=4, exclude=seen, batch_size=3)
    scores = users @ items.T
    for user in range(7):
        row = scores[user].clone()
        row[list(seen.row(user))] = float("-inf")
        assert top[user].tolist() == torch.topk(row, 4).indices.tolist()
        assert not set(top[user]) & set(seen.row(user))


def test_weighted_sums_rank_as_the_blended_embeddings_do():
    """One scoring pass for several blends equals ranking each blend's concatenated
    embeddings (batches of 3 over 7 users: buffers reused, a short last batch)."""
    torch.manual_seed(1)
    first, second = (torch.randn(7, 4), torch.randn(11, 4)), (torch.randn(7, 2), torch.randn(11, 2))
    seen = UserItems(np.array([0, 2, 2, 5]), np.array([1, 3, 4, 9]), 7, 11)
    weightings = [[1.0, 0.0], [0.3, 0.7], [0.0, 2.0]]
    tops = topk_of_weighted_sums([first, second], weightings, np.arange(7), 5, seen, 3)
    for (a, b), top in zip(weightings, tops):
        users = torch.cat([first[0] * a, second[0] * b], dim=1)
        items = torch.cat([first[1], second[1]], dim=1)
        assert top.tolist() == topk_items(users, items, np.arange(7), 5, seen, 3).tolist()
    truth = UserItems(np.array([0, 1, 4]), np.array([2, 2, 7]), 7, 11)
    metrics = evaluate_weighted_sums([first, second], weightings, truth, seen, (3,), 3)
    assert metrics[0] == evaluate_embeddings(*first, truth, seen, (3,), 3)


def test_short_catalogue_pads_with_minus_one():
    seen = UserItems(np.array([0, 0]), np.array([0, 1]), 1, 3)
    top = topk_items(torch.ones(1, 2), torch.ones(3, 2), np.array([0]), k=3, exclude=seen)
    assert top.tolist() == [[2, -1, -1]]


def test_popularity_ranks_by_train_count():
    train = UserItems(np.array([0, 1, 2, 1, 2, 2]), np.array([3, 3, 3, 1, 1, 0]), 3, 4)
    top = topk_items(popularity_scores(train, 3), None, np.array([0]), k=3, exclude=train)
    assert top.tolist() == [[1, 0, 2]]


def test_evaluate_on_a_user_slice_averages_only_that_slice():
    # user 0 ranks its test item first, user 1 ranks it last: the slice metrics differ.
    users, items = torch.tensor([[1.0], [-1.0]]), torch.tensor([[1.0], [0.5], [0.1]])
    truth = UserItems(np.array([0, 1]), np.array([0, 0]), 2, 3)
    empty = UserItems(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 2, 3)
    every = evaluate_embeddings(users, items, truth, empty, (1,))
    first = evaluate_embeddings(users, items, truth, empty, (1,), users=np.array([0]))
    second = evaluate_embeddings(users, items, truth, empty, (1,), users=np.array([1]))
    assert (first["recall@1"], second["recall@1"], every["recall@1"]) == (1.0, 0.0, 0.5)
