import pytest
import torch

from mmgraph.models import FUSIONS, build_fusion


@pytest.mark.parametrize("kind", sorted(FUSIONS))
def test_fusion_shapes_gradients_and_row_independence(kind):
    torch.manual_seed(0)
    features = {"text": torch.randn(7, 5), "image": torch.randn(7, 3)}
    fusion = build_fusion(kind, {"text": 5, "image": 3}, dim=4)
    out = fusion(features)
    assert out.shape == (7, 4)
    rows = torch.tensor([4, 1])  # fusing a subset gives the same rows: fusion is per item
    assert torch.allclose(fusion({m: x[rows] for m, x in features.items()}), out[rows])
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in fusion.parameters() if p.requires_grad)


def test_attention_weights_sum_to_one_per_item():
    torch.manual_seed(0)
    fusion = build_fusion("attention", {"a": 2, "b": 2}, dim=3)
    features = {"a": torch.randn(4, 2), "b": torch.randn(4, 2)}
    stacked = fusion.projected(features)
    weights = torch.softmax(torch.tanh(fusion.key(stacked)) @ fusion.query, dim=1)  # all present
    assert torch.allclose(weights.sum(1), torch.ones(4))
    assert torch.allclose(fusion(features), (weights.unsqueeze(-1) * stacked).sum(1))


def test_single_modality_sum_is_a_linear_projection():
    fusion = build_fusion("sum", {"text": 3}, dim=2)
    x = torch.randn(5, 3)
    assert torch.allclose(fusion({"text": x}), fusion.projections["text"](x))


@pytest.mark.parametrize("kind", ["sum", "attention", "gated"])
def test_missing_modality_rows_contribute_nothing(kind):
    torch.manual_seed(0)
    fusion = build_fusion(kind, {"text": 4, "image": 3}, dim=5)
    text = torch.randn(3, 4)
    with_image = fusion({"text": text, "image": torch.randn(3, 3)})
    missing = fusion({"text": text, "image": torch.zeros(3, 3)})
    text_only = build_fusion(kind, {"text": 4}, dim=5)
    text_only.load_state_dict({k: v for k, v in fusion.state_dict().items()
                               if "image" not in k}, strict=False)
    assert torch.allclose(missing, text_only({"text": text}), atol=1e-6)
    assert not torch.allclose(missing, with_image)
