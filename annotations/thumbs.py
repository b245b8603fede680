"""Thumbs judgements: agreement and canaries, as plain functions (no Django import).

A thumbs judgement is stored as a ranking whose tiers are exactly `[ups, downs]` (either may be
empty) plus its flags (ranking.thumbs_to_tiers). For agreement a flag counts as "down": both say
"do not train towards this completion", and KTO labels both false.

* **Per-completion agreement**: the share of the completion's labelers on its majority side (up or
  down): 1.0 when all agree, 0.5 for an even split of two. A prompt's agreement is the mean over
  its completions judged by at least two labelers; the project's, the mean over all such
  completions.
* **Krippendorff's alpha (nominal)** over every completion judged by two or more labelers, with
  the values up and down (a flag counts as down).
* **Canary passed**: marked down or flagged.
"""

from collections.abc import Iterable, Sequence
from typing import NamedTuple

UP, DOWN = "up", "down"


class Judged(NamedTuple):
    tiers: list[list[int]]
    flagged: list[int]


def thumbs_of(judgement: Judged, removed: Iterable[int] = ()) -> dict[int, str]:
    """Completion id → "up" or "down" (a flag counts as down), without `removed` (canaries)."""
    removed = set(removed)
    tiers = judgement.tiers if len(judgement.tiers) == 2 else [[], []]
    votes = {cid: UP for cid in tiers[0]}
    votes.update({cid: DOWN for cid in tiers[1]})
    votes.update({cid: DOWN for cid in judgement.flagged})
    return {cid: vote for cid, vote in votes.items() if cid not in removed}


def vote_counts(judgements: Sequence[Judged], removed: Iterable[int] = ()) -> dict[int, tuple[int, int]]:
    """Completion id → (ups, downs) over the judgements."""
    counts: dict[int, list[int]] = {}
    for judgement in judgements:
        for cid, vote in thumbs_of(judgement, removed).items():
            counts.setdefault(cid, [0, 0])[vote == DOWN] += 1
    return {cid: (ups, downs) for cid, (ups, downs) in counts.items()}


def majority_share(ups: int, downs: int) -> float:
    return max(ups, downs) / (ups + downs)


def completion_agreements(judgements: Sequence[Judged], removed: Iterable[int] = ()) -> list[float]:
    """The majority share of every completion judged by at least two labelers."""
    return [majority_share(u, d) for u, d in vote_counts(judgements, removed).values() if u + d >= 2]


def prompt_thumbs_agreement(judgements: Sequence[Judged], removed: Iterable[int] = ()) -> float | None:
    """Mean majority share over the prompt's completions judged twice or more; None below two judgements."""
    shares = completion_agreements(judgements, removed)
    return sum(shares) / len(shares) if shares else None


def nominal_alpha(units: Iterable[tuple[int, int]]) -> float | None:
    """Krippendorff's alpha for nominal data with two values, from (ups, downs) per unit
    (completion). Units with fewer than two values are not pairable and are left out. None when
    there is no disagreement to expect (every value the same, or nothing pairable)."""
    o_up_down = o_up_up = o_down_down = 0.0  # the coincidence matrix (o_up_down = o_down_up)
    for ups, downs in units:
        m = ups + downs
        if m < 2:
            continue
        o_up_up += ups * (ups - 1) / (m - 1)
        o_down_down += downs * (downs - 1) / (m - 1)
        o_up_down += ups * downs / (m - 1)
    n_up, n_down = o_up_up + o_up_down, o_down_down + o_up_down
    n = n_up + n_down
    if n <= 1 or n_up == 0 or n_down == 0:
        return None
    observed = 2 * o_up_down / n
    expected = 2 * n_up * n_down / (n * (n - 1))
    return 1 - observed / expected


def canary_passed(judgement: Judged, canary: int) -> bool:
    """A canary is caught when it is marked down or flagged."""
    return canary in judgement.flagged or (len(judgement.tiers) == 2 and canary in judgement.tiers[1])
