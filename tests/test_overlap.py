"""Adaptive overlap's rule (pure, no database): who takes one more labeler, and when a prompt is complete."""

import pytest

from annotations.overlap import is_complete, needs_another_labeler, wanted_rankings

K, MAXIMUM, TARGET = 3, 5, 0.75


def test_an_agreeing_prompt_stops_at_k():
    assert not needs_another_labeler(0.9, 3, K, MAXIMUM, TARGET)
    assert is_complete(0.9, 3, K, MAXIMUM, TARGET)
    assert wanted_rankings(0.9, 3, K, MAXIMUM, TARGET) == 3


def test_agreement_exactly_at_the_target_is_enough():
    assert not needs_another_labeler(0.75, 3, K, MAXIMUM, TARGET)
    assert is_complete(0.75, 3, K, MAXIMUM, TARGET)


def test_a_disputed_prompt_takes_one_more_labeler_at_a_time_up_to_the_maximum_and_never_beyond():
    wanted = [wanted_rankings(0.4, n, K, MAXIMUM, TARGET) for n in range(0, 7)]
    assert wanted == [3, 3, 3, 4, 5, 5, 6]  # below k: k; then one more each time; at 5: stop
    assert [needs_another_labeler(0.4, n, K, MAXIMUM, TARGET) for n in range(0, 7)] == [
        False, False, False, True, True, False, False,
    ]
    assert [is_complete(0.4, n, K, MAXIMUM, TARGET) for n in range(0, 7)] == [
        False, False, False, False, False, True, True,
    ]


def test_a_prompt_below_k_is_never_complete_and_never_asks_for_extra_labelers():
    for agreement in (None, 0.0, 1.0):
        assert not is_complete(agreement, 2, K, MAXIMUM, TARGET)
        assert not needs_another_labeler(agreement, 2, K, MAXIMUM, TARGET)


def test_rising_agreement_stops_the_extra_labelers():
    assert needs_another_labeler(0.6, 3, K, MAXIMUM, TARGET)
    assert not needs_another_labeler(0.8, 4, K, MAXIMUM, TARGET)  # the 4th ranking settled it
    assert is_complete(0.8, 4, K, MAXIMUM, TARGET)


@pytest.mark.parametrize("maximum", [K, K - 1, 0])
def test_off_when_the_maximum_is_k_or_below(maximum):
    assert not needs_another_labeler(0.0, 3, K, maximum, TARGET)
    assert is_complete(0.0, 3, K, maximum, TARGET)
    assert wanted_rankings(0.0, 3, K, maximum, TARGET) == 3
    assert wanted_rankings(0.0, 1, K, maximum, TARGET) == 3  # never fewer than k


def test_unknown_agreement_gives_no_evidence_of_disagreement():
    assert not needs_another_labeler(None, 3, K, MAXIMUM, TARGET)
    assert is_complete(None, 3, K, MAXIMUM, TARGET)
