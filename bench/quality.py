"""Simulation harness for consensus, agreement and misreader detection (issue 5).

A synthetic crowd ranks synthetic prompts whose true order is known; the project's own code
(annotations/consensus.py: ranked pairs, Borda, leave-one-out agreement, misreader detection)
turns the rankings into consensus and scores, which are compared with the truth.

Noise model (the default crowd):
* Each prompt has n completions, n uniform in 3..9, with a hidden true order (best first). With
  probability NONSENSE_RATE one completion is nonsense; it is the truly worst.
* Each prompt is ranked by k = 3 distinct labelers; every labeler ranks RANKINGS_PER_LABELER
  prompts (30 by default).
* A labeler's ranking is the true order disturbed by random adjacent swaps: the number of swaps
  is Poisson with mean c · n(n−1)/2, and c is tuned at start-up (bisection) so that a normal
  labeler orders about 80% of the pairs correctly. Then, with probability TIE_RATE, two adjacent
  completions are merged into a tie.
* Labeler kinds: 10% misreaders (they misread the instructions and rank the *reversed* true order,
  with the same noise), 15% careless (noise tuned to ~65% pair accuracy, ties three times as
  often, nonsense flagged only half the time), the rest normal.
* Flags: a nonsense completion is flagged with probability 0.9 (normal, misreader) or 0.5
  (careless), else ranked where the noise put it (last in truth); and every labeler flags one
  good completion as nonsense with probability SPURIOUS_FLAG_RATE ("nonsense flags").

Pair accuracy: over every pair of a prompt's completions (a truly better than b), 1 when a
judgement puts a above b (a flagged completion counts below every ranked one, as in
consensus.py), 0.5 when it ties them, 0 when it inverts them; averaged over pairs. Per-pair
majority vote decides each pair independently by the labelers' strict preferences (tie = 0.5).

Run: .venv/bin/python bench/quality.py [--labelers 100] [--seed 1]
"""

import argparse
import itertools
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotations.consensus import (  # noqa: E402 - after the path set-up, to run from a checkout
    Judgement,
    consensus,
    kendalls_w,
    krippendorff_alpha_ordinal,
    pairwise_agreement,
    positions,
    score_labelers,
)

K = 3
MISREADER_SHARE = 0.10
CARELESS_SHARE = 0.15
TIE_RATE = 0.05
NONSENSE_RATE = 0.10
SPURIOUS_FLAG_RATE = 0.02
NORMAL_ACCURACY = 0.80
CARELESS_ACCURACY = 0.65


@dataclass
class Labeler:
    id: int
    kind: str  # normal, careless, misreader
    swap_rate: float
    tie_rate: float
    flag_nonsense: float


@dataclass
class SimPrompt:
    n: int
    nonsense: int | None  # the id of the nonsense completion (the truly worst), if any

    @property
    def truth(self) -> list[int]:
        return list(range(self.n))  # completion i is the (i+1)-th best


def poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method; means here are small (< 15).
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def noisy_order(order: list[int], swap_rate: float, rng: random.Random) -> list[int]:
    order = list(order)
    n = len(order)
    for _ in range(poisson(rng, swap_rate * n * (n - 1) / 2)):
        i = rng.randrange(n - 1)
        order[i], order[i + 1] = order[i + 1], order[i]
    return order


def judge(prompt: SimPrompt, labeler: Labeler, rng: random.Random) -> Judgement:
    order = prompt.truth[::-1] if labeler.kind == "misreader" else prompt.truth
    order = noisy_order(order, labeler.swap_rate, rng)
    flagged = []
    if prompt.nonsense is not None and rng.random() < labeler.flag_nonsense:
        flagged.append(prompt.nonsense)
    if rng.random() < SPURIOUS_FLAG_RATE:
        good = [cid for cid in order if cid != prompt.nonsense and cid not in flagged]
        if len(good) > 2:
            flagged.append(rng.choice(good))
    ranked = [cid for cid in order if cid not in flagged]
    tiers = [[cid] for cid in ranked]
    if len(tiers) > 1 and rng.random() < labeler.tie_rate:
        i = rng.randrange(len(tiers) - 1)
        tiers[i:i + 2] = [sorted(tiers[i] + tiers[i + 1])]
    return Judgement(tiers, sorted(flagged))


def pair_accuracy(judgement: Judgement, prompt: SimPrompt) -> float:
    place = positions(judgement)
    bottom = max(place.values(), default=0) + 1
    total = 0.0
    pairs = list(itertools.combinations(prompt.truth, 2))  # (better, worse)
    for better, worse in pairs:
        a, b = place.get(better, bottom), place.get(worse, bottom)
        total += 1.0 if a < b else 0.5 if a == b else 0.0
    return total / len(pairs)


def majority_accuracy(judgements: list[Judgement], prompt: SimPrompt) -> float:
    places = [positions(j) for j in judgements]
    pairs = list(itertools.combinations(prompt.truth, 2))
    total = 0.0
    for better, worse in pairs:
        right = sum(1 for p in places if better in p and worse in p and p[better] < p[worse])
        wrong = sum(1 for p in places if better in p and worse in p and p[better] > p[worse])
        total += 1.0 if right > wrong else 0.5 if right == wrong else 0.0
    return total / len(pairs)


def calibrate(target: float, rng: random.Random, samples: int = 4000) -> float:
    """The swap rate c at which a labeler (no misreading) orders `target` of the pairs correctly."""
    def accuracy(rate: float) -> float:
        probe = Labeler(0, "normal", rate, 0.0, 0.0)
        local = random.Random(rng.random())
        prompts = [SimPrompt(local.randint(3, 9), None) for _ in range(samples)]
        return statistics.mean(pair_accuracy(judge(p, probe, local), p) for p in prompts)

    low, high = 0.0, 2.0
    for _ in range(20):
        mid = (low + high) / 2
        if accuracy(mid) > target:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def make_crowd(count: int, rng: random.Random) -> list[Labeler]:
    normal_rate = calibrate(NORMAL_ACCURACY, rng)
    careless_rate = calibrate(CARELESS_ACCURACY, rng)
    misreaders = round(count * MISREADER_SHARE)
    careless = round(count * CARELESS_SHARE)
    kinds = ["misreader"] * misreaders + ["careless"] * careless + ["normal"] * (count - misreaders - careless)
    rng.shuffle(kinds)
    crowd = []
    for i, kind in enumerate(kinds):
        if kind == "careless":
            crowd.append(Labeler(i, kind, careless_rate, TIE_RATE * 3, 0.5))
        else:
            crowd.append(Labeler(i, kind, normal_rate, TIE_RATE, 0.9))
    return crowd


def assign(crowd: list[Labeler], rankings_per_labeler: int, rng: random.Random) -> list[list[Labeler]]:
    """k distinct labelers per prompt, every labeler on `rankings_per_labeler` prompts: each prompt
    takes the k labelers with the most rankings still to give (random among equals)."""
    remaining = {labeler.id: rankings_per_labeler for labeler in crowd}
    groups = []
    while sum(1 for left in remaining.values() if left) >= K:
        ids = list(remaining)
        rng.shuffle(ids)
        chosen = sorted(ids, key=lambda lid: -remaining[lid])[:K]
        for lid in chosen:
            remaining[lid] -= 1
        groups.append([crowd[lid] for lid in chosen])
    return groups


def simulate(labelers: int, rankings_per_labeler: int, seed: int) -> dict:
    rng = random.Random(seed)
    crowd = make_crowd(labelers, rng)
    groups = assign(crowd, rankings_per_labeler, rng)
    prompts = []
    for group in groups:
        n = rng.randint(3, 9)
        nonsense = n - 1 if rng.random() < NONSENSE_RATE else None
        prompt = SimPrompt(n, nonsense)
        prompts.append((prompt, [(labeler.id, judge(prompt, labeler, rng)) for labeler in group]))

    started = time.perf_counter()
    scores, detected = score_labelers(ranked for _, ranked in prompts)
    scoring_seconds = time.perf_counter() - started

    truly = {labeler.id for labeler in crowd if labeler.kind == "misreader"}
    single = [pair_accuracy(j, p) for p, ranked in prompts for _, j in ranked]
    single_by_kind = {
        kind: statistics.mean(
            pair_accuracy(j, p) for p, ranked in prompts for lid, j in ranked if crowd[lid].kind == kind
        )
        for kind in ("normal", "careless", "misreader")
    }

    def method_accuracy(method: str, excluded: set[int] = frozenset()) -> float:
        values = []
        for prompt, ranked in prompts:
            kept = [j for lid, j in ranked if lid not in excluded]
            values.append(pair_accuracy(consensus(kept, method), prompt) if kept else 0.5)
        return statistics.mean(values)

    def majority(excluded: set[int] = frozenset()) -> float:
        values = []
        for prompt, ranked in prompts:
            kept = [j for lid, j in ranked if lid not in excluded]
            values.append(majority_accuracy(kept, prompt) if kept else 0.5)
        return statistics.mean(values)

    started = time.perf_counter()
    ranked_pairs = method_accuracy("ranked_pairs")
    consensus_seconds = time.perf_counter() - started
    judgements = [[j for _, j in ranked] for _, ranked in prompts]
    pooled = [pairwise_agreement(js) for js in judgements]
    true_positives = len(detected & truly)
    return {
        "labelers": labelers,
        "prompts": len(prompts),
        "rankings": sum(len(r) for _, r in prompts),
        "misreaders": len(truly),
        "single_labeler": statistics.mean(single),
        "single_by_kind": single_by_kind,
        "majority_per_pair": majority(),
        "ranked_pairs": ranked_pairs,
        "borda": method_accuracy("borda"),
        "ranked_pairs_without_detected": method_accuracy("ranked_pairs", detected),
        "borda_without_detected": method_accuracy("borda", detected),
        "majority_without_detected": majority(detected),
        "ranked_pairs_without_true_misreaders": method_accuracy("ranked_pairs", truly),
        "detected": len(detected),
        "precision": true_positives / len(detected) if detected else float("nan"),
        "recall": true_positives / len(truly) if truly else float("nan"),
        "pairwise_agreement": sum(p.agreeing for p in pooled) / sum(p.compared for p in pooled),
        "kendalls_w": statistics.mean(w for js in judgements if (w := kendalls_w(js)) is not None),
        "krippendorff_alpha": krippendorff_alpha_ordinal(judgements),
        "scoring_seconds": scoring_seconds,
        "consensus_seconds": consensus_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labelers", type=int, default=100)
    parser.add_argument("--rankings-per-labeler", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=5, help="independent crowds to average over")
    parser.add_argument("--seed", type=int, default=1, help="first seed")
    parser.add_argument("--adaptive", action="store_true",
                        help="compare fixed k=3 with adaptive overlap (bench/adaptive_overlap.py)")
    parser.add_argument("--targets", default="0.5,0.6,0.7,0.8", help="agreement targets for --adaptive")
    parser.add_argument("--misreader-share", type=float, default=MISREADER_SHARE)
    parser.add_argument("--normal-accuracy", type=float, default=NORMAL_ACCURACY)
    args = parser.parse_args()
    globals().update(MISREADER_SHARE=args.misreader_share, NORMAL_ACCURACY=args.normal_accuracy)  # a noisier crowd
    if args.adaptive:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import adaptive_overlap
        import quality  # the same module under its own name, for adaptive_overlap's imports

        quality.MISREADER_SHARE, quality.NORMAL_ACCURACY = args.misreader_share, args.normal_accuracy
        seeds = [args.seed + i for i in range(args.seeds)]
        adaptive_overlap.report(args.labelers, args.rankings_per_labeler, seeds,
                                [float(t) for t in args.targets.split(",")])
        return

    results = [simulate(args.labelers, args.rankings_per_labeler, args.seed + i) for i in range(args.seeds)]
    first = results[0]
    print(f"crowd: {args.labelers} labelers ({first['misreaders']} misreaders, "
          f"{round(args.labelers * CARELESS_SHARE)} careless), k={K}, {args.rankings_per_labeler} rankings each, "
          f"{first['prompts']} prompts of 3-9 completions; mean over {args.seeds} seeds from {args.seed}")

    def show(label: str, key: str) -> None:
        values = [r[key] for r in results]
        spread = f" (min {min(values):.3f}, max {max(values):.3f})" if len(values) > 1 else ""
        print(f"  {label:<48} {statistics.mean(values):.3f}{spread}")

    print("pair accuracy against the truth:")
    show("single labeler (mean over all rankings)", "single_labeler")
    for kind in ("normal", "careless", "misreader"):
        values = [r["single_by_kind"][kind] for r in results]
        print(f"    {kind:<46} {statistics.mean(values):.3f}")
    show("per-pair majority vote", "majority_per_pair")
    show("consensus: ranked pairs", "ranked_pairs")
    show("consensus: Borda", "borda")
    show("ranked pairs, detected misreaders excluded", "ranked_pairs_without_detected")
    show("Borda, detected misreaders excluded", "borda_without_detected")
    show("majority, detected misreaders excluded", "majority_without_detected")
    show("ranked pairs, true misreaders excluded (oracle)", "ranked_pairs_without_true_misreaders")
    print("misreader detection (leave-one-out agreement, Wilson interval):")
    show("precision", "precision")
    show("recall", "recall")
    print("agreement of the crowd:")
    show("pairwise agreement", "pairwise_agreement")
    show("Kendall's W (mean per prompt)", "kendalls_w")
    show("Krippendorff's alpha (ordinal)", "krippendorff_alpha")
    print(f"time: leave-one-out scoring {statistics.mean(r['scoring_seconds'] for r in results):.2f} s, "
          f"ranked-pairs consensus of every prompt {statistics.mean(r['consensus_seconds'] for r in results):.2f} s "
          f"per crowd")
    gain = statistics.mean(r["ranked_pairs"] - r["single_labeler"] for r in results)
    checks = {
        f"consensus >= single labeler + 0.05 (+{gain:.3f})": gain >= 0.05,
        "consensus >= per-pair majority (every seed)": all(
            r["ranked_pairs"] >= r["majority_per_pair"] for r in results
        ),
        "rises without detected misreaders (every seed)": all(
            r["ranked_pairs_without_detected"] > r["ranked_pairs"] for r in results
        ),
        "misreader precision and recall >= 0.9 (every seed)": all(
            r["precision"] >= 0.9 and r["recall"] >= 0.9 for r in results
        ),
    }
    print("targets:")
    for label, met in checks.items():
        print(f"  {label:<58} {'met' if met else 'NOT MET'}")

if __name__ == "__main__":
    main()
