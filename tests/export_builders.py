"""Builders for export tests: rankings stored as the labeling API stores them, without the loop."""

from datetime import timedelta

from django.utils import timezone

from annotations.consensus import Judgement
from annotations.models import Assignment, Completion, Prompt, Ranking
from annotations.quality_stats import ranking_facts
from annotations.quality_store import store_prompt_stats

from .factories import completion_ids


def rank(prompt: Prompt, labeler, tiers: list[list[int]], flagged: list[int] = (), duration_ms: int = 30_000,
         instruction_version: int = 1, revision: int = 1):
    """Store `labeler`'s ranking of `prompt`; tiers and flagged name completions by their 1-based
    position (the lecture's c1, c2, c3), so tests read like the examples they come from.
    `revision` > 1 stores the row as a labeler's revised ranking (the row holds the latest)."""
    ids = completion_ids(prompt)
    tiers_ids = [sorted(ids[p - 1] for p in tier) for tier in tiers]
    flagged_ids = sorted(ids[p - 1] for p in flagged)
    shown = list(reversed(ids))
    assignment = Assignment.objects.create(
        project=prompt.project, prompt=prompt, labeler=labeler, shown_order=shown,
        status=Assignment.Status.SUBMITTED, reserved_until=timezone.now() + timedelta(minutes=30),
    )
    ranking = Ranking.objects.create(
        assignment=assignment, project=prompt.project, prompt=prompt, labeler=labeler, tiers=tiers_ids,
        flagged=flagged_ids, shown_order=shown, instruction_version=instruction_version, duration_ms=duration_ms,
        revision=revision,
    )
    Prompt.objects.filter(pk=prompt.pk).update(num_rankings=Ranking.objects.filter(prompt=prompt).count())
    # The stored quality figures, as submit and revise store them (--exclude-labelers-below reads them).
    canaries = Completion.objects.filter(prompt=prompt, source=Completion.Source.CANARY)
    canary = canaries.values_list("pk", flat=True).first()
    facts = ranking_facts(Judgement(tiers_ids, flagged_ids), canary, shown)
    Ranking.objects.filter(pk=ranking.pk).update(**facts._asdict())
    store_prompt_stats(prompt.pk, canary)
    return ranking


def add_canary(prompt: Prompt, text: str = "canary: an answer to another prompt") -> Completion:
    position = prompt.completions.count() + 1
    return Completion.objects.create(prompt=prompt, position=position, text=text, source=Completion.Source.CANARY,
                                     canary_kind="other_prompt")
