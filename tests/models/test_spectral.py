import numpy as np
import pytest
import torch

from mmgraph.graph import knn_graph
from mmgraph.models.spectral import (filter_basis, interaction_matrix, spectral_filter,
                                     top_eigenpairs)


def _graph(num_users: int, num_items: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    dense = rng.random((num_users, num_items)) < 0.4
    dense[np.arange(num_users), rng.integers(0, num_items, num_users)] = True
    dense[rng.integers(0, num_users, num_items), np.arange(num_items)] = True  # every item seen
    return torch.from_numpy(np.stack(np.nonzero(dense)).astype(np.int64))


def _formula(pairs, num_users, num_items, b, rho, content=None, c=0.0, ideal=(0, 0.0)):
    """s_u = r_u D^-b V f(L) V^T D^b with f(l) = l / (l + rho l_max), G = (R D^-b)^T D_U^-2c
    R D^-b; with an ideal pass (k, alpha), f(l) = (1 + rho) l / (l + rho l_max) + alpha on the
    top k."""
    r = interaction_matrix(pairs, num_users, num_items).toarray()
    degree = r.sum(0)
    normalised = r * degree ** -b
    weighted = normalised * np.maximum(r.sum(1), 1)[:, None] ** -c
    gram = weighted.T @ weighted
    top = np.linalg.eigvalsh(gram)[-1]
    if content is not None:
        gram = gram + content * top
    values, vectors = np.linalg.eigh(gram)
    response = np.where(values > 1e-9 * top, values / (values + rho * top), 0.0)
    if ideal[0]:
        response = response * (1 + rho)
        response[np.argsort(-values)[:ideal[0]]] += ideal[1]
    return normalised @ vectors @ np.diag(response) @ vectors.T * degree ** b


@pytest.mark.parametrize("b", [0.0, 0.25, 0.5])
def test_dense_filter_matches_its_formula(b):
    pairs = _graph(9, 12)
    users, items = spectral_filter(pairs, 9, 12, degree_exponent=b, ridge=0.05)
    np.testing.assert_allclose((users @ items.T).numpy(), _formula(pairs, 9, 12, b, 0.05),
                               atol=1e-5)
    assert users.shape[1] <= 9  # the null space (rank <= users) is dropped


def test_without_degree_normalisation_it_is_ridge_regression_of_items_on_items():
    pairs = _graph(9, 12, seed=1)
    r = interaction_matrix(pairs, 9, 12).toarray()
    gram = r.T @ r
    shift = 0.1 * np.linalg.eigvalsh(gram)[-1]
    ridge = r @ gram @ np.linalg.inv(gram + shift * np.eye(12))
    users, items = spectral_filter(pairs, 9, 12, degree_exponent=0.0, ridge=0.1)
    np.testing.assert_allclose((users @ items.T).numpy(), ridge, atol=1e-5)


def test_truncated_path_equals_the_dense_one_when_it_keeps_every_direction():
    pairs = _graph(6, 30, seed=2)  # rank <= 6: 8 eigenpairs hold every non-zero direction
    dense = spectral_filter(pairs, 6, 30, ridge=0.05)
    sparse = spectral_filter(pairs, 6, 30, ridge=0.05, rank=8, dense_items=5)
    np.testing.assert_allclose((sparse[0] @ sparse[1].T).numpy(),
                               (dense[0] @ dense[1].T).numpy(), atol=1e-4)


def test_a_warm_start_reaches_the_same_eigenpairs_in_fewer_products():
    """An update's decomposition starts from the eigenvectors before the new interactions: the
    same top eigenpairs (to the iteration's tolerance) in fewer block products."""
    rng = np.random.default_rng(3)
    before = (rng.random((400, 120)) < 0.05) * rng.random(120) ** 3  # popularity: a spectral gap
    after = before.copy()
    after[rng.integers(0, 400, 40), rng.integers(0, 120, 40)] = 1.0  # 40 new interactions
    products = []

    def gram(matrix):
        operator = torch.from_numpy(matrix.T @ matrix).float()
        return lambda block: products.append(1) or operator @ block

    _, previous = top_eigenpairs(gram(before), 120, 12, seed=0)
    exact = np.linalg.eigh(after.T @ after)[0][::-1][:12]
    cold = top_eigenpairs(gram(after), 120, 12, seed=1)
    cold_products, products[:] = len(products), []
    warm = top_eigenpairs(gram(after), 120, 12, seed=1, start=previous)
    assert len(products) < cold_products
    for values, _ in (cold, warm):
        np.testing.assert_allclose(values, exact, rtol=0, atol=1e-3 * exact[0])
    overlap = np.linalg.svd(cold[1][:, :6].T @ warm[1][:, :6], compute_uv=False)
    assert overlap.min() > 0.999  # the same leading subspace


@pytest.mark.parametrize("b, c, ideal", [(0.0, 0.0, (0, 0.0)), (0.3, 0.5, (2, 0.5))])
def test_a_catalogue_wider_than_dense_items_is_decomposed_exactly_from_the_users_side(b, c, ideal):
    """Past dense_items items but within it users, the basis comes from the [U, U] Gram: every
    direction (rank 30 would have truncated nothing either, but rank 2 would), the formula's
    scores."""
    pairs = _graph(6, 30, seed=7)
    basis = filter_basis(pairs, 6, 30, b, user_exponent=c, rank=2, dense_items=10)
    assert len(basis.values) == 6  # every nonzero direction, whatever the rank
    users, items = basis.embeddings(0.05, ideal_rank=ideal[0], ideal_weight=ideal[1])
    np.testing.assert_allclose((users @ items.T).numpy(),
                               _formula(pairs, 6, 30, b, 0.05, c=c, ideal=ideal), atol=1e-5)


def test_content_graph_is_blended_into_the_item_graph():
    pairs, features = _graph(9, 12, seed=3), torch.rand(12, 5)  # positive cosines
    edge_index, edge_weight = knn_graph(features, 3)
    content = np.zeros((12, 12))
    content[edge_index[0].numpy(), edge_index[1].numpy()] = edge_weight.numpy()
    degree = content.sum(1)
    normalised = content / np.sqrt(np.outer(degree, degree))
    users, items = spectral_filter(pairs, 9, 12, ridge=0.05, degree_exponent=0.25,
                                   content_graph=(edge_index, edge_weight), content_weight=0.2)
    expected = _formula(pairs, 9, 12, 0.25, 0.05, content=0.2 * normalised)
    np.testing.assert_allclose((users @ items.T).numpy(), expected, atol=1e-5)


def test_filter_over_a_given_cooccurrence_equals_the_default_on_r_transpose_r():
    pairs = _graph(9, 12, seed=5)
    plain = interaction_matrix(pairs, 9, 12)
    for dense_items in (100, 5):  # the dense and the subspace-iteration path
        given = filter_basis(pairs, 9, 12, 0.3, cooccurrence=plain.T @ plain, rank=8,
                             dense_items=dense_items).embeddings(0.05)
        default = filter_basis(pairs, 9, 12, 0.3, rank=8, dense_items=dense_items).embeddings(0.05)
        np.testing.assert_allclose((given[0] @ given[1].T).numpy(),
                                   (default[0] @ default[1].T).numpy(), atol=1e-4)


def test_spectral_start_is_the_normalised_graphs_top_singular_directions():
    """Users U S^1/2 and items V S^1/2 of R~ = D_U^-1/2 R D_I^-1/2, scaled to the given std:
    their product is a multiple of R~'s best rank-k approximation; columns past the rank are
    random."""
    from mmgraph.models.spectral import spectral_start

    pairs = _graph(9, 12, seed=6)
    users, items = spectral_start(pairs, 9, 12, dim=3, std=0.1, seed=0)
    assert users.shape == (9, 3) and items.shape == (12, 3)
    assert float(torch.cat([users, items]).std(correction=0)) == pytest.approx(0.1, rel=1e-3)
    R = np.zeros((9, 12))
    R[pairs[0].numpy(), pairs[1].numpy()] = 1.0
    normalised = R / np.sqrt(np.outer(np.maximum(R.sum(1), 1), np.maximum(R.sum(0), 1)))
    u, s, vt = np.linalg.svd(normalised)
    best = (u[:, :3] * s[:3]) @ vt[:3]
    product = (users @ items.T).double().numpy()
    ratio = (product * best).sum() / (best * best).sum()
    np.testing.assert_allclose(product, ratio * best, atol=1e-4 * np.abs(product).max())
    wide_users, _ = spectral_start(pairs, 9, 12, dim=20, seed=0)  # rank ≤ 9: the rest random
    assert wide_users.shape == (9, 20) and float(wide_users[:, 9:].std()) > 0.05
