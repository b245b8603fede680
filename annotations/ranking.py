"""Ranking rules as plain functions over plain data (no Django import).

A ranking is a list of tiers, best first; each tier is a list of completion ids and a tier with
more than one id is a tie. Flagged completions (nonsensical, confusing, irrelevant) sit outside
the tiers."""

import itertools
import math
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple

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


# --- Ranking → pairwise comparisons (the export) ---------------------------------------------

FLAGGED_OPTIONS = ("drop", "rejected")
TIES_OPTIONS = ("drop", "include")


class Pair(NamedTuple):
    """One comparison: `chosen` ranked better than `rejected` (reward 1 and 0), with their 1-based
    tier numbers. A flagged completion paired as rejected sits one tier below the last ranked tier.
    `tied` marks a pair of completions from the same tier (only with ties="include")."""

    chosen: int
    rejected: int
    chosen_rank: int
    rejected_rank: int
    tied: bool = False


def without_completions(
    tiers: Tiers, flagged: Iterable[int], removed: Container[int]
) -> tuple[list[list[int]], list[int]]:
    """The ranking with some completions taken out (canaries never reach an export). A tier left
    empty disappears, so the tier numbers of the rest close up."""
    kept_tiers = [kept for tier in tiers if (kept := [cid for cid in tier if cid not in removed])]
    return kept_tiers, [cid for cid in flagged if cid not in removed]


def ranking_to_pairs(
    tiers: Tiers, flagged: Sequence[int] = (), *, flagged_as: str = "drop", ties: str = "drop"
) -> list[Pair]:
    """Every pair of completions in different tiers, the better one first: n·(n−1)/2 pairs for n
    ranked completions without ties. Tied completions give no pair unless ties="include" (then
    one pair each, lower id first, marked tied). Flagged completions give no pair unless
    flagged_as="rejected": then every ranked completion is preferred to each of them."""
    if flagged_as not in FLAGGED_OPTIONS:
        raise ValueError(f"flagged_as must be one of {FLAGGED_OPTIONS}, got {flagged_as!r}")
    if ties not in TIES_OPTIONS:
        raise ValueError(f"ties must be one of {TIES_OPTIONS}, got {ties!r}")
    pairs: list[Pair] = []
    below_all = len(tiers) + 1
    for rank, upper in enumerate(tiers, start=1):
        if ties == "include" and len(upper) > 1:
            pairs.extend(Pair(a, b, rank, rank, True) for a, b in itertools.combinations(sorted(upper), 2))
        for lower_rank, lower in enumerate(tiers[rank:], start=rank + 1):
            pairs.extend(Pair(a, b, rank, lower_rank) for a in upper for b in lower)
        if flagged_as == "rejected":
            pairs.extend(Pair(a, b, rank, below_all) for a in upper for b in flagged)
    return pairs


def preference_positions(tiers: Tiers, flagged: Iterable[int]) -> dict[int, float]:
    """Completion id → position for comparing preferences: its tier number, flagged ones last.
    A labeler prefers a to b when a's position is smaller (ranked above it, or b was flagged)."""
    positions: dict[int, float] = {cid: rank for rank, tier in enumerate(tiers, start=1) for cid in tier}
    positions.update((cid, math.inf) for cid in flagged)
    return positions


def preferring_share(positions_per_labeler: Sequence[Mapping[int, float]], chosen: int, rejected: int) -> float:
    """Share of a prompt's labelers who preferred `chosen` to `rejected`, among those who were
    shown both (0 when none was). Tied, or both flagged, is not a preference. Same convention as
    consensus.preference_share, over positions computed once per ranking (the export's hot loop)."""
    shown = preferred = 0
    for positions in positions_per_labeler:
        a, b = positions.get(chosen), positions.get(rejected)
        if a is None or b is None:
            continue
        shown += 1
        preferred += a < b
    return preferred / shown if shown else 0.0
