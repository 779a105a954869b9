import pytest
import torch

from mmgraph.models.blend import blend_embeddings, choose_blend, score_std, score_stds


def _parts():
    torch.manual_seed(0)
    return {"lightgcn": (torch.randn(20, 4), torch.randn(30, 4)),
            "filter": (3 * torch.randn(20, 6), torch.randn(30, 6))}


def test_blended_scores_are_the_weighted_sum_of_std_normalised_scores():
    parts = _parts()
    users, items = blend_embeddings(parts, {"lightgcn": 0.3, "filter": 0.7}, score_stds(parts))
    expected = sum(w * (parts[n][0] @ parts[n][1].T) / score_std(*parts[n])
                   for n, w in (("lightgcn", 0.3), ("filter", 0.7)))
    torch.testing.assert_close(users @ items.T, expected)
    assert users.shape == (20, 10) and items.shape == (30, 10)
    # weights summing to 1 on std-normalised parts: between sqrt(0.3² + 0.7²) (independent
    # parts) and 1 (identical ones), whatever the parts' own scales
    assert 0.7 < score_std(users, items) < 1.05


def test_a_zero_weight_drops_the_component():
    parts = _parts()
    users, items = blend_embeddings(parts, {"lightgcn": 0.0, "filter": 1.0}, score_stds(parts))
    assert users.shape == (20, 6)


def test_choose_blend_takes_the_best_validation_weight_or_the_given_one():
    parts = _parts()
    stds = score_stds(parts)
    target = blend_embeddings(parts, {"lightgcn": 0.3, "filter": 0.7}, stds)
    target_scores = target[0] @ target[1].T

    def closeness(embeddings):
        return -float(((embeddings[0] @ embeddings[1].T) - target_scores).abs().mean())

    weight, tried = choose_blend(parts, "lightgcn", closeness, stds)
    assert weight == pytest.approx(0.3) and len(tried) == 11
    assert choose_blend(parts, "lightgcn", closeness, stds, weight=0.8)[0] == 0.8
