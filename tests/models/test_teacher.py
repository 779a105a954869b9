import torch

from mmgraph.graph import bipartite_adjacency, item_adjacency, knn_graph
from mmgraph.models import IDStudent, MultimodalTeacher


def _inputs():
    torch.manual_seed(0)
    user_item = torch.tensor([[0, 0, 1, 2, 3], [0, 1, 2, 3, 4]])
    features = {"text": torch.randn(6, 8)}
    adjacency = bipartite_adjacency(user_item, 4, 6)
    edge_index, weight = knn_graph(features["text"], 2)
    return adjacency, features, item_adjacency(edge_index, weight, 6)


def test_teacher_shapes_and_content_changes_items():
    adjacency, features, item_adj = _inputs()
    model = MultimodalTeacher(4, 6, dim=5, num_layers=2, content_dims={"text": 8})
    users, items = model(adjacency, features, item_adj)
    assert users.shape == (4, 5) and items.shape == (6, 5)
    _, items_without_graph = model(adjacency, features, None)
    assert not torch.allclose(items, items_without_graph)
    users.sum().backward()
    assert model.fusion.projections["text"].weight.grad.abs().sum() > 0


def test_id_only_teacher_is_lightgcn():
    adjacency, _, _ = _inputs()
    model = MultimodalTeacher(4, 6, dim=3, num_layers=1)
    users, items = model(adjacency, {})
    ego = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
    expected = (ego + adjacency.to_dense() @ ego) / 2
    assert torch.allclose(torch.cat([users, items]), expected, atol=1e-6)


def test_student_returns_its_tables():
    student = IDStudent(3, 4, dim=2)
    users, items = student()
    assert users.shape == (3, 2) and items.shape == (4, 2)


def test_graph_only_teacher_propagates_id_embeddings_over_the_item_graph():
    """FREEDOM's design: no content in the ego embeddings; items add S @ item IDs."""
    adjacency, _, item_adj = _inputs()
    model = MultimodalTeacher(4, 6, dim=3, num_layers=1)
    _, plain = model(adjacency, {})
    _, items = model(adjacency, {}, item_adj)
    expected = plain + item_adj.to_dense() @ model.item_embedding.weight
    assert model.fusion is None and torch.allclose(items, expected, atol=1e-6)
