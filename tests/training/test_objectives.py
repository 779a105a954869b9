import numpy as np
import pytest
import torch

from mmgraph.data import UserItems
from mmgraph.graph import bipartite_adjacency, item_adjacency, knn_graph
from mmgraph.models import MultimodalTeacher
from mmgraph.training import teacher_ranking_loss, teacher_whole_data_loss
from mmgraph.training.optim import make_optimizer


@pytest.mark.parametrize("loss", ["bpr", "softmax"])
def test_teacher_objective_trains_every_parameter_and_lowers_the_loss(loss):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 12, 80), rng.integers(0, 20, 80)
    seen = UserItems(users, items, 12, 20)
    pairs = torch.from_numpy(np.stack([np.repeat(np.arange(12), seen.counts), seen.indices]))
    features = {"text": torch.randn(20, 6)}
    adjacency = bipartite_adjacency(pairs, 12, 20)
    item_adj = item_adjacency(*knn_graph(features["text"], 3), 20)
    model = MultimodalTeacher(12, 20, dim=8, num_layers=2, content_dims={"text": 6},
                              fusion="gated")
    objective = teacher_ranking_loss(model, adjacency, features, item_adj, seen, 1e-4,
                                     torch.Generator().manual_seed(0), loss, num_negatives=5)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    first = objective(pairs[0], pairs[1])
    first.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    for _ in range(30):
        optimizer.zero_grad()
        objective(pairs[0], pairs[1]).backward()
        optimizer.step()
    assert objective(pairs[0], pairs[1]).item() < 0.7 * first.item()


def test_whole_data_loss_equals_the_sum_over_every_user_item_pair():
    """The Gramian shortcut gives iALS's loss written out over the dense U × I score matrix,
    a batch's terms are its share of it, and full-batch Adam steps lower it."""
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    seen = UserItems(rng.integers(0, 9, 60), rng.integers(0, 14, 60), 9, 14)
    pairs = torch.from_numpy(np.stack([np.repeat(np.arange(9), seen.counts), seen.indices]))
    features = {"text": torch.randn(14, 5)}
    adjacency = bipartite_adjacency(pairs, 9, 14)
    model = MultimodalTeacher(9, 14, dim=6, num_layers=2, content_dims={"text": 5})
    edges, weight, reg = pairs.shape[1], 0.3, 0.05
    objective = teacher_whole_data_loss(model, adjacency, features, None, edges, weight, reg)
    users, items = model(adjacency, features)
    scores = users @ items.T
    observed = scores[pairs[0], pairs[1]]
    ego = (model.user_embedding.weight.pow(2).sum()
           + model.item_ego(features).pow(2).sum())
    by_hand = ((observed - 1) ** 2).sum() + weight * scores.pow(2).sum() + reg * ego
    assert torch.allclose(objective(pairs[0], pairs[1]), by_hand / edges, rtol=1e-5)
    half = torch.arange(edges // 2)
    expected = (((observed[half] - 1) ** 2).mean()
                + (weight * scores.pow(2).sum() + reg * ego) / edges)
    assert torch.allclose(objective(pairs[0][half], pairs[1][half]), expected, rtol=1e-5)
    shuffled = torch.randperm(edges)  # the full batch in another order: the same loss
    assert torch.allclose(objective(pairs[0][shuffled], pairs[1][shuffled]), by_hand / edges,
                          rtol=1e-5)
    params = list(model.parameters())  # the sparse scores' backward = autograd of the dense
    padded = torch.cat([half, half[:3]])  # a batch that repeats pairs (distributed padding)
    expected = (((observed[padded] - 1) ** 2).mean()
                + (weight * scores.pow(2).sum() + reg * ego) / edges)
    for value, reference in ((objective(pairs[0], pairs[1]), by_hand / edges),
                             (objective(pairs[0][padded], pairs[1][padded]), expected)):
        got = torch.autograd.grad(value, params, allow_unused=True)
        want = torch.autograd.grad(reference, params, retain_graph=True, allow_unused=True)
        for g, w in zip(got, want):
            assert (g is None) == (w is None) and (g is None or torch.allclose(g, w, atol=1e-6))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    first = objective(pairs[0], pairs[1]).item()
    for _ in range(30):
        optimizer.zero_grad()
        objective(pairs[0], pairs[1]).backward()
        optimizer.step()
    assert objective(pairs[0], pairs[1]).item() < 0.7 * first


@pytest.mark.parametrize("weights", [
    {"kd_weight": 0.0}, {"kd_weight": 0.5}, {"kd_weight": 0.0, "rd_weight": 1.0},
    {"kd_weight": 0.0, "contrastive_weight": 1.0}, {"kd_weight": 0.0, "hint_weight": 1.0},
])
def test_each_student_loss_trains_the_student(weights):
    """Every term gets gradients into the tables (and the projection when it is used), and a
    few steps lower the objective."""
    from mmgraph.config import StudentConfig
    from mmgraph.models import IDStudent
    from mmgraph.training import student_distillation

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 10, 60), rng.integers(0, 15, 60)
    seen = UserItems(users, items, 10, 15)
    batch = torch.from_numpy(seen.users_with_items())
    teacher_users, teacher_items = torch.randn(10, 6), torch.randn(15, 6)
    topk = torch.topk(teacher_users @ teacher_items.T, 4).indices
    cfg = StudentConfig(kd_candidates=8, rd_topk=4, **weights)
    student = IDStudent(10, 15, dim=4, teacher_dim=6 if cfg.needs_projection else None)
    objective = student_distillation(student, teacher_users, teacher_items, seen, cfg,
                                     torch.Generator().manual_seed(0), topk)
    first = objective(batch)
    first.backward()
    assert all(p.grad is not None and p.grad.to_dense().abs().sum() > 0
               for p in student.parameters())
    optimizer = make_optimizer(student, lr=0.05)  # SparseAdam for the sparse-gradient tables
    for _ in range(30):
        optimizer.zero_grad()
        objective(batch).backward()
        optimizer.step()
    assert objective(batch).item() < 0.8 * first.item()


def test_student_losses_refuse_missing_inputs():
    from mmgraph.config import StudentConfig
    from mmgraph.models import IDStudent
    from mmgraph.training import student_distillation

    seen = UserItems(np.array([0]), np.array([0]), 1, 2)
    for cfg in (StudentConfig(rd_weight=1.0, kd_weight=0.0), StudentConfig(kd_weight=0.5)):
        with pytest.raises(ValueError, match="teacher_topk"):
            student_distillation(IDStudent(1, 2), torch.zeros(1, 3), torch.zeros(2, 3), seen,
                                 cfg, torch.Generator())
    with pytest.raises(ValueError, match="teacher_dim"):
        student_distillation(IDStudent(1, 2), torch.zeros(1, 3), torch.zeros(2, 3), seen,
                             StudentConfig(hint_weight=1.0), torch.Generator())


def test_row_isin_matches_a_direct_comparison():
    from mmgraph.training.objectives import _row_isin

    generator = torch.Generator().manual_seed(0)
    rows = torch.randint(-1, 30, (7, 12), generator=generator)  # -1: padding, never a match
    shared = torch.randint(0, 30, (9,), generator=generator)
    expected = (rows[:, :, None] == shared[None, None, :]).any(1)
    assert torch.equal(_row_isin(shared, rows), expected)
    assert not _row_isin(torch.tensor([0]), torch.full((2, 3), -1)).any()
    assert _row_isin(shared, rows[:, :0]).shape == (7, 9)  # no top items: nothing matches
    assert not _row_isin(shared, rows[:, :0]).any()


def test_row_std_uses_only_valid_entries_and_guards_flat_rows():
    from mmgraph.distill.soft_labels import _row_std

    values = torch.tensor([[1.0, 3.0, 100.0], [2.0, 2.0, 2.0], [5.0, 0.0, 0.0]])
    valid = torch.tensor([[True, True, False], [True, True, True], [True, False, False]])
    assert torch.allclose(_row_std(values, valid), torch.tensor([2.0 ** 0.5, 1.0, 1.0]))


def test_soft_labels_do_not_depend_on_the_scale_of_a_users_teacher_scores():
    """Multiplying one user's teacher vector by 50 (a heavier user of a graph filter) leaves
    that user's distillation loss unchanged: scores are divided by the user's spread."""
    from mmgraph.config import StudentConfig
    from mmgraph.models import IDStudent
    from mmgraph.training import student_distillation

    torch.manual_seed(0)
    seen = UserItems(np.arange(4), np.arange(4), 4, 30)
    teacher_users, teacher_items = torch.randn(4, 6), torch.randn(30, 6)
    topk = torch.topk(teacher_users @ teacher_items.T, 10).indices
    cfg = StudentConfig(kd_weight=1.0, kd_topk=10, kd_candidates=8, optim={"reg": 0.0})
    student = IDStudent(4, 30, dim=4)
    losses = []
    for factor in (1.0, 50.0):
        scaled = teacher_users.clone()
        scaled[2] *= factor
        objective = student_distillation(student, scaled, teacher_items, seen, cfg,
                                         torch.Generator().manual_seed(0), topk)
        losses.append(objective(torch.tensor([2])).item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
