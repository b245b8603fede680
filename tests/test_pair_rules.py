"""Ranking → pairs, and one prompt's rankings → export rows: pure functions, no database."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from annotations.consensus import Judgement, preference_share
from annotations.export.options import ExportOptions, ExportOptionsError
from annotations.export.pairs import PromptRecord, RankingRecord, pair_record, prompt_rows, split_of
from annotations.ranking import Pair, preference_shares, ranking_to_pairs, strict_preferences, without_completions


def chosen_rejected(pairs):
    return [(p.chosen, p.rejected) for p in pairs]


# --- ranking_to_pairs: hand-worked cases ------------------------------------------------------


def test_lecture_example_three_completions_ranked_2_1_3_give_exactly_three_pairs():
    pairs = ranking_to_pairs([[2], [1], [3]])
    assert pairs == [Pair(2, 1, 1, 2), Pair(2, 3, 1, 3), Pair(1, 3, 2, 3)]


def test_two_completions_give_one_pair():
    assert ranking_to_pairs([[8], [5]]) == [Pair(8, 5, 1, 2)]


def test_nine_completions_give_thirty_six_pairs_each_better_first():
    order = [14, 3, 9, 1, 22, 7, 5, 30, 11]
    pairs = ranking_to_pairs([[cid] for cid in order])
    assert len(pairs) == 36 == 9 * 8 // 2
    assert set(chosen_rejected(pairs)) == {(a, b) for a, b in itertools.combinations(order, 2)}
    assert all(p.chosen_rank < p.rejected_rank for p in pairs)


def test_tied_completions_give_no_pair_by_default():
    assert chosen_rejected(ranking_to_pairs([[1, 2], [3]])) == [(1, 3), (2, 3)]


def test_ties_included_give_one_pair_per_tied_couple_marked_tied():
    pairs = ranking_to_pairs([[4, 2], [3]], ties="include")
    assert pairs[0] == Pair(2, 4, 1, 1, tied=True)
    assert chosen_rejected(pairs[1:]) == [(4, 3), (2, 3)]
    assert not any(p.tied for p in pairs[1:])


def test_flagged_completion_gives_no_pair_by_default():
    assert chosen_rejected(ranking_to_pairs([[2], [1]], [3])) == [(2, 1)]


def test_flagged_as_rejected_sits_below_every_ranked_completion():
    pairs = ranking_to_pairs([[2], [1]], [3], flagged_as="rejected")
    assert pairs == [Pair(2, 1, 1, 2), Pair(2, 3, 1, 3), Pair(1, 3, 2, 3)]


def test_two_flagged_completions_are_never_paired_with_each_other():
    pairs = ranking_to_pairs([[1]], [2, 3], flagged_as="rejected")
    assert chosen_rejected(pairs) == [(1, 2), (1, 3)]


@pytest.mark.parametrize("flagged_as", ["drop", "rejected"])
def test_all_flagged_gives_no_pair(flagged_as):
    assert ranking_to_pairs([], [1, 2, 3], flagged_as=flagged_as) == []


def test_unknown_option_is_an_error():
    with pytest.raises(ValueError, match="flagged_as"):
        ranking_to_pairs([[1], [2]], flagged_as="keep")


def test_removing_a_canary_closes_up_the_tiers():
    assert without_completions([[1], [9], [2, 3]], [4, 9], {9}) == ([[1], [2, 3]], [4])


@given(st.lists(st.integers(min_value=1, max_value=10_000), min_size=0, max_size=12, unique=True))
def test_any_ranking_without_ties_gives_n_choose_2_pairs_that_respect_the_order(order):
    pairs = ranking_to_pairs([[cid] for cid in order])
    n = len(order)
    assert len(pairs) == n * (n - 1) // 2
    position = {cid: i for i, cid in enumerate(order)}
    assert all(position[p.chosen] < position[p.rejected] for p in pairs)
    assert len(set(chosen_rejected(pairs))) == len(pairs)
    assert all(p.chosen_rank == position[p.chosen] + 1 and p.rejected_rank == position[p.rejected] + 1 for p in pairs)


judgements_strategy = st.lists(
    st.permutations(list(range(1, 6))).flatmap(
        lambda order: st.tuples(st.integers(0, 5), st.integers(1, 3)).map(
            lambda cut: Judgement(
                tiers=[order[i:min(i + cut[1], cut[0])] for i in range(0, cut[0], cut[1])], flagged=order[cut[0]:]
            )
        )
    ),
    min_size=1,
    max_size=5,
)


@given(judgements_strategy, st.sampled_from(list(itertools.permutations(range(1, 6), 2))))
def test_export_agreement_matches_the_consensus_modules_preference_share(judgements, pair):
    shares = preference_shares(
        [strict_preferences(j.tiers, j.flagged) for j in judgements],
        [frozenset(itertools.chain(j.flagged, *j.tiers)) for j in judgements],
    )
    assert shares.get(pair, 0.0) == pytest.approx(preference_share(judgements, *pair))


# --- one prompt → rows --------------------------------------------------------------------------

PROMPT = PromptRecord(id=7, public_id="q-7", text="Why is the sky blue?",
                      completions={1: "one", 2: "two", 3: "three"}, canaries=frozenset())


def names(user_id: int) -> str:
    return f"labeler-{user_id}"


def records(prompt, rankings, options):
    result = prompt_rows(prompt, rankings, options, names)
    return [pair_record(prompt, result.split, row, bool(options.margin)) for row in result.pairs]


def test_labeler_mode_rows_carry_pseudonym_ranks_and_agreement():
    rankings = [
        RankingRecord(10, [[2], [1], [3]], [], [1, 2, 3]),
        RankingRecord(11, [[2], [3], [1]], [], [3, 1, 2]),
    ]
    rows = records(PROMPT, rankings, ExportOptions())
    assert len(rows) == 6
    first = rows[0]
    assert first == {
        "prompt": "Why is the sky blue?", "chosen": "two", "rejected": "one", "prompt_id": "q-7", "chosen_id": 2,
        "rejected_id": 1, "chosen_rank": 1, "rejected_rank": 2, "labeler": "labeler-10", "agreement": 1.0,
        "split": "train",
    }
    by_pair = {(r["labeler"], r["chosen_id"], r["rejected_id"]): r["agreement"] for r in rows}
    assert by_pair["labeler-10", 1, 3] == 0.5  # only one of the two labelers put 1 above 3
    assert by_pair["labeler-11", 3, 1] == 0.5


def test_tied_pair_has_agreement_one_half():
    rankings = [RankingRecord(10, [[1, 2], [3]], [], [1, 2, 3])]
    rows = records(PROMPT, rankings, ExportOptions(ties="include"))
    tie = next(r for r in rows if r["chosen_rank"] == r["rejected_rank"])
    assert (tie["chosen_id"], tie["rejected_id"], tie["agreement"]) == (1, 2, 0.5)


def test_canary_never_reaches_pairs_or_raw_rankings():
    prompt = PROMPT._replace(completions={1: "one", 2: "two"}, canaries=frozenset({3}))
    rankings = [RankingRecord(10, [[2], [3], [1]], [], [3, 1, 2])]
    result = prompt_rows(prompt, rankings, ExportOptions(flagged="rejected"), names)
    assert [row[:4] for row in result.pairs] == [(2, 1, 1, 2)]
    assert result.rankings[0]["tiers"] == [[2], [1]]
    assert result.rankings[0]["shown_order"] == [1, 2]


def test_consensus_mode_gives_one_set_of_pairs_with_null_labeler():
    rankings = [
        RankingRecord(10, [[2], [1], [3]], [], [1, 2, 3]),
        RankingRecord(11, [[2], [1], [3]], [], [1, 2, 3]),
        RankingRecord(12, [[1], [2], [3]], [], [1, 2, 3]),
    ]
    rows = records(PROMPT, rankings, ExportOptions(mode="consensus"))
    assert [(r["chosen_id"], r["rejected_id"]) for r in rows] == [(2, 1), (2, 3), (1, 3)]
    assert {r["labeler"] for r in rows} == {None}
    assert [r["agreement"] for r in rows] == pytest.approx([2 / 3, 1.0, 1.0])


@pytest.mark.parametrize(("margin", "expected"), [("agreement", [1.0, 1.0, 1.0]), ("rank-gap", [1.0, 2.0, 1.0])])
def test_margin_column(margin, expected):
    rankings = [RankingRecord(10, [[2], [1], [3]], [], [1, 2, 3])]
    rows = records(PROMPT, rankings, ExportOptions(margin=margin))
    assert [r["margin"] for r in rows] == expected


def test_no_margin_column_by_default():
    rows = records(PROMPT, [RankingRecord(10, [[2], [1], [3]], [], [])], ExportOptions())
    assert all("margin" not in r for r in rows)


def test_split_is_deterministic_by_prompt_and_seed():
    ids = [f"p{i}" for i in range(2000)]
    first = [split_of(i, 0.2, seed=1) for i in ids]
    assert first == [split_of(i, 0.2, seed=1) for i in ids]
    assert 300 < first.count("test") < 500
    assert first != [split_of(i, 0.2, seed=2) for i in ids]
    assert {split_of(i, None) for i in ids} == {"train"}


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"format": "xlsx"}, "format"),
        ({"mode": "majority"}, "mode"),
        ({"test_fraction": 1.5}, "test_fraction"),
        ({"test_fraction": 0}, "test_fraction"),
        ({"exclude_labelers_below": -0.1}, "exclude_labelers_below"),
        ({"margin": "huge"}, "margin"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_option_names_the_option(options, option):
    with pytest.raises(ExportOptionsError) as error:
        ExportOptions.from_dict(options)
    assert error.value.option == option


def test_agreement_counts_a_flagged_completion_as_below_the_ranked_ones():
    rankings = [
        RankingRecord(10, [[2], [1], [3]], [], [1, 2, 3]),
        RankingRecord(11, [[2], [1]], [3], [1, 2, 3]),
    ]
    rows = records(PROMPT, rankings, ExportOptions())
    assert {(r["chosen_id"], r["rejected_id"]): r["agreement"] for r in rows}[1, 3] == 1.0


@given(st.lists(st.permutations([1, 2, 3, 4]), min_size=1, max_size=5), st.booleans())
def test_rankings_without_ties_or_flags_give_the_rows_of_the_general_rules(orders, one_not_shown_4):
    """Strict rankings of the same completions take a shorter path in prompt_rows: its rows are
    those of ranking_to_pairs with preference_shares' agreement, in the same order."""
    if one_not_shown_4:  # a labeler shown fewer completions: the shares count only who saw both
        orders = [*orders, [1, 3, 2]]
    prompt = PROMPT._replace(completions={1: "one", 2: "two", 3: "three", 4: "four"})
    rankings = [RankingRecord(10 + i, [[cid] for cid in order], [], order) for i, order in enumerate(orders)]
    pairs_of = [ranking_to_pairs(ranking.tiers) for ranking in rankings]
    shares = preference_shares(pairs_of, [frozenset(order) for order in orders])
    expected = [(p.chosen, p.rejected, p.chosen_rank, p.rejected_rank, names(ranking.labeler_id),
                 shares[p.chosen, p.rejected], None) for ranking, pairs in zip(rankings, pairs_of) for p in pairs]
    assert prompt_rows(prompt, rankings, ExportOptions(), names).pairs == expected


# --- the JSONL writer's fast path writes exactly what orjson makes of the record ----------------

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(
    prompt_text=texts,
    completion_texts=st.lists(texts, min_size=2, max_size=4),
    public_id=texts,
    labeler=st.one_of(st.none(), texts),
    agreement=st.floats(min_value=0, max_value=1),
    margin=st.sampled_from([None, "agreement", "rank-gap"]),
)
def test_jsonl_lines_are_the_records_serialised_by_orjson(
    tmp_path_factory, prompt_text, completion_texts, public_id, labeler, agreement, margin
):
    import orjson

    from annotations.export.writers import JsonlPairWriter

    options = ExportOptions(margin=margin)
    prompt = PromptRecord(1, public_id, prompt_text, dict(enumerate(completion_texts, start=100)))
    rows = [(100, 101, 1, 2, labeler, agreement, 1.0 if margin else None),
            (101, 100, 1, 3, labeler, 1 / 3, 2.0 if margin else None)]
    path = tmp_path_factory.mktemp("jsonl") / "pairs.jsonl"
    writer = JsonlPairWriter(path, options.columns, "test")
    writer.write_pairs(prompt, rows)
    writer.close()
    expected = b"".join(orjson.dumps(pair_record(prompt, "test", row, bool(margin))) + b"\n" for row in rows)
    assert path.read_bytes() == expected


def test_jsonl_writer_bounded_memory_of_line_ends_changes_nothing(tmp_path):
    import orjson

    from annotations.export.writers import JsonlPairWriter

    prompt = PromptRecord(1, "p1", "prompt", {100: "a", 101: "b", 102: "c"})
    rows = [(100, 101, 1, 2, "lab-1", 1.0, None), (101, 102, 2, 3, "lab-2", 0.5, None),
            (100, 102, 1, 3, "lab-1", 1.0, None)]
    writer = JsonlPairWriter(tmp_path / "pairs.jsonl", ExportOptions().columns, "train")
    writer.TAILS_KEPT = 1  # every new line end forgets the others
    writer.write_pairs(prompt, rows)
    writer.write_pairs(prompt, rows)
    writer.close()
    line = b"".join(orjson.dumps(pair_record(prompt, "train", row, False)) + b"\n" for row in rows)
    assert (tmp_path / "pairs.jsonl").read_bytes() == line * 2
    assert len(writer.tails) == 1


def test_write_pairs_shortens_the_thread_switch_interval_while_it_runs_and_restores_it(tmp_path):
    import sys

    from annotations.export.writers import SWITCH_INTERVAL, write_pairs

    rankings = [RankingRecord(10, [[2], [1], [3]], [], [1, 2, 3])]
    seen = []
    before = sys.getswitchinterval()

    def record_interval(rankings_done: int) -> None:
        seen.append(sys.getswitchinterval())

    write_pairs([(PROMPT, rankings)], ExportOptions(), tmp_path, names, record_interval)
    assert seen == [pytest.approx(SWITCH_INTERVAL)]
    assert sys.getswitchinterval() == before
