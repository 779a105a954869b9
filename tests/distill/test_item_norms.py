"""The served student's item vectors divided by a power of their norm, and the exponent chosen
against the teacher's coverage."""

import pytest
import torch

from mmgraph.distill.item_norms import (ACCURACY_TOLERANCE, NORM_EXPONENTS,
                                        choose_norm_exponent, rescale_items)


def test_rows_are_divided_by_their_norm_to_the_power():
    items = torch.tensor([[3.0, 4.0], [0.0, 0.0], [0.0, 0.5]])
    half = rescale_items(items, 0.5)
    assert torch.allclose(half[0], items[0] / 5 ** 0.5)
    assert torch.equal(half[1], items[1])  # a zero row stays zero, not NaN
    assert torch.allclose(rescale_items(items, 1.0)[2], torch.tensor([0.0, 1.0]))
    unchanged = rescale_items(items, 0.0)
    assert torch.equal(unchanged, items) and unchanged.data_ptr() != items.data_ptr()


def _table(metrics: list[float], coverages: list[float]):
    table = dict(zip(NORM_EXPONENTS, zip(metrics, coverages)))
    return table, table.__getitem__


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


@pytest.mark.parametrize("value", [-0.1, 1.5, "sometimes"])
def test_the_config_takes_auto_or_a_number_from_0_to_1(value):
    from pydantic import ValidationError

    from mmgraph.config import StudentConfig

    assert StudentConfig(item_norm_exponent=0.25).item_norm_exponent == 0.25
    with pytest.raises(ValidationError, match="item_norm_exponent"):
        StudentConfig(item_norm_exponent=value)
    with pytest.raises(ValidationError, match="sequential student serves"):
        StudentConfig(kind="sequential", item_norm_exponent=0.2)
