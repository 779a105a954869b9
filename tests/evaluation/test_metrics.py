import math

import numpy as np
import pytest

from mmgraph.data import UserItems
from mmgraph.evaluation import list_metrics, per_user_metrics, ranking_metrics


def test_hand_computed_recall_and_ndcg():
    # user 0 holds out {1, 4}; user 1 holds out {2}; user 2 none (ignored).
    truth = UserItems(np.array([0, 0, 1]), np.array([1, 4, 2]), 3, 6)
    topk = np.array([[4, 0, 1], [0, 3, 5], [1, 2, 3]])
    m = ranking_metrics(topk, np.array([0, 1, 2]), truth, ks=(1, 3))
    # user 0: rank1 hit, rank3 hit; user 1: no hit.
    assert m["recall@1"] == pytest.approx((1 / 2 + 0) / 2)
    assert m["recall@3"] == pytest.approx((2 / 2 + 0) / 2)
    assert m["ndcg@1"] == pytest.approx((1.0 + 0) / 2)
    dcg = 1 + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3)
    assert m["ndcg@3"] == pytest.approx((dcg / idcg + 0) / 2)


def test_ideal_dcg_uses_min_of_k_and_test_count():
    truth = UserItems(np.zeros(5, int), np.arange(5), 1, 10)
    m = ranking_metrics(np.array([[0, 1]]), np.array([0]), truth, ks=(2,))
    assert m["ndcg@2"] == pytest.approx(1.0)
    assert m["recall@2"] == pytest.approx(2 / 5)


def test_padding_never_hits_and_short_lists_count_as_misses():
    """A catalogue smaller than K: the missing ranks are misses, as -1 padding is."""
    truth = UserItems(np.array([0, 0]), np.array([0, 2]), 1, 3)
    m = ranking_metrics(np.array([[-1, -1]]), np.array([0]), truth, ks=(2,))
    assert m == {"recall@2": 0.0, "ndcg@2": 0.0}
    short = ranking_metrics(np.array([[0]]), np.array([0]), truth, ks=(2,))
    assert short == ranking_metrics(np.array([[0, -1]]), np.array([0]), truth, ks=(2,))
    assert short["recall@2"] == 0.5


def test_per_user_metrics_are_the_users_of_the_mean():
    truth = UserItems(np.array([0, 0, 1]), np.array([1, 4, 2]), 3, 6)
    topk = np.array([[4, 0, 1], [0, 3, 5], [1, 2, 3]])
    users = np.array([0, 1, 2])
    per_user = per_user_metrics(topk, users, truth, ks=(3,))
    assert per_user["recall@3"].tolist() == [1.0, 0.0]  # user 2 has nothing held out
    assert per_user["ndcg@3"].mean() == pytest.approx(ranking_metrics(topk, users, truth,
                                                                      (3,))["ndcg@3"])


def test_list_metrics_coverage_and_average_popularity():
    counts = np.array([10.0, 1.0, 5.0, 0.0])
    topk = np.array([[0, 1], [0, 2], [2, -1]])  # the last list is one item short
    m = list_metrics(topk, counts, 2)
    assert m["coverage@2"] == pytest.approx(3 / 4)
    assert m["popularity@2"] == pytest.approx(((10 + 1) / 2 + (10 + 5) / 2 + 5) / 3)
    assert list_metrics(np.full((2, 2), -1), counts, 2) == {"coverage@2": 0.0,
                                                            "popularity@2": 0.0}
