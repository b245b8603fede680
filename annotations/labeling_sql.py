"""The labeling loop's statements, written once as SQL: who may label a project, the claim, the
locked assignment a submission or skip starts from, a prompt's rankings, and the storing of a
ranking. Everything else, skip's and expiry's updates included, goes through the ORM.

Why SQL here (the one place it replaces the ORM): on the 2-core machine the ORM spends 1–3 ms of
CPU building and compiling each query, and `next` plus a ranking ran a dozen of them: 35 ms of web
server CPU per ranking, against 11 ms with these statements (bench/README.md, "The labeling loop's
statements as SQL"). They run in tests and in production alike, inside or outside a caller's
transaction; table names come from the models, values are bound by psycopg2.

The rule "may label" (roles.py) is a labeler Membership in the project: `MAY_LABEL` below states
it for these statements, roles.labeler_membership for the ORM's."""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from django.db import connection

from .models import Assignment, Completion, InstructionVersion, Membership, Project, Prompt, Ranking

PROMPT, COMPLETION, ASSIGNMENT = Prompt._meta.db_table, Completion._meta.db_table, Assignment._meta.db_table
RANKING, PROJECT, MEMBERSHIP = Ranking._meta.db_table, Project._meta.db_table, Membership._meta.db_table
VERSION = InstructionVersion._meta.db_table

# The user %(labeler)s holds a labeler membership in the project whose id is {project}.
MAY_LABEL = (f"EXISTS (SELECT 1 FROM {MEMBERSHIP} AS m WHERE m.project_id = {{project}} "
             f"AND m.user_id = %(labeler)s AND m.role = '{Membership.Role.LABELER}')")

CURRENT_VERSION = f"(SELECT max(v.version) FROM {VERSION} AS v WHERE v.project_id = {{project}})"

LABELING_PROJECT = (
    f"SELECT p.*, {CURRENT_VERSION.format(project='p.id')} AS instructions_version FROM {PROJECT} AS p "
    f"WHERE p.slug = %(slug)s AND {MAY_LABEL.format(project='p.id')}"
)


def labeling_project(labeler_id: int, slug: str) -> Project | None:
    """The project of this slug if the user may label it, with `instructions_version` (the
    current one), or None. (Model.objects.raw: the ORM's instances without its query building.)"""
    found = list(Project.objects.raw(LABELING_PROJECT, {"slug": slug, "labeler": labeler_id}))
    return found[0] if found else None


# --- The claim -----------------------------------------------------------------------------------

# The labeler's reservation in the project that has not run out (at most one).
HELD = (f"SELECT h.id FROM {ASSIGNMENT} AS h WHERE h.project_id = %(project)s AND h.labeler_id = %(labeler)s "
        f"AND h.status = '{Assignment.Status.RESERVED}' AND h.reserved_until > %(now)s ORDER BY h.id LIMIT 1")

# Prompts with a free slot the labeler was never given, closest to complete first, on the partial
# index prompt_next_idx; only for a labeler member without an open reservation (conditions on no
# column of the prompt: PostgreSQL evaluates them once).
CANDIDATES = f"""
    SELECT p.id FROM {PROMPT} AS p
    WHERE p.project_id = %(project)s AND p.num_completions >= 2 AND p.num_rankings < %(k)s
      AND p.num_rankings + p.num_reserved < %(k)s
      AND NOT EXISTS (SELECT 1 FROM {ASSIGNMENT} AS seen WHERE seen.prompt_id = p.id AND seen.labeler_id = %(labeler)s)
      AND {MAY_LABEL.format(project='%(project)s')} AND NOT EXISTS ({HELD})
    ORDER BY p.num_rankings DESC, p.id LIMIT 1"""

# Adaptive overlap: prompts with k or more rankings that want one more labeler (adaptive.py), on
# the small partial index prompt_extra_idx, whose predicate the first two conditions repeat.
EXTRA_CANDIDATES = f"""
    SELECT p.id FROM {PROMPT} AS p
    WHERE p.project_id = %(project)s AND p.num_completions >= 2 AND p.num_rankings < p.wanted_rankings
      AND p.num_rankings < LEAST(p.wanted_rankings, %(maximum)s) - p.num_reserved
      AND NOT EXISTS (SELECT 1 FROM {ASSIGNMENT} AS seen WHERE seen.prompt_id = p.id AND seen.labeler_id = %(labeler)s)
      AND {MAY_LABEL.format(project='%(project)s')} AND NOT EXISTS ({HELD})
    ORDER BY p.num_rankings DESC, p.id LIMIT 1"""

LOCK = " FOR UPDATE OF p SKIP LOCKED"

# One statement: unless the labeler holds an open reservation, pick and lock the first candidate
# (skipping rows other requests hold; with adaptive overlap the prompts wanting one more labeler
# first), take its slot, create the assignment with the completions in random order, and return
# them with their texts, or the held assignment's id. As separate statements it would be five,
# and `next` would take nine with the token and the project.
CLAIM = """
    WITH claimed AS (
        UPDATE {prompt} AS target SET num_reserved = target.num_reserved + 1
        WHERE target.id = {pick}
        RETURNING target.id, target.text, target.messages
    ), shown AS MATERIALIZED (
        SELECT c.id, c.text, row_number() OVER (ORDER BY random()) AS place
        FROM {completion} AS c JOIN claimed ON c.prompt_id = claimed.id
    ), created AS (
        INSERT INTO {assignment} (project_id, prompt_id, labeler_id, status, shown_order, reserved_until, created_at)
        SELECT %(project)s, claimed.id, %(labeler)s, '{reserved}',
               COALESCE((SELECT jsonb_agg(shown.id ORDER BY shown.place) FROM shown), '[]'::jsonb),
               %(until)s, %(now)s
        FROM claimed
        RETURNING id
    )
    SELECT ({held}), created.id, claimed.id, claimed.text, claimed.messages, shown.id, shown.text
    FROM (SELECT 1) AS one LEFT JOIN (created CROSS JOIN claimed LEFT JOIN shown ON true) ON true
    ORDER BY shown.place"""

_claim = {
    adaptive: CLAIM.format(
        prompt=PROMPT, completion=COMPLETION, assignment=ASSIGNMENT, reserved=Assignment.Status.RESERVED,
        held=HELD,
        pick=(f"COALESCE(({EXTRA_CANDIDATES}{LOCK}), ({CANDIDATES}{LOCK}))" if adaptive else f"({CANDIDATES}{LOCK})"),
    )
    for adaptive in (False, True)
}


class Claimed(NamedTuple):
    held_id: int | None  # the labeler's open reservation, when they hold one (nothing was claimed)
    assignment_id: int | None  # the new assignment, or None when no candidate was free
    prompt_id: int | None
    prompt_text: str | None
    messages: list | None
    completions: list[tuple[int, str]]  # (id, text) in the order to show


def claim(project: Project, labeler_id: int, now: datetime, until: datetime, adaptive: bool) -> Claimed:
    params = {"project": project.pk, "labeler": labeler_id, "now": now, "until": until,
              "k": project.labelers_per_prompt, "maximum": project.max_labelers_per_prompt}
    with connection.cursor() as cursor:
        cursor.execute(_claim[adaptive], params)
        rows = cursor.fetchall()
    held_id, assignment_id, prompt_id, text, messages = rows[0][:5]
    completions = [(cid, ctext) for *_, cid, ctext in rows if cid is not None]
    return Claimed(held_id, assignment_id, prompt_id, text, _json(messages), completions)


def has_candidates(project: Project, labeler_id: int, now: datetime, adaptive: bool) -> bool:
    """Whether any prompt has a free slot for the labeler, counting the rows other requests hold."""
    params = {"project": project.pk, "labeler": labeler_id, "now": now,
              "k": project.labelers_per_prompt, "maximum": project.max_labelers_per_prompt}
    sql = f"SELECT EXISTS ({CANDIDATES})" + (f" OR EXISTS ({EXTRA_CANDIDATES})" if adaptive else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


# --- Submit and skip -------------------------------------------------------------------------------

class LockedAssignment(NamedTuple):
    """An assignment as a submission or a skip needs it, its row and its prompt's row locked."""

    id: int
    status: str
    shown_order: list[int]
    prompt_id: int
    num_rankings: int  # the prompt's counters
    num_reserved: int
    wanted_rankings: int
    project: Project  # id, slug, feedback, allow_ties and the overlap settings only
    canary_id: int | None  # the prompt's canary completion
    current_version: int | None  # the project's current instructions version


# The assignment's row, then its prompt's: the order the expiry sweep locks them in too.
LOCKED_ASSIGNMENT = f"""
    SELECT a.id, a.status, a.shown_order, a.prompt_id, p.num_rankings, p.num_reserved, p.wanted_rankings,
           j.id, j.slug, j.feedback, j.allow_ties, j.labelers_per_prompt, j.max_labelers_per_prompt,
           j.agreement_target,
           (SELECT c.id FROM {COMPLETION} AS c WHERE c.prompt_id = a.prompt_id
              AND c.source = '{Completion.Source.CANARY}' ORDER BY c.position LIMIT 1),
           {CURRENT_VERSION.format(project='a.project_id')}
    FROM {ASSIGNMENT} AS a JOIN {PROMPT} AS p ON p.id = a.prompt_id JOIN {PROJECT} AS j ON j.id = a.project_id
    WHERE a.id = %(assignment)s AND a.labeler_id = %(labeler)s AND {MAY_LABEL.format(project='a.project_id')}
    FOR UPDATE OF a, p"""


def locked_assignment(assignment_id: int, labeler_id: int) -> LockedAssignment | None:
    """The labeler's assignment with its row and its prompt's locked (call inside a transaction);
    None for another labeler's assignment or when the labeler may no longer label its project."""
    with connection.cursor() as cursor:
        cursor.execute(LOCKED_ASSIGNMENT, {"assignment": assignment_id, "labeler": labeler_id})
        row = cursor.fetchone()
    if row is None:
        return None
    pk, status, shown, prompt_id, rankings, reserved, wanted, *project, canary_id, version = row
    project_id, slug, feedback, allow_ties, k, maximum, target = project
    return LockedAssignment(
        pk, status, _json(shown), prompt_id, rankings, reserved, wanted,
        Project(pk=project_id, slug=slug, feedback=feedback, allow_ties=allow_ties, labelers_per_prompt=k,
                max_labelers_per_prompt=maximum, agreement_target=target),
        canary_id, version,
    )


# (ranking id, tiers, flagged, stored loo_share) of a prompt's rankings, in submission order.
StoredRanking = tuple[int, list, list, float | None]

PROMPT_RANKINGS = (f'SELECT id, tiers, flagged, loo_share FROM "{RANKING}" '
                   f'WHERE "{RANKING}"."prompt_id" = %s ORDER BY id')


def prompt_rankings(prompt_id: int) -> list[StoredRanking]:
    """The prompt's rankings as the quality figures need them (one read, on the prompt's index)."""
    with connection.cursor() as cursor:
        cursor.execute(PROMPT_RANKINGS, [prompt_id])
        rows = cursor.fetchall()
    return [(pk, _json(tiers), _json(flagged), share) for pk, tiers, flagged, share in rows]


def _json(value):
    """Django reads jsonb from a plain cursor as its text."""
    return json.loads(value) if isinstance(value, str) else value


SHARES = f"""
    UPDATE {RANKING} AS r SET loo_share = v.share
    FROM (VALUES {{values}}) AS v(id, share) WHERE r.id = v.id"""


def _shares(changed: Sequence[tuple[int, float | None]]) -> tuple[str, dict]:
    """SHARES for [(ranking id, share)], with its named parameters."""
    values = ", ".join(f"(%(id_{i})s::bigint, %(share_{i})s::double precision)" for i in range(len(changed)))
    params = {name: value for i, (pk, share) in enumerate(changed)
              for name, value in ((f"id_{i}", pk), (f"share_{i}", share))}
    return SHARES.format(values=values), params


def update_loo_shares(changed: Sequence[tuple[int, float | None]]) -> None:
    """Store new leave-one-out agreements, [(ranking id, share)], in one statement."""
    if changed:
        sql, params = _shares(changed)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


# One statement: insert the ranking, mark its assignment submitted, move its prompt's counters and
# stored figures, and store the other rankings' new leave-one-out agreements.
STORE = f"""
    WITH stored AS (
        INSERT INTO {RANKING} (assignment_id, project_id, prompt_id, labeler_id, tiers, flagged, shown_order,
            instruction_version, duration_ms, submitted_at, revision, revised_at, loo_share, has_tie,
            num_flagged, num_judged, canary)
        VALUES (%(assignment)s, %(project)s, %(prompt)s, %(labeler)s, %(tiers)s, %(flagged)s, %(shown)s,
            %(version)s, %(duration)s, %(now)s, 1, %(now)s, %(share)s, %(has_tie)s,
            %(num_flagged)s, %(num_judged)s, %(canary)s)
        RETURNING id
    ), submitted AS (
        UPDATE {ASSIGNMENT} SET status = '{Assignment.Status.SUBMITTED}', finished_at = %(now)s
        WHERE id = %(assignment)s
    ), counted AS (
        UPDATE {PROMPT} SET num_rankings = num_rankings + 1, num_reserved = GREATEST(num_reserved - %(freed)s, 0),
            agreement = %(agreement)s, quality_shape = %(shape)s, wanted_rankings = %(wanted)s
        WHERE id = %(prompt)s
    ){{shares}}
    SELECT id FROM stored"""


def store_ranking(values: dict, changed_shares: Sequence[tuple[int, float | None]]) -> int:
    """Run STORE with `values` (its named parameters; tiers, flagged and shown as lists) and the
    other rankings' changed shares [(ranking id, share)]; returns the new ranking's id."""
    params = {**values, **{key: json.dumps(values[key]) for key in ("tiers", "flagged", "shown")}}
    shares = ""
    if changed_shares:
        sql, share_params = _shares(changed_shares)
        shares = f", shares AS ({sql})"
        params.update(share_params)
    with connection.cursor() as cursor:
        cursor.execute(STORE.format(shares=shares), params)
        return cursor.fetchone()[0]
