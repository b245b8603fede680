"""Adaptive overlap on the database: the stored decision `Prompt.wanted_rankings` and the query
conditions that read it (the rule itself is annotations/overlap.py, pure).

How it fits the claim. `next` stays one statement with SKIP LOCKED: besides the k slots every
prompt has (`num_rankings + num_reserved < k`, unchanged), a prompt whose stored
`wanted_rankings` is above its rankings has one more slot, while `num_rankings + num_reserved <
wanted_rankings`. `wanted_rankings` is 0 unless the prompt wants a labeler beyond k; it is written
in the transaction that stores or revises one of the prompt's rankings (its row locked), from that
prompt's rankings only, so the claim compares counters on the row it locks and reads nothing else.
It is one more than the rankings the prompt has, so one slot opens at a time; and it never exceeds
the maximum, so a prompt never gets more than the maximum (submitted + reserved ≤ maximum).

Canaries: the agreement a prompt is judged by is Prompt.agreement, which leaves the canary out
(prompt_agreement.py), so a canary prompt takes extra labelers exactly when its real completions
are disputed, never because of its canary. Flags: a flagged completion counts as below every
ranked one in that agreement (consensus.py), so labelers who disagree about a flag lower it and
bring one more labeler; the flags of the extra rankings count towards the majority that takes a
completion out of the consensus (consensus.majority_flagged) like any other ranking.

Settings changes: when k, the maximum or the target change, `redecide_wanted_rankings` re-decides
every prompt of the project from its stored agreement in one UPDATE (adaptive overlap turned off
clears them all)."""

from django.db.models import Case, F, Q, Value, When
from django.db.models.expressions import Combinable
from django.db.models.functions import Least

from .models import Project, Prompt
from .overlap import needs_another_labeler

# The settings whose change re-decides the project's prompts.
OVERLAP_FIELDS = frozenset({"labelers_per_prompt", "max_labelers_per_prompt", "agreement_target"})


def is_adaptive(project: Project) -> bool:
    return project.max_labelers_per_prompt > project.labelers_per_prompt


def wanted_after(project: Project, agreement: float | None, rankings: int) -> int:
    """The `wanted_rankings` to store for a prompt with `rankings` rankings and this agreement."""
    k, maximum, target = project.labelers_per_prompt, project.max_labelers_per_prompt, project.agreement_target
    return rankings + 1 if needs_another_labeler(agreement, rankings, k, maximum, target) else 0


def slots(project: Project, wanted_rankings: int) -> int:
    """How many rankings plus reservations a prompt may have now: k, or its wanted count (capped
    at the maximum) when that is higher."""
    return max(project.labelers_per_prompt, min(wanted_rankings, project.max_labelers_per_prompt))


def redecide_wanted_rankings(project: Project) -> int:
    """Store every prompt's `wanted_rankings` again from its stored agreement and counters, for the
    project's current k, maximum and target (one UPDATE). Returns how many prompts want one more."""
    k, maximum, target = project.labelers_per_prompt, project.max_labelers_per_prompt, project.agreement_target
    prompts = Prompt.objects.filter(project_id=project.pk)
    if maximum <= k:
        prompts.exclude(wanted_rankings=0).update(wanted_rankings=0)
        return 0
    wants = Q(num_rankings__gte=k, num_rankings__lt=maximum, agreement__isnull=False, agreement__lt=target)
    prompts.update(wanted_rankings=Case(When(wants, then=F("num_rankings") + 1), default=Value(0)))
    return prompts.filter(wants).count()


def extra_slot(maximum: int | Combinable) -> Q:
    """Prompts with a slot beyond k free now (adaptive overlap): wanted above the rankings and the
    reservations. `num_rankings < wanted_rankings` is written as the partial index
    prompt_extra_idx states it, so that PostgreSQL scans that small index."""
    return Q(num_rankings__lt=F("wanted_rankings")) & Q(
        num_rankings__lt=Least(F("wanted_rankings"), maximum) - F("num_reserved")
    )


def complete(k: int | Combinable, maximum: int | Combinable) -> Q:
    """Prompts complete for `prompts_complete`: k rankings and no more wanted, or the maximum
    (overlap.is_complete, on the stored decision). With the maximum at k: num_rankings ≥ k."""
    return Q(num_rankings__gte=k) & (Q(wanted_rankings__lte=F("num_rankings")) | Q(num_rankings__gte=maximum))


def complete_for(project: Project) -> Q:
    return complete(project.labelers_per_prompt, project.max_labelers_per_prompt)
