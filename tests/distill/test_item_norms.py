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


def _scores(table: dict[float, tuple[float, float]]):
    tried = []

    def score(exponent: float) -> tuple[float, float]:
        tried.append(exponent)
        return table[exponent]
    return score, tried


def test_the_smallest_exponent_reaching_the_teachers_coverage_is_chosen():
    table = {g: (0.30 - 0.001 * i, 0.28 + 0.01 * i) for i, g in enumerate(NORM_EXPONENTS)}
    score, tried = _scores(table)
    exponent, scores = choose_norm_exponent(score, target_coverage=0.30)
    assert exponent == NORM_EXPONENTS[2] and tried == list(NORM_EXPONENTS[:3])
    assert scores[str(exponent)] == dict(zip(("metric", "coverage"), table[exponent]))


def test_a_student_already_covering_enough_keeps_its_vectors():
    score, tried = _scores({0.0: (0.3, 0.5)})
    assert choose_norm_exponent(score, target_coverage=0.4)[0] == 0.0 and tried == [0.0]


def test_accuracy_beyond_the_tolerance_is_not_given_up_for_coverage():
    costly = 0.30 * (1 - 2 * ACCURACY_TOLERANCE)
    table = {0.0: (0.30, 0.20), 0.05: (0.2990, 0.22), 0.1: (costly, 0.40)}
    score, tried = _scores(table)
    exponent, _ = choose_norm_exponent(score, target_coverage=0.35)
    assert exponent == 0.05 and tried == [0.0, 0.05, 0.1]  # the best coverage within it


@pytest.mark.parametrize("value", [-0.1, 1.5, "sometimes"])
def test_the_config_takes_auto_or_a_number_from_0_to_1(value):
    from pydantic import ValidationError

    from mmgraph.config import StudentConfig

    assert StudentConfig(item_norm_exponent=0.25).item_norm_exponent == 0.25
    with pytest.raises(ValidationError, match="item_norm_exponent"):
        StudentConfig(item_norm_exponent=value)
    with pytest.raises(ValidationError, match="sequential student serves"):
        StudentConfig(kind="sequential", item_norm_exponent=0.2)
