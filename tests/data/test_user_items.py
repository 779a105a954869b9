import numpy as np
import torch

from mmgraph.data import IdMap, UserItems
from mmgraph.errors import DataError

import pytest


def test_rows_membership_and_masking():
    sets = UserItems(np.array([0, 0, 2, 2, 2, 0]), np.array([3, 1, 0, 4, 4, 3]), 3, 5)
    assert sets.row(0).tolist() == [1, 3]
    assert sets.row(1).tolist() == []
    assert sets.counts.tolist() == [2, 0, 2]
    assert sets.users_with_items().tolist() == [0, 2]
    assert sets.contains(np.array([0, 0, 1, 2]), np.array([1, 2, 1, 4])).tolist() == [
        True, False, False, True]
    scores = torch.zeros(2, 5)
    sets.mask_scores(scores, np.array([2, 0]))
    assert torch.isinf(scores).nonzero().tolist() == [[0, 0], [0, 4], [1, 1], [1, 3]]


def test_seen_among_answers_as_contains_does_with_repeated_candidates():
    generator = np.random.default_rng(0)
    sets = UserItems(generator.integers(0, 40, 600), generator.integers(0, 30, 600), 40, 30)
    users = np.array([0, 5, 5, 39, 17, 3])
    items = generator.integers(0, 30, 25)  # drawn with replacement: repeats, as the student's
    assert np.array_equal(sets.seen_among(users, items),
                          sets.contains(users[:, None], items[None, :]))
    empty = UserItems(np.array([1]), np.array([2]), 3, 4)  # users 0 and 2 have no items
    assert empty.seen_among(np.array([0, 1, 2]), np.array([2, 2, 3])).tolist() == [
        [False, False, False], [True, True, False], [False, False, False]]
    assert empty.seen_among(np.array([1]), np.array([], np.int64)).shape == (1, 0)


def test_id_map_reports_unknown_ids():
    ids = IdMap(["a", "b"], "item_id")
    assert ids.indices(np.array(["b", "a"]), "x").tolist() == [1, 0]
    with pytest.raises(DataError, match=r"x: 1 item_id value\(s\) are not among the 2 known "
                                        r"item_ids, e.g. \['zz'\]. Fix it."):
        ids.indices(np.array(["a", "zz"]), "x", "Fix it.")


def test_id_map_refuses_ids_of_the_other_kind():
    """"7" never matches 7 silently, and a mixed id table (which Parquet cannot store) is never
    built."""
    numbers, names = IdMap([7, 8], "item_id"), IdMap(["7", "8"], "item_id")
    with pytest.raises(DataError, match=r"ids here are integers, but '7' is not"):
        numbers.indices(["7"], "remove")
    with pytest.raises(DataError, match=r"ids here are strings, but 7 is not"):
        names.indices([7], "remove")
    with pytest.raises(DataError, match=r"add: item_id ids here are integers, but 'new' is not"):
        numbers.extended([9, "new"], "add")
    assert numbers.extended([9], "add").indices([9, 7], "x").tolist() == [2, 0]
    with pytest.raises(DataError, match=r"ids here are strings, but 10{30} is not"):
        names.positions([10**30], "recommend")  # too large for int64: not a string either
    for other_kind in ([True], ["8", 8]):
        with pytest.raises(DataError, match="ids here are"):
            (numbers if other_kind == [True] else names).positions(other_kind, "x")
