import numpy as np
import pytest
import torch

from mmgraph.config import StudentConfig
from mmgraph.data import UserItems
from mmgraph.models.sequential import SequentialStudent, latest_sequences
from mmgraph.training.objectives import sequential_distillation


def test_latest_sequences_keep_each_users_newest_items_in_time_order():
    users, items = np.array([0, 0, 0, 1, 2, 2]), np.array([5, 6, 7, 8, 1, 2])
    times = np.array([3, 1, 2, 5, 9, 9])
    table = latest_sequences(users, items, times, num_users=4, length=2)
    # user 0 chose 6, 7, 5 in that order; ties keep the input order; user 3 chose nothing
    assert table.tolist() == [[8, 6], [0, 9], [2, 3], [0, 0]]


def test_states_are_causal_and_pads_change_nothing():
    torch.manual_seed(0)
    model = SequentialStudent(num_items=10, dim=8, max_length=4, layers=2, heads=2,
                              dropout=0.0).eval()
    sequences = torch.tensor([[0, 0, 3, 4], [1, 2, 3, 4]])
    states = model.encode(sequences)
    assert states.shape == (2, 4, 8) and torch.isfinite(states).all()
    later = sequences.clone()
    later[1, 3] = 9  # a later item changes the last state only
    changed = model.encode(later)
    assert torch.allclose(changed[1, :3], states[1, :3], atol=1e-6)
    assert not torch.allclose(changed[1, 3], states[1, 3])
    assert torch.allclose(model(sequences[:1]), model(sequences[:1, 2:]), atol=1e-5)
    assert torch.allclose(model.user_vectors(sequences, batch_size=1), model(sequences))
    assert model.items.shape == (10, 8)


def _repeating(num_users: int = 30, num_items: int = 12, length: int = 8) -> torch.Tensor:
    """Every user walks the items in a fixed cycle (item i is followed by item i + 1)."""
    rng = np.random.default_rng(0)
    starts = rng.integers(0, num_items, num_users)
    return torch.from_numpy((starts[:, None] + np.arange(length)) % num_items + 1)


@pytest.mark.parametrize("kd_weight", [0.0, 0.5])
def test_training_learns_which_item_comes_next(kd_weight):
    torch.manual_seed(0)
    sequences, num_items = _repeating(), 12
    seen = UserItems(np.repeat(np.arange(30), 8), (sequences - 1).flatten().numpy(), 30,
                     num_items)
    teacher = torch.eye(num_items)  # a teacher that scores "the next item in the cycle"
    teacher_users = teacher[(sequences[:, -1]) % num_items] * 5  # item after the last one
    cfg = StudentConfig(kind="sequential", dim=16, kd_weight=kd_weight, kd_topk=0,
                        kd_candidates=12, dropout=0.0, max_length=8)
    model = SequentialStudent(num_items, 16, 8, 1, 2, 0.0)
    loss = sequential_distillation(model, sequences, teacher_users, teacher, seen, cfg,
                                   torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    users = torch.arange(30)
    first = float(loss(users).detach())
    for _ in range(150):
        optimizer.zero_grad()
        value = loss(users)
        value.backward()
        optimizer.step()
    assert float(value.detach()) < first / 2
    scores = (model.user_vectors(sequences) @ model.items.T).detach()
    scores.scatter_(1, sequences - 1, float("-inf"))  # seen items are never served
    following = sequences[:, -1] % num_items  # the item after each user's last one (0-based)
    assert (scores.argmax(1) == following).float().mean() > 0.9


def test_sequential_config_refuses_terms_it_does_not_learn():
    with pytest.raises(ValueError, match="rd_weight, contrastive_weight and hint_weight"):
        StudentConfig(kind="sequential", hint_weight=0.5)
    with pytest.raises(ValueError, match="multiple of student.heads"):
        StudentConfig(kind="sequential", dim=30, heads=4)


def test_item_table_starts_from_given_factors_at_the_random_start_scale():
    torch.manual_seed(0)
    model = SequentialStudent(num_items=12, dim=8, max_length=5, layers=1)
    factors = torch.randn(12, 8) * 7.0
    model.start_items_from(factors)
    assert torch.allclose(model.items, factors * (0.1 / factors.std()))
    assert model.item_embedding.weight[0].abs().sum() == 0  # the pad row
    assert model.items.std().item() == pytest.approx(0.1, rel=1e-5)
