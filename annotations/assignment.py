"""Who gets what next, and the life of an assignment: reserved → submitted | skipped | expired.

Rules: a labeler holds at most one open assignment per project; a prompt is offered only once it
has at least two completions, never twice to the same labeler, to at most k labelers (submitted
plus still-reserved), and only to the project's labeler members (roles.labeler_membership);
prompts closest to complete come first, so that they finish and can be exported early.

Each state change is one function and one transaction: reserve (a single statement), submit, skip,
expire (and release, for a labeler removed from the team). Inside a caller's transaction it becomes
a savepoint, so the functions behave the same in tests, in requests and in commands. The statements
of reserve and submit are SQL written once in labeling_sql.py (the ORM's query building cost more
CPU than the rest of the request); skip and the expiry use the ORM.

Concurrency. The slots of a prompt are counted on its own row: `num_rankings` (submitted) and
`num_reserved` (held), moved by the statements that change them. `reserve` picks a prompt with
`FOR UPDATE SKIP LOCKED` and raises `num_reserved` in the same transaction, so two labelers never
wait on, nor both take, the last slot of one prompt: the second one skips the locked row, and a
scan that reaches the row after the first commits re-checks `num_rankings + num_reserved < k`
against the new row version (READ COMMITTED re-evaluates the WHERE of a locked, updated row).
Submit, skip and the expiry lock the assignment row first, then touch its prompt's row; reserve
locks a prompt row and inserts a new assignment: no two of them wait on each other in opposite
orders. Expired reservations are given back by a sweep that `next` runs at most every
SWEEP_SECONDS per process, and always before it answers "nothing left"."""

import time
from collections import defaultdict
from contextlib import nullcontext
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from labelhub.metrics import RANKINGS_SUBMITTED

from . import labeling_sql
from .adaptive import is_adaptive, slots, wanted_after
from .consensus import Judgement
from .models import Assignment, Completion, Project, Prompt, Ranking
from .quality_stats import ranking_facts
from .quality_store import changed_shares, stats_for
from .ranking import RankingError, judgement_for

MIN_COMPLETIONS = 2
SWEEP_SECONDS = 10.0
CLAIM_ATTEMPTS = 20
MAX_ID = 2**63 - 1  # the id columns (bigint)

# Project id → monotonic time of this process's last expiry sweep. Only a throttle: a sweep that
# runs twice or a little late does no harm, since expiry is also checked by time where it matters.
_last_sweep: dict[int, float] = {}


class AssignmentConflict(Exception):
    """The assignment is no longer open for this submission (HTTP 409)."""


# --- Expiry and release: reservations back to the pool -----------------------------------------


def _give_back(reservations: QuerySet[Assignment], now: datetime) -> list[int]:
    """Mark the reserved assignments of `reservations` expired and free their prompts' slots;
    inside the caller's transaction. Rows another transaction holds are skipped (a submission or
    skip is finishing them). Returns the prompt ids that got a slot back."""
    taken = list(
        reservations.filter(status=Assignment.Status.RESERVED)
        .select_for_update(skip_locked=True)
        .values_list("pk", "prompt_id")
    )
    if not taken:
        return []
    Assignment.objects.filter(pk__in=[pk for pk, _ in taken]).update(status=Assignment.Status.EXPIRED, finished_at=now)
    freed: dict[int, int] = defaultdict(int)
    for _, prompt_id in taken:
        freed[prompt_id] += 1
    # Prompt rows locked in id order, so that two sweeps freeing the same prompts never deadlock.
    list(Prompt.objects.select_for_update().filter(pk__in=freed).order_by("pk").values_list("pk"))
    by_count: dict[int, list[int]] = defaultdict(list)
    for prompt_id, count in freed.items():
        by_count[count].append(prompt_id)
    for count, prompt_ids in by_count.items():  # usually one statement: one reservation per prompt
        Prompt.objects.filter(pk__in=prompt_ids).update(num_reserved=Greatest(F("num_reserved") - count, Value(0)))
    return sorted(freed)


def expire_stale(project: Project, now: datetime) -> int:
    """Give back reservations whose time ran out (status expired, the prompt's slot freed).
    Returns how many prompts got a slot back."""
    with transaction.atomic():
        stale = Assignment.objects.filter(project=project, reserved_until__lte=now)
        return len(_give_back(stale, now))


def release_reservations(project: Project, labeler) -> int:
    """Give back at once every reservation `labeler` holds in `project` (they were removed from
    the team): the assignments become expired and their prompts' slots free. Their submitted
    rankings stay. Returns how many prompts got a slot back."""
    with transaction.atomic():
        return len(_give_back(Assignment.objects.filter(project=project, labeler=labeler), timezone.now()))


def _sweep_due(project_id: int) -> bool:
    last = _last_sweep.get(project_id)
    return last is None or not 0 <= time.monotonic() - last < SWEEP_SECONDS


def _sweep(project: Project, now: datetime) -> int:
    _last_sweep[project.pk] = time.monotonic()
    return expire_stale(project, now)


# --- Reserve (next) --------------------------------------------------------------------------


def _held(project: Project, labeler, now: datetime) -> QuerySet[Assignment]:
    """The labeler's reservations in this project that have not run out (at most one)."""
    return Assignment.objects.filter(
        project_id=project.pk, labeler_id=labeler.pk, status=Assignment.Status.RESERVED, reserved_until__gt=now
    ).order_by("pk")


def open_assignment(project: Project, labeler, now: datetime) -> Assignment | None:
    """The labeler's open reservation in this project, with its prompt's text and
    `shown_completions` ([(id, text)] in the order to show): two queries when there is one."""
    assignment = _held(project, labeler, now).select_related("prompt").first()
    if assignment is not None:
        texts = dict(Completion.objects.filter(pk__in=assignment.shown_order).order_by().values_list("pk", "text"))
        assignment.shown_completions = [(cid, texts[cid]) for cid in assignment.shown_order if cid in texts]
    return assignment


def next_assignment(project: Project, labeler, now: datetime | None = None) -> Assignment | None:
    """The labeler's open assignment, or a new one for the best available prompt, or None.

    One statement (the claim) when a prompt is free, plus the throttled
    sweep. The returned assignment carries `shown_completions` ([(id, text)] in the order to
    show), so the caller needs no further query for the texts."""
    now = now or timezone.now()
    if _sweep_due(project.pk):
        _sweep(project, now)
    for attempt in range(CLAIM_ATTEMPTS):
        try:
            assignment = reserve(project, labeler, now)
        except IntegrityError:
            # The same labeler asked twice at once and the other request got this prompt; this
            # transaction (or savepoint) was rolled back, slot included.
            return open_assignment(project, labeler, now)
        if assignment is not None:
            return assignment
        if attempt == 0:
            _sweep(project, now)  # give back expired reservations before saying "nothing left"
        # SKIP LOCKED passed over the rows other requests hold; say "nothing left" only when no
        # free slot remains even counting those (their holders commit within milliseconds).
        # Waiting on the locks instead could deadlock: a waiter keeps the lock of a row it
        # re-checked and found full while it waits on the next one.
        if not labeling_sql.has_candidates(project, labeler.pk, now, is_adaptive(project)):
            return None
        time.sleep(0.002 * (attempt + 1))
    return None


def reserve(project: Project, labeler, now: datetime) -> Assignment | None:
    """The labeler's open reservation in this project if they hold one; else a slot of the best
    prompt for them, taken with a new assignment (labeling_sql.claim, one statement); None when
    no candidate is free. Raises IntegrityError when the same labeler got the same prompt
    concurrently."""
    reserved_until = now + timedelta(minutes=project.reservation_minutes)
    # One statement is its own transaction; inside a caller's, a savepoint lets an IntegrityError
    # undo only the claim.
    with transaction.atomic() if connection.in_atomic_block else nullcontext():
        claimed = labeling_sql.claim(project, labeler.pk, now, reserved_until, is_adaptive(project))
    if claimed.held_id is not None:
        return open_assignment(project, labeler, now)
    if claimed.assignment_id is None:
        return None
    assignment = Assignment(
        pk=claimed.assignment_id,
        project=project,
        prompt=Prompt(pk=claimed.prompt_id, text=claimed.prompt_text, project_id=project.pk, messages=claimed.messages),
        labeler=labeler,
        status=Assignment.Status.RESERVED,
        shown_order=[cid for cid, _ in claimed.completions],
        reserved_until=reserved_until,
        created_at=now,
    )
    assignment._state.adding, assignment._state.db = False, connection.alias  # it is a stored row
    assignment.shown_completions = claimed.completions
    return assignment


# --- Submit, skip ----------------------------------------------------------------------------


def locked_assignment(assignment_id: int, labeler) -> labeling_sql.LockedAssignment:
    """The labeler's assignment with its project's settings, its row and its prompt's locked, in
    one query. Raises Assignment.DoesNotExist for another labeler's assignment, or when the
    labeler may no longer label its project (removed from the team). Call inside a transaction."""
    found = None
    if 0 < assignment_id <= MAX_ID:  # beyond the id column: no such row (not a database error)
        found = labeling_sql.locked_assignment(assignment_id, labeler.pk)
    if found is None:
        raise Assignment.DoesNotExist(f"no assignment {assignment_id} for this labeler")
    return found


def submit_ranking(
    assignment_id: int,
    labeler,
    *,
    tiers: list | None = None,
    flagged: list,
    thumbs: dict | None = None,
    duration_ms: int | None = None,
    instruction_version: int | None = None,
) -> tuple[Ranking, bool]:
    """Validate and store a ranking (in a thumbs project: `thumbs`, stored as tiers `[ups, downs]`).
    Returns (ranking, created); an identical repeat stores nothing and returns created=False; a
    different ranking for a submitted assignment raises AssignmentConflict. Raises
    Assignment.DoesNotExist for another labeler's assignment.

    A reservation that ran out may still be submitted while the prompt has a free slot (the
    labeler did the work); once its slot went to someone else it is a conflict. The prompt's
    counters, stored agreement and adaptive overlap's decision (wanted_rankings, from this
    prompt's rankings only) move in the same transaction: lock the assignment and its prompt, read
    the prompt's rankings, insert, then one update of each row."""
    now = timezone.now()
    with transaction.atomic():
        assignment = locked_assignment(assignment_id, labeler)
        project = assignment.project
        tiers, flagged = judgement_for(project.feedback, tiers, thumbs, flagged, assignment.shown_order,
                                       project.allow_ties)
        if assignment.status == Assignment.Status.SUBMITTED:
            stored = Ranking.objects.get(assignment_id=assignment.id)
            if stored.tiers == tiers and sorted(stored.flagged) == flagged:
                return stored, False
            raise AssignmentConflict(
                "this assignment already has a different ranking; revise it with PUT instead"
            )
        if assignment.status == Assignment.Status.SKIPPED:
            raise AssignmentConflict("this assignment was skipped")
        held = assignment.status == Assignment.Status.RESERVED  # else expired: its slot was given back
        if not held and assignment.num_rankings + assignment.num_reserved >= slots(project,
                                                                                   assignment.wanted_rankings):
            raise AssignmentConflict("this assignment expired and its slot went to another labeler")
        # The prompt's quality figures with this ranking added (quality_store.py; in a thumbs
        # project the agreement is thumbs.py's); the counter is exact (its row is locked), so a
        # first ranking reads nothing.
        judgement = Judgement(tiers, flagged)
        others = labeling_sql.prompt_rankings(assignment.prompt_id) if assignment.num_rankings else []
        stats = stats_for(others, assignment.canary_id, adding=judgement,
                          thumbs=project.feedback == Project.Feedback.THUMBS)
        facts = ranking_facts(judgement, assignment.canary_id, assignment.shown_order)
        if instruction_version is None:  # the client did not say which version it showed
            instruction_version = assignment.current_version
        values = {
            "assignment": assignment.id, "project": project.pk, "prompt": assignment.prompt_id,
            "labeler": labeler.pk, "tiers": tiers, "flagged": flagged, "shown": assignment.shown_order,
            "version": instruction_version, "duration": duration_ms, "now": now, "share": stats.loo_shares[-1],
            **facts._asdict(), "freed": 1 if held else 0, "agreement": stats.agreement, "shape": stats.shape_key,
            # Adaptive overlap's decision, from the agreement stored just beside it.
            "wanted": wanted_after(project, stats.agreement, assignment.num_rankings + 1),
        }
        ranking_id = labeling_sql.store_ranking(values, changed_shares(others, stats.loo_shares))
    RANKINGS_SUBMITTED.inc()  # after the transaction: a rolled-back ranking is not counted
    ranking = Ranking(
        pk=ranking_id, assignment_id=assignment.id, project=project, prompt_id=assignment.prompt_id,
        labeler=labeler, tiers=tiers, flagged=flagged, shown_order=assignment.shown_order,
        instruction_version=instruction_version, duration_ms=duration_ms, submitted_at=now, revision=1,
        revised_at=now, loo_share=stats.loo_shares[-1], **facts._asdict(),
    )
    ranking._state.adding, ranking._state.db = False, connection.alias  # it is a stored row
    return ranking, True


def skip_assignment(assignment_id: int, labeler) -> Assignment:
    """Give the prompt back to the pool; this labeler will not be offered it again."""
    with transaction.atomic():
        locked = locked_assignment(assignment_id, labeler)
        if locked.status == Assignment.Status.SUBMITTED:
            raise AssignmentConflict("this assignment is already submitted")
        skipped = Assignment(pk=locked.id, prompt_id=locked.prompt_id, labeler=labeler, status=locked.status)
        if locked.status != Assignment.Status.SKIPPED:
            if locked.status == Assignment.Status.RESERVED:
                Prompt.objects.filter(pk=locked.prompt_id).update(
                    num_reserved=Greatest(F("num_reserved") - 1, Value(0))
                )
            skipped.status = Assignment.Status.SKIPPED
            skipped.finished_at = timezone.now()
            Assignment.objects.filter(pk=locked.id).update(status=skipped.status, finished_at=skipped.finished_at)
    return skipped


__all__ = [
    "AssignmentConflict", "RankingError", "expire_stale", "next_assignment", "release_reservations", "reserve",
    "skip_assignment", "submit_ranking",
]
