import pytest

from annotations.ranking import RankingError, normalize_tiers, tier_of, tiers_to_pairs, validate_ranking


def test_lecture_example_gives_three_pairs_best_first():
    # Completions 1, 2, 3 ranked 2 > 1 > 3.
    assert list(tiers_to_pairs([[2], [1], [3]])) == [(2, 1), (2, 3), (1, 3)]


def test_tied_completions_give_no_pair_between_them():
    assert sorted(tiers_to_pairs([[1, 2], [3]])) == [(1, 3), (2, 3)]


def test_tier_numbers_are_one_based():
    assert tier_of([[5], [7, 8], [6]]) == {5: 1, 7: 2, 8: 2, 6: 3}


def test_valid_ranking_with_tie_and_flag_passes():
    validate_ranking([[3], [1, 4]], [2], shown=[1, 2, 3, 4], allow_ties=True)


@pytest.mark.parametrize(
    ("tiers", "flagged", "message"),
    [
        ([[1], [2]], [], "neither ranked nor flagged: [3]"),
        ([[1], [2], [3], [4]], [], "not shown in this assignment: [4]"),
        ([[1], [1], [2]], [3], "more than once: [1]"),
        ([[1], [], [2, 3]], [], "tier 2 is empty"),
        ("1,2,3", [], '"tiers" must be a list'),
        ([[1], [2]], 3, '"flagged" must be a list'),
        ([["1"], [2], [3]], [], "must be integers"),
    ],
)
def test_invalid_ranking_says_what_is_wrong(tiers, flagged, message):
    with pytest.raises(RankingError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_ranking(tiers, flagged, shown=[1, 2, 3], allow_ties=True)


def test_tie_rejected_when_project_forbids_ties():
    with pytest.raises(RankingError, match="does not allow ties"):
        validate_ranking([[1, 2], [3]], [], shown=[1, 2, 3], allow_ties=False)


def test_all_flagged_is_a_valid_ranking():
    validate_ranking([], [1, 2, 3], shown=[1, 2, 3], allow_ties=False)


def test_normalize_sorts_within_tiers_only():
    assert normalize_tiers([[3], [4, 1]]) == [[3], [1, 4]]
