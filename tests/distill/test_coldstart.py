import pytest
import torch

from mmgraph.distill import content_vectors, fit_coldstart_mapper


def test_mapper_learns_the_content_to_student_map_on_warm_items_and_generalises_to_cold():
    torch.manual_seed(0)
    content = torch.randn(400, 12)
    truth = content @ torch.randn(12, 6)  # student rows as a (linear) function of content
    warm = torch.arange(400) < 360
    mapper = fit_coldstart_mapper(content, truth, warm, steps=400, seed=0)
    with torch.no_grad():
        cold_error = (mapper(content[~warm]) - truth[~warm]).pow(2).sum(-1).mean()
    baseline = (truth[warm].mean(0) - truth[~warm]).pow(2).sum(-1).mean()  # predict the mean
    assert cold_error < 0.1 * baseline


def test_mapper_needs_warm_items():
    with pytest.raises(ValueError, match="no warm items"):
        fit_coldstart_mapper(torch.randn(3, 2), torch.randn(3, 2), torch.zeros(3, dtype=bool))


def test_content_vectors_prefer_the_teachers_content_tower():
    tower = torch.randn(5, 4)
    features = {"text": torch.randn(5, 3) * 10, "audio": torch.randn(5, 2)}
    assert content_vectors({"content": tower}, features) is tower
    joined = content_vectors({}, features)
    assert joined.shape == (5, 5)
    assert torch.allclose(joined[:, :2].norm(dim=1), torch.ones(5))  # audio first, normalised
    assert content_vectors({}, {}) is None
