import math

import pytest
import torch

from mmgraph.distill import (bpr_loss, hint_loss, info_nce_loss, rank_weights,
                             ranking_distillation_loss, sampled_softmax_loss, soft_label_kd_loss)


def test_bpr_known_value():
    loss = bpr_loss(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0]))
    expected = (-math.log(1 / (1 + math.exp(-2))) + math.log(2)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_kd_is_zero_for_equal_logits_and_scales_with_t_squared():
    logits = torch.randn(4, 7)
    assert soft_label_kd_loss(logits, logits, 3.0).item() == pytest.approx(0.0, abs=1e-6)
    student, teacher = torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]])
    p = torch.softmax(teacher / 2.0, dim=-1)
    kl = (p * (p.log() - torch.log_softmax(student / 2.0, dim=-1))).sum()
    assert soft_label_kd_loss(student, teacher, 2.0).item() == pytest.approx(4 * kl.item(),
                                                                              rel=1e-5)


def test_kd_log_weights_and_masked_candidates():
    """A candidate standing for n items counts n times; masked candidates take no part."""
    student, teacher = torch.tensor([[0.5, -1.0, 2.0]]), torch.tensor([[1.0, 0.0, -2.0]])
    weights = torch.tensor([0.0, 0.0, math.log(3.0)])
    repeated = soft_label_kd_loss(torch.tensor([[0.5, -1.0, 2.0, 2.0, 2.0]]),
                                  torch.tensor([[1.0, 0.0, -2.0, -2.0, -2.0]]), 1.5)
    assert soft_label_kd_loss(student, teacher, 1.5, weights).item() == pytest.approx(
        repeated.item(), rel=1e-5)
    valid = torch.tensor([[True, False, True]])
    assert soft_label_kd_loss(student, teacher, 1.5, valid=valid).item() == pytest.approx(
        soft_label_kd_loss(student[:, [0, 2]], teacher[:, [0, 2]], 1.5).item(), rel=1e-5)


def test_kd_gradient_moves_student_towards_teacher():
    student = torch.zeros(1, 3, requires_grad=True)
    teacher = torch.tensor([[3.0, 0.0, -3.0]])
    soft_label_kd_loss(student, teacher, 1.0).backward()
    assert student.grad[0, 0] < 0 < student.grad[0, 2]  # descent raises item 0, lowers item 2


def test_sampled_softmax_known_value_and_temperature():
    positive, negatives = torch.tensor([1.0]), torch.tensor([[0.0, 0.0]])
    expected = -math.log(math.e / (math.e + 2))
    assert sampled_softmax_loss(positive, negatives).item() == pytest.approx(expected, rel=1e-6)
    sharper = sampled_softmax_loss(positive, negatives, temperature=0.1).item()
    assert sharper < expected  # a correctly ordered positive gets more confident when sharper


def test_rank_weights_decay_and_sum_to_one():
    weights = rank_weights(3, decay=1.0)
    expected = torch.tensor([math.exp(-1), math.exp(-2), math.exp(-3)])
    assert torch.allclose(weights, expected / expected.sum())


def test_ranking_distillation_known_value_and_gradient_favours_top_ranks():
    scores = torch.zeros(1, 2, requires_grad=True)
    weights = torch.tensor([0.75, 0.25])
    loss = ranking_distillation_loss(scores, weights)
    assert loss.item() == pytest.approx(math.log(2), rel=1e-6)  # sigmoid(0) = 1/2 at every rank
    loss.backward()
    assert scores.grad[0, 0] < scores.grad[0, 1] < 0  # both rise, the top rank faster


def test_info_nce_prefers_matching_rows_and_is_scale_free():
    teacher = torch.eye(3)
    aligned = info_nce_loss(5 * teacher, teacher, temperature=0.1)
    shuffled = info_nce_loss(teacher[[1, 2, 0]], teacher, temperature=0.1)
    expected = -math.log(math.exp(10) / (math.exp(10) + 2))  # cos 1 vs two cos 0, tau 0.1
    assert aligned.item() == pytest.approx(expected, abs=1e-6) and shuffled > aligned


def test_hint_loss_known_value_and_gradient():
    projected = torch.tensor([[1.0, 2.0], [0.0, 0.0]], requires_grad=True)
    loss = hint_loss(projected, torch.zeros(2, 2))
    assert loss.item() == pytest.approx(2.5)
    loss.backward()
    assert torch.allclose(projected.grad, torch.tensor([[1.0, 2.0], [0.0, 0.0]]))
