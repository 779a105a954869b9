import numpy as np
import pytest
import torch

from mmgraph.data import UserItems
from mmgraph.graph import bipartite_adjacency, item_adjacency, knn_graph
from mmgraph.models import MultimodalTeacher
from mmgraph.training import teacher_ranking_loss


@pytest.mark.parametrize("loss", ["bpr", "softmax"])
def test_teacher_objective_trains_every_parameter_and_lowers_the_loss(loss):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 12, 80), rng.integers(0, 20, 80)
    seen = UserItems(users, items, 12, 20)
    pairs = torch.from_numpy(np.stack([np.repeat(np.arange(12), seen.counts), seen.indices]))
    features = {"text": torch.randn(20, 6)}
    adjacency = bipartite_adjacency(pairs, 12, 20)
    item_adj = item_adjacency(*knn_graph(features["text"], 3), 20)
    model = MultimodalTeacher(12, 20, dim=8, num_layers=2, content_dims={"text": 6},
                              fusion="gated")
    objective = teacher_ranking_loss(model, adjacency, features, item_adj, seen, 1e-4,
                                     torch.Generator().manual_seed(0), loss, num_negatives=5)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    first = objective(pairs[0], pairs[1])
    first.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    for _ in range(30):
        optimizer.zero_grad()
        objective(pairs[0], pairs[1]).backward()
        optimizer.step()
    assert objective(pairs[0], pairs[1]).item() < 0.7 * first.item()
