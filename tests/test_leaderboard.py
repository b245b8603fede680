"""The Bradley–Terry model leaderboard (pure numpy, no database), checked against a plain
maximum-likelihood fit (scipy) and against FastChat's compute_mle_elo, reimplemented here."""

import math
import random

import numpy as np
import pytest
from scipy.optimize import minimize

from annotations.leaderboard import (
    ANCHOR,
    RIDGE,
    PairTable,
    fit_strengths,
    leaderboard,
    strongly_connected,
    win_table,
)

STRENGTHS = {"tiny": -1.0, "small": -0.2, "medium": 0.3, "large": 1.1}  # natural-log, known truth
POINTS = 400 / math.log(10)


def synthetic_records(strengths: dict[str, float], prompts: int, seed: int, tie_rate: float = 0.1) -> list[tuple]:
    """Every prompt has one completion per model; each pair is judged by the BT model."""
    rng = random.Random(seed)
    records = []
    names = list(strengths)
    for prompt in range(prompts):
        lengths = {name: rng.randint(50, 500) for name in names}
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                if rng.random() < tie_rate:
                    outcome = "tie"
                else:
                    p_a = 1 / (1 + math.exp(strengths[b] - strengths[a]))
                    outcome = "a" if rng.random() < p_a else "b"
                if rng.random() < 0.5:  # either side may come first
                    a_, b_, outcome = b, a, {"a": "b", "b": "a", "tie": "tie"}[outcome]
                    records.append((prompt, a_, b_, outcome, lengths[a_], lengths[b_]))
                else:
                    records.append((prompt, a, b, outcome, lengths[a], lengths[b]))
    return records


def reference_mle(records: list[tuple], models: list[str]) -> dict[str, float]:
    """The straightforward fit: scipy minimises the negative log-likelihood summed record by
    record (a tie = half a win for each side), then the same anchoring (mean 1000)."""
    index = {m: i for i, m in enumerate(models)}
    rows = [(index[a], index[b], {"a": 1.0, "b": 0.0, "tie": 0.5}[o]) for _, a, b, o, *_ in records]
    i, j, y = (np.array(column) for column in zip(*rows, strict=True))

    def nll(theta):
        d = theta[i] - theta[j]
        p = 1 / (1 + np.exp(-d))
        loss = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum()
        g = -(y - p)
        grad = np.bincount(i, weights=g, minlength=len(models)) - np.bincount(j, weights=g, minlength=len(models))
        return loss, grad

    theta = minimize(nll, np.zeros(len(models)), jac=True, method="BFGS", options={"gtol": 1e-11}).x
    scores = ANCHOR + POINTS * (theta - theta.mean())
    return dict(zip(models, scores, strict=True))


def fastchat_compute_mle_elo(records: list[tuple], scale=400, base=10, init_rating=1000) -> list[str]:
    """FastChat's compute_mle_elo (elo_analysis.py): the win table counts a win twice and a tie
    once each way; one design row per ordered model pair with ±log(base), Y = 1 and Y = 0 rows
    weighted by the two directions' counts; logistic regression without intercept or penalty
    (here by scipy instead of sklearn). Returns the models best first."""
    models = sorted({r[1] for r in records} | {r[2] for r in records})
    p = len(models)
    index = {m: k for k, m in enumerate(models)}
    ptbl_win = np.zeros((p, p))
    for _, a, b, outcome, *_ in records:
        if outcome == "a":
            ptbl_win[index[a], index[b]] += 2
        elif outcome == "b":
            ptbl_win[index[b], index[a]] += 2
        else:
            ptbl_win[index[a], index[b]] += 1
            ptbl_win[index[b], index[a]] += 1
    x, y, weights = [], [], []
    for m_a in range(p):
        for m_b in range(p):
            if m_a == m_b:
                continue
            row = np.zeros(p)
            row[m_a], row[m_b] = math.log(base), -math.log(base)
            x += [row, row]
            y += [1.0, 0.0]
            weights += [ptbl_win[m_a, m_b], ptbl_win[m_b, m_a]]
    x, y, weights = np.array(x), np.array(y), np.array(weights)

    def loss(coef):
        z = x @ coef
        value = (weights * (np.logaddexp(0, z) - y * z)).sum()
        grad = x.T @ (weights * (1 / (1 + np.exp(-z)) - y))
        return value, grad

    coef = minimize(loss, np.zeros(p), jac=True, method="BFGS", options={"gtol": 1e-10}).x
    elo = scale * coef + init_rating
    return [models[k] for k in np.argsort(-elo)]


def scores_of(board) -> dict[str, float]:
    return {row.model: row.score for row in board.models}


def test_scores_agree_with_a_plain_maximum_likelihood_fit_to_1e_6():
    records = synthetic_records(STRENGTHS, prompts=300, seed=3)
    board = leaderboard(records, bootstrap=0)
    reference = reference_mle(records, list(STRENGTHS))
    assert board.method == "bradley-terry" and not board.regularised
    for model, score in scores_of(board).items():
        assert score == pytest.approx(reference[model], abs=1e-6)
    assert sum(scores_of(board).values()) / 4 == pytest.approx(ANCHOR, abs=1e-9)


def test_order_matches_fastchat_and_the_known_strengths():
    records = synthetic_records(STRENGTHS, prompts=500, seed=7)
    board = leaderboard(records, bootstrap=0)
    ours = [row.model for row in board.models]
    truth = sorted(STRENGTHS, key=lambda m: -STRENGTHS[m])
    assert ours == fastchat_compute_mle_elo(records) == truth


def test_fastchat_doubling_gives_the_same_scores_not_only_the_same_order():
    # FastChat's table is ours times two; the MLE does not change when all counts scale.
    records = synthetic_records(STRENGTHS, prompts=200, seed=11)
    table = win_table(records, list(STRENGTHS))
    single, _ = fit_strengths(table[None])
    double, _ = fit_strengths(2 * table[None])
    np.testing.assert_allclose(single, double, atol=1e-9)


def test_intervals_contain_the_estimate_and_are_reproducible_with_a_seed():
    records = synthetic_records(STRENGTHS, prompts=400, seed=5)
    board = leaderboard(records, bootstrap=200, seed=42)
    assert board.bootstrap == 200
    for row in board.models:
        assert row.ci_low < row.score < row.ci_high
        assert row.ci_high - row.ci_low < 150  # 400 prompts: tens of points, not hundreds
    again = leaderboard(records, bootstrap=200, seed=42)
    assert [(r.ci_low, r.ci_high) for r in again.models] == [(r.ci_low, r.ci_high) for r in board.models]


def test_bootstrap_resamples_prompts_not_pairs():
    # Ten copies of every pair inside the same prompt add no information about new prompts: the
    # intervals must stay as they are (resampling pairs would shrink them by about √10).
    records = synthetic_records(STRENGTHS, prompts=150, seed=9)
    board = leaderboard(records, bootstrap=200, seed=1)
    copied = leaderboard([r for r in records for _ in range(10)], bootstrap=200, seed=1)
    for one, ten in zip(board.models, copied.models, strict=True):
        assert ten.score == pytest.approx(one.score, abs=1e-6)
        assert ten.ci_low == pytest.approx(one.ci_low, abs=1e-6)
        assert ten.ci_high == pytest.approx(one.ci_high, abs=1e-6)
        assert ten.pairs == 10 * one.pairs


def test_a_tie_counts_as_half_a_win_for_each_side():
    three_to_one = [(1, "x", "y", "a"), (2, "x", "y", "a"), (3, "x", "y", "a"), (4, "x", "y", "b")]
    wins_and_ties = [(1, "x", "y", "a"), (2, "x", "y", "a"), (3, "x", "y", "tie"), (4, "y", "x", "tie")]
    assert scores_of(leaderboard(three_to_one, 0)) == pytest.approx(scores_of(leaderboard(wins_and_ties, 0)))
    # 3 to 1 (with ties as halves): P(x beats y) = 0.75, so x is 400·log10(3) above y.
    scores = scores_of(leaderboard(wins_and_ties, 0))
    assert scores["x"] - scores["y"] == pytest.approx(400 * math.log10(3), abs=1e-6)
    row = {r.model: r for r in leaderboard(wins_and_ties, 0).models}["x"]
    assert (row.wins, row.losses, row.ties, row.pairs) == (2, 0, 2, 4)
    only_ties = leaderboard([(1, "x", "y", "tie"), (2, "x", "y", "tie")], 0)
    assert scores_of(only_ties) == pytest.approx({"x": 1000.0, "y": 1000.0})


def test_a_single_model_has_no_leaderboard():
    board = leaderboard([(1, "solo", "solo", "a"), (2, "solo", "solo", "tie")])
    assert board.models == [] and "at least two models" in board.reason
    assert leaderboard([]).models == []


def test_models_without_pairs_between_them_are_fitted_as_separate_components():
    records = [(p, "p", "q", "a" if p % 3 else "b") for p in range(30)]
    records += [(100 + p, "r", "s", "b" if p % 4 else "a") for p in range(40)]
    board = leaderboard(records, bootstrap=50, seed=0)
    assert board.components == [["s", "r"], ["p", "q"]]  # most pairs first, best first inside
    by_model = {row.model: row for row in board.models}
    assert [row.model for row in board.models] == ["s", "r", "p", "q"]
    assert {m: by_model[m].component for m in "pqrs"} == {"r": 0, "s": 0, "p": 1, "q": 1}
    for pair in ("pq", "rs"):  # each component anchored at a mean of 1000
        assert (by_model[pair[0]].score + by_model[pair[1]].score) / 2 == pytest.approx(1000.0)
    assert by_model["p"].score - by_model["q"].score == pytest.approx(400 * math.log10(2), abs=1e-6)


def test_a_model_that_never_lost_gets_a_finite_score_with_the_ridge():
    records = [(p, "champ", "other", "a") for p in range(50)] + [(p, "other", "third", "a" if p % 2 else "b")
                                                                for p in range(50)]
    board = leaderboard(records, bootstrap=50, seed=0)
    assert board.regularised
    top = board.models[0]
    assert top.model == "champ" and math.isfinite(top.score) and top.score > board.models[1].score + 400
    assert all(math.isfinite(r.ci_low) and math.isfinite(r.ci_high) for r in board.models)
    assert RIDGE > 0


def test_strong_connectivity_decides_whether_the_mle_exists():
    cycle = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=float)  # x>y, y>z, z>x
    chain = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=float)  # z never wins
    assert strongly_connected(np.stack([cycle, chain])).tolist() == [True, False]


def test_length_diagnostic_is_the_share_of_decided_pairs_won_by_the_longer_completion():
    records = [
        (1, "x", "y", "a", 300, 100),  # longer (x) won
        (2, "x", "y", "b", 300, 100),  # shorter (y) won
        (3, "y", "x", "b", 50, 500),  # longer (x) won
        (4, "x", "y", "tie", 300, 100),  # ties are not decided pairs
        (5, "x", "y", "a", 200, 200),  # equal lengths say nothing
        (6, "x", "z", "a", None, 10),  # unknown length
        (7, "y", "z", "a", 40, 10),  # longer (y) won
    ]
    rows = {r.model: r for r in leaderboard(records, 0).models}
    assert rows["x"].longer_won == pytest.approx(2 / 3)
    assert rows["y"].longer_won == pytest.approx(3 / 4)
    assert rows["z"].longer_won == pytest.approx(1.0)


def test_pair_table_rejects_unknown_outcomes_and_as_dict_has_the_api_shape():
    with pytest.raises(ValueError, match="outcome"):
        PairTable().add(1, "x", "y", "left")
    payload = leaderboard([(1, "x", "y", "a"), (2, "y", "x", "a")], bootstrap=10, seed=0).as_dict()
    assert payload["method"] == "bradley-terry" and payload["bootstrap"] == 10
    assert set(payload["models"][0]) >= {"model", "score", "ci_low", "ci_high", "wins", "losses", "ties", "pairs"}


@pytest.mark.parametrize("pairs_per_prompt", [1, 6])
@pytest.mark.parametrize("draw_per_kind", [True, False])
def test_interval_width_matches_the_binomial_standard_error(pairs_per_prompt, draw_per_kind, monkeypatch):
    # 2 models, x wins 70% of the pairs. Both ways of drawing prompts (per kind of identical
    # prompts, or prompt by prompt) must give the 95% half-width of the delta method:
    # 1.96 · se(p) · (400/ln 10) / (p(1−p)) / 2 for x's score (the mean of the two is 1000),
    # with se(p) over prompts, the unit resampled.
    monkeypatch.setattr("annotations.leaderboard.KINDS_PER_PROMPT", 0 if draw_per_kind else 10**9)
    rng = random.Random(4)
    records = []
    for prompt in range(2000):
        for _ in range(pairs_per_prompt):
            records.append((prompt, "x", "y", "a" if rng.random() < 0.7 else "b"))
    board = leaderboard(records, bootstrap=400, seed=3)
    x = next(row for row in board.models if row.model == "x")
    p = (x.wins) / x.pairs
    # prompts are the unit: the variance of a prompt's share of wins, over 2000 prompts
    shares = [sum(r[3] == "a" for r in records[i * pairs_per_prompt:(i + 1) * pairs_per_prompt]) / pairs_per_prompt
              for i in range(2000)]
    se_p = np.std(shares) / math.sqrt(2000)
    expected_half_width = 1.96 * se_p * POINTS / (p * (1 - p)) / 2
    assert (x.ci_high - x.ci_low) / 2 == pytest.approx(expected_half_width, rel=0.2)
