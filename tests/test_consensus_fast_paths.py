"""The fast paths of consensus.py (figures memoized by prompt shape, the Krippendorff table in flat
arrays) give exactly the results of the general code, on random judgements with ties, flags,
completions left out, empty tiers, renumbered completions and 2..9 completions."""

import random

import pytest

from annotations.consensus import (
    Judgement,
    RankValueTable,
    ShapeMeasures,
    kendalls_w,
    krippendorff_alpha_ordinal,
    labeler_scores,
    pairwise_agreement,
    prompt_shape,
    rank_value_counts,
    rounds_of_distrust,
    score_labelers,
    shape_judgements,
)


def random_judgement(rng: random.Random, ids: list[int], truth: bool = False) -> Judgement:
    """Ties, flags, now and then a completion left out or an empty tier; in a random order, or
    (truth) in the order of `ids` with one adjacent swap now and then."""
    shown = [cid for cid in ids if rng.random() > 0.05]  # rarely, a completion left out (as a canary is)
    if not truth:
        rng.shuffle(shown)
    elif len(shown) > 1 and rng.random() < 0.5:
        i = rng.randrange(len(shown) - 1)
        shown[i:i + 2] = shown[i + 1], shown[i]
    flagged = [cid for cid in shown if rng.random() < 0.15]
    ranked = [cid for cid in shown if cid not in flagged]
    tiers: list[list[int]] = []
    for cid in ranked:
        if tiers and rng.random() < 0.25:
            tiers[-1].append(cid)  # a tie
        else:
            tiers.append([cid])
    if tiers and rng.random() < 0.03:
        tiers.insert(rng.randrange(len(tiers) + 1), [])  # an empty tier, as stored data might hold
    return Judgement(tiers, flagged)


def random_prompt(rng: random.Random, ids: list[int]) -> list[Judgement]:
    if rng.random() < 0.4:  # the common shape: 3 strict rankings of every completion
        return [Judgement([[cid] for cid in rng.sample(ids, len(ids))], []) for _ in range(3)]
    return [random_judgement(rng, ids) for _ in range(rng.choice([1, 2, 2, 3, 3, 3, 4, 5]))]


def random_ids(rng: random.Random) -> list[int]:
    return rng.sample(range(1, 1000), rng.randint(2, 9))


@pytest.mark.parametrize("seed", range(40))
def test_shape_measures_equal_the_general_code(seed):
    rng = random.Random(seed)
    measures = ShapeMeasures()
    for _ in range(50):
        judgements = random_prompt(rng, random_ids(rng))
        shape = prompt_shape(judgements)
        assert shape is not None
        assert measures.agreement(shape) == (pairwise_agreement(judgements), kendalls_w(judgements))
        # A renumbered copy of the prompt has the same shape.
        renumber = dict(zip(sorted({c for j in judgements for t in j.tiers for c in t} |
                                   {c for j in judgements for c in j.flagged}),
                            rng.sample(range(2000, 3000), 20), strict=False))
        renumbered = [Judgement([[renumber[c] for c in t] for t in j.tiers], [renumber[c] for c in j.flagged])
                      for j in judgements]
        assert prompt_shape(renumbered) == shape


def test_shape_judgements_rebuild_the_places_of_the_judgements():
    judgements = [Judgement([[30], [10, 20]], [40]), Judgement([[], [40]], [10, 30])]
    rebuilt = shape_judgements(prompt_shape(judgements))
    assert pairwise_agreement(rebuilt) == pairwise_agreement(judgements)
    assert [len(j.flagged) for j in rebuilt] == [1, 2]


def test_a_judgement_naming_a_completion_twice_has_no_shape():
    assert prompt_shape([Judgement([[1], [2]], [2]), Judgement([[1], [2]], [])]) is None


def random_crowd(seed: int) -> list[list[tuple[int, Judgement]]]:
    """Prompts ranked by a few labelers close to a hidden true order, one of them an inverter, so
    that later rounds of score_labelers distrust someone; some prompts with no truth at all."""
    rng = random.Random(seed)
    labelers = list(range(1, rng.randint(4, 8)))
    inverter = rng.choice(labelers)
    prompts = []
    for _ in range(rng.randint(60, 200)):
        ids = random_ids(rng)
        ranked = []
        for labeler in rng.sample(labelers, min(len(labelers), rng.choice([1, 2, 3, 3, 3, 4]))):
            judgement = random_judgement(rng, ids, truth=True)
            if labeler == inverter:
                judgement = Judgement(judgement.tiers[::-1], judgement.flagged)
            ranked.append((labeler, judgement))
        if rng.random() < 0.02:
            ranked.append((labelers[0], Judgement([[ids[0]], [ids[1]]], [ids[1]])))  # no shape: general code
        prompts.append(ranked)
    if seed % 5 == 0:
        prompts += [list(zip(labelers, random_prompt(rng, random_ids(rng)), strict=False)) for _ in range(30)]
    return prompts


def general_score_labelers(prompts, method: str):
    """score_labelers's rounds, with the general labeler_scores."""
    return rounds_of_distrust(lambda distrusted: labeler_scores(prompts, method, distrusted))


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("method", ["ranked_pairs", "borda"])
def test_score_labelers_equals_the_general_rounds(seed, method):
    prompts = random_crowd(seed)
    assert score_labelers(prompts, method) == general_score_labelers(prompts, method)


def test_the_random_crowds_make_later_rounds_distrust_someone():
    assert sum(bool(general_score_labelers(random_crowd(seed), "ranked_pairs")[1]) for seed in range(25)) >= 5


@pytest.mark.parametrize("seed", range(20))
def test_rank_value_table_equals_rank_value_counts(seed):
    rng = random.Random(seed)
    prompts = [random_prompt(rng, random_ids(rng)) for _ in range(rng.randint(1, 60))]
    table = RankValueTable()
    for judgements in prompts:
        table.add(judgements)
    rows, top = rank_value_counts(prompts)
    assert table.top == top
    assert table.value_counts().tolist() == rows
    assert table.alpha() == krippendorff_alpha_ordinal(prompts)


def test_rank_value_table_of_nothing_has_no_alpha():
    table = RankValueTable()
    table.add([])
    assert table.alpha() is None
