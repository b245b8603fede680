"""Who gets what next, and the life of an assignment: reserved → submitted | skipped | expired.

Rules: a labeler holds at most one open assignment per project; a prompt is offered only once it
has at least two completions, never twice to the same labeler, and to at most k labelers
(submitted plus still-reserved); prompts closest to complete come first, so that they finish
and can be exported early.

Concurrency. The slots of a prompt are counted on its own row: `num_rankings` (submitted) and
`num_reserved` (held). `next` picks a prompt with `SELECT … FOR UPDATE SKIP LOCKED` and raises
`num_reserved` in the same transaction, so on PostgreSQL two labelers never wait on, nor both
take, the last slot of one prompt: the second one skips the locked row, and a scan that reaches
the row after the first commits re-checks `num_rankings + num_reserved < k` against the new row
version (READ COMMITTED re-evaluates the WHERE of a locked, updated row). On PostgreSQL the pick,
the counter update and the new assignment are one statement. SQLite has no row locks, but its
IMMEDIATE transactions (settings) let one writer at a time in, which serialises `next` just as well.

Every state change keeps the counters true: reserve +1 reserved; submit −1 reserved +1 ranking;
skip and expiry −1 reserved. Expired reservations are given back by a sweep that `next` runs at
most every SWEEP_SECONDS per process, and always before it answers "nothing left"."""

import contextlib
import random
import time
from datetime import datetime, timedelta

import orjson
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from .models import Assignment, Completion, InstructionVersion, Project, Prompt, Ranking
from .ranking import RankingError, normalize_tiers, validate_ranking
from .rows import columns, execute, fetch_instance

MIN_COMPLETIONS = 2
SWEEP_SECONDS = 10.0
CLAIM_ATTEMPTS = 20

# Project id → monotonic time of this process's last expiry sweep. Only a throttle: a sweep that
# runs twice or a little late does no harm, since expiry is also checked by time where it matters.
_last_sweep: dict[int, float] = {}


class AssignmentConflict(Exception):
    """The assignment is no longer open for this submission (HTTP 409)."""


def expire_stale(project: Project, now: datetime) -> int:
    """Give back reservations whose time ran out (status expired, the prompt's slot freed).
    Returns how many prompts got a slot back."""
    if connection.vendor == "postgresql":
        return _expire_stale_postgresql(project.pk, now)
    with transaction.atomic():
        expired = list(
            Assignment.objects.select_for_update()
            .filter(project=project, status=Assignment.Status.RESERVED, reserved_until__lte=now)
            .values_list("pk", "prompt_id")
        )
        if not expired:
            return 0
        Assignment.objects.filter(pk__in=[pk for pk, _ in expired]).update(
            status=Assignment.Status.EXPIRED, finished_at=now
        )
        for _, prompt_id in expired:
            Prompt.objects.filter(pk=prompt_id, num_reserved__gt=0).update(num_reserved=F("num_reserved") - 1)
    return len({prompt_id for _, prompt_id in expired})


def _expire_stale_postgresql(project_id: int, now: datetime) -> int:
    """One statement: mark the stale reservations expired and lower each prompt's counter by the
    number it lost. A concurrent sweep re-checks status on the locked rows, so none counts twice."""
    assignment, prompt = Assignment._meta.db_table, Prompt._meta.db_table
    sql = f"""
        WITH expired AS (
            UPDATE {assignment} SET status = %(expired)s, finished_at = %(now)s
            WHERE project_id = %(project)s AND status = %(reserved)s AND reserved_until <= %(now)s
            RETURNING prompt_id
        ), freed AS (
            SELECT prompt_id, count(*) AS n FROM expired GROUP BY prompt_id
        )
        UPDATE {prompt} AS p SET num_reserved = GREATEST(p.num_reserved - freed.n, 0)
        FROM freed WHERE p.id = freed.prompt_id
    """  # noqa: S608 - table names come from the models, values are parameters
    params = {
        "expired": Assignment.Status.EXPIRED,
        "reserved": Assignment.Status.RESERVED,
        "now": now,
        "project": project_id,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _sweep_due(project_id: int) -> bool:
    last = _last_sweep.get(project_id)
    return last is None or not 0 <= time.monotonic() - last < SWEEP_SECONDS


def _sweep(project: Project, now: datetime) -> int:
    _last_sweep[project.pk] = time.monotonic()
    return expire_stale(project, now)


def open_assignment(project: Project, labeler, now: datetime) -> Assignment | None:
    """The labeler's reservation in this project that has not run out, with its prompt's text."""
    sql = f"""
        SELECT {columns(Assignment, "a")}, p.text FROM {Assignment._meta.db_table} AS a
        JOIN {Prompt._meta.db_table} AS p ON p.id = a.prompt_id
        WHERE a.project_id = %(project)s AND a.labeler_id = %(labeler)s AND a.status = '{Assignment.Status.RESERVED}'
          AND a.reserved_until > %(now)s
        ORDER BY a.id LIMIT 1
    """  # noqa: S608 - table names come from the models, values are parameters
    # The status is written into the text: as a parameter, a prepared statement's generic plan
    # guessed a quarter of all assignments matched it and walked the table in id order.
    params = {"project": project.pk, "labeler": labeler.pk, "now": connection.ops.adapt_datetimefield_value(now)}
    assignment, extra = fetch_instance(Assignment, sql, params)
    if assignment is not None:
        assignment.prompt = Prompt(pk=assignment.prompt_id, project_id=project.pk, text=extra[0])
    return assignment


def next_assignment(project: Project, labeler, now: datetime | None = None) -> Assignment | None:
    """The labeler's open assignment, or a new one for the best available prompt, or None.

    Two statements when a prompt is free on PostgreSQL (open assignment; claim-and-insert, which
    needs no transaction around it), plus the throttled sweep; five on SQLite. The returned
    assignment carries `shown_completions` ([(id, text)] in the order to show), so the caller
    needs no further query for the texts."""
    now = now or timezone.now()
    existing = open_assignment(project, labeler, now)
    if existing is not None:
        return existing
    if _sweep_due(project.pk):
        _sweep(project, now)
    for attempt in range(CLAIM_ATTEMPTS):
        assignment = _reserve(project, labeler, now)
        if assignment is not None:
            return assignment
        if attempt == 0:
            _sweep(project, now)  # give back expired reservations before saying "nothing left"
        # SKIP LOCKED passed over the rows other requests hold; say "nothing left" only when no
        # free slot remains even counting those (their holders commit within milliseconds).
        # Waiting on the locks instead could deadlock: a waiter keeps the lock of a row it
        # re-checked and found full while it waits on the next one.
        if not _candidates(project, labeler).exists():
            return None
        time.sleep(0.002 * (attempt + 1))
    return None


def _reserve(project: Project, labeler, now: datetime) -> Assignment | None:
    """Take a slot of the best prompt for this labeler and create the assignment, or None."""
    reserved_until = now + timedelta(minutes=project.reservation_minutes)
    try:
        if connection.vendor == "postgresql":
            # One statement, atomic by itself; inside a caller's transaction it gets a savepoint,
            # so that a unique violation leaves that transaction usable.
            with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
                assignment = _reserve_postgresql(project, labeler, now, reserved_until)
        else:
            assignment = _reserve_portable(project, labeler, reserved_until)
    except IntegrityError:
        # The same labeler asked twice at once and the other request got a prompt; the failed
        # statement (or transaction) gave this slot back.
        return open_assignment(project, labeler, now)
    return assignment


def _candidates(project: Project, labeler) -> QuerySet[Prompt]:
    """Prompts with a free slot this labeler has never been given, closest to complete first."""
    k = project.labelers_per_prompt
    seen = Assignment.objects.filter(prompt=OuterRef("pk"), labeler=labeler)
    return (
        Prompt.objects.filter(project=project, num_completions__gte=MIN_COMPLETIONS, num_rankings__lt=k)
        .alias(taken=F("num_rankings") + F("num_reserved"))
        .filter(taken__lt=k)
        .exclude(Exists(seen))
        .order_by("-num_rankings", "pk")
    )


def _reserve_portable(project: Project, labeler, reserved_until: datetime) -> Assignment | None:
    """The ORM version (SQLite): lock the first candidate, take its slot, create the assignment."""
    with transaction.atomic():
        prompt = (
            _candidates(project, labeler).only("pk", "text", "project_id").select_for_update(skip_locked=True).first()
        )
        if prompt is None:
            return None
        Prompt.objects.filter(pk=prompt.pk).update(num_reserved=F("num_reserved") + 1)
        completions = list(Completion.objects.filter(prompt=prompt).values_list("pk", "text"))
        random.shuffle(completions)  # shown in random order, against position bias
        assignment = Assignment.objects.create(
            project=project,
            prompt=prompt,
            labeler=labeler,
            shown_order=[cid for cid, _ in completions],
            reserved_until=reserved_until,
        )
    assignment.shown_completions = completions
    return assignment


def _reserve_postgresql(project: Project, labeler, now: datetime, reserved_until: datetime) -> Assignment | None:
    """`_reserve_portable` as one statement, so it needs no transaction around it: pick and lock
    the first candidate (skipping rows another request holds), take its slot, create the
    assignment with the completions in random order, and return them with their texts."""
    prompt_table, assignment_table, completion_table = (
        Prompt._meta.db_table,
        Assignment._meta.db_table,
        Completion._meta.db_table,
    )
    sql = f"""
        WITH claimed AS (
            UPDATE {prompt_table} SET num_reserved = num_reserved + 1
            WHERE id = (
                SELECT p.id FROM {prompt_table} AS p
                WHERE p.project_id = %(project)s AND p.num_completions >= {MIN_COMPLETIONS}
                  AND p.num_rankings < %(k)s AND p.num_rankings + p.num_reserved < %(k)s
                  AND NOT EXISTS (
                      SELECT 1 FROM {assignment_table} AS a WHERE a.prompt_id = p.id AND a.labeler_id = %(labeler)s
                  )
                ORDER BY p.num_rankings DESC, p.id
                LIMIT 1
                FOR UPDATE SKIP LOCKED
            )
            RETURNING id, text
        ), shown AS MATERIALIZED (
            SELECT c.id, c.text, row_number() OVER (ORDER BY random()) AS place
            FROM {completion_table} AS c JOIN claimed ON c.prompt_id = claimed.id
        ), created AS (
            INSERT INTO {assignment_table}
                (project_id, prompt_id, labeler_id, status, shown_order, reserved_until, created_at)
            SELECT %(project)s::bigint, claimed.id, %(labeler)s::bigint, %(reserved)s::text,
                   COALESCE((SELECT jsonb_agg(shown.id ORDER BY shown.place) FROM shown), '[]'::jsonb),
                   %(reserved_until)s::timestamptz, %(now)s::timestamptz
            FROM claimed
            RETURNING id
        )
        SELECT created.id, claimed.id, claimed.text, shown.id, shown.text
        FROM created CROSS JOIN claimed LEFT JOIN shown ON true
        ORDER BY shown.place
    """  # noqa: S608 - table names come from the models, values are parameters
    # MIN_COMPLETIONS is written into the text: the prompt_next_idx index is partial on it, and a
    # prepared statement's generic plan can use that index only for a constant.
    params = {
        "project": project.pk,
        "k": project.labelers_per_prompt,
        "labeler": labeler.pk,
        "reserved": Assignment.Status.RESERVED,
        "reserved_until": reserved_until,
        "now": now,
    }
    with connection.cursor() as cursor:
        execute(cursor, sql, params)
        rows = cursor.fetchall()
    if not rows:
        return None
    assignment_id, prompt_id, prompt_text = rows[0][:3]
    completions = [(cid, text) for *_, cid, text in rows if cid is not None]
    assignment = Assignment(
        pk=assignment_id,
        project=project,
        prompt=Prompt(pk=prompt_id, text=prompt_text, project_id=project.pk),
        labeler=labeler,
        status=Assignment.Status.RESERVED,
        shown_order=[cid for cid, _ in completions],
        reserved_until=reserved_until,
        created_at=now,
    )
    assignment._state.adding, assignment._state.db = False, connection.alias  # it is a stored row
    assignment.shown_completions = completions
    return assignment


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
    AssignmentConflict. Raises Assignment.DoesNotExist for another labeler's assignment.

    A reservation that ran out may still be submitted while the prompt has a free slot (the
    labeler did the work); once its slot went to someone else it is a conflict.

    The common case, a reserved assignment on PostgreSQL, takes two statements and no explicit
    transaction: read and validate, then one statement that stores the ranking only if the
    assignment is still reserved. Anything else (a repeat, an expired or skipped assignment, a
    race lost to a concurrent submission or sweep) takes the general path under a row lock."""
    assignment = _assignment_for_submission(assignment_id, labeler, lock=False)
    validate_ranking(tiers, flagged, assignment.shown_order, assignment.allow_ties)
    tiers = normalize_tiers(tiers)
    flagged = sorted(flagged)
    ranking = Ranking(
        assignment_id=assignment.pk,
        project_id=assignment.project_id,
        prompt_id=assignment.prompt_id,
        labeler=labeler,
        tiers=tiers,
        flagged=flagged,
        shown_order=assignment.shown_order,
        instruction_version=assignment.current_version if instruction_version is None else instruction_version,
        duration_ms=duration_ms,
        submitted_at=timezone.now(),
    )
    if (
        assignment.status == Assignment.Status.RESERVED
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block  # inside a caller's transaction, use the general path
        and _store_if_reserved(ranking)
    ):
        return ranking, True
    with transaction.atomic():
        assignment = _assignment_for_submission(assignment_id, labeler, lock=True)
        if assignment.status == Assignment.Status.SUBMITTED:
            stored = Ranking.objects.get(assignment_id=assignment.pk)
            if stored.tiers == tiers and sorted(stored.flagged) == flagged:
                return stored, False
            raise AssignmentConflict("this assignment already has a different ranking")
        if assignment.status == Assignment.Status.SKIPPED:
            raise AssignmentConflict("this assignment was skipped")
        held = assignment.status == Assignment.Status.RESERVED  # its slot is still counted
        if not held:
            prompt = Prompt.objects.select_for_update().only("num_rankings", "num_reserved").get(
                pk=assignment.prompt_id
            )
            if prompt.num_rankings + prompt.num_reserved >= assignment.labelers_per_prompt:
                raise AssignmentConflict("this assignment expired and its slot went to another labeler")
        _store_ranking(ranking, held)
    return ranking, True


def _assignment_for_submission(assignment_id: int, labeler, lock: bool) -> Assignment:
    """The labeler's assignment with what a submission needs from its project (allow_ties,
    labelers_per_prompt, the current instructions version), in one query; with `lock`, its row
    is locked (not the project's: that would serialise every submission of the project)."""
    # SQLite has no row locks; its IMMEDIATE transactions serialise writers.
    lock_clause = " FOR UPDATE OF a" if lock and connection.features.has_select_for_update_of else ""
    sql = f"""
        SELECT {columns(Assignment, "a")}, p.allow_ties, p.labelers_per_prompt,
            (SELECT max(v.version) FROM {InstructionVersion._meta.db_table} AS v WHERE v.project_id = a.project_id)
                AS current_version
        FROM {Assignment._meta.db_table} AS a JOIN {Project._meta.db_table} AS p ON p.id = a.project_id
        WHERE a.id = %(assignment)s AND a.labeler_id = %(labeler)s{lock_clause}
    """  # noqa: S608 - table names come from the models, values are parameters
    if not -(2**63) <= assignment_id < 2**63:  # beyond the id column: no such row (not a database error)
        raise Assignment.DoesNotExist(f"no assignment {assignment_id} for this labeler")
    assignment, extra = fetch_instance(Assignment, sql, {"assignment": assignment_id, "labeler": labeler.pk})
    if assignment is None:
        raise Assignment.DoesNotExist(f"no assignment {assignment_id} for this labeler")
    assignment.allow_ties, assignment.labelers_per_prompt, assignment.current_version = extra
    return assignment


def _ranking_values(ranking: Ranking) -> dict:
    return {
        "assignment": ranking.assignment_id, "project": ranking.project_id, "prompt": ranking.prompt_id,
        "labeler": ranking.labeler_id, "tiers": orjson.dumps(ranking.tiers).decode(),
        "flagged": orjson.dumps(ranking.flagged).decode(), "shown_order": orjson.dumps(ranking.shown_order).decode(),
        "version": ranking.instruction_version, "duration": ranking.duration_ms,
        "now": connection.ops.adapt_datetimefield_value(ranking.submitted_at),
        "submitted": Assignment.Status.SUBMITTED, "reserved": Assignment.Status.RESERVED,
    }


def _stored(ranking: Ranking, pk: int) -> None:
    ranking.pk = pk
    ranking._state.adding, ranking._state.db = False, connection.alias  # it is a stored row


def _store_if_reserved(ranking: Ranking) -> bool:
    """PostgreSQL, one statement (atomic by itself): if the assignment is still reserved, mark it
    submitted, move the prompt's counters and insert the ranking. False if it was not reserved
    any more (a concurrent submission, skip or sweep got there first): nothing is changed."""
    sql = f"""
        WITH submitted AS (
            UPDATE {Assignment._meta.db_table} SET status = %(submitted)s, finished_at = %(now)s
            WHERE id = %(assignment)s AND labeler_id = %(labeler)s AND status = %(reserved)s
            RETURNING id
        ), counted AS (
            UPDATE {Prompt._meta.db_table} SET num_rankings = num_rankings + 1, num_reserved = num_reserved - 1
            WHERE id = %(prompt)s AND EXISTS (SELECT 1 FROM submitted)
        )
        INSERT INTO {Ranking._meta.db_table} (assignment_id, project_id, prompt_id, labeler_id, tiers, flagged,
            shown_order, instruction_version, duration_ms, submitted_at)
        SELECT submitted.id, %(project)s::bigint, %(prompt)s::bigint, %(labeler)s::bigint, %(tiers)s::jsonb,
            %(flagged)s::jsonb, %(shown_order)s::jsonb, %(version)s::integer, %(duration)s::integer,
            %(now)s::timestamptz
        FROM submitted
        RETURNING id
    """  # noqa: S608 - table names come from the models, values are parameters
    with connection.cursor() as cursor:
        execute(cursor, sql, _ranking_values(ranking))
        row = cursor.fetchone()
    if row is None:
        return False
    _stored(ranking, row[0])
    return True


def _store_ranking(ranking: Ranking, held: bool) -> None:
    """Any database, inside submit_ranking's transaction and lock: insert the ranking, mark its
    assignment submitted and move the prompt's counters (the reserved one only if `held`)."""
    values = _ranking_values(ranking)
    reserved = ", num_reserved = num_reserved - 1" if held else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {Ranking._meta.db_table} (assignment_id, project_id, prompt_id, labeler_id, tiers,
                    flagged, shown_order, instruction_version, duration_ms, submitted_at)
                VALUES (%(assignment)s, %(project)s, %(prompt)s, %(labeler)s, %(tiers)s, %(flagged)s,
                    %(shown_order)s, %(version)s, %(duration)s, %(now)s)
                RETURNING id""",  # noqa: S608 - table name from the model
            values,
        )
        _stored(ranking, cursor.fetchone()[0])
        cursor.execute(
            f"UPDATE {Assignment._meta.db_table} SET status = %(submitted)s, finished_at = %(now)s "  # noqa: S608
            "WHERE id = %(assignment)s",
            values,
        )
        cursor.execute(
            f"UPDATE {Prompt._meta.db_table} SET num_rankings = num_rankings + 1{reserved} "  # noqa: S608
            "WHERE id = %(prompt)s",
            values,
        )


def skip_assignment(assignment_id: int, labeler) -> Assignment:
    """Give the prompt back to the pool; this labeler will not be offered it again."""
    with transaction.atomic():
        assignment = Assignment.objects.select_for_update().get(pk=assignment_id, labeler=labeler)
        if assignment.status == Assignment.Status.SUBMITTED:
            raise AssignmentConflict("this assignment is already submitted")
        if assignment.status != Assignment.Status.SKIPPED:
            if assignment.status == Assignment.Status.RESERVED:
                Prompt.objects.filter(pk=assignment.prompt_id, num_reserved__gt=0).update(
                    num_reserved=F("num_reserved") - 1
                )
            assignment.status = Assignment.Status.SKIPPED
            assignment.finished_at = timezone.now()
            assignment.save(update_fields=["status", "finished_at"])
    return assignment


def release_reservations(project: Project, labeler) -> int:
    """Give back at once every reservation `labeler` holds in `project` (they were removed from
    the team): the assignments become expired and their prompts' slots free. Their submitted
    rankings stay. Returns how many were released."""
    now = timezone.now()
    with transaction.atomic():
        held = list(
            Assignment.objects.select_for_update()
            .filter(project=project, labeler=labeler, status=Assignment.Status.RESERVED)
            .values_list("pk", "prompt_id")
        )
        if not held:
            return 0
        Assignment.objects.filter(pk__in=[pk for pk, _ in held]).update(
            status=Assignment.Status.EXPIRED, finished_at=now
        )
        for _, prompt_id in held:
            Prompt.objects.filter(pk=prompt_id, num_reserved__gt=0).update(num_reserved=F("num_reserved") - 1)
    return len(held)


__all__ = [
    "AssignmentConflict", "RankingError", "next_assignment", "release_reservations", "skip_assignment",
    "submit_ranking",
]
