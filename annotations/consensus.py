"""Merging several labelers' rankings of one prompt, and measuring how far they agree.

Plain functions over plain data (no Django import), so they are tested in milliseconds.

A `Judgement` is one ranking: `tiers` best first (a tier of more than one id is a tie) and the
`flagged` completions (nonsensical, confusing, irrelevant).

Conventions, chosen once and used everywhere in this module:

* **A flagged completion counts as below every ranked one** of the same judgement; two flagged
  completions are tied. A labeler who flags c and ranks b has said "b is better than c".
* **Every judgement counts**, including those with flags; a completion a judgement does not
  mention (only possible for canaries removed before the call) gives no preference either way.
* **Consensus method: ranked pairs (Tideman)**, the Condorcet method OpenAssistant uses. It is
  exact, deterministic and O(n² log n), where an exact Kemeny–Young over weak orders would have
  to search 7 million orders for 9 completions. Majorities are locked strongest first (margin,
  then the number of judgements behind the winner, then the Borda gap between winner and loser,
  so that among equal majorities the one the rest of the data supports goes first) and a
  majority that would close a cycle is dropped. Majorities equal on all three form one group,
  never taken in an arbitrary order: a majority of the group that lies on a cycle made of its
  group and the majorities already locked is dropped, the others are locked. A pair whose
  labelers are evenly split has no majority and is never locked, so it is never broken
  arbitrarily.
* **Tiers of the consensus** are the layers of the locked majority graph: each completion sits in
  the first tier below everything a locked majority (directly or through a chain) puts above it.
  Two completions in one tier are therefore never ordered by a locked majority. (Ties are not
  transitive, so a completion tied with everything may share the top tier with the winner.)
* **Flags in the consensus**: a completion flagged by a strict majority of the judgements is
  flagged, and left out of the consensus tiers.
* **Borda** (the baseline) scores each completion by the number of completions it beats minus
  the number that beat it, summed over judgements; equal scores share a tier.
* **Agreement of a labeler with a consensus** (`agreement_with`) is measured over the pairs the
  consensus decides (`decided_pairs`: locked majorities and their chains, not pairs that merely
  land in different tiers), so an evenly split pair never counts for or against anyone.

Canaries (known-bad completions, Completion.source == "canary") must be removed from the
judgements before they reach these functions; annotations/quality.py does so (see
`strip_completions`), so canaries never distort consensus or agreement.
"""

import itertools
import math
import statistics
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence, Set
from operator import itemgetter
from typing import NamedTuple


class Judgement(NamedTuple):
    tiers: list[list[int]]
    flagged: list[int]


METHODS = ("ranked_pairs", "borda")

# Order of a pair (a, b) in one judgement: a above b, tied, a below b.
ABOVE, TIED, BELOW = 1, 0, -1


def completions_of(judgements: Iterable[Judgement]) -> list[int]:
    """Every completion mentioned by any judgement, sorted."""
    ids: set[int] = set()
    for judgement in judgements:
        ids.update(itertools.chain.from_iterable(judgement.tiers))
        ids.update(judgement.flagged)
    return sorted(ids)


def positions(judgement: Judgement) -> dict[int, int]:
    """Completion id → 0-based tier; flagged completions share the tier after the last."""
    place = {cid: rank for rank, tier in enumerate(judgement.tiers) for cid in tier}
    bottom = len(judgement.tiers)
    place.update((cid, bottom) for cid in judgement.flagged)
    return place


def pair_order(place: dict[int, int], a: int, b: int) -> int | None:
    """ABOVE, TIED or BELOW for a against b in one judgement; None when it lacks either."""
    if a not in place or b not in place:
        return None
    if place[a] < place[b]:
        return ABOVE
    return TIED if place[a] == place[b] else BELOW


def strip_completions(judgement: Judgement, removed: set[int]) -> Judgement:
    """The judgement without `removed` (e.g. canaries); tiers left empty disappear."""
    tiers = [[cid for cid in tier if cid not in removed] for tier in judgement.tiers]
    return Judgement([tier for tier in tiers if tier], [cid for cid in judgement.flagged if cid not in removed])


def preference_share(judgements: Sequence[Judgement], a: int, b: int) -> float:
    """Fraction of the judgements that put a strictly above b (a flagged completion counts as
    below every ranked one; both flagged or tied is not "above"). The denominator is every
    judgement that shows both completions; 0.0 when none does."""
    seen = above = 0
    for judgement in judgements:
        order = pair_order(positions(judgement), a, b)
        if order is None:
            continue
        seen += 1
        above += order == ABOVE
    return above / seen if seen else 0.0


def majority_flagged(judgements: Sequence[Judgement]) -> list[int]:
    """Completions flagged by more than half of the judgements."""
    counts = Counter(itertools.chain.from_iterable(j.flagged for j in judgements))
    return sorted(cid for cid, n in counts.items() if 2 * n > len(judgements))


def preference_counts(judgements: Sequence[Judgement], ids: Sequence[int]) -> dict[tuple[int, int], int]:
    """(a, b) → number of judgements that put a strictly above b, for a ≠ b in `ids`."""
    wins: dict[tuple[int, int], int] = defaultdict(int)
    for judgement in judgements:
        place = positions(judgement)
        for a, b in itertools.permutations(ids, 2):
            if pair_order(place, a, b) == ABOVE:
                wins[a, b] += 1
    return wins


def consensus(judgements: Sequence[Judgement], method: str = "ranked_pairs") -> Judgement:
    """One judgement that merges the prompt's judgements (see the module docstring)."""
    tiers, flagged, _ = _merge(judgements, method)
    return Judgement(tiers, flagged)


def decided_pairs(judgements: Sequence[Judgement], method: str = "ranked_pairs") -> set[tuple[int, int]]:
    """(better, worse) for every pair the consensus decides: for ranked pairs, the pairs a locked
    majority orders directly or through a chain of locked majorities (not the pairs that merely
    land in different tiers); for Borda, pairs with different scores; and every ranked
    completion above each completion the majority flagged."""
    return _merge(judgements, method)[2]


def _merge(judgements: Sequence[Judgement], method: str) -> tuple[list[list[int]], list[int], set[tuple[int, int]]]:
    if method not in METHODS:
        raise ValueError(f"unknown consensus method {method!r}; choose one of {', '.join(METHODS)}")
    if not judgements:
        return [], [], set()
    flagged = majority_flagged(judgements)
    ranked = [cid for cid in completions_of(judgements) if cid not in set(flagged)]
    wins = preference_counts(judgements, ranked)
    score = {a: sum(wins.get((a, b), 0) - wins.get((b, a), 0) for b in ranked if b != a) for a in ranked}
    if method == "borda":
        tiers = [sorted(group) for _, group in _group_by(ranked, key=lambda cid: -score[cid])]
        decided = {(a, b) for i, upper in enumerate(tiers) for lower in tiers[i + 1:] for a in upper for b in lower}
    else:
        edges = _ranked_pairs_edges(ranked, wins, score)
        tiers = _layers(ranked, edges)
        decided = {(a, b) for a in ranked for b in _reachable(edges, a) if b != a}
    decided.update((a, b) for a in ranked for b in flagged)
    return tiers, flagged, decided


def _group_by(ids: Iterable, key) -> Iterable[tuple[object, list]]:
    for value, group in itertools.groupby(sorted(ids, key=key), key=key):
        yield value, list(group)


def _reachable(edges: dict[int, set[int]], start: int) -> set[int]:
    seen, stack = {start}, [start]
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _ranked_pairs_edges(
    ids: Sequence[int], wins: dict[tuple[int, int], int], score: dict[int, int]
) -> dict[int, set[int]]:
    """The locked majority graph: winner → losers.

    Majorities are taken strongest first: by margin, then by the number of judgements behind the
    winner, then by the Borda gap between winner and loser (a majority the rest of the data also
    supports goes first). Majorities equal on all three form one group, handled as a whole, so the
    order inside a group never decides anything: a majority of the group that lies on a cycle
    with the group and the majorities already locked is dropped, the others are locked."""
    majorities = [
        (wins.get((a, b), 0) - wins.get((b, a), 0), wins.get((a, b), 0), score[a] - score[b], a, b)
        for a, b in itertools.permutations(ids, 2)
        if wins.get((a, b), 0) > wins.get((b, a), 0)
    ]
    locked: dict[int, set[int]] = defaultdict(set)
    for _, group in _group_by(majorities, key=lambda m: (-m[0], -m[1], -m[2])):
        trial: dict[int, set[int]] = defaultdict(set, {node: set(succ) for node, succ in locked.items()})
        for *_, a, b in group:
            trial[a].add(b)
        for *_, a, b in group:
            if a not in _reachable(trial, b):  # (a, b) lies on no cycle: lock it
                locked[a].add(b)
    return locked


def _layers(ids: Sequence[int], edges: dict[int, set[int]]) -> list[list[int]]:
    """Tiers of a DAG: depth = longest chain of locked majorities above a completion."""
    depth = dict.fromkeys(ids, 0)
    indegree = Counter(b for succ in edges.values() for b in succ)
    frontier = [cid for cid in ids if indegree[cid] == 0]
    while frontier:
        node = frontier.pop()
        for nxt in edges.get(node, ()):
            depth[nxt] = max(depth[nxt], depth[node] + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                frontier.append(nxt)
    return [sorted(group) for _, group in _group_by(ids, key=depth.__getitem__)]


# --- Agreement ---------------------------------------------------------------------------------


class PairAgreement(NamedTuple):
    """Labeler pairs × completion pairs that agree, out of all compared: summed over prompts
    (pooled) for the project figure."""

    agreeing: int
    compared: int

    @property
    def share(self) -> float | None:
        return self.agreeing / self.compared if self.compared else None


def pairwise_agreement(judgements: Sequence[Judgement]) -> PairAgreement:
    """For every completion pair and every two judgements: do they order it the same way
    (above, tied or below; flagged counts as below every ranked one)?"""
    places = [positions(j) for j in judgements]
    agreeing = compared = 0
    for a, b in itertools.combinations(completions_of(judgements), 2):
        orders = [o for o in (pair_order(place, a, b) for place in places) if o is not None]
        counts = Counter(orders)
        n = len(orders)
        compared += n * (n - 1) // 2
        agreeing += sum(c * (c - 1) // 2 for c in counts.values())
    return PairAgreement(agreeing, compared)


def prompt_pairwise_agreement(judgements: Sequence[Judgement]) -> float | None:
    """One prompt's agreement as the quality report shows it per prompt (and Prompt.agreement
    stores it): the share of pairwise_agreement; None below two judgements or when no pair of
    judgements shares a completion pair."""
    if len(judgements) < 2:
        return None
    return pairwise_agreement(judgements).share


def average_ranks(judgement: Judgement, ids: Sequence[int]) -> list[float]:
    """1-based ranks of `ids` with ties averaged (flagged completions tie at the bottom)."""
    place = positions(judgement)
    size = Counter(place[cid] for cid in ids)
    start, before = {}, 0
    for tier in sorted(size):
        start[tier] = before
        before += size[tier]
    return [start[place[cid]] + (size[place[cid]] + 1) / 2 for cid in ids]


def kendalls_w(judgements: Sequence[Judgement]) -> float | None:
    """Kendall's coefficient of concordance W with the correction for ties, over the completions
    every judgement shows: 1 = identical rankings, 0 = no agreement beyond chance. None with
    fewer than two judgements or two completions, or when every judgement ties everything."""
    places = [positions(j) for j in judgements]
    ids = [cid for cid in completions_of(judgements) if all(cid in place for place in places)]
    m, n = len(judgements), len(ids)
    if m < 2 or n < 2:
        return None
    ranks = [average_ranks(j, ids) for j in judgements]
    totals = [sum(column) for column in zip(*ranks, strict=True)]
    mean = m * (n + 1) / 2
    s = sum((total - mean) ** 2 for total in totals)
    ties = sum(t**3 - t for row in ranks for t in Counter(row).values())
    denominator = m**2 * (n**3 - n) - m * ties
    return 12 * s / denominator if denominator else None


def rank_value_counts(prompts: Iterable[Sequence[Judgement]]) -> tuple[list[list[int]], int]:
    """Krippendorff's "values by units" table: one row per completion (unit), counting how many
    judgements gave it rank 1, 2, … (its 1-based tier; flagged completions take the rank after
    the last tier). Returns (rows, number of rank values)."""
    rows: list[Counter] = []
    top = 1
    for judgements in prompts:
        per_unit: dict[int, Counter] = defaultdict(Counter)
        for judgement in judgements:
            for cid, tier in positions(judgement).items():
                per_unit[cid][tier + 1] += 1
                top = max(top, tier + 1)
        rows.extend(per_unit[cid] for cid in sorted(per_unit))
    return [[row.get(value, 0) for value in range(1, top + 1)] for row in rows], top


class RankValueTable:
    """rank_value_counts built prompt by prompt: one (unit, tier) entry per judgement and
    completion in two flat integer arrays (a few bytes each, where a row of Python ints costs a
    hundred), counted into the table at the end, for projects of 100,000 prompts."""

    def __init__(self) -> None:
        self.units = 0
        self.top = 1
        self._unit, self._tier = array("q"), array("q")

    def add(self, judgements: Sequence[Judgement]) -> None:
        """The rows of one prompt, its completions in id order (as rank_value_counts)."""
        places = [positions(judgement) for judgement in judgements]
        ids = sorted(set().union(*places))
        unit_of = dict(zip(ids, range(self.units, self.units + len(ids)), strict=True))
        self.units += len(ids)
        for place in places:
            if place:
                self._unit.extend(map(unit_of.__getitem__, place))
                self._tier.extend(place.values())
                self.top = max(self.top, max(place.values()) + 1)

    def value_counts(self):  # -> numpy.ndarray (numpy is imported on use, see ordinal_alpha)
        """The units × values table of rank_value_counts, as an integer array."""
        import numpy as np

        cells = np.frombuffer(self._unit, dtype=np.int64) * self.top + np.frombuffer(self._tier, dtype=np.int64)
        # float from the start: ordinal_alpha then selects the pairable rows without another copy
        return np.bincount(cells, minlength=self.units * self.top).astype(float).reshape(self.units, self.top)

    def distinct_rows(self) -> Counter:
        """The table's rows as distinct row (tuple) → how many units have it."""
        import numpy as np

        table = self.value_counts().astype(np.int64)
        if not len(table):
            return Counter()
        rows, counts = np.unique(table, axis=0, return_counts=True)
        return Counter({tuple(map(int, row)): int(n) for row, n in zip(rows, counts, strict=True)})

    def alpha(self) -> float | None:
        """krippendorff_alpha_ordinal of the prompts added."""
        return ordinal_alpha(self.value_counts(), self.top)


def krippendorff_alpha_ordinal(prompts: Iterable[Sequence[Judgement]]) -> float | None:
    """Krippendorff's alpha for ordinal data over the rank each judgement gives each completion,
    pooled over the prompts given (pass one prompt for a per-prompt figure). None when there is
    nothing to compare."""
    rows, top = rank_value_counts(prompts)
    return ordinal_alpha(rows, top)


def ordinal_alpha(value_counts: Sequence[Sequence[int]], values: int) -> float | None:
    """Krippendorff's ordinal alpha from a units × values table (values 1..`values`), computed by
    the maintained `krippendorff` package. None when no unit has two values or all values are
    the same (no variation to agree about)."""
    import krippendorff  # imported on use: numpy is slow to load and most callers never need it
    import numpy as np

    if isinstance(value_counts, np.ndarray):  # RankValueTable's: the same rows, selected without a Python loop
        pairable = value_counts[value_counts.sum(axis=1) >= 2] if len(value_counts) else value_counts
    else:
        pairable = [row for row in value_counts if sum(row) >= 2]
    if not len(pairable) or values < 2:
        return None
    counts = np.asarray(pairable, dtype=float)
    if np.count_nonzero(counts.sum(axis=0)) < 2:
        return None
    return float(
        krippendorff.alpha(value_counts=counts, level_of_measurement="ordinal", value_domain=list(range(1, values + 1)))
    )


def agreement_with(judgement: Judgement, decided: Iterable[tuple[int, int]]) -> tuple[float, int]:
    """How far one judgement agrees with a consensus: over the consensus's decided (better,
    worse) pairs (see `decided_pairs`) that the judgement shows, the share it orders the same
    way, with half credit for a tie. Returns (agreeing, pairs); pairs is 0 when nothing is decided."""
    mine = positions(judgement)
    agreeing, pairs = 0.0, 0
    for better, worse in decided:
        given = pair_order(mine, better, worse)
        if given is None:
            continue
        pairs += 1
        agreeing += 1.0 if given == ABOVE else 0.5 if given == TIED else 0.0
    return agreeing, pairs


def wilson_interval(share: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion `share` observed over n trials (95% by default);
    (0, 1) when n is 0. It widens as n shrinks and stays inside 0..1."""
    if n <= 0:
        return 0.0, 1.0
    denominator = 1 + z * z / n
    centre = (share + z * z / (2 * n)) / denominator
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


# --- Labelers against their peers --------------------------------------------------------------


class LabelerScore(NamedTuple):
    """One labeler's agreement with the leave-one-out consensus of their prompts.

    `agreement` is the mean, over the labeler's rankings that could be compared, of the share of
    the consensus's decided pairs the labeler ordered the same way (tie = half credit);
    0..1, the scale of `export_pairs --exclude-labelers-below`. `rankings` is how many rankings
    were compared; [ci_low, ci_high] is a 95% Wilson interval with n = rankings, so it is wide
    for a labeler with few rankings."""

    rankings: int
    agreement: float
    ci_low: float
    ci_high: float


def leave_one_out_shares(
    prompts: Iterable[Sequence[tuple[int, Judgement]]], method: str = "ranked_pairs", distrusted: Set[int] = frozenset()
) -> dict[int, list[float]]:
    """Labeler → per-ranking agreement with the consensus of the other labelers of the same
    prompt, leaving the `distrusted` ones out of that consensus. `prompts` yields, per prompt, its
    (labeler, judgement) pairs. A ranking is left out when no other trusted ranking of its prompt
    exists or when their consensus decides no pair."""
    shares: dict[int, list[float]] = defaultdict(list)
    for ranked in prompts:
        if len(ranked) < 2:
            continue
        for i, (labeler, judgement) in enumerate(ranked):
            others = [other for j, (who, other) in enumerate(ranked) if j != i and who not in distrusted]
            if not others:
                continue
            agreeing, pairs = agreement_with(judgement, decided_pairs(others, method))
            if pairs:
                shares[labeler].append(agreeing / pairs)
    return shares


def labeler_scores(
    prompts: Iterable[Sequence[tuple[int, Judgement]]], method: str = "ranked_pairs", distrusted: Set[int] = frozenset()
) -> dict[int, LabelerScore]:
    """Labeler → LabelerScore; labelers with no comparable ranking are absent."""
    scores = {}
    for labeler, values in leave_one_out_shares(prompts, method, distrusted).items():
        mean = math.fsum(values) / len(values)  # exact sum: the same whatever the order (quality_stats)
        low, high = wilson_interval(mean, len(values))
        scores[labeler] = LabelerScore(len(values), mean, low, high)
    return scores


def score_labelers(
    prompts: Iterable[Sequence[tuple[int, Judgement]]], method: str = "ranked_pairs", rounds: int = 3
) -> tuple[dict[int, LabelerScore], set[int]]:
    """Every labeler's score and the possible misreaders. Scores are first taken against all the
    other labelers, then again against consensus made without the possible misreaders found so
    far (until that set stops changing), so that a labeler who shared many prompts with a
    misreader is not blamed for the misreader's rankings. Each prompt shape is scored once (see
    ShapeMeasures below): the same results as labeler_scores and possible_misreaders, round by round."""
    measures = ShapeMeasures(method)
    shaped = [shaped_prompt(ranked, measures) for ranked in prompts]
    return score_shaped_labelers(shaped, measures, rounds)


# A labeler is a possible misreader when the top of their 95% interval lies below the median of
# their peers (so they are worse than the typical labeler, not just unlucky) and either they order
# more decided pairs against the consensus than with it (agreement < 0.5: the signature of someone
# who inverted the instructions) or they are far below the peers (MISREADER_MARGIN). A careless
# labeler (noisy but above 0.5) is not caught; an inverter is, once they have ~30 rankings.
MISREADER_MARGIN = 0.15
MISREADER_MIN_RANKINGS = 10


def possible_misreaders(scores: dict[int, LabelerScore]) -> set[int]:
    """Labelers whose agreement is far below their peers' (see the rule above)."""
    measured = [s.agreement for s in scores.values() if s.rankings >= MISREADER_MIN_RANKINGS]
    if len(measured) < 3:
        return set()  # too few peers to tell who is far below them
    median = statistics.median(measured)
    return {
        labeler
        for labeler, score in scores.items()
        if score.rankings >= MISREADER_MIN_RANKINGS
        and score.ci_high < median
        and (score.agreement < 0.5 or score.ci_high < median - MISREADER_MARGIN)
    }


# --- Fast path: each figure computed once per prompt shape --------------------------------------
#
# Every per-prompt figure above (pairwise agreement, Kendall's W, the consensus's decided pairs and
# a judgement's agreement with them) depends only on how the judgements order the completions,
# not on the completions' ids: renumbering the completions renumbers the decided pairs and leaves
# every count unchanged (Kendall's W sums halves and quarters, which floats add exactly in any
# order). So a prompt is reduced to its *shape*, its judgements over completions numbered in a
# canonical order, and each figure is computed once per shape, by the general code above, on the
# judgements rebuilt from the shape. A big project has few shapes (3 rankings of 4 completions
# without ties: a few hundred), so the general code runs a few hundred times, not 300,000 times.

# In a shape, a judgement gives each completion its tier (0 = best, empty tiers skipped), FLAGGED
# or ABSENT (the judgement does not show it).
FLAGGED, ABSENT = -1, -2

Shape = tuple[tuple[int, ...], ...]  # one row per judgement, one column per completion


def prompt_shape(judgements: Sequence[Judgement]) -> Shape | None:
    """The judgements' shape: the columns (one per completion: its place in each judgement) in
    sorted order, so that prompts equal up to renumbering their completions share a shape. None
    when a judgement names a completion twice (left to the general code)."""
    places = []
    for judgement in judgements:
        tiers = judgement.tiers if all(judgement.tiers) else [tier for tier in judgement.tiers if tier]
        place = {cid: rank for rank, tier in enumerate(tiers) for cid in tier}
        place.update(dict.fromkeys(judgement.flagged, FLAGGED))
        if len(place) != sum(map(len, tiers)) + len(judgement.flagged):
            return None
        places.append(place)
    ids = sorted(set().union(*places))
    if not ids:
        return tuple(() for _ in judgements)
    if len(ids) > 1 and all(len(place) == len(ids) for place in places):  # the common case: nothing absent
        in_id_order = itemgetter(*ids)
        columns = sorted(zip(*map(in_id_order, places), strict=True))
    else:
        columns = sorted(tuple(place.get(cid, ABSENT) for place in places) for cid in ids)
    return tuple(zip(*columns, strict=True))


def shape_judgements(shape: Shape) -> list[Judgement]:
    """The judgements of a shape, with the completions numbered 0, 1, … in the shape's order."""
    judgements = []
    for row in shape:
        tiers: dict[int, list[int]] = defaultdict(list)
        for cid, rank in enumerate(row):
            if rank >= 0:
                tiers[rank].append(cid)
        flagged = [cid for cid, rank in enumerate(row) if rank == FLAGGED]
        judgements.append(Judgement([tiers[rank] for rank in sorted(tiers)], flagged))
    return judgements


class ShapeMeasures:
    """The per-prompt figures, memoized by prompt shape (one instance per report: the memo grows
    with the number of distinct shapes, which is small for the common prompt sizes)."""

    def __init__(self, method: str = "ranked_pairs") -> None:
        self.method = method
        self._shapes: dict[Shape, Shape] = {}
        self._agreement: dict[Shape, tuple[PairAgreement, float | None]] = {}
        self._left_out: dict[tuple[Shape, tuple[bool, ...]], tuple[tuple[float, int] | None, ...]] = {}

    def intern(self, shape: Shape) -> Shape:
        """The one stored copy of an equal shape (100,000 prompts keep a few hundred tuples)."""
        return self._shapes.setdefault(shape, shape)

    def agreement(self, shape: Shape) -> tuple[PairAgreement, float | None]:
        """(pairwise_agreement, kendalls_w) of the prompt's judgements."""
        known = self._agreement.get(shape)
        if known is None:
            judgements = shape_judgements(shape)
            known = self._agreement[shape] = (pairwise_agreement(judgements), kendalls_w(judgements))
        return known

    def left_out(self, shape: Shape, trusted: tuple[bool, ...]) -> tuple[tuple[float, int] | None, ...]:
        """For each judgement, agreement_with the consensus of the prompt's other trusted
        judgements ((agreeing, pairs)), or None when there is no other trusted judgement."""
        key = (shape, trusted)
        known = self._left_out.get(key)
        if known is None:
            known = self._left_out[key] = _left_out(shape_judgements(shape), trusted, self.method)
        return known


def _left_out(
    judgements: Sequence[Judgement], trusted: Sequence[bool], method: str
) -> tuple[tuple[float, int] | None, ...]:
    """The general code of leave_one_out_shares, for one prompt."""
    results = []
    for i, judgement in enumerate(judgements):
        others = [other for j, other in enumerate(judgements) if j != i and trusted[j]]
        results.append(agreement_with(judgement, decided_pairs(others, method)) if others else None)
    return tuple(results)


class ShapedPrompt(NamedTuple):
    """A prompt reduced to what labeler scoring needs: its labelers (in the order of its
    judgements) and its shape, or its judgements themselves when it has no shape."""

    labelers: tuple[int, ...]
    shape: Shape | None
    judgements: tuple[Judgement, ...] = ()


def shaped_prompt(ranked: Sequence[tuple[int, Judgement]], measures: ShapeMeasures | None = None) -> ShapedPrompt:
    """The prompt's labelers and shape (interned in `measures` when given)."""
    labelers = tuple(labeler for labeler, _ in ranked)
    judgements = [judgement for _, judgement in ranked]
    shape = prompt_shape(judgements)
    if shape is None:
        return ShapedPrompt(labelers, None, tuple(judgements))
    return ShapedPrompt(labelers, measures.intern(shape) if measures else shape)


def shaped_labeler_scores(
    prompts: Iterable[ShapedPrompt], measures: ShapeMeasures, distrusted: Set[int] = frozenset()
) -> dict[int, LabelerScore]:
    """labeler_scores over shaped prompts: the same scores, each prompt shape scored once."""
    shares: dict[int, list[float]] = defaultdict(list)
    everyone_trusted: dict[int, tuple[bool, ...]] = {}
    for prompt in prompts:
        count = len(prompt.labelers)
        if count < 2:
            continue
        if distrusted and not distrusted.isdisjoint(prompt.labelers):
            trusted = tuple(labeler not in distrusted for labeler in prompt.labelers)
        else:
            trusted = everyone_trusted.setdefault(count, (True,) * count)
        if prompt.shape is None:
            results = _left_out(prompt.judgements, trusted, measures.method)
        else:
            results = measures.left_out(prompt.shape, trusted)
        for labeler, result in zip(prompt.labelers, results, strict=True):
            if result is not None and result[1]:
                shares[labeler].append(result[0] / result[1])
    scores = {}
    for labeler, values in shares.items():
        mean = math.fsum(values) / len(values)  # exact sum: the same whatever the order (quality_stats)
        low, high = wilson_interval(mean, len(values))
        scores[labeler] = LabelerScore(len(values), mean, low, high)
    return scores


def score_shaped_labelers(
    prompts: Sequence[ShapedPrompt], measures: ShapeMeasures, rounds: int = 3
) -> tuple[dict[int, LabelerScore], set[int]]:
    """score_labelers over shaped prompts (same rounds, same results)."""
    return rounds_of_distrust(lambda distrusted: shaped_labeler_scores(prompts, measures, distrusted), rounds)


def rounds_of_distrust(
    score: Callable[[set[int]], dict[int, LabelerScore]], rounds: int = 3
) -> tuple[dict[int, LabelerScore], set[int]]:
    """score_labelers's rounds: scores taken with nobody distrusted, then again without the possible
    misreaders found so far, until that set stops changing (at most `rounds` times)."""
    distrusted: set[int] = set()
    for _ in range(rounds):
        scores = score(distrusted)
        found = possible_misreaders(scores)
        if found == distrusted:
            break
        distrusted = found
    return scores, found
