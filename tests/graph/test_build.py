import pytest
import torch

from mmgraph.graph import (INTERACTS, SIMILAR, bipartite_adjacency, bipartite_spmm,
                           build_item_graph, lightgcn_propagate, load_graph, save_graph,
                           symmetric_spmm)


def _graph():
    torch.manual_seed(0)
    user_item = torch.tensor([[0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 3, 3]])  # one duplicate
    return build_item_graph(user_item, 3, 5, {"text": torch.randn(5, 6),
                                              "image": torch.randn(5, 4)}, k=2)


def test_graph_has_deduplicated_interactions_and_knn_per_modality():
    graph = _graph()
    assert graph[INTERACTS].edge_index.shape[1] == 5
    assert {("item", "similar_text", "item"), ("item", "similar_image", "item"), SIMILAR} <= set(
        graph.edge_types)
    assert graph["item"].num_nodes == 5 and graph["user"].num_nodes == 3


def test_save_load_round_trip(tmp_path):
    graph = _graph()
    save_graph(graph, tmp_path)
    loaded = load_graph(tmp_path)
    assert set(loaded.edge_types) == set(graph.edge_types)
    for edge_type in graph.edge_types:
        for attr in ("edge_index", "edge_weight"):
            if attr in graph[edge_type]:
                assert torch.equal(loaded[edge_type][attr], graph[edge_type][attr])


def test_normalised_adjacency_is_symmetric_and_spmm_gradients_are_exact():
    torch.manual_seed(0)
    adjacency = bipartite_adjacency(torch.tensor([[0, 0, 1, 2], [0, 1, 1, 2]]), 3, 4)
    dense = adjacency.to_dense()
    assert torch.allclose(dense, dense.T)
    # D^-1/2 A D^-1/2: user 0 (deg 2) – item 0 (deg 1) has weight 1/sqrt(2).
    assert torch.isclose(dense[0, 3], torch.tensor(2 ** -0.5))
    assert adjacency.user_item.col_indices().dtype == torch.int32  # MKL's own index type
    users, items = torch.randn(3, 5, requires_grad=True), torch.randn(4, 5, requires_grad=True)
    out_users, out_items = bipartite_spmm(adjacency, users, items)
    weights = torch.randn(7, 5)  # a loss that weighs every output entry differently
    reference = dense @ torch.cat([users, items])
    assert torch.allclose(torch.cat([out_users, out_items]), reference, atol=1e-6)
    ours = torch.autograd.grad((torch.cat([out_users, out_items]) * weights).sum(),
                               (users, items))
    expected = torch.autograd.grad((reference * weights).sum(), (users, items))
    for got, want in zip(ours, expected):
        assert torch.allclose(got, want, atol=1e-6)
    x = torch.randn(7, 5, requires_grad=True)
    (grad_ours,) = torch.autograd.grad((symmetric_spmm(dense.to_sparse_csr(), x) * weights).sum(),
                                       x)
    (grad_ref,) = torch.autograd.grad((dense @ x * weights).sum(), x)
    assert torch.allclose(grad_ours, grad_ref, atol=1e-6)


@pytest.mark.parametrize("layers", [0, 1, 3])
def test_lightgcn_propagation_and_its_gradient_equal_the_dense_layer_mean(layers):
    torch.manual_seed(layers)
    adjacency = bipartite_adjacency(torch.tensor([[0, 0, 1, 2, 2], [0, 1, 1, 2, 3]]), 3, 4)
    dense = adjacency.to_dense()
    users, items = torch.randn(3, 5, requires_grad=True), torch.randn(4, 5, requires_grad=True)
    weights = torch.randn(7, 5)
    x, total = torch.cat([users, items]), torch.cat([users, items])
    for _ in range(layers):
        x = dense @ x
        total = total + x
    reference = total / (layers + 1)
    for _ in range(2):  # the second call reuses the scratch tables of the first
        out = torch.cat(lightgcn_propagate(adjacency, users, items, layers))
        assert torch.allclose(out, reference, atol=1e-6)
        ours = torch.autograd.grad((out * weights).sum(), (users, items))
        expected = torch.autograd.grad((reference * weights).sum(), (users, items),
                                       retain_graph=True)
        for got, want in zip(ours, expected):
            assert torch.allclose(got, want, atol=1e-6)


def test_weighted_interactions_keep_the_largest_duplicate_and_weight_the_adjacency():
    user_item = torch.tensor([[0, 0, 1], [1, 1, 0]])
    graph = build_item_graph(user_item, 2, 2, interaction_weight=torch.tensor([2.0, 5.0, 1.0]))
    store = graph[INTERACTS]
    assert store.edge_index.tolist() == [[0, 1], [1, 0]] and store.edge_weight.tolist() == [5, 1]
    dense = bipartite_adjacency(store.edge_index, 2, 2, store.edge_weight).to_dense()
    assert torch.allclose(dense, dense.T)
    assert torch.isclose(dense[0, 3], torch.tensor(1.0))  # 5 / sqrt(5 * 5)


def test_items_without_a_modality_get_no_edges_in_its_knn_graph():
    torch.manual_seed(3)
    audio, mask = torch.randn(6, 4), torch.tensor([True, True, False, True, False, True])
    audio[~mask] = 0
    graph = build_item_graph(torch.tensor([[0, 1], [0, 5]]), 2, 6,
                             {"text": torch.randn(6, 3), "audio": audio}, k=2,
                             masks={"audio": mask})
    audio_edges = graph["item", "similar_audio", "item"].edge_index
    assert not torch.isin(audio_edges, torch.tensor([2, 4])).any()
    assert torch.isin(torch.tensor([2, 4]), graph[SIMILAR].edge_index).all()  # text links them


def test_a_frame_of_original_ids_builds_the_same_graph_and_maps_back():
    """Interactions as a DataFrame of ids (items ordered by ``item_ids``, as the features'
    rows) give the graph the index tensor gives, with id maps back to the original ids."""
    import pandas as pd

    from mmgraph.errors import DataError

    frame = pd.DataFrame({"user_id": ["u2", "u1", "u2"], "item_id": [30, 10, 20]})
    features = {"text": torch.randn(3, 4)}
    graph = build_item_graph(frame, features=features, k=1, item_ids=[10, 20, 30])
    by_index = build_item_graph(torch.tensor([[0, 1, 0], [2, 0, 1]]), 2, 3, features, k=1)
    assert graph["user"].ids.ids.tolist() == ["u2", "u1"]
    assert graph["item"].ids.ids.tolist() == [10, 20, 30]
    for edge_type in by_index.edge_types:
        assert torch.equal(graph[edge_type].edge_index, by_index[edge_type].edge_index)
    with pytest.raises(DataError, match="must be among item_ids"):
        build_item_graph(frame, item_ids=[10, 20])
    with pytest.raises(DataError, match="no \\['user_id'\\] column"):
        build_item_graph(frame.rename(columns={"user_id": "who"}))
