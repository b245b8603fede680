"""A labeler's own progress per project, for the home page: done today, done in total, and how
many prompts are still open to them. A fixed number of queries whatever the number of projects."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from .adaptive import extra_slot
from .assignment import MIN_COMPLETIONS
from .models import Assignment, Project, Prompt, Ranking
from .roles import labeling_projects


@dataclass(frozen=True)
class LabelerProgress:
    can_label: bool
    done_today: int
    done_total: int
    remaining: int  # prompts this labeler may still be given, counting the one they hold now


def labeler_progress(user, projects: list[Project], now: datetime | None = None) -> dict[int, LabelerProgress]:
    now = now or timezone.now()
    start_of_day = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    ids = [project.pk for project in projects]
    done = {
        row["project"]: row
        for row in Ranking.objects.filter(labeler=user, project__in=ids)
        .values("project")
        .annotate(total=Count("pk"), today=Count("pk", filter=Q(submitted_at__gte=start_of_day)))
    }
    # As the assignment rule sees it: enough completions, a free slot (one of k, or one beyond k
    # that adaptive overlap opened), never given to this labeler.
    seen = Assignment.objects.filter(prompt=OuterRef("pk"), labeler=user)
    k = F("project__labelers_per_prompt")
    open_to_me = dict(
        Prompt.objects.filter(project__in=ids, num_completions__gte=MIN_COMPLETIONS)
        .alias(taken=F("num_rankings") + F("num_reserved"))
        .filter(Q(num_rankings__lt=k, taken__lt=k) | extra_slot(F("project__max_labelers_per_prompt")))
        .exclude(Exists(seen))
        .values("project")
        .annotate(n=Count("pk"))
        .values_list("project", "n")
    )
    holding = dict(
        Assignment.objects.filter(
            labeler=user, project__in=ids, status=Assignment.Status.RESERVED, reserved_until__gt=now
        )
        .values("project")
        .annotate(n=Count("pk"))
        .values_list("project", "n")
    )
    labeling = labeling_projects(user, ids)  # site admins label only where they are labeler members
    return {
        pk: LabelerProgress(
            can_label=pk in labeling,
            done_today=done.get(pk, {}).get("today", 0),
            done_total=done.get(pk, {}).get("total", 0),
            remaining=open_to_me.get(pk, 0) + holding.get(pk, 0),
        )
        for pk in ids
    }
