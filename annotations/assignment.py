"""Who gets what next, and the life of an assignment: reserved → submitted | skipped | expired.

Rules: a labeler holds at most one open assignment per project; a prompt is offered only once it
has at least two completions, never twice to the same labeler, and to at most k labelers
(submitted plus still-reserved); prompts closest to complete come first, so that they finish
and can be exported early."""

import random
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from .models import Assignment, Completion, Project, Prompt, Ranking
from .ranking import RankingError, normalize_tiers, validate_ranking

MIN_COMPLETIONS = 2


class AssignmentConflict(Exception):
    """The assignment is no longer open for this submission (HTTP 409)."""


def expire_stale(project: Project, now: datetime) -> int:
    """Give back reservations whose time ran out."""
    return Assignment.objects.filter(
        project=project, status=Assignment.Status.RESERVED, reserved_until__lte=now
    ).update(status=Assignment.Status.EXPIRED, finished_at=now)


def open_assignment(project: Project, labeler, now: datetime) -> Assignment | None:
    return (
        Assignment.objects.filter(
            project=project, labeler=labeler, status=Assignment.Status.RESERVED, reserved_until__gt=now
        )
        .select_related("prompt")
        .first()
    )


def next_assignment(project: Project, labeler, now: datetime | None = None) -> Assignment | None:
    """The labeler's open assignment, or a new one for the best available prompt, or None."""
    now = now or timezone.now()
    existing = open_assignment(project, labeler, now)
    if existing is not None:
        return existing
    expire_stale(project, now)
    k = project.labelers_per_prompt
    for _attempt in range(5):
        with transaction.atomic():
            candidates = (
                Prompt.objects.filter(project=project, num_completions__gte=MIN_COMPLETIONS, num_rankings__lt=k)
                .exclude(assignments__labeler=labeler)
                .annotate(
                    active=Count("assignments", filter=Q(assignments__status=Assignment.Status.RESERVED))
                )
                .filter(active__lt=k - F("num_rankings"))
                .order_by("-num_rankings", "id")
                .values_list("pk", flat=True)
            )
            prompt_id = next(iter(candidates[:1]), None)
            if prompt_id is None:
                return None
            # Lock the prompt row, so that two labelers cannot both take its last slot.
            prompt = Prompt.objects.select_for_update().get(pk=prompt_id)
            taken = prompt.num_rankings + prompt.assignments.filter(status=Assignment.Status.RESERVED).count()
            if taken >= k:
                continue
            shown = list(Completion.objects.filter(prompt=prompt).values_list("pk", flat=True))
            random.shuffle(shown)
            try:
                with transaction.atomic():
                    return Assignment.objects.create(
                        project=project,
                        prompt=prompt,
                        labeler=labeler,
                        shown_order=shown,
                        reserved_until=now + timedelta(minutes=project.reservation_minutes),
                    )
            except IntegrityError:
                continue  # the same labeler asked twice at once; the other request got it
    return open_assignment(project, labeler, now)


def submit_ranking(
    assignment_id: int,
    labeler,
    *,
    tiers: list,
    flagged: list,
    duration_ms: int | None = None,
    instruction_version: int | None = None,
) -> tuple[Ranking, bool]:
    """Validate and store a ranking. Returns (ranking, created); an identical repeat stores
    nothing and returns created=False; a different ranking for a submitted assignment raises
    AssignmentConflict. Raises Assignment.DoesNotExist for another labeler's assignment."""
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update().select_related("project").get(pk=assignment_id, labeler=labeler)
        )
        project = assignment.project
        validate_ranking(tiers, flagged, assignment.shown_order, project.allow_ties)
        tiers = normalize_tiers(tiers)
        flagged = sorted(flagged)
        if assignment.status == Assignment.Status.SUBMITTED:
            ranking = assignment.ranking
            if ranking.tiers == tiers and sorted(ranking.flagged) == flagged:
                return ranking, False
            raise AssignmentConflict("this assignment already has a different ranking")
        if assignment.status == Assignment.Status.SKIPPED:
            raise AssignmentConflict("this assignment was skipped")
        prompt = Prompt.objects.select_for_update().get(pk=assignment.prompt_id)
        if assignment.status == Assignment.Status.EXPIRED and prompt.num_rankings >= project.labelers_per_prompt:
            raise AssignmentConflict("this assignment expired and the prompt has all its rankings")
        if instruction_version is None:
            current = project.current_instructions()
            instruction_version = current.version if current else None
        ranking = Ranking.objects.create(
            assignment=assignment,
            project=project,
            prompt_id=assignment.prompt_id,
            labeler=labeler,
            tiers=tiers,
            flagged=flagged,
            shown_order=assignment.shown_order,
            instruction_version=instruction_version,
            duration_ms=duration_ms,
        )
        assignment.status = Assignment.Status.SUBMITTED
        assignment.finished_at = timezone.now()
        assignment.save(update_fields=["status", "finished_at"])
        Prompt.objects.filter(pk=prompt.pk).update(num_rankings=F("num_rankings") + 1)
    return ranking, True


def skip_assignment(assignment_id: int, labeler) -> Assignment:
    """Give the prompt back to the pool; this labeler will not be offered it again."""
    with transaction.atomic():
        assignment = Assignment.objects.select_for_update().get(pk=assignment_id, labeler=labeler)
        if assignment.status == Assignment.Status.SUBMITTED:
            raise AssignmentConflict("this assignment is already submitted")
        if assignment.status != Assignment.Status.SKIPPED:
            assignment.status = Assignment.Status.SKIPPED
            assignment.finished_at = timezone.now()
            assignment.save(update_fields=["status", "finished_at"])
    return assignment


__all__ = ["AssignmentConflict", "RankingError", "next_assignment", "skip_assignment", "submit_ranking"]
