import numpy as np
import torch

from mmgraph.config import StudentConfig
from mmgraph.data import UserItems
from mmgraph.evaluation import evaluate_embeddings, topk_items
from mmgraph.models import IDStudent
from mmgraph.training import fit, student_distillation


def test_distilled_student_learns_the_teachers_ranking():
    """A student trained on soft labels alone recovers a planted teacher's preferences."""
    torch.manual_seed(0)
    teacher_users, teacher_items = torch.randn(30, 4), torch.randn(25, 4)
    scores = teacher_users @ teacher_items.T
    top = torch.topk(scores, 6).indices.numpy()
    users = np.repeat(np.arange(30), 3)
    train = UserItems(users, top[:, :3].reshape(-1), 30, 25)
    valid = UserItems(users, top[:, 3:].reshape(-1), 30, 25)
    cfg = StudentConfig(dim=4, kd_weight=1.0, kd_topk=10, kd_candidates=10, temperature=1.0,
                        optim={"lr": 0.05, "reg": 0.0, "batch_size": 16, "epochs": 150,
                               "eval_every": 10, "patience": 3})
    student = IDStudent(30, 25, dim=4)
    generator = torch.Generator().manual_seed(0)

    def validate():
        u, i = (t.detach() for t in student())
        return evaluate_embeddings(u, i, valid, train, (3,))

    before = validate()["ndcg@3"]
    top = torch.from_numpy(topk_items(teacher_users, teacher_items, np.arange(30), 10, train))
    loss = student_distillation(student, teacher_users, teacher_items, train, cfg, generator,
                                top)
    result = fit(student, loss, (torch.arange(30),), validate, cfg.optim, "ndcg@3", generator,
                 "t",
                 progress=False)
    assert result.best_score > max(0.8, before + 0.3)
    assert validate()["ndcg@3"] == result.best_score  # best weights restored


def test_gains_below_min_improvement_do_not_reset_patience():
    """Scores 0.5, 0.5005, 0.501, 0.5012, 0.6: with a 1% threshold and patience 3 training
    stops at the fourth validation; the best weights are still the best scored (the fourth)."""
    from mmgraph.config import OptimConfig

    model = torch.nn.Linear(1, 1)
    scores = iter([0.5, 0.5005, 0.501, 0.5012, 0.6])
    cfg = OptimConfig(lr=0.1, batch_size=4, epochs=5, eval_every=1, patience=3,
                      min_improvement=0.01)

    def loss(x):
        return model(x[:, None].float()).pow(2).mean()

    result = fit(model, loss, (torch.arange(8),), lambda: {"m": next(scores)}, cfg, "m",
                 torch.Generator().manual_seed(0), "t", progress=False)
    assert [r["m"] for r in result.history] == [0.5, 0.5005, 0.501, 0.5012]
    assert (result.best_epoch, result.best_score) == (4, 0.5012)
    plain = fit(model, loss, (torch.arange(8),), lambda: {"m": 0.5}, cfg.model_copy(
        update={"min_improvement": 0.0}), "m", torch.Generator(), "t", progress=False)
    assert len(plain.history) == 4  # no gain at all: patience runs out as before


def test_a_non_finite_loss_stops_training_before_it_reaches_the_weights():
    """A loss that turns NaN raises the project's error naming the stage, the epoch and the
    fix; the weights are the last finite ones (no NaN embeddings get written)."""
    import pytest

    from mmgraph.config import OptimConfig
    from mmgraph.errors import TrainingDivergedError

    torch.manual_seed(0)
    student = IDStudent(4, 5, dim=2)
    calls = []

    def loss(users):
        calls.append(1)
        value = student.user_embedding(users).pow(2).sum()
        return value * float("nan") if len(calls) > 3 else value

    cfg = OptimConfig(lr=0.1, batch_size=2, epochs=5, eval_every=1, patience=5)
    with pytest.raises(TrainingDivergedError, match=r"student: the training loss is nan in "
                                                    r"epoch 2.*student\.optim\.lr \(now 0\.1\)"):
        fit(student, loss, (torch.arange(4),), lambda: {"m": 0.0}, cfg, "m",
            torch.Generator().manual_seed(0), "student", progress=False)
    assert torch.isfinite(student.user_embedding.weight).all()


def test_a_deadline_ends_training_at_the_first_validation_past_it():
    """A deadline already past: training still reaches the first validation (epoch
    eval_every), then stops there, however many epochs and patience are left."""
    import time

    from mmgraph.config import OptimConfig

    model = torch.nn.Linear(1, 1)
    cfg = OptimConfig(lr=0.1, batch_size=4, epochs=50, eval_every=3, patience=10)

    def loss(x):
        return model(x[:, None].float()).pow(2).mean()

    scores = iter(range(100))
    result = fit(model, loss, (torch.arange(8),), lambda: {"m": float(next(scores))}, cfg, "m",
                 torch.Generator().manual_seed(0), "t", progress=False,
                 deadline=time.monotonic() - 1)
    assert (result.history[-1]["epoch"], result.best_epoch, len(result.history)) == (3, 3, 3)
    later = fit(model, loss, (torch.arange(8),), lambda: {"m": 0.0}, cfg, "m",
                torch.Generator().manual_seed(0), "t", progress=False,
                deadline=time.monotonic() + 3600)
    assert later.history[-1]["epoch"] == 33  # patience 10 past the first validation
