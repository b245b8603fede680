"""Adaptive overlap: how many labelers a prompt should get (pure rule, no Django import).

A project asks k labelers per prompt (`labelers_per_prompt`) and may allow up to a maximum
(`max_labelers_per_prompt`; equal to k, the default, turns adaptive overlap off). A prompt that
has at least k rankings and whose pairwise agreement (consensus.pairwise_agreement's share) is
below the project's `agreement_target` takes one more labeler, one slot at a time, until its
agreement reaches the target or it has the maximum. The decision is made from the prompt's own
rankings when a ranking is stored (the caller stores the agreement on the prompt).

Conventions:
* Agreement exactly at the target is enough ("reached k with agreement at the target").
* Agreement None (nothing to compare: fewer than two rankings, or no pair of completions both
  rankings show) gives no evidence of disagreement, so it never asks for another labeler.
* A maximum below k is read as k (adaptive overlap off), never as fewer than k labelers.
"""


def needs_another_labeler(agreement: float | None, rankings: int, k: int, maximum: int, target: float) -> bool:
    """Does a prompt with `rankings` submitted rankings and this agreement take one more labeler?"""
    return rankings >= k and rankings < max(maximum, k) and agreement is not None and agreement < target


def wanted_rankings(agreement: float | None, rankings: int, k: int, maximum: int, target: float) -> int:
    """How many rankings the prompt should have now: k until it has them, then one more than it
    has while it needs another labeler (one slot at a time), else what it has. A claim may take a
    slot while submitted + held reservations < wanted."""
    if rankings < k:
        return k
    return rankings + 1 if needs_another_labeler(agreement, rankings, k, maximum, target) else rankings


def is_complete(agreement: float | None, rankings: int, k: int, maximum: int, target: float) -> bool:
    """For `prompts_complete`: reached k with agreement at the target (or nothing to compare), or
    reached the maximum."""
    return rankings >= k and not needs_another_labeler(agreement, rankings, k, maximum, target)
