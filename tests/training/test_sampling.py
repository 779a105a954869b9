import numpy as np
import torch

from mmgraph.data import UserItems
from mmgraph.training import sample_negatives


def test_negatives_avoid_seen_items():
    seen = UserItems(np.repeat(np.arange(5), 8), np.tile(np.arange(8), 5), 5, 10)
    users = torch.arange(5).repeat(40)
    negatives = sample_negatives(users, seen, torch.Generator().manual_seed(0), num=3)
    assert negatives.shape == (200, 3)
    assert ((negatives == 8) | (negatives == 9)).all()
