"""Does adaptive overlap pay? Fixed k = 3 against adaptive (k = 2, up to 5 labelers) at the same
number of rankings, on bench/quality.py's synthetic crowd (the same noise model, read there).

    .venv/bin/python bench/quality.py --adaptive [--targets 0.5,0.6,0.7,0.8] [--seeds 5]
        [--misreader-share 0.10] [--normal-accuracy 0.80]

Per crowd (seed): the crowd of bench/quality.py (100 labelers, 10% misreaders, 15% careless) and
P = labelers × rankings-per-labeler / 3 prompts (1,000 by default).

* **Fixed**: every prompt is ranked by 3 distinct labelers, every labeler ranks 30 prompts
  (quality.assign), B = 3P rankings in all.
* **Adaptive** (annotations/overlap.py's rule): every prompt first gets 2 rankings; then, in passes,
  every prompt whose pairwise agreement is below the target and that has fewer than 5 rankings gets
  one more (prompts in random order within a pass, as concurrent labelers would take them), until
  no prompt needs another or the rankings run out. Each ranking goes to a labeler who has not seen
  the prompt, the one with the fewest rankings so far (random among equals), so the work stays
  spread as with fixed. Labelers judge with the same noise model; the prompts are the same P.

Reported per target, as the mean over crowds with (min–max): consensus pair accuracy against the
truth (ranked pairs and Borda) for fixed at B rankings and for adaptive at B rankings (or fewer if
it stopped earlier: then it is complete and its count is shown), and the number of rankings
adaptive needed to reach fixed's ranked-pairs accuracy (its running accuracy, ranking by ranking).
"""

import random
import statistics

import quality
from quality import K, SimPrompt, assign, judge, make_crowd, pair_accuracy

from annotations.consensus import consensus, pairwise_agreement
from annotations.overlap import needs_another_labeler

ADAPTIVE_K, ADAPTIVE_MAXIMUM = 2, 5


def make_prompts(count: int, rng: random.Random) -> list[SimPrompt]:
    prompts = []
    for _ in range(count):
        n = rng.randint(3, 9)
        prompts.append(SimPrompt(n, n - 1 if rng.random() < quality.NONSENSE_RATE else None))
    return prompts


class PromptState:
    """One prompt's rankings so far, its agreement and its consensus accuracy (both methods)."""

    def __init__(self, prompt: SimPrompt) -> None:
        self.prompt, self.labelers, self.judgements = prompt, set(), []
        self.agreement: float | None = None
        self.accuracy = {"ranked_pairs": 0.5, "borda": 0.5}

    def add(self, labeler, rng: random.Random) -> None:
        self.labelers.add(labeler.id)
        self.judgements.append(judge(self.prompt, labeler, rng))
        self.agreement = pairwise_agreement(self.judgements).share
        for method in self.accuracy:
            self.accuracy[method] = pair_accuracy(consensus(self.judgements, method), self.prompt)


def run_fixed(crowd, prompts: list[SimPrompt], groups, rng: random.Random) -> dict:
    states = [PromptState(p) for p in prompts]
    for state, group in zip(states, groups, strict=True):
        for labeler in group:
            state.add(labeler, rng)
    return {
        "rankings": sum(len(s.judgements) for s in states),
        **{m: statistics.mean(s.accuracy[m] for s in states) for m in ("ranked_pairs", "borda")},
    }


def run_adaptive(crowd, prompts: list[SimPrompt], target: float, rng: random.Random, budget: int,
                 match: float) -> dict:
    """Adaptive overlap on the same prompts; stops at `budget` rankings or when no prompt needs
    more. `match`: the ranked-pairs accuracy to reach (fixed's); the ranking count where the
    running accuracy first reaches it is reported (None if never, within 5 labelers a prompt)."""
    states = [PromptState(p) for p in prompts]
    load = {labeler.id: 0 for labeler in crowd}
    totals = {"ranked_pairs": 0.5 * len(states), "borda": 0.5 * len(states)}  # 0.5: no ranking yet

    def give(state: PromptState) -> None:
        free = [lid for lid in load if lid not in state.labelers]
        fewest = min(load[lid] for lid in free)
        lid = rng.choice([lid for lid in free if load[lid] == fewest])
        for method in totals:
            totals[method] -= state.accuracy[method]
        state.add(crowd[lid], rng)
        for method in totals:
            totals[method] += state.accuracy[method]
        load[lid] += 1

    for _ in range(ADAPTIVE_K):
        for state in states:
            give(state)
    rankings, at_budget = ADAPTIVE_K * len(states), None
    reached = rankings if totals["ranked_pairs"] / len(states) >= match else None
    while True:
        disputed = [
            s for s in states
            if needs_another_labeler(s.agreement, len(s.judgements), ADAPTIVE_K, ADAPTIVE_MAXIMUM, target)
        ]
        if not disputed:
            break
        rng.shuffle(disputed)
        for state in disputed:
            if rankings == budget:
                at_budget = {m: totals[m] / len(states) for m in totals}
            give(state)
            rankings += 1
            if reached is None and totals["ranked_pairs"] / len(states) >= match:
                reached = rankings
    final = {m: totals[m] / len(states) for m in totals}
    if at_budget is None:  # finished (no prompt disputed) before spending the budget
        at_budget, used = final, rankings
    else:
        used = budget
    return {"rankings": used, "complete_at": rankings, "reached": reached, **at_budget,
            "final_ranked_pairs": final["ranked_pairs"],
            "extra_prompts": sum(1 for s in states if len(s.judgements) > ADAPTIVE_K)}


def compare(labelers: int, rankings_per_labeler: int, seed: int, targets: list[float]) -> dict:
    rng = random.Random(seed)
    crowd = make_crowd(labelers, rng)
    groups = assign(crowd, rankings_per_labeler, rng)
    prompts = make_prompts(len(groups), rng)
    fixed = run_fixed(crowd, prompts, groups, random.Random(seed * 1000 + 1))
    adaptive = {
        target: run_adaptive(crowd, prompts, target, random.Random(seed * 1000 + 2), fixed["rankings"],
                             fixed["ranked_pairs"])
        for target in targets
    }
    return {"fixed": fixed, "adaptive": adaptive, "prompts": len(prompts)}


def report(labelers: int, rankings_per_labeler: int, seeds: list[int], targets: list[float]) -> None:
    results = [compare(labelers, rankings_per_labeler, seed, targets) for seed in seeds]

    def show(values: list[float], digits: int = 3) -> str:
        return f"{statistics.mean(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"

    fixed = [r["fixed"] for r in results]
    print(f"crowd: {labelers} labelers ({quality.MISREADER_SHARE:.0%} misreaders, "
          f"{quality.CARELESS_SHARE:.0%} careless, normal pair accuracy {quality.NORMAL_ACCURACY:.2f}), "
          f"{results[0]['prompts']} prompts; "
          f"mean (min–max) over {len(seeds)} crowds")
    print(f"fixed k={K}: {fixed[0]['rankings']} rankings; consensus pair accuracy: ranked pairs "
          f"{show([f['ranked_pairs'] for f in fixed])}, Borda {show([f['borda'] for f in fixed])}")
    print(f"adaptive k={ADAPTIVE_K}, maximum {ADAPTIVE_MAXIMUM}, at most the same rankings:")
    for target in targets:
        runs = [r["adaptive"][target] for r in results]
        gain = [a["ranked_pairs"] - f["ranked_pairs"] for a, f in zip(runs, fixed, strict=True)]
        reached = [a["reached"] for a in runs]
        reached_text = (
            show([float(x) for x in reached], 0) if all(x is not None for x in reached)
            else f"not reached in {reached.count(None)} of {len(runs)} crowds"
        )
        print(f"  target {target:.2f}: rankings used {show([float(a['rankings']) for a in runs], 0)}, "
              f"ranked pairs {show([a['ranked_pairs'] for a in runs])} (gain {show(gain)}), "
              f"Borda {show([a['borda'] for a in runs])}")
        print(f"               prompts given extra labelers {show([float(a['extra_prompts']) for a in runs], 0)}; "
              f"rankings to match fixed's ranked-pairs accuracy: {reached_text}; "
              f"without a budget it completes at {show([float(a['complete_at']) for a in runs], 0)} rankings "
              f"with ranked pairs {show([a['final_ranked_pairs'] for a in runs])}")
