import copy

import torch

from mmgraph.models import IDStudent, MultimodalTeacher
from mmgraph.training.optim import MixedAdam, make_optimizer


def _step(model: IDStudent, optimizer, users: torch.Tensor, items: torch.Tensor) -> None:
    scores = (model.user_embedding(users) * model.item_embedding(items)).sum(-1)
    loss = -torch.nn.functional.logsigmoid(scores).mean()
    if model.projection is not None:
        loss = loss + model.projection(model.item_embedding(items)).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def test_dense_models_get_adam_and_sparse_tables_sparse_adam():
    assert isinstance(make_optimizer(MultimodalTeacher(4, 5, dim=3), 0.1), torch.optim.Adam)
    mixed = make_optimizer(IDStudent(4, 5, dim=3, teacher_dim=6), 0.1)
    assert isinstance(mixed, MixedAdam)
    assert [type(p) for p in mixed.parts] == [torch.optim.Adam, torch.optim.SparseAdam]


def test_a_step_moves_only_the_rows_in_the_batch():
    """Lazy Adam: the cost and the change of a step are the batch's rows, even after earlier
    steps left momentum on other rows (dense Adam would keep moving those)."""
    torch.manual_seed(0)
    model = IDStudent(50, 80, dim=4)
    optimizer = make_optimizer(model, 0.1)
    _step(model, optimizer, torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]))
    before = model.item_embedding.weight.detach().clone()
    _step(model, optimizer, torch.tensor([7]), torch.tensor([9]))
    moved = (model.item_embedding.weight.detach() != before).any(1).nonzero().flatten()
    assert moved.tolist() == [9]


def test_state_dict_round_trip_continues_exactly():
    """Saved mid-training and loaded into a fresh optimiser over a copy of the model, training
    continues bit for bit (what the checkpoints rely on)."""
    torch.manual_seed(0)
    model = IDStudent(20, 30, dim=4, teacher_dim=6)
    optimizer = make_optimizer(model, 0.05)
    batches = [(torch.randint(20, (8,)), torch.randint(30, (8,))) for _ in range(6)]
    for users, items in batches[:3]:
        _step(model, optimizer, users, items)
    twin = IDStudent(20, 30, dim=4, teacher_dim=6)
    twin.load_state_dict(model.state_dict())
    restored = make_optimizer(twin, 0.05)
    restored.load_state_dict(copy.deepcopy(optimizer.state_dict()))  # no shared moments
    for users, items in batches[3:]:
        _step(model, optimizer, users, items)
        _step(twin, restored, users, items)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, twin.state_dict()[name]), name
