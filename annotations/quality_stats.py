"""The quality figures stored per prompt and per ranking, and how the report adds them up (no Django).

When a ranking is stored or revised, its prompt's rankings are reduced to what the quality report
needs (consensus.py's shape: how they order the completions, canaries left out) and each ranking
to a few numbers: its agreement with the leave-one-out consensus of the others (everyone trusted),
whether it ties, how many completions it flags and judges, and its canary. The report then counts
prompts per shape and sums rankings per labeler in SQL (annotations/quality_store.py), and
recomputes only the prompts a possible misreader ranked, where the consensus changes once the
misreader is distrusted.

Means are taken exactly (the sum of the multiset of values, rounded once), so that adding counts of
equal values gives the same float as adding the values one by one in any order: the stored report
is identical to the recomputed one, not merely close.
"""

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import NamedTuple

from .consensus import (
    Judgement,
    PairAgreement,
    Shape,
    ShapeMeasures,
    _left_out,
    kendalls_w,
    pairwise_agreement,
    positions,
    prompt_shape,
    shape_judgements,
    strip_completions,
)

# Ranking.canary: no canary shown, shown and missed, shown and passed.
NO_CANARY, CANARY_MISSED, CANARY_PASSED = 0, 1, 2


class PromptStats(NamedTuple):
    """What is stored for one prompt: its shape's key (None when its judgements have no shape:
    a completion named twice), its pairwise agreement (Prompt.agreement), and, per ranking in
    submission order, its leave-one-out agreement (None when not comparable)."""

    shape_key: str | None
    agreement: float | None
    loo_shares: tuple[float | None, ...]


class RankingFacts(NamedTuple):
    has_tie: bool
    num_flagged: int
    num_judged: int
    canary: int


def canary_passed(judgement: Judgement, canary: int) -> bool:
    """The expected judgement of a canary: flagged, or alone in the last tier."""
    if canary in judgement.flagged:
        return True
    return bool(judgement.tiers) and judgement.tiers[-1] == [canary]


def ranking_facts(raw: Judgement, canary: int | None, shown: Iterable[int]) -> RankingFacts:
    """One ranking's counts for the labeler figures, as the quality report takes them."""
    judgement = strip_completions(raw, {canary}) if canary is not None else raw
    seen = canary is not None and canary in shown
    return RankingFacts(
        has_tie=any(len(tier) > 1 for tier in judgement.tiers),
        num_flagged=len(judgement.flagged),
        num_judged=sum(map(len, judgement.tiers)) + len(judgement.flagged),
        canary=(CANARY_PASSED if canary_passed(raw, canary) else CANARY_MISSED) if seen else NO_CANARY,
    )


def shape_key(shape: Shape) -> str:
    return json.dumps(shape, separators=(",", ":"))


def parse_shape_key(key: str) -> Shape:
    return tuple(tuple(row) for row in json.loads(key))


# The submit path's memo of per-shape figures: few shapes in practice, bounded anyway.
_MEMO_LIMIT = 20_000
_measures = ShapeMeasures()


def shared_measures() -> ShapeMeasures:
    """A process-wide ShapeMeasures, started afresh when it grows past _MEMO_LIMIT shapes."""
    global _measures
    if len(_measures._left_out) + len(_measures._agreement) > _MEMO_LIMIT:
        _measures = ShapeMeasures()
    return _measures


def loo_share(result: tuple[float, int] | None) -> float | None:
    """A ranking's agreement with the leave-one-out consensus from agreement_with's (agreeing, pairs)."""
    return result[0] / result[1] if result is not None and result[1] else None


def prompt_stats(judgements: Sequence[Judgement], canary: int | None,
                 measures: ShapeMeasures | None = None) -> PromptStats:
    """The stored figures of a prompt from its rankings' judgements (submission order)."""
    measures = measures or shared_measures()
    if canary is not None:
        judgements = [strip_completions(judgement, {canary}) for judgement in judgements]
    shape = prompt_shape(judgements)
    count = len(judgements)
    everyone = (True,) * count
    if shape is None:
        pair = pairwise_agreement(judgements)
        left_out = _left_out(judgements, everyone, measures.method) if count >= 2 else (None,) * count
        key = None
    else:
        shape = measures.intern(shape)
        pair, _ = measures.agreement(shape)
        left_out = measures.left_out(shape, everyone) if count >= 2 else (None,) * count
        key = shape_key(shape)
    agreement = pair.share if count >= 2 else None
    return PromptStats(key, agreement, tuple(map(loo_share, left_out)))


# --- Adding up ---------------------------------------------------------------------------------


def _exact_sum(counts: Mapping[float, int]) -> tuple[int, int]:
    """(numerator, denominator) of the exact sum of the multiset (floats are binary fractions:
    integer arithmetic over a common power-of-two denominator, no Fraction per value)."""
    ratios = [(value.as_integer_ratio(), count) for value, count in counts.items() if count]
    denominator = max((d for (_, d), _ in ratios), default=1)
    return sum(n * (denominator // d) * count for (n, d), count in ratios), denominator


def exact_mean(counts: Mapping[float, int]) -> float | None:
    """The mean of a multiset given as value → count: its exact sum rounded once, divided by its
    size, as math.fsum(values) / len(values) gives for the values one by one."""
    size = sum(counts.values())
    if not size:
        return None
    numerator, denominator = _exact_sum(counts)
    return (numerator / denominator) / size  # int / int is correctly rounded, as fsum is


def exact_average(counts: Mapping[float, int]) -> float | None:
    """statistics.mean of the multiset: its exact mean rounded once."""
    size = sum(counts.values())
    if not size:
        return None
    numerator, denominator = _exact_sum(counts)
    return numerator / (denominator * size)


class ShapeFigures(NamedTuple):
    rankings: int
    pair: PairAgreement
    kendalls_w: float | None
    rank_rows: tuple[tuple[int, ...], ...]  # per completion: how many judgements gave it rank 1, 2, …
    top: int  # the largest rank value given (1 at least)


def judgement_figures(judgements: Sequence[Judgement]) -> ShapeFigures:
    """A prompt's figures for the report from its (canary-free) judgements: pairwise agreement,
    Kendall's W and its Krippendorff rows (as RankValueTable counts them)."""
    places = [positions(judgement) for judgement in judgements]
    ids = sorted(set().union(*places))
    top = max((max(place.values()) + 1 for place in places if place), default=1)
    rows = []
    for cid in ids:
        counts = Counter(place[cid] + 1 for place in places if cid in place)
        rows.append(tuple(counts.get(value, 0) for value in range(1, top + 1)))
    return ShapeFigures(len(judgements), pairwise_agreement(judgements), kendalls_w(judgements), tuple(rows), top)


_figures: dict[str, ShapeFigures] = {}


def shape_figures(key: str) -> ShapeFigures:
    """judgement_figures of the shape stored as `key`, kept for the process (a shape's figures never
    change; a project has few shapes, and the memo starts afresh past _MEMO_LIMIT)."""
    figures = _figures.get(key)
    if figures is None:
        if len(_figures) > _MEMO_LIMIT:
            _figures.clear()
        figures = _figures[key] = judgement_figures(shape_judgements(parse_shape_key(key)))
    return figures


def pooled_ordinal_alpha(rows: Mapping[tuple[int, ...], int], values: int) -> float | None:
    """Krippendorff's ordinal alpha of a units × values table given as distinct row → how many
    units have it (rows shorter than `values` are padded with zeros). Krippendorff's formulas
    (as the `krippendorff` package computes them, which the tests check it against), in exact
    fractions over the distinct rows: a project of a million prompts has a few hundred. None when
    no unit has two values or all values are the same."""
    pairable = {row: n for row, n in rows.items() if n and sum(row) >= 2}
    if not pairable or values < 2:
        return None
    o = [[Fraction(0)] * values for _ in range(values)]
    for row, units in pairable.items():
        row = tuple(row) + (0,) * (values - len(row))
        m = sum(row)
        for c, nc in enumerate(row):
            if not nc:
                continue
            for k, nk in enumerate(row):
                pairs = nc * nk - (nc if c == k else 0)
                if pairs:
                    o[c][k] += Fraction(units * pairs, m - 1)
    n_v = [sum(o[c][k] for c in range(values)) for k in range(values)]
    if sum(1 for total in n_v if total) < 2:
        return None
    n = sum(n_v)

    def distance(c: int, k: int) -> Fraction:
        low, high = min(c, k), max(c, k)
        return (sum(n_v[low:high + 1]) - (n_v[c] + n_v[k]) / 2) ** 2

    observed = expected = Fraction(0)
    for c in range(values):
        for k in range(values):
            d = distance(c, k)
            if d:
                observed += o[c][k] * d
                expected += (n_v[c] * n_v[k] - (n_v[c] if c == k else 0)) / (n - 1) * d
    return float(1 - observed / expected)
