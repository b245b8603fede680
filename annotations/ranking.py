"""Ranking rules as plain functions over plain data (no Django import).

A ranking is a list of tiers, best first; each tier is a list of completion ids and a tier with
more than one id is a tie. Flagged completions (nonsensical, confusing, irrelevant) sit outside
the tiers."""

import itertools
from collections import Counter
from collections.abc import Container, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
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


THUMBS = ("up", "down")


def thumbs_to_tiers(thumbs: object, flagged: object, shown: Iterable[int]) -> list[list[int]]:
    """A thumbs judgement as the two tiers it is stored as, `[ups, downs]` (either may be empty).
    Raise RankingError unless every shown completion appears exactly once across thumbs and flagged.
    `thumbs` maps completion ids (JSON object keys, so strings) to "up" or "down"."""
    if not isinstance(thumbs, dict):
        raise RankingError('"thumbs" must be an object of completion id → "up" or "down"')
    if not isinstance(flagged, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in flagged):
        raise RankingError('"flagged" must be a list of completion ids')
    tiers: dict[str, list[int]] = {"up": [], "down": []}
    judged: list[int] = []
    for key, value in thumbs.items():
        try:
            cid = int(key)
        except (TypeError, ValueError):
            raise RankingError(f'"thumbs": {key!r} is not a completion id')
        if value not in THUMBS:
            raise RankingError(f'"thumbs": completion {cid} must be "up" or "down", not {value!r}')
        tiers[value].append(cid)
        judged.append(cid)
    ids = [*judged, *flagged]
    seen: set[int] = set()
    repeated = sorted({i for i in ids if i in seen or seen.add(i)})
    if repeated:
        raise RankingError(f"completions judged more than once (in thumbs and flagged, or twice): {repeated}")
    shown_set = set(shown)
    unknown = sorted(seen - shown_set)
    if unknown:
        raise RankingError(f"completions not shown in this assignment: {unknown}")
    missing = sorted(shown_set - seen)
    if missing:
        raise RankingError(f"completions neither given a thumb nor flagged: {missing}")
    return [sorted(tiers["up"]), sorted(tiers["down"])]


def tiers_to_thumbs(tiers: Tiers) -> dict[str, str]:
    """The thumbs of a judgement stored as `[ups, downs]` (thumbs_to_tiers), keyed as the API gives them."""
    ups, downs = (tiers[0], tiers[1]) if len(tiers) == 2 else ([], [])
    return {**{str(cid): "up" for cid in ups}, **{str(cid): "down" for cid in downs}}


def judgement_for(
    feedback: str, tiers: object, thumbs: object, flagged: object, shown: Iterable[int], allow_ties: bool
) -> tuple[list[list[int]], list[int]]:
    """The (tiers, flagged) to store for a body, validated for the project's kind of feedback:
    tiers for "ranking", thumbs for "thumbs" (stored as `[ups, downs]`). Raises RankingError."""
    if feedback == "thumbs":
        if tiers is not None:
            raise RankingError('this project takes thumbs, not tiers: send "thumbs" {completion id: "up" or "down"}')
        if thumbs is None:
            raise RankingError('"thumbs" is required: {completion id: "up" or "down"} for every completion')
        return thumbs_to_tiers(thumbs, flagged, shown), sorted(flagged)
    if thumbs is not None:
        raise RankingError('this project ranks completions: send "tiers", not "thumbs"')
    if tiers is None:
        raise RankingError('"tiers" is required')
    validate_ranking(tiers, flagged, shown, allow_ties)
    return normalize_tiers(tiers), sorted(flagged)


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
    # Pairs are made by the million in an export: tuple.__new__ builds a Pair without the
    # keyword handling of Pair(...), several times faster; the fields are the same.
    make = tuple.__new__
    below_all = len(tiers) + 1
    if not (flagged and flagged_as == "rejected") and all(len(tier) == 1 for tier in tiers):
        # A strict order (the usual ranking): index pairs directly, no tier loops.
        order = [tier[0] for tier in tiers]
        n = len(order)
        return [make(Pair, (order[i], order[j], i + 1, j + 1, False)) for i in range(n) for j in range(i + 1, n)]
    pairs: list[Pair] = []
    for rank, upper in enumerate(tiers, start=1):
        if ties == "include" and len(upper) > 1:
            pairs.extend([make(Pair, (a, b, rank, rank, True)) for a, b in itertools.combinations(sorted(upper), 2)])
        for lower_rank, lower in enumerate(tiers[rank:], start=rank + 1):
            pairs.extend([make(Pair, (a, b, rank, lower_rank, False)) for a in upper for b in lower])
        if flagged_as == "rejected" and flagged:
            pairs.extend([make(Pair, (a, b, rank, below_all, False)) for a in upper for b in flagged])
    return pairs


def strict_preferences(tiers: Tiers, flagged: Sequence[int]) -> list[Pair]:
    """What a ranking says is better than what: a above b when a's tier is higher, or a is ranked
    and b flagged. Ties and two flagged completions say nothing. (Same convention as consensus.py.)"""
    return ranking_to_pairs(tiers, flagged, flagged_as="rejected", ties="drop")


def preference_shares(
    preferences: Sequence[Sequence[Pair]], shown: Sequence[AbstractSet[int]]
) -> dict[tuple[int, int], float]:
    """(a, b) → share of the rankings that show both a and b and prefer a, for every pair at least
    one ranking prefers (absent pairs: 0). `preferences[i]` are ranking i's strict_preferences and
    `shown[i]` the completions it mentions. Computed once per prompt, so it costs a few
    operations per pair, not per pair and ranking: the export calls it for every prompt."""
    counts: Counter[tuple[int, int]] = Counter()
    for pairs in preferences:
        counts.update([(pair[0], pair[1]) for pair in pairs])
    if all(ids == shown[0] for ids in shown):
        return {key: n / len(shown) for key, n in counts.items()}
    return {(a, b): n / sum(1 for ids in shown if a in ids and b in ids) for (a, b), n in counts.items()}
