"""The served student's item vectors divided by a power of their norm, matched to the
teacher's exposure, and the choice made against the teacher's coverage."""

import numpy as np
import pytest
import torch

from mmgraph.distill.item_norms import (ACCURACY_TOLERANCE, NORM_EXPONENTS,
                                        choose_item_scaling, exposure, match_exposure,
                                        rescale_items)
from mmgraph.evaluation import topk_items


def test_rows_are_divided_by_their_norm_to_the_power():
    items = torch.tensor([[3.0, 4.0], [0.0, 0.0], [0.0, 0.5]])
    half = rescale_items(items, 0.5)
    assert torch.allclose(half[0], items[0] / 5 ** 0.5)
    assert torch.equal(half[1], items[1])  # a zero row stays zero, not NaN
    assert torch.allclose(rescale_items(items, 1.0)[2], torch.tensor([0.0, 1.0]))
    unchanged = rescale_items(items, 0.0)
    assert torch.equal(unchanged, items) and unchanged.data_ptr() != items.data_ptr()


def _table(metrics: list[float], coverages: list[float], matched=None):
    """Scores by exponent on the trained items (and on the matched ones: ``matched``, the
    same shape, or ``None`` when they must not be scored)."""
    table = dict(zip(NORM_EXPONENTS, zip(metrics, coverages)))

    def score(gamma: float, is_matched: bool):
        assert not is_matched or matched is not None, "matched items scored unasked"
        return dict(zip(NORM_EXPONENTS, zip(*matched)))[gamma] if is_matched else table[gamma]

    return table, score


def choose_norm_exponent(score, target_coverage):
    """The choice among exponents alone (the student with ``match_teacher_exposure`` off)."""
    gamma, matched, scores = choose_item_scaling(score, target_coverage, may_match=False)
    assert not matched
    return gamma, scores


def test_the_smallest_exponent_reaching_the_teachers_coverage_is_chosen():
    table, score = _table([0.30 - 0.001 * i for i in range(8)],
                          [0.28 + 0.01 * i for i in range(8)])
    exponent, scores = choose_norm_exponent(score, target_coverage=0.30)
    assert exponent == NORM_EXPONENTS[2]
    assert set(scores) == {str(g) for g in NORM_EXPONENTS}  # every one scored and recorded
    assert scores[str(exponent)] == dict(zip(("metric", "coverage"), table[exponent]))


def test_a_student_already_covering_enough_keeps_its_vectors():
    _, score = _table([0.3] * 8, [0.5 + 0.01 * i for i in range(8)])
    assert choose_norm_exponent(score, target_coverage=0.4)[0] == 0.0


def test_accuracy_beyond_the_tolerance_is_not_given_up_for_coverage():
    costly = 0.30 * (1 - 2 * ACCURACY_TOLERANCE)
    # γ 0.05 dips past the tolerance (noise), γ 0.1 is back within it; past 0.15 costly
    metrics = [0.30, costly, 0.2995, 0.2990] + [costly] * 4
    _, score = _table(metrics, [0.20, 0.25, 0.30, 0.33, 0.40, 0.45, 0.5, 0.55])
    assert choose_norm_exponent(score, target_coverage=0.32)[0] == 0.15
    assert choose_norm_exponent(score, target_coverage=0.35)[0] == 0.15  # the most within


def test_matched_items_are_tried_only_when_no_exponent_reaches_the_teachers_coverage():
    within = [0.30, 0.299, 0.298, 0.297, 0.296, 0.2, 0.2, 0.2]  # 0.2: past the tolerance
    coverages = [0.20, 0.22, 0.24, 0.26, 0.28, 0.5, 0.6, 0.7]
    _, score = _table(within, coverages, matched=(within, [c + 0.05 for c in coverages]))
    gamma, matched, scores = choose_item_scaling(score, 0.30, may_match=True)
    assert (gamma, matched) == (0.15, True)  # 0.26 + 0.05 reaches 0.30 first
    assert {"0.15", "matched+0.15"} <= set(scores)
    gamma, matched, _ = choose_item_scaling(score, 0.40, may_match=True)
    assert (gamma, matched) == (0.2, True)  # none reaches: the most covering within
    _, unasked = _table(within, [0.3] * 8)  # reaching without: the matched never scored
    assert choose_item_scaling(unasked, 0.30, may_match=True)[:2] == (0.0, False)


def test_matching_exposure_brings_each_items_count_of_lists_toward_the_teachers():
    """A rank-4 student whose lists favour popular items, matched to a teacher's lists over
    the same 200 users: the exposures move toward the teacher's, and the catalogue covered
    grows to about the teacher's."""
    generator = torch.Generator().manual_seed(0)
    popularity = torch.linspace(2.0, 0.0, 60)[:, None]
    users = torch.randn(200, 4, generator=generator)
    items = torch.randn(60, 4, generator=generator) * 0.3
    items[:, 0] += popularity[:, 0]
    users[:, 0] = users[:, 0].abs() + 1
    teacher_users = torch.cat([users, torch.randn(200, 4, generator=generator)], 1)
    teacher_items = torch.cat([items * 0.3, torch.randn(60, 4, generator=generator)], 1)
    everyone = np.arange(200)

    def lists(table_users, table_items):
        return topk_items(table_users, table_items, everyone, 5)

    target = exposure(lists(teacher_users, teacher_items), 60)
    before = exposure(lists(users, items), 60)
    matched = match_exposure(items, lambda table: lists(users, table), target)
    after = exposure(lists(users, matched), 60)
    assert np.abs(after - target).sum() < 0.6 * np.abs(before - target).sum()
    assert (after > 0).sum() > (before > 0).sum()
    assert torch.allclose(torch.nn.functional.normalize(matched),
                          torch.nn.functional.normalize(items), atol=1e-5)  # scaled rows


@pytest.mark.parametrize("value", [-0.1, 1.5, "sometimes"])
def test_the_config_takes_auto_or_a_number_from_0_to_1(value):
    from pydantic import ValidationError

    from mmgraph.config import StudentConfig

    assert StudentConfig(item_norm_exponent=0.25).item_norm_exponent == 0.25
    with pytest.raises(ValidationError, match="item_norm_exponent"):
        StudentConfig(item_norm_exponent=value)
    with pytest.raises(ValidationError, match="sequential student serves"):
        StudentConfig(kind="sequential", item_norm_exponent=0.2)
