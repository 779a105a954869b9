import numpy as np
import torch

from mmgraph.config import StudentConfig
from mmgraph.data.user_items import UserItems
from mmgraph.distill import start_from_teacher, teacher_top_scores
from mmgraph.models import IDStudent
from mmgraph.training import student_distillation


def _teacher(num_users=12, num_items=20, dim=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    activity = torch.linspace(0.5, 8, num_users)[:, None]  # score scales differ by user
    users = torch.randn(num_users, dim, generator=generator) * activity
    return users, torch.randn(num_items, dim, generator=generator)


def test_teacher_top_scores_and_spread():
    users, items = _teacher()
    top = torch.topk(users @ items.T, 5).indices
    top[0, 3:] = -1  # pads: scored, left out of the spread
    scores, spread = teacher_top_scores(users, items, top)
    expected = (users @ items.T).gather(1, top.clamp(min=0))
    assert torch.allclose(scores, expected, atol=1e-5)
    assert torch.allclose(spread[0], expected[0, :3].std(), atol=1e-5)
    assert torch.allclose(spread[1:], expected[1:].std(1), atol=1e-5)


def test_a_student_as_wide_as_the_teacher_starts_at_its_soft_labels():
    """The student's start reproduces each user's teacher scores divided by the user's
    soft-label unit, so the distillation loss starts at zero; a random start does not."""
    users, items = _teacher()
    rng = np.random.default_rng(0)
    seen = UserItems(rng.integers(0, 12, 30), rng.integers(0, 20, 30), 12, 20)
    top = torch.topk(seen.mask_scores(users @ items.T, np.arange(12)), 6).indices  # unseen
    cfg = StudentConfig(dim=4, kd_weight=1.0, kd_topk=6, kd_candidates=5, optim={"reg": 0.0})
    batch = torch.from_numpy(seen.users_with_items())
    losses = {}
    for init in ("random", "teacher"):
        torch.manual_seed(0)
        student = IDStudent(12, 20, dim=4)
        if init == "teacher":
            spread = teacher_top_scores(users, items, top)[1]
            start_from_teacher(student, users, items, spread)
            assert torch.allclose(student.user_embedding.weight @ student.item_embedding.weight.T,
                                  (users @ items.T) / spread[:, None], atol=1e-3)
        objective = student_distillation(student, users, items, seen, cfg,
                                         torch.Generator().manual_seed(0), top)
        losses[init] = objective(batch).item()
    assert losses["teacher"] < 1e-4 < losses["random"]
