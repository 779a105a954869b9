import pytest
import torch

from mmgraph.models.student import IDStudent, low_rank_factors


@pytest.mark.parametrize("dim", [1, 3, 5])
def test_low_rank_factors_are_the_truncated_svd_of_the_product(dim):
    generator = torch.Generator().manual_seed(0)
    users, items = torch.randn(40, 5, generator=generator), torch.randn(25, 5, generator=generator)
    left, right = low_rank_factors(users, items, dim)
    assert left.shape == (40, dim) and right.shape == (25, dim)
    u, s, vt = torch.linalg.svd((users @ items.T).double())
    best = (u[:, :dim] * s[:dim]) @ vt[:dim]
    assert torch.allclose((left @ right.T).double(), best, atol=1e-4)
    assert torch.allclose(left.norm(dim=0), right.norm(dim=0), rtol=1e-4)  # balanced sides


def test_low_rank_factors_stop_at_the_product_rank():
    generator = torch.Generator().manual_seed(1)
    users, items = torch.randn(30, 3, generator=generator), torch.randn(20, 3, generator=generator)
    left, right = low_rank_factors(users, items, 8)
    assert left.shape == (30, 3) and right.shape == (20, 3)
    assert torch.allclose(left @ right.T, users @ items.T, atol=1e-4)


def test_start_from_fills_the_leading_columns_and_keeps_the_rest_random():
    torch.manual_seed(0)
    student = IDStudent(6, 4, dim=5)
    before = student.item_embedding.weight.detach().clone()
    users, items = torch.ones(6, 2), torch.full((4, 2), 2.0)
    student.start_from(users, items)
    assert torch.equal(student.user_embedding.weight[:, :2], users)
    assert torch.equal(student.item_embedding.weight[:, :2], items)
    assert torch.equal(student.item_embedding.weight[:, 2:], before[:, 2:])
    assert student.user_embedding.weight[:, 2:].abs().sum() > 0  # not zero: they still learn
