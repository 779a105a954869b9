import torch
import torch.nn.functional as F

from mmgraph.graph import knn_graph


def test_knn_matches_brute_force_cosine():
    torch.manual_seed(0)
    x = torch.randn(60, 16)
    edge_index, weight = knn_graph(x, k=5, symmetric=False)
    sims = F.normalize(x) @ F.normalize(x).T
    sims.fill_diagonal_(float("-inf"))
    expected = torch.topk(sims, 5).indices
    for node in range(60):
        got = edge_index[1, edge_index[0] == node]
        assert set(got.tolist()) == set(expected[node].tolist())
    assert torch.allclose(weight, sims[edge_index[0], edge_index[1]], atol=1e-5)


def test_symmetric_without_self_loops():
    torch.manual_seed(1)
    edge_index, weight = knn_graph(torch.randn(40, 8), k=3)
    assert not (edge_index[0] == edge_index[1]).any()
    forward = {(a, b): w for a, b, w in zip(*edge_index.tolist(), weight.tolist())}
    assert all(forward.get((b, a)) == w for (a, b), w in forward.items())
    assert all(sum(1 for a, _ in forward if a == n) >= 3 for n in range(40))


def test_duplicate_rows_still_exclude_self():
    x = torch.ones(4, 3)  # all identical: ties everywhere
    edge_index, _ = knn_graph(x, k=2, symmetric=False)
    assert edge_index.shape[1] == 8 and not (edge_index[0] == edge_index[1]).any()


def test_masked_rows_get_no_edges_and_the_rest_match_the_subset_graph():
    torch.manual_seed(2)
    x = torch.randn(30, 8)
    mask = torch.arange(30) % 3 != 0  # every third item has no content
    x[~mask] = 0
    edge_index, weight = knn_graph(x, k=4, mask=mask)
    assert not torch.isin(edge_index, torch.nonzero(~mask).flatten()).any()
    rows = torch.nonzero(mask).flatten()
    sub_index, sub_weight = knn_graph(x[rows], k=4)
    assert torch.equal(edge_index, rows[sub_index]) and torch.equal(weight, sub_weight)


def test_past_exact_items_the_approximate_search_finds_the_neighbours():
    """HNSW past ``exact_items``: on clustered embeddings (as real content is), nearly every
    exact neighbour is found, with weights that are the true cosines."""
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(40, 16, generator=generator)
    x = centres[torch.arange(2000) % 40] + 0.3 * torch.randn(2000, 16, generator=generator)
    exact_index, _ = knn_graph(x, k=10, symmetric=False)
    approx_index, approx_weight = knn_graph(x, k=10, symmetric=False, exact_items=100)
    exact = set(map(tuple, exact_index.T.tolist()))
    found = set(map(tuple, approx_index.T.tolist()))
    assert len(found & exact) / len(exact) > 0.95
    sims = F.normalize(x) @ F.normalize(x).T
    assert torch.allclose(approx_weight, sims[approx_index[0], approx_index[1]], atol=1e-5)
