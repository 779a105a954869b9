"""bench/peer_models.py: the users'-side (Woodbury) path of the EASE-family peers, taken when
the users are fewer than half the items, equals the dense item–item inverse it replaces."""

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import peer_models  # noqa: E402


@pytest.fixture
def wide():
    rng = np.random.default_rng(0)
    train = sp.csr_matrix((rng.random((30, 100)) < 0.1).astype(float))
    text = rng.normal(size=(100, 12))
    history = sp.csr_matrix(train.multiply(rng.random(train.shape)))
    assert peer_models._wide(train)
    return train, text / np.linalg.norm(text, axis=1, keepdims=True), history


def test_ease_and_its_recency_weighted_twin_through_the_users_side(wide):
    train, _, history = wide
    weights = peer_models._ease_weights((train.T @ train).toarray(), 7.0)
    np.testing.assert_allclose(peer_models.ease(train, 7.0), train @ weights, atol=1e-12)
    np.testing.assert_allclose(peer_models.ease_recent(train, {2.0: history}, 7.0, 2.0),
                               history @ weights, atol=1e-12)


def test_l3ae_through_the_users_and_the_texts_side(wide, monkeypatch):
    train, text, _ = wide
    through_users = peer_models.l3ae(train, text, 5.0, 3.0, 2.0)
    monkeypatch.setattr(peer_models, "_wide", lambda matrix: False)
    dense = peer_models.l3ae(train, text, 5.0, 3.0, 2.0)
    np.testing.assert_allclose(through_users, dense, atol=1e-12)
    assert np.abs(dense).max() > 0.1  # not all zeros on both sides
