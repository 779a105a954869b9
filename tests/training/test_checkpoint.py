import numpy as np
import pytest
import torch

from mmgraph.config import OptimConfig
from mmgraph.data import UserItems
from mmgraph.distill import bpr_loss
from mmgraph.evaluation import evaluate_embeddings
from mmgraph.models import IDStudent
from mmgraph.training import Checkpoint, fit, sample_negatives

CFG = OptimConfig(lr=0.05, reg=0.0, batch_size=8, epochs=12, eval_every=2, patience=10)


class Interrupted(Exception):
    pass


def _problem():
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 10, 60), rng.integers(0, 15, 60)
    train = UserItems(users[:45], items[:45], 10, 15)
    valid = UserItems(users[45:], items[45:], 10, 15)
    pairs = torch.from_numpy(np.stack([np.repeat(np.arange(10), train.counts), train.indices]))
    return train, valid, pairs


def _train(folder, stop_at_evaluation=None):
    """Fit a small MF model with BPR; optionally die inside the n-th validation."""
    torch.manual_seed(0)
    train, valid, pairs = _problem()
    model = IDStudent(10, 15, dim=4)
    generator = torch.Generator().manual_seed(1)
    calls = []

    def loss(u, i):
        j = sample_negatives(u, train, generator)[:, 0]
        p, q = model.user_embedding(u), model.item_embedding
        return bpr_loss((p * q(i)).sum(-1), (p * q(j)).sum(-1))

    def validate():
        calls.append(1)
        if len(calls) == stop_at_evaluation:
            raise Interrupted
        u, i = (t.detach() for t in model())
        return evaluate_embeddings(u, i, valid, train, (5,))

    result = fit(model, loss, tuple(pairs), validate, CFG, "ndcg@5", generator, "t", False,
                 Checkpoint(folder, "fp"))
    return model, result, len(calls)


def test_resumed_training_equals_an_unbroken_run(tmp_path):
    reference, reference_result, _ = _train(tmp_path / "a")
    with pytest.raises(Interrupted):
        _train(tmp_path / "b", stop_at_evaluation=4)  # dies in epoch 8; checkpoint at epoch 6
    resumed, result, evaluations = _train(tmp_path / "b")
    assert evaluations == 3  # epochs 8, 10, 12 only
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name
    assert (result.best_epoch, result.best_score) == (reference_result.best_epoch,
                                                      reference_result.best_score)
    assert [h["epoch"] for h in result.history] == list(range(1, 13))


def test_finished_checkpoint_is_not_trained_further(tmp_path):
    first, _, _ = _train(tmp_path)
    again, _, evaluations = _train(tmp_path)
    assert evaluations == 0
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(),
                                                 again.state_dict().values()))


def test_checkpoint_of_another_config_is_ignored(tmp_path):
    _train(tmp_path)
    model = IDStudent(10, 15, dim=4)
    optimizer = torch.optim.Adam(model.parameters())
    assert Checkpoint(tmp_path, "other").load(model, optimizer, torch.Generator()) is None


def test_kill_between_tensors_and_json_resumes_from_the_previous_pair(tmp_path, monkeypatch):
    """The tensors of a save that died before its JSON must not pair with the older JSON."""
    import mmgraph.training.checkpoint as checkpoint_module

    reference, reference_result, _ = _train(tmp_path / "a")
    real_write_json, saves = checkpoint_module.write_json, []

    def dying_write_json(path, obj):
        saves.append(obj["epoch"])
        if len(saves) == 4:  # epoch 8's tensors are on disk, its JSON is not
            raise Interrupted
        real_write_json(path, obj)

    monkeypatch.setattr(checkpoint_module, "write_json", dying_write_json)
    with pytest.raises(Interrupted):
        _train(tmp_path / "b")
    monkeypatch.setattr(checkpoint_module, "write_json", real_write_json)
    assert sorted(p.name for p in (tmp_path / "b").glob("*.safetensors")) == [
        "checkpoint-6.safetensors", "checkpoint-8.safetensors"]
    resumed, result, evaluations = _train(tmp_path / "b")
    assert evaluations == 3  # epochs 8, 10, 12: resumed from epoch 6's pair
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name
    assert result.best_score == reference_result.best_score
    assert [p.name for p in (tmp_path / "b").glob("*.safetensors")] == [
        "checkpoint-12.safetensors"]
