"""Which model do people prefer: a Bradley–Terry leaderboard over pairs of completions.

Plain functions over plain data (numpy, no Django), as Chatbot Arena computes its leaderboard
(FastChat `fastchat/serve/monitor/elo_analysis.py`, `compute_mle_elo`), with the same model and a
faster fit:

* **Input**: one record per compared pair of completions of *different* models,
  `(prompt, model_a, model_b, outcome, length_a, length_b)`, outcome "a" (a preferred), "b" or
  "tie"; lengths (characters, say) are optional and only feed the length diagnostic. The Django
  side feeds one record per consensus pair by default, or one per labeler pair. Pairs of two
  completions of the same model say nothing about models and are dropped.
* **Model**: P(i beats j) = 1 / (1 + 10^((s_j − s_i) / 400)), the Bradley–Terry model on the Elo
  scale (scale 400, base 10). **A tie counts as half a win for each side** (FastChat's tie
  handling: one tie = one win for each side at half weight).
* **Fit**: maximum likelihood by Newton's method on the models × models table of weighted wins
  (pairs are counted into the table first, so a fit costs the same for 1,000 or 1,000,000 pairs),
  all bootstrap resamples at once (batched linear solves), with a backtracking line search.
* **Anchoring**: the mean score of the models of a comparison component is 1000 (FastChat adds
  1000 and then pins one named model; a project has no reference model, so the mean is pinned).
  A difference of 400 points means the better model is preferred 10 to 1.
* **Existence**: the maximum-likelihood estimate is finite only when every model has both won
  (or tied) against and lost (or tied) to the rest, through chains: the directed graph "i beat or
  tied j" must be strongly connected (Zermelo, Ford). When it is not (a model won every pair),
  the fit adds a small ridge penalty RIDGE/2 · Σ θ² on the natural-log strengths θ (a Gaussian
  prior of standard deviation 10, i.e. ±1,737 points), so the score stays finite and far above
  the rest; `regularised` says so. A fit that needs no ridge gets none, so it is the exact MLE.
* **Disconnected comparisons**: models with no chain of pairs between them cannot be put on one
  scale. Each connected component is fitted on its own, anchored at a mean of 1000, and its
  models carry its number (`component`, 0 = most pairs); `components` lists them. Scores of
  different components must not be compared; callers should show them as separate tables.
* **Intervals**: 95% percentile bootstrap over **prompts** (the unit that was sampled: the pairs
  of one prompt share a prompt and labelers): each resample draws P prompts with replacement, as
  a count per prompt (uniform draws counted with bincount, a multinomial draw of the prompt
  weights), and the per-prompt win tables are summed with those counts by a matrix product; no
  pair is copied. A resample is anchored like the estimate.
* **Length diagnostic** (`longer_won`): per model, among its decided pairs (not ties) whose two
  completions differ in length, the share won by the longer completion. Far above 0.5 means the
  labelers may reward length (Arena's "style control" shows how much this moves a leaderboard).
* Fewer than two models with pairs between them: no leaderboard (`models` empty, `reason` set).
"""

import math
from array import array
from collections.abc import Hashable, Iterable
from typing import NamedTuple

import numpy as np

SCALE = 400.0  # Elo points per factor BASE in the odds
BASE = 10.0
ANCHOR = 1000.0  # mean score of a component
RIDGE = 0.01  # on natural-log strengths, only when the MLE does not exist (see the docstring)
DEFAULT_BOOTSTRAP = 200
KINDS_PER_PROMPT = 8  # the bootstrap draws per kind of prompt when prompts outnumber kinds 8 to 1
OUTCOMES = {"a": 0, "b": 1, "tie": 2}
_A, _B, _TIE = 0, 1, 2
_POINTS = SCALE / math.log(BASE)  # natural-log strength → Elo points


class ModelScore(NamedTuple):
    model: str
    score: float
    ci_low: float
    ci_high: float
    wins: int
    losses: int
    ties: int
    pairs: int
    longer_won: float | None  # share of decided pairs with different lengths won by the longer
    component: int


class Leaderboard(NamedTuple):
    method: str
    bootstrap: int
    models: list[ModelScore]  # best first within each component, components by size
    components: list[list[str]]
    regularised: bool  # a ridge was needed because some model never lost (or never won)
    reason: str | None  # why there is no leaderboard, when `models` is empty

    def as_dict(self) -> dict:
        """The JSON shape of `GET /api/projects/{slug}/leaderboard/` (PRODUCT.md), plus extras."""
        return {
            "method": self.method,
            "bootstrap": self.bootstrap,
            "models": [score._asdict() for score in self.models],
            "components": self.components,
            "regularised": self.regularised,
            "reason": self.reason,
        }


class PairTable:
    """Pair records collected one by one into flat arrays (a few bytes a pair, where a tuple
    costs about a hundred), for projects of 100,000 prompts."""

    def __init__(self) -> None:
        self.prompt_ids: dict[Hashable, int] = {}
        self.model_ids: dict[str, int] = {}
        self._prompt, self._a, self._b = array("i"), array("i"), array("i")
        self._outcome = array("b")
        self._len_a, self._len_b = array("i"), array("i")

    def add(
        self, prompt: Hashable, model_a: str, model_b: str, outcome: str,
        length_a: int | None = None, length_b: int | None = None,
    ) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        if model_a == model_b:
            return  # a pair within one model says nothing about models
        self._prompt.append(self.prompt_ids.setdefault(prompt, len(self.prompt_ids)))
        self._a.append(self.model_ids.setdefault(model_a, len(self.model_ids)))
        self._b.append(self.model_ids.setdefault(model_b, len(self.model_ids)))
        self._outcome.append(OUTCOMES[outcome])
        self._len_a.append(-1 if length_a is None else length_a)
        self._len_b.append(-1 if length_b is None else length_b)

    def extend(self, records: Iterable[tuple]) -> "PairTable":
        for record in records:
            self.add(*record)
        return self

    def arrays(self) -> tuple[np.ndarray, ...]:
        """(prompt, a, b, outcome, length_a, length_b) as numpy arrays (views, no copy)."""
        return tuple(
            np.frombuffer(column, dtype=dtype) if len(column) else np.zeros(0, dtype=dtype)
            for column, dtype in (
                (self._prompt, np.int32), (self._a, np.int32), (self._b, np.int32),
                (self._outcome, np.int8), (self._len_a, np.int32), (self._len_b, np.int32),
            )
        )

    def leaderboard(self, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int | None = None) -> Leaderboard:
        models = sorted(self.model_ids, key=self.model_ids.__getitem__)
        return leaderboard_from_arrays(*self.arrays(), models=models, bootstrap=bootstrap, seed=seed)


def leaderboard(records: Iterable[tuple], bootstrap: int = DEFAULT_BOOTSTRAP, seed: int | None = None) -> Leaderboard:
    """The leaderboard of `(prompt, model_a, model_b, outcome[, length_a, length_b])` records."""
    return PairTable().extend(records).leaderboard(bootstrap, seed)


def leaderboard_from_arrays(
    prompt: np.ndarray, a: np.ndarray, b: np.ndarray, outcome: np.ndarray,
    length_a: np.ndarray, length_b: np.ndarray, models: list[str],
    bootstrap: int = DEFAULT_BOOTSTRAP, seed: int | None = None,
) -> Leaderboard:
    """The same from arrays: `a`, `b` index `models`, `outcome` is 0 (a won), 1 (b won) or 2 (tie),
    `prompt` numbers prompts from 0, a length of -1 is unknown. Pairs with a == b are dropped."""
    if (same := a == b).any():
        keep = ~same
        prompt, a, b, outcome, length_a, length_b = (x[keep] for x in (prompt, a, b, outcome, length_a, length_b))
    empty = Leaderboard("bradley-terry", bootstrap, [], [], False, None)
    if len(models) < 2 or not len(a):
        return empty._replace(reason="a leaderboard needs pairs between completions of at least two models")
    m = len(models)
    wins_cell = np.where(outcome == _B, b * m + a, a * m + b)  # winner * m + loser (a first for a tie)
    tie = outcome == _TIE
    counts = _record_counts(a, b, outcome, m)
    components = _components(m, a, b, counts)

    # Win tables over the ordered cells (winner, loser) that occur: a tie is half a win each way.
    cells = np.concatenate([wins_cell, (b * m + a)[tie]])
    values = np.concatenate([np.where(tie, 0.5, 1.0), np.full(int(tie.sum()), 0.5)])
    prompts = np.concatenate([prompt, prompt[tie]])
    total = np.bincount(cells, weights=values, minlength=m * m)
    scores, regularised = _fit_scaled(total.reshape(1, m, m), components)
    samples = _bootstrap(prompts, cells, values, m, components, bootstrap, seed) if bootstrap else None

    longer = _longer_won(a, b, outcome, length_a, length_b, m)
    rows = []
    for number, members in enumerate(components):
        for i in sorted(members, key=lambda i: -scores[0, i]):
            low, high = (
                np.percentile(samples[:, i], [2.5, 97.5]) if samples is not None else (scores[0, i], scores[0, i])
            )
            wins, losses, ties = (int(n) for n in counts[i])
            rows.append(ModelScore(
                models[i], float(scores[0, i]), float(low), float(high), wins, losses, ties,
                wins + losses + ties, longer[i], number,
            ))
    named = [[models[i] for i in sorted(members, key=lambda i: -scores[0, i])] for members in components]
    return Leaderboard("bradley-terry", bootstrap, rows, named, bool(regularised.any()), None)


def _record_counts(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, m: int) -> np.ndarray:
    """models × (wins, losses, ties), each pair counted once per side."""
    as_a = np.bincount(a * 3 + outcome, minlength=3 * m).reshape(m, 3)  # columns: a won, b won, tie
    as_b = np.bincount(b * 3 + outcome, minlength=3 * m).reshape(m, 3)
    return as_a + as_b[:, [_B, _A, _TIE]]


def _components(m: int, a: np.ndarray, b: np.ndarray, counts: np.ndarray) -> list[list[int]]:
    """Connected components of the comparison graph among models with pairs, most pairs first."""
    parent = list(range(m))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for code in np.flatnonzero(np.bincount(np.minimum(a, b) * m + np.maximum(a, b), minlength=m * m)):
        i, j = divmod(int(code), m)
        parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(m):
        if counts[i].sum():
            groups.setdefault(root(i), []).append(i)
    return sorted(groups.values(), key=lambda g: (-int(counts[g].sum()), g[0]))


def _bootstrap(
    prompts: np.ndarray, cells: np.ndarray, values: np.ndarray,
    m: int, components: list[list[int]], rounds: int, seed: int | None,
) -> np.ndarray:
    """rounds × models scores, resampling prompts with replacement (counts, not pairs).

    Each prompt's pairs form a small win table (one row of prompts × cells). A resample draws P
    prompts with replacement: a multinomial draw of P over the prompts, with equal weights, and
    the resampled table is counts @ rows (one matrix product, no pair copied). Prompts with
    identical rows are interchangeable, so when there are few kinds of row (consensus pairs of a
    handful of models: at most 3^6 kinds for 4 models) the draw is made over the kinds (weights ∝
    how many prompts share the row), which has exactly the same distribution and costs the same
    for 1,000 or 1,000,000 prompts. Otherwise P uniform prompt numbers per resample are counted
    with bincount, a few resamples at a time so that memory stays small."""
    rng = np.random.default_rng(seed)
    present = np.bincount(prompts) > 0
    row_of = np.cumsum(present) - 1  # prompt number → row, over the prompts that have pairs
    n_prompts = int(present.sum())
    used = np.flatnonzero(np.bincount(cells, minlength=m * m))
    column_of = np.zeros(m * m, dtype=np.int64)
    column_of[used] = np.arange(len(used))
    position = row_of[prompts]
    position *= len(used)
    position += column_of[cells]
    table = np.bincount(position, weights=values, minlength=n_prompts * len(used)).reshape(n_prompts, len(used))
    del position
    rows, sizes = _distinct_rows(table)
    totals = np.empty((rounds, len(used)))
    if KINDS_PER_PROMPT * len(rows) < n_prompts:  # few kinds of prompt (consensus pairs, few models): draw per kind
        for start in range(0, rounds, 50):  # 50 resamples at a time bound the memory of the counts
            counts = rng.multinomial(n_prompts, sizes / sizes.sum(), size=min(50, rounds - start))
            totals[start:start + len(counts)] = counts.astype(np.float64) @ rows
    else:  # nearly every prompt differs (labeler pairs): P uniform draws per resample, counted
        table32 = table.astype(np.float32)  # halves and counts: exact in float32, and so are the sums
        chunk = max(1, min(rounds, 500_000 // n_prompts))  # a few MB of draws at a time
        offsets = (np.arange(chunk, dtype=np.int64) * n_prompts)[:, None]
        for start in range(0, rounds, chunk):
            r = min(chunk, rounds - start)
            draws = rng.integers(0, n_prompts, size=(r, n_prompts)) + offsets[:r]
            counts = np.bincount(draws.ravel(), minlength=r * n_prompts).reshape(r, n_prompts)
            totals[start:start + r] = counts.astype(np.float32) @ table32
    wins = np.zeros((rounds, m * m))
    wins[:, used] = totals
    return _fit_scaled(wins.reshape(rounds, m, m), components)[0]


def _distinct_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a prompts × cells table of half-integers, and how often each occurs."""
    halves = np.rint(2 * table).astype(np.int64)
    base = int(halves.max(initial=0)) + 1
    if table.shape[1] * math.log2(base) < 62:  # exact integer code per row: a fast 1-D unique
        codes = halves @ (base ** np.arange(table.shape[1], dtype=np.int64))
        _, first, sizes = np.unique(codes, return_index=True, return_counts=True)
        return table[first], sizes
    rows, sizes = np.unique(halves, axis=0, return_counts=True)
    return rows / 2.0, sizes


def _fit_scaled(wins: np.ndarray, components: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Scores (batch × models, anchored per component) and which fits needed the ridge."""
    scores = np.full(wins.shape[:2], np.nan)
    regularised = np.zeros(len(wins), dtype=bool)
    for members in components:
        if len(members) < 2:
            continue
        block = wins[:, members][:, :, members]
        theta, ridged = fit_strengths(block)
        scores[:, members] = ANCHOR + _POINTS * theta
        regularised |= ridged
    return scores, regularised


def strongly_connected(wins: np.ndarray) -> np.ndarray:
    """For each table of a batch (batch × m × m): does every model reach every other through
    'won or tied against' edges? Then the Bradley–Terry MLE exists and is finite."""
    m = wins.shape[-1]
    reach = (wins > 0) | np.eye(m, dtype=bool)
    for _ in range(max(1, math.ceil(math.log2(m)))):
        reach = (reach.astype(np.float64) @ reach.astype(np.float64)) > 0
    return reach.all(axis=(1, 2))


def fit_strengths(wins: np.ndarray, max_iterations: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Bradley–Terry strengths θ (natural log, mean 0) maximising Σ W_ij log σ(θ_i − θ_j), for a
    batch of win tables (batch × m × m, W_ij = weighted wins of i over j). Returns (θ, ridged):
    tables whose comparison graph is not strongly connected get the RIDGE penalty."""
    batch, m, _ = wins.shape
    ridge = np.where(strongly_connected(wins), 0.0, RIDGE)
    games = wins + wins.transpose(0, 2, 1)
    won = wins.sum(axis=2)
    theta = np.zeros((batch, m))
    centre = np.full((m, m), 1.0 / m)  # fixes the free shift (mean 0) in the Newton system
    eye = np.eye(m)

    def objective(t: np.ndarray) -> np.ndarray:
        diff = t[:, :, None] - t[:, None, :]
        return -(wins * np.logaddexp(0.0, -diff)).sum(axis=(1, 2)) - 0.5 * ridge * (t * t).sum(axis=1)

    current = objective(theta)
    for _ in range(max_iterations):
        p = 0.5 * (1.0 + np.tanh(0.5 * (theta[:, :, None] - theta[:, None, :])))  # σ(θ_i − θ_j), stable
        gradient = won - (games * p).sum(axis=2) - ridge[:, None] * theta
        curvature = games * p * (1.0 - p)
        system = np.einsum("bi,ij->bij", curvature.sum(axis=2), eye) - curvature
        system += ridge[:, None, None] * eye + centre
        step = np.linalg.solve(system, gradient[:, :, None])[:, :, 0]
        size = np.ones(batch)
        for _ in range(40):  # backtrack where the full step lowers the likelihood
            trial = objective(theta + size[:, None] * step)
            worse = trial < current - 1e-12 * np.abs(current)
            if not worse.any():
                break
            size = np.where(worse, size / 2, size)
        theta = theta + size[:, None] * step
        current = objective(theta)
        if np.abs(size[:, None] * step).max() < 1e-12:
            break
    return theta - theta.mean(axis=1, keepdims=True), ridge > 0


def _longer_won(
    a: np.ndarray, b: np.ndarray, outcome: np.ndarray, length_a: np.ndarray, length_b: np.ndarray, m: int
) -> list[float | None]:
    known = (outcome != _TIE) & (length_a >= 0) & (length_b >= 0) & (length_a != length_b)
    longer_won = (outcome == _A)[known] == (length_a > length_b)[known]
    a, b = a[known], b[known]
    decided = np.bincount(a, minlength=m) + np.bincount(b, minlength=m)
    won = np.bincount(a, weights=longer_won, minlength=m) + np.bincount(b, weights=longer_won, minlength=m)
    return [float(won[i] / decided[i]) if decided[i] else None for i in range(m)]


def win_table(records: Iterable[tuple], models: list[str]) -> np.ndarray:
    """models × models weighted wins (a tie is half a win each way), for tests and reports."""
    index = {model: i for i, model in enumerate(models)}
    table = np.zeros((len(models), len(models)))
    for _, model_a, model_b, outcome, *_ in records:
        if model_a == model_b:
            continue
        i, j = index[model_a], index[model_b]
        if outcome == "tie":
            table[i, j] += 0.5
            table[j, i] += 0.5
        else:
            table[(i, j) if outcome == "a" else (j, i)] += 1
    return table


__all__ = [
    "Leaderboard", "ModelScore", "PairTable", "fit_strengths", "leaderboard", "leaderboard_from_arrays",
    "strongly_connected", "win_table",
]
