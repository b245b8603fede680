"""Ranking rules as plain functions over plain data (no Django import).

A ranking is a list of tiers, best first; each tier is a list of completion ids and a tier with
more than one id is a tie. Flagged completions (nonsensical, confusing, irrelevant) sit outside
the tiers."""

import itertools
from collections.abc import Iterable, Iterator, Sequence

Tiers = Sequence[Sequence[int]]


class RankingError(ValueError):
    """A ranking that cannot be stored; the message says what is wrong."""


def validate_ranking(tiers: object, flagged: object, shown: Iterable[int], allow_ties: bool) -> None:
    """Raise RankingError unless every shown completion appears exactly once across tiers and
    flagged, tiers are non-empty lists of ids, and ties appear only where allowed."""
    if not isinstance(tiers, list) or not all(isinstance(tier, list) for tier in tiers):
        raise RankingError('"tiers" must be a list of lists of completion ids')
    if not isinstance(flagged, list):
        raise RankingError('"flagged" must be a list of completion ids')
    for index, tier in enumerate(tiers, start=1):
        if not tier:
            raise RankingError(f"tier {index} is empty")
        if len(tier) > 1 and not allow_ties:
            raise RankingError(f"tier {index} ties {len(tier)} completions, but this project does not allow ties")
    ids = [*itertools.chain.from_iterable(tiers), *flagged]
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise RankingError("completion ids must be integers")
    shown_set = set(shown)
    seen: set[int] = set()
    duplicates = sorted({i for i in ids if i in seen or seen.add(i)})
    if duplicates:
        raise RankingError(f"completions appear more than once: {duplicates}")
    unknown = sorted(seen - shown_set)
    if unknown:
        raise RankingError(f"completions not shown in this assignment: {unknown}")
    missing = sorted(shown_set - seen)
    if missing:
        raise RankingError(f"completions neither ranked nor flagged: {missing}")
    if not tiers and len(flagged) != len(shown_set):
        raise RankingError("rank at least one completion or flag them all")


def normalize_tiers(tiers: Tiers) -> list[list[int]]:
    """Ids sorted within each tier, so that two submissions of the same judgement compare equal."""
    return [sorted(tier) for tier in tiers]


def tier_of(tiers: Tiers) -> dict[int, int]:
    """Completion id → 1-based tier number (1 = best)."""
    return {cid: rank for rank, tier in enumerate(tiers, start=1) for cid in tier}


def tiers_to_pairs(tiers: Tiers) -> Iterator[tuple[int, int]]:
    """Every (better, worse) pair across different tiers; tied completions give none."""
    for i, upper in enumerate(tiers):
        for lower in tiers[i + 1:]:
            yield from itertools.product(upper, lower)
