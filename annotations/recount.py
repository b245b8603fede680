"""Recomputing the denormalised counters from the rows they summarise, and saying what was wrong.

The counters live on Prompt (see models.py): `num_completions` (its completions), `num_rankings`
(its rankings), `num_reserved` (its assignments in status "reserved") and `agreement` (pairwise
agreement of its rankings, the canary left out; NULL below two). Project progress (prompts,
completions, rankings, prompts complete) is computed from these and the rows on each read, so
it is right once they are. PromptSet and GenerationJob counts record what one upload or job did
at the time, and Export counts what one bundle holds: history, not counters, so never recounted.

`recount()` is safe to repeat and to run beside live traffic: each counter is set by one UPDATE
whose value is computed by the database from the rows in the same statement."""

import math
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from .consensus import Judgement, prompt_pairwise_agreement, strip_completions
from .models import Assignment, Completion, Project, Prompt, Ranking
from .thumbs import prompt_thumbs_agreement

COUNTERS = ("num_completions", "num_rankings", "num_reserved", "agreement")


@dataclass
class RecountReport:
    prompts: int = 0  # prompts looked at
    # Counter → {prompt id: (stored, recomputed)} for every prompt whose counter was wrong.
    fixed: dict[str, dict[int, tuple]] = field(default_factory=lambda: {name: {} for name in COUNTERS})

    @property
    def total_fixed(self) -> int:
        return sum(len(rows) for rows in self.fixed.values())


def _count_per_prompt(queryset) -> Coalesce:
    rows = queryset.filter(prompt=OuterRef("pk")).order_by().values("prompt").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


def expected_counts() -> dict[str, Coalesce]:
    """Each count counter as a database expression over a Prompt's rows."""
    return {
        "num_completions": _count_per_prompt(Completion.objects.all()),
        "num_rankings": _count_per_prompt(Ranking.objects.all()),
        "num_reserved": _count_per_prompt(Assignment.objects.filter(status=Assignment.Status.RESERVED)),
    }


def _recount_counts(prompts, report: RecountReport, fix: bool) -> None:
    expected = expected_counts()
    for name, expression in expected.items():
        wrong = prompts.annotate(expected=expression).filter(~Q(**{name: F("expected")}))
        for pk, stored, value in wrong.values_list("pk", name, "expected"):
            report.fixed[name][pk] = (stored, value)
        if fix and report.fixed[name]:
            # Recomputed in the UPDATE itself, not from the values read above, which may be stale by now.
            prompts.filter(pk__in=list(report.fixed[name])).update(**{name: expression})


def expected_agreements(prompts) -> dict[int, float | None]:
    """Each prompt's agreement from its rankings (as assignment.py stores it), for the prompts of
    `prompts` that have rankings. Reads the rankings once, in prompt order."""
    canaries = dict(
        Completion.objects.filter(prompt__in=prompts, source=Completion.Source.CANARY).values_list("prompt_id", "pk")
    )
    judgements: dict[int, list[Judgement]] = defaultdict(list)
    rows = Ranking.objects.filter(prompt__in=prompts).order_by("prompt_id", "pk")
    for prompt_id, tiers, flagged in rows.values_list("prompt_id", "tiers", "flagged").iterator(chunk_size=2000):
        judgements[prompt_id].append(Judgement(tiers, flagged))
    thumbs = set(prompts.filter(project__feedback=Project.Feedback.THUMBS).values_list("pk", flat=True))
    result = {}
    for prompt_id, found in judgements.items():
        canary = canaries.get(prompt_id)
        if prompt_id in thumbs:  # [ups, downs] by position: the canary left out by id (prompt_agreement.py)
            result[prompt_id] = prompt_thumbs_agreement(found, removed=[canary] if canary is not None else [])
            continue
        if canary is not None:
            found = [strip_completions(judgement, {canary}) for judgement in found]
        result[prompt_id] = prompt_pairwise_agreement(found)
    return result


def _same(a: float | None, b: float | None) -> bool:
    return a is None and b is None or (a is not None and b is not None and math.isclose(a, b, abs_tol=1e-12))


def _recount_agreement(prompts, report: RecountReport, fix: bool) -> None:
    expected = expected_agreements(prompts)
    stored = dict(prompts.filter(Q(pk__in=list(expected)) | Q(agreement__isnull=False))
                  .values_list("pk", "agreement"))
    for pk, value in stored.items():
        if not _same(value, expected.get(pk)):
            report.fixed["agreement"][pk] = (value, expected.get(pk))
    if fix:
        for pk, (_, value) in report.fixed["agreement"].items():
            Prompt.objects.filter(pk=pk).update(agreement=value)


def recount(project_id: int | None = None, *, fix: bool = True) -> RecountReport:
    """Recompute every counter of the project's prompts (all projects when None); with `fix`,
    store the right values. Returns what was wrong."""
    prompts = Prompt.objects.all() if project_id is None else Prompt.objects.filter(project_id=project_id)
    report = RecountReport(prompts=prompts.count())
    with transaction.atomic():
        _recount_counts(prompts, report, fix)
        _recount_agreement(prompts, report, fix)
    return report
