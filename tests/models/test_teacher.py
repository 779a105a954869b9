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


def test_decision_level_adds_one_gated_scorer_per_modality():
    adjacency, features, item_adj = _inputs()
    features = {**features, "image": torch.randn(6, 4)}
    model = MultimodalTeacher(4, 6, dim=3, num_layers=1, content_dims={"text": 8, "image": 4},
                              fusion_level="decision")
    users, items = model(adjacency, features, item_adj)
    assert users.shape == (4, 9) and items.shape == (6, 9)  # ID, image, text scorers
    id_users, id_items = users[:, :3], items[:, :3]  # the ID graph's part comes first
    plain = MultimodalTeacher(4, 6, dim=3, num_layers=1)
    plain.load_state_dict({k: v for k, v in model.state_dict().items()
                           if k.startswith(("user_embedding", "item_embedding"))})
    plain_users, plain_items = plain(adjacency, {}, item_adj)
    assert torch.allclose(plain_users, id_users, atol=1e-6)
    assert torch.allclose(plain_items, id_items, atol=1e-6)
    scores = users @ items.T
    expected = id_users @ id_items.T
    for offset, name in ((3, "image"), (6, "text")):
        projected = model.projections[name](features[name])
        smoothed = projected + item_adj.to_dense() @ projected
        gate = torch.sigmoid(model.gates[name](features[name]))
        expected = expected + model.user_heads[name](id_users) @ (gate * smoothed).T
    assert torch.allclose(scores, expected, atol=1e-5)
    assert model.content_vector(features).shape == (6, 6)


def test_model_level_sums_independent_towers():
    adjacency, features, _ = _inputs()
    model = MultimodalTeacher(4, 6, dim=3, num_layers=1, content_dims={"text": 8},
                              fusion_level="model")
    users, items = model(adjacency, features)
    dense = adjacency.to_dense()
    ego = torch.cat([model.user_towers["text"].weight,
                     model.projections["text"](features["text"])])
    tower = (ego + dense @ ego) / 2
    id_ego = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
    id_tower = (id_ego + dense @ id_ego) / 2
    expected = id_tower[:4] @ id_tower[4:].T + tower[:4] @ tower[4:].T
    assert torch.allclose(users @ items.T, expected, atol=1e-5)
    penalty = model.ego_norms(None, None, features)
    assert torch.isclose(penalty, id_ego.pow(2).sum() + ego.pow(2).sum())


def test_a_batchs_penalty_counts_every_repeated_item():
    """Items repeated in a batch are projected once but penalised once per occurrence: the
    penalty and its gradient equal the sum over the batch's rows."""
    _, features, _ = _inputs()
    model = MultimodalTeacher(4, 6, dim=5, num_layers=1, content_dims={"text": 8})
    users, items = torch.tensor([0, 1, 1]), torch.tensor([2, 2, 5, 0, 2])
    model.ego_norms(users, items, features).backward()
    got = model.fusion.projections["text"].weight.grad.clone()
    model.zero_grad()
    rows = model.item_embedding.weight[items] + model.fusion(features)[items]
    expected = model.user_embedding.weight[users].pow(2).sum() + rows.pow(2).sum()
    expected.backward()
    assert torch.allclose(model.ego_norms(users, items, features), expected)
    assert torch.allclose(got, model.fusion.projections["text"].weight.grad, atol=1e-6)
