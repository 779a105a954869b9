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


def test_id_map_reports_unknown_ids():
    ids = IdMap(["a", "b"], "item_id")
    assert ids.indices(np.array(["b", "a"]), "x").tolist() == [1, 0]
    with pytest.raises(DataError, match=r"x: 1 row\(s\) name item_id id\(s\) .*\['zz'\]"):
        ids.indices(np.array(["a", "zz"]), "x")
