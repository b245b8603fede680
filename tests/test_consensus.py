"""Consensus and agreement on hand-worked examples (pure functions, no database)."""

import math

import pytest

from annotations.consensus import (
    Judgement,
    LabelerScore,
    agreement_with,
    consensus,
    decided_pairs,
    kendalls_w,
    krippendorff_alpha_ordinal,
    labeler_scores,
    ordinal_alpha,
    pairwise_agreement,
    possible_misreaders,
    preference_share,
    rank_value_counts,
    score_labelers,
    strip_completions,
    wilson_interval,
)

A, B, C, D = 1, 2, 3, 4


def ranked(*order: int, flagged: tuple[int, ...] = ()) -> Judgement:
    return Judgement([[cid] for cid in order], list(flagged))


def test_unanimous_rankings_give_the_same_consensus():
    judgements = [ranked(B, A, C)] * 3
    assert consensus(judgements) == Judgement([[B], [A], [C]], [])
    assert consensus(judgements, "borda") == Judgement([[B], [A], [C]], [])


def test_condorcet_paradox_with_equal_margins_stays_tied():
    # A>B, B>C and C>A each win 2 to 1: no order can be chosen without an arbitrary tie-break.
    judgements = [ranked(A, B, C), ranked(B, C, A), ranked(C, A, B)]
    assert consensus(judgements) == Judgement([[A, B, C]], [])
    assert consensus(judgements, "borda") == Judgement([[A, B, C]], [])


def test_cycle_is_broken_at_its_weakest_majority():
    # 4× A>B>C, 3× B>C>A, 2× C>A>B: B>C by 7-2, A>B by 6-3, C>A by 5-4 (the weakest, dropped).
    judgements = [ranked(A, B, C)] * 4 + [ranked(B, C, A)] * 3 + [ranked(C, A, B)] * 2
    assert consensus(judgements) == Judgement([[A], [B], [C]], [])


def test_evenly_split_pair_stays_tied():
    judgements = [ranked(A, B, C), ranked(B, A, C)]
    assert consensus(judgements) == Judgement([[A, B], [C]], [])


def test_tied_tiers_count_as_no_preference():
    judgements = [Judgement([[A, B], [C]], []), Judgement([[A, B], [C]], []), ranked(B, A, C)]
    # B>A by 1-0 with two ties: a majority of those who expressed one.
    assert consensus(judgements) == Judgement([[B], [A], [C]], [])


def test_completion_flagged_by_a_majority_is_flagged_in_the_consensus():
    judgements = [ranked(A, B, flagged=(C,)), ranked(B, A, flagged=(C,)), ranked(A, C, B)]
    assert consensus(judgements) == Judgement([[A], [B]], [C])


def test_minority_flag_counts_as_ranked_below_everything():
    # Two put C above B, one flags C: C>B by 2-1, and C is not flagged in the consensus.
    judgements = [ranked(A, C, B), ranked(A, C, B), ranked(A, B, flagged=(C,))]
    assert consensus(judgements) == Judgement([[A], [C], [B]], [])


def test_borda_and_ranked_pairs_differ_where_the_condorcet_winner_is_not_the_borda_winner():
    # 3× A>B>C, 2× B>C>A: A beats B 3-2 and C 3-2 (Condorcet winner); Borda: B 4, A 2, C -6.
    judgements = [ranked(A, B, C)] * 3 + [ranked(B, C, A)] * 2
    assert consensus(judgements) == Judgement([[A], [B], [C]], [])
    assert consensus(judgements, "borda") == Judgement([[B], [A], [C]], [])


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="kemeny"):
        consensus([ranked(A, B)], "kemeny")


def test_preference_share_counts_flagged_as_below_and_ties_as_not_above():
    judgements = [ranked(A, B), ranked(B, A), Judgement([[B]], [A]), Judgement([[A, B]], [])]
    assert preference_share(judgements, A, B) == 1 / 4
    assert preference_share(judgements, B, A) == 2 / 4


def test_preference_share_of_two_flagged_completions_is_zero():
    assert preference_share([Judgement([[C]], [A, B])], A, B) == 0.0


def test_strip_completions_removes_a_canary_and_its_empty_tier():
    assert strip_completions(Judgement([[A], [D], [B, C]], []), {D}) == Judgement([[A], [B, C]], [])
    assert strip_completions(ranked(A, B, flagged=(D,)), {D}) == ranked(A, B)


def test_pairwise_agreement_counts_labeler_pairs_per_completion_pair():
    # (A,B): above, above, below → 1 of 3 labeler pairs agree; (A,C): 3 of 3; (B,C): 1 of 3.
    result = pairwise_agreement([ranked(A, B, C), ranked(A, C, B), ranked(B, A, C)])
    assert (result.agreeing, result.compared) == (5, 9)
    assert result.share == pytest.approx(5 / 9)


def test_pairwise_agreement_treats_ties_and_flags_as_orders():
    # (A,B): tied, tied → agree. (A,C) and (B,C): above, above → agree (flag below ranked).
    result = pairwise_agreement([Judgement([[A, B], [C]], []), Judgement([[A, B]], [C])])
    assert result.share == 1.0
    assert pairwise_agreement([ranked(A, B)]).share is None


def test_kendalls_w_matches_the_proofwiki_example():
    # ProofWiki, "Kendall's Coefficient of Concordance/Examples/Arbitrary Example 1": judges give
    # X ranks 1,1,2,3; Y 3,2,3,1; Z 2,3,1,2 → W = 1/16.
    X, Y, Z = A, B, C
    judges = [ranked(X, Z, Y), ranked(X, Y, Z), ranked(Z, X, Y), ranked(Y, Z, X)]
    assert kendalls_w(judges) == pytest.approx(1 / 16)


def test_kendalls_w_with_ties_uses_the_tie_correction():
    # Ranks (average for ties): J1 A1 B2 C3; J2 A1.5 B1.5 C3. Sums 2.5, 3.5, 6; mean 4;
    # S = 2.25 + 0.25 + 4 = 6.5; T = 2³-2 = 6; W = 12·6.5 / (4·24 − 2·6) = 78/84.
    assert kendalls_w([ranked(A, B, C), Judgement([[A, B], [C]], [])]) == pytest.approx(78 / 84)


def test_kendalls_w_is_one_for_identical_and_zero_for_opposite_rankings():
    assert kendalls_w([ranked(A, B, C, D)] * 3) == pytest.approx(1.0)
    assert kendalls_w([ranked(A, B, C, D), ranked(D, C, B, A)]) == pytest.approx(0.0)


KRIPPENDORFF_2011 = [  # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", 4 observers × 12 units
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def test_ordinal_alpha_matches_krippendorffs_published_example():
    counts = [
        [sum(1 for observer in KRIPPENDORFF_2011 if observer[unit] == value) for value in range(1, 6)]
        for unit in range(12)
    ]
    assert ordinal_alpha(counts, 5) == pytest.approx(0.815, abs=5e-4)


def test_rank_value_counts_use_tier_numbers_and_flags_rank_last():
    rows, top = rank_value_counts([[ranked(A, B), Judgement([[B]], [A])]])
    assert top == 2
    assert rows == [[1, 1], [1, 1]]  # A: rank 1 once, rank 2 (flagged) once; B likewise


def test_krippendorff_alpha_is_one_for_perfect_agreement_and_negative_for_inversion():
    assert krippendorff_alpha_ordinal([[ranked(A, B, C)] * 3, [ranked(D, A)] * 2]) == pytest.approx(1.0)
    assert krippendorff_alpha_ordinal([[ranked(A, B, C), ranked(C, B, A)]]) < 0
    assert krippendorff_alpha_ordinal([[ranked(A, B)]]) is None


def test_agreement_with_gives_half_credit_for_a_tie_over_the_decided_pairs():
    decided = {(A, B), (A, C)}  # B and C undecided
    assert agreement_with(ranked(A, B, C), decided) == (2.0, 2)
    assert agreement_with(Judgement([[A, B], [C]], []), decided) == (1.5, 2)
    assert agreement_with(ranked(C, B, A), decided) == (0.0, 2)
    assert agreement_with(ranked(A, B), decided) == (1.0, 1)  # C not shown: that pair is skipped


def test_decided_pairs_are_the_locked_majorities_not_the_tier_boundaries():
    # A>B 2-0; A–C and B–C split 1-1. C shares the top tier with A yet sits above B only by layering.
    judgements = [ranked(A, B, C), ranked(C, A, B)]
    assert consensus(judgements) == Judgement([[A, C], [B]], [])
    assert decided_pairs(judgements) == {(A, B)}


def test_decided_pairs_follow_chains_and_put_flagged_completions_last():
    judgements = [ranked(A, B, C, flagged=(D,)), ranked(A, B, C, flagged=(D,)), ranked(B, C, A, D)]
    assert consensus(judgements) == Judgement([[A], [B], [C]], [D])
    assert decided_pairs(judgements) == {(A, B), (B, C), (A, C), (A, D), (B, D), (C, D)}


def test_equal_majorities_in_a_cycle_are_taken_in_order_of_their_borda_gap():
    # A>B, B>C, C>A each win 2-1 (a cycle); D: C>D 3-0, D>A 2-1, B>D 2-1.
    # Borda (sum of margins): A -1, B +1, C +3, D -3. C>D locks first (margin 3); among the
    # margin-1 majorities C>A and B>D have the largest Borda gap (+4) and lock next; A>B, B>C and
    # D>A (gap -2) would each close a cycle and are dropped.
    judgements = [ranked(A, B, C, D), ranked(B, C, D, A), ranked(C, D, A, B)]
    assert consensus(judgements) == Judgement([[B, C], [A, D]], [])
    assert decided_pairs(judgements) == {(C, D), (C, A), (B, D)}


def test_wilson_interval_widens_with_fewer_rankings():
    low_few, high_few = wilson_interval(0.8, 5)
    low_many, high_many = wilson_interval(0.8, 100)
    assert low_few < low_many < 0.8 < high_many < high_few
    assert wilson_interval(0.5, 0) == (0.0, 1.0)
    # Known value: p=0.5, n=10 → 0.5 ± 0.2797 (Wilson 1927 formula, z=1.96).
    assert wilson_interval(0.5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)


def test_leave_one_out_scores_an_inverter_at_zero_and_agreeing_labelers_at_one():
    prompts = [[(1, ranked(A, B, C)), (2, ranked(A, B, C)), (3, ranked(C, B, A))] for _ in range(4)]
    scores = labeler_scores(prompts)
    # Labeler 1's others are 2 and 3, who disagree on everything: nothing to compare against.
    assert 1 not in scores and 2 not in scores
    assert scores[3] == LabelerScore(4, 0.0, *wilson_interval(0.0, 4))


def test_leave_one_out_with_four_labelers():
    prompts = [[(1, ranked(A, B, C)), (2, ranked(A, B, C)), (3, ranked(A, C, B)), (4, ranked(C, B, A))]]
    scores = labeler_scores(prompts)
    # Labeler 4's others' consensus is A>B>C... (A,C unanimous, A>B unanimous, B>C 2-1): 0 of 3.
    assert scores[4].agreement == 0.0
    # Labeler 3's others: A,B 2-1 for A; A,C 2-1; B,C 2-1 for B → A>B>C; 3 orders A>C, A>B, C>B: 2/3.
    assert math.isclose(scores[3].agreement, 2 / 3)
    # Labeler 1's others (A>B>C, A>C>B, C>B>A): A>B, A>C, C>B all 2-1 → A>C>B; 1 matches 2 of 3.
    assert math.isclose(scores[1].agreement, 2 / 3)
    assert scores[1].rankings == 1 and scores[1].ci_low < 0.2 and scores[1].ci_high > 0.95


def test_possible_misreaders_are_far_below_their_peers_once_measured():
    good = {i: LabelerScore(30, 0.8, *wilson_interval(0.8, 30)) for i in range(1, 6)}
    careless = {6: LabelerScore(30, 0.62, *wilson_interval(0.62, 30))}
    inverter = {7: LabelerScore(30, 0.2, *wilson_interval(0.2, 30))}
    newcomer = {8: LabelerScore(3, 0.0, *wilson_interval(0.0, 3))}
    assert possible_misreaders({**good, **careless, **inverter, **newcomer}) == {7}
    assert possible_misreaders(inverter) == set()  # no peers to compare with


def test_a_labeler_who_only_shared_prompts_with_misreaders_is_not_blamed_for_them():
    truth, inverted = ranked(A, B, C, D), ranked(D, C, B, A)
    prompts = (
        [[(1, truth), (2, truth), (3, truth)], [(4, truth), (5, truth), (6, truth)]] * 12
        + [[(7, inverted), (1, truth), (2, truth)], [(8, inverted), (3, truth), (4, truth)]] * 12
        + [[(9, truth), (7, inverted), (8, inverted)]] * 12  # 9's only company: the two misreaders
    )
    assert 9 in possible_misreaders(labeler_scores(prompts))  # judged against the misreaders' consensus
    scores, misreaders = score_labelers(prompts)
    assert misreaders == {7, 8}
    assert 9 not in scores  # no trusted company: unknown, not bad
    assert scores[1].agreement == 1.0
