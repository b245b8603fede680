"""Who gets what next, and the life of an assignment: reserved → submitted | skipped | expired.

Rules: a labeler holds at most one open assignment per project; a prompt is offered only once it
has at least two completions, never twice to the same labeler, to at most k labelers (submitted
plus still-reserved), and only to the project's labeler members (roles.labeler_membership);
prompts closest to complete come first, so that they finish and can be exported early.

Each state change is one function, one `transaction.atomic()`: reserve, submit, skip, expire (and
release, for a labeler removed from the team). Inside a caller's transaction the block becomes a
savepoint, so the functions behave the same in tests, in requests and in commands.

Concurrency. The slots of a prompt are counted on its own row: `num_rankings` (submitted) and
`num_reserved` (held), moved with F() expressions. `reserve` picks a prompt with
`FOR UPDATE SKIP LOCKED` and raises `num_reserved` in the same transaction, so two labelers never
wait on, nor both take, the last slot of one prompt: the second one skips the locked row, and a
scan that reaches the row after the first commits re-checks `num_rankings + num_reserved < k`
against the new row version (READ COMMITTED re-evaluates the WHERE of a locked, updated row).
Submit, skip and the expiry lock the assignment row first, then touch its prompt's row; reserve
locks a prompt row and inserts a new assignment: no two of them wait on each other in opposite
orders. Expired reservations are given back by a sweep that `next` runs at most every
SWEEP_SECONDS per process, and always before it answers "nothing left"."""

import json
import time
from collections import defaultdict
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Greatest
from django.db.models.lookups import LessThan
from django.utils import timezone

from labelhub.metrics import RANKINGS_SUBMITTED

from .adaptive import extra_slot, is_adaptive, slots, wanted_after
from .consensus import Judgement
from .models import Assignment, Completion, InstructionVersion, Project, Prompt, Ranking
from .quality_stats import ranking_facts
from .quality_store import prompt_rankings, stats_for, update_loo_shares
from .ranking import RankingError, judgement_for
from .roles import labeler_membership, labeler_membership_join

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

    One statement (the claim, in its transaction) when a prompt is free, plus the throttled
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
        if not _candidates(project, labeler).exists() and not (
            is_adaptive(project) and _extra_candidates(project, labeler).exists()
        ):
            return None
        time.sleep(0.002 * (attempt + 1))
    return None


def _candidates(project: Project, labeler, *also: Q | Exists) -> QuerySet[Prompt]:
    """Prompts with a free slot this labeler has never been given, closest to complete first;
    none unless the labeler may label the project. (One filter() call: each chained call
    copies the query, and this runs on every `next`.)"""
    k = project.labelers_per_prompt
    seen = Assignment.objects.filter(prompt=OuterRef("pk"), labeler_id=labeler.pk)
    return Prompt.objects.filter(
        LessThan(F("num_rankings") + F("num_reserved"), k),
        ~Exists(seen),
        labeler_membership(labeler, project.pk),
        *also,
        project_id=project.pk, num_completions__gte=MIN_COMPLETIONS, num_rankings__lt=k,
    ).order_by("-num_rankings", "pk")


def _extra_candidates(project: Project, labeler, *also: Q | Exists) -> QuerySet[Prompt]:
    """Adaptive overlap: prompts with k or more rankings that want one more labeler
    (adaptive.extra_slot), never given to this labeler; few, on their own partial index."""
    seen = Assignment.objects.filter(prompt=OuterRef("pk"), labeler_id=labeler.pk)
    return Prompt.objects.filter(
        extra_slot(project.max_labelers_per_prompt),
        ~Exists(seen),
        labeler_membership(labeler, project.pk),
        *also,
        project_id=project.pk, num_completions__gte=MIN_COMPLETIONS,
    ).order_by("-num_rankings", "pk")


# The claim is one statement, made of two ORM querysets: unless the labeler holds an open
# reservation (`held`), pick and lock the first candidate (`pick`, skipping rows other requests
# hold), take its slot, create the assignment with the completions in random order, and return
# them with their texts, or the held assignment's id. As ORM calls it would be five statements
# (open reservation, lock, counter, completions, insert) and `next` would take nine with the
# token, the project, BEGIN and COMMIT; this way it takes five, the most it is allowed.
# With adaptive overlap on, `pick` is COALESCE((first prompt wanting a labeler beyond k), (first
# candidate)): still one statement, each scan on its own index; the first is evaluated first, as
# its prompts are the closest to complete.
_CLAIM_SQL = """
    WITH claimed AS (
        UPDATE {prompt} AS target SET num_reserved = target.num_reserved + 1
        WHERE target.id = {pick}
        RETURNING target.id, target.text, target.messages
    ), shown AS MATERIALIZED (
        SELECT c.id, c.text, row_number() OVER (ORDER BY random()) AS place
        FROM {completion} AS c JOIN claimed ON c.prompt_id = claimed.id
    ), created AS (
        INSERT INTO {assignment}
            (project_id, prompt_id, labeler_id, status, shown_order, reserved_until, created_at)
        SELECT %s::bigint, claimed.id, %s::bigint, %s::text,
               COALESCE((SELECT jsonb_agg(shown.id ORDER BY shown.place) FROM shown), '[]'::jsonb),
               %s::timestamptz, %s::timestamptz
        FROM claimed
        RETURNING id
    )
    SELECT ({held}), created.id, claimed.id, claimed.text, claimed.messages, shown.id, shown.text
    FROM (SELECT 1) AS one LEFT JOIN (created CROSS JOIN claimed LEFT JOIN shown ON true) ON true
    ORDER BY shown.place
"""


def reserve(project: Project, labeler, now: datetime) -> Assignment | None:
    """The labeler's open reservation in this project if they hold one; else a slot of the best
    prompt for them, taken with a new assignment; None when no candidate is free. Raises
    IntegrityError when the same labeler got the same prompt concurrently."""
    reserved_until = now + timedelta(minutes=project.reservation_minutes)
    held = _held(project, labeler, now)
    picks = [_candidates(project, labeler, ~Exists(held))]
    if is_adaptive(project):
        picks.insert(0, _extra_candidates(project, labeler, ~Exists(held)))
    with transaction.atomic(), connection.cursor() as cursor:
        compiled = [  # FOR UPDATE compiles only inside a transaction
            pick.select_for_update(skip_locked=True, of=("self",)).values("pk")[:1].query.sql_with_params()
            for pick in picks
        ]
        pick_params = [param for _, params in compiled for param in params]
        pick_sql = f"COALESCE({', '.join(f'({sql})' for sql, _ in compiled)})" if len(compiled) > 1 else (
            f"({compiled[0][0]})")
        held_sql, held_params = held.values("pk")[:1].query.sql_with_params()
        sql = _CLAIM_SQL.format(
            prompt=Prompt._meta.db_table, completion=Completion._meta.db_table,
            assignment=Assignment._meta.db_table, pick=pick_sql, held=held_sql,
        )
        params = (*pick_params, project.pk, labeler.pk, Assignment.Status.RESERVED, reserved_until, now, *held_params)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    held_id, assignment_id, prompt_id, prompt_text, messages = rows[0][:5]
    if held_id is not None:
        return open_assignment(project, labeler, now)
    if assignment_id is None:
        return None
    completions = [(cid, text) for *_, cid, text in rows if cid is not None]
    assignment = Assignment(
        pk=assignment_id,
        project=project,
        # Django reads jsonb from a plain cursor as its text.
        prompt=Prompt(pk=prompt_id, text=prompt_text, project_id=project.pk,
                      messages=json.loads(messages) if isinstance(messages, str) else messages),
        labeler=labeler,
        status=Assignment.Status.RESERVED,
        shown_order=[cid for cid, _ in completions],
        reserved_until=reserved_until,
        created_at=now,
    )
    assignment._state.adding, assignment._state.db = False, connection.alias  # it is a stored row
    assignment.shown_completions = completions
    return assignment


# --- Submit, skip ----------------------------------------------------------------------------


def locked_assignment(assignment_id: int, labeler, with_prompt: bool = False) -> Assignment:
    """The labeler's assignment, its row locked, with its project (allow_ties,
    labelers_per_prompt), in one query; `with_prompt` also locks and loads its prompt's row
    (counters). Raises Assignment.DoesNotExist for another labeler's assignment, or when the
    labeler may no longer label its project (removed from the team). Call inside a transaction."""
    if not 0 < assignment_id <= MAX_ID:  # beyond the id column: no such row (not a database error)
        raise Assignment.DoesNotExist(f"no assignment {assignment_id} for this labeler")
    # The assignment's row, then its prompt's: the order skip and the expiry sweep lock them in.
    related, locked = (("project", "prompt"), ("self", "prompt")) if with_prompt else (("project",), ("self",))
    found = Assignment.objects.select_related(*related).select_for_update(of=locked)
    if with_prompt:  # its canary too, for the stored quality figures (no query of its own)
        canary = Completion.objects.filter(prompt=OuterRef("prompt_id"), source=Completion.Source.CANARY)
        found = found.annotate(canary_id=Subquery(canary.values("pk")[:1]))
    found = found.filter(labeler_membership_join(labeler), pk=assignment_id, labeler_id=labeler.pk).first()
    if found is None:
        raise Assignment.DoesNotExist(f"no assignment {assignment_id} for this labeler")
    return found


def _current_version(project_id: int) -> int | None:
    return InstructionVersion.objects.filter(project_id=project_id).aggregate(current=Max("version"))["current"]


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
        assignment = locked_assignment(assignment_id, labeler, with_prompt=True)
        project = assignment.project
        tiers, flagged = judgement_for(project.feedback, tiers, thumbs, flagged, assignment.shown_order,
                                       project.allow_ties)
        if assignment.status == Assignment.Status.SUBMITTED:
            stored = Ranking.objects.get(assignment_id=assignment.pk)
            if stored.tiers == tiers and sorted(stored.flagged) == flagged:
                return stored, False
            raise AssignmentConflict(
                "this assignment already has a different ranking; revise it with PUT instead"
            )
        if assignment.status == Assignment.Status.SKIPPED:
            raise AssignmentConflict("this assignment was skipped")
        prompt = assignment.prompt
        held = assignment.status == Assignment.Status.RESERVED  # else expired: its slot was given back
        if not held and prompt.num_rankings + prompt.num_reserved >= slots(project, prompt.wanted_rankings):
            raise AssignmentConflict("this assignment expired and its slot went to another labeler")
        # The prompt's quality figures with this ranking added (quality_store.py; in a thumbs
        # project the agreement is thumbs.py's); the counter is exact (its row is locked), so a
        # first ranking reads nothing.
        judgement = Judgement(tiers, flagged)
        others = prompt_rankings(prompt.pk) if prompt.num_rankings else []
        stats = stats_for(others, assignment.canary_id, adding=judgement,
                          thumbs=project.feedback == Project.Feedback.THUMBS)
        facts = ranking_facts(judgement, assignment.canary_id, assignment.shown_order)
        if instruction_version is None:  # the client did not say which version it showed
            instruction_version = _current_version(project.pk)
        ranking = Ranking.objects.create(
            assignment_id=assignment.pk,
            project_id=project.pk,
            prompt_id=prompt.pk,
            labeler=labeler,
            tiers=tiers,
            flagged=flagged,
            shown_order=assignment.shown_order,
            instruction_version=instruction_version,
            duration_ms=duration_ms,
            revised_at=now,
            loo_share=stats.loo_shares[-1],
            **facts._asdict(),
        )
        update_loo_shares(others, stats.loo_shares)
        Assignment.objects.filter(pk=assignment.pk).update(status=Assignment.Status.SUBMITTED, finished_at=now)
        freed = Greatest(F("num_reserved") - 1, Value(0)) if held else F("num_reserved")
        Prompt.objects.filter(pk=prompt.pk).update(
            num_rankings=F("num_rankings") + 1, num_reserved=freed, agreement=stats.agreement,
            quality_shape=stats.shape_key,
            # Adaptive overlap's decision, from the agreement stored just beside it.
            wanted_rankings=wanted_after(project, stats.agreement, prompt.num_rankings + 1),
        )
    RANKINGS_SUBMITTED.inc()  # after the transaction: a rolled-back ranking is not counted
    return ranking, True


def skip_assignment(assignment_id: int, labeler) -> Assignment:
    """Give the prompt back to the pool; this labeler will not be offered it again."""
    with transaction.atomic():
        assignment = locked_assignment(assignment_id, labeler)
        if assignment.status == Assignment.Status.SUBMITTED:
            raise AssignmentConflict("this assignment is already submitted")
        if assignment.status != Assignment.Status.SKIPPED:
            if assignment.status == Assignment.Status.RESERVED:
                Prompt.objects.filter(pk=assignment.prompt_id).update(
                    num_reserved=Greatest(F("num_reserved") - 1, Value(0))
                )
            assignment.status = Assignment.Status.SKIPPED
            assignment.finished_at = timezone.now()
            Assignment.objects.filter(pk=assignment.pk).update(
                status=assignment.status, finished_at=assignment.finished_at
            )
    return assignment


__all__ = [
    "AssignmentConflict", "RankingError", "expire_stale", "next_assignment", "release_reservations", "reserve",
    "skip_assignment", "submit_ranking",
]
