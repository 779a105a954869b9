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


def test_a_mapper_continued_from_a_fitted_one_starts_where_it_was():
    """An update's mapper continues from the previous one: 0 steps keep its weights, and a few
    steps from it fit better than as many from a random start."""
    torch.manual_seed(0)
    content = torch.randn(400, 12)
    truth = content @ torch.randn(12, 6)
    warm = torch.arange(400) < 360
    fitted = fit_coldstart_mapper(content, truth, warm, steps=400, seed=0)
    kept = fit_coldstart_mapper(content, truth, warm, steps=0, seed=1, start=fitted)
    assert all(torch.equal(a, b) for a, b in zip(kept.parameters(), fitted.parameters()))
    moved = truth + 0.05 * torch.randn_like(truth)  # the student's rows moved a little

    def error(mapper) -> float:
        with torch.no_grad():
            return float((mapper(content[warm]) - moved[warm]).pow(2).sum(-1).mean())

    continued = fit_coldstart_mapper(content, moved, warm, steps=20, seed=1, start=fitted)
    fresh = fit_coldstart_mapper(content, moved, warm, steps=20, seed=1)
    assert error(continued) < 0.1 * error(fresh)
    with pytest.raises(ValueError, match="continue from maps"):
        fit_coldstart_mapper(content[:, :5], truth, warm, steps=1, start=fitted)


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
