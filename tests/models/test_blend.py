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


@pytest.mark.parametrize("target", [{"lightgcn": 0.3, "filter": 0.7},
                                    {"lightgcn": 0.2, "filter": 0.5, "time_filter": 0.3}])
def test_choose_blend_takes_the_weights_validation_ranks_best(target):
    parts = _parts()
    if "time_filter" in target:
        parts["time_filter"] = (torch.randn(20, 3), torch.randn(30, 3))
    stds = score_stds(parts)
    wanted = blend_embeddings(parts, target, stds)
    wanted_scores = wanted[0] @ wanted[1].T

    def closeness(components, weightings):
        return [-float((sum(w * (users @ items.T) for (users, items), w in zip(components, ws))
                        - wanted_scores).abs().mean()) for ws in weightings]

    weights, tried = choose_blend(parts, closeness, stds)
    assert weights == pytest.approx(target)
    assert len(tried) == (11 if len(parts) == 2 else 66)  # every 0.1 step summing to 1
    assert all(abs(sum(float(kv.split("=")[1]) for kv in key.split(",")) - 1) < 1e-9
               for key in tried)
