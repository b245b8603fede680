"""Storing the quality figures of prompts and rankings (quality_stats.py computes them), and
recomputing them for a whole project (the backfill of `manage.py quality_stats` and of the
migration that added them).

Call inside the transaction that changes a ranking, after locking the prompt's row, so that a
concurrent change of another ranking of the same prompt is either seen here or sees this one."""

from collections.abc import Sequence

from django.db import connection, transaction

from .adaptive import wanted_after
from .consensus import Judgement
from .labeling_sql import StoredRanking, prompt_rankings, update_loo_shares
from .models import Completion, Project, Prompt, Ranking
from .quality_stats import PromptStats, prompt_stats, ranking_facts
from .thumbs import prompt_thumbs_agreement


def stats_for(rankings: Sequence[StoredRanking], canary_id: int | None, adding: Judgement | None = None,
              thumbs: bool = False) -> PromptStats:
    """The prompt's figures from its stored rankings, `adding` counted last (a ranking about to be stored).

    In a thumbs project the agreement is thumbs.py's (share of labelers on the majority side per
    completion) and there is no shape nor leave-one-out agreement: the quality report recomputes
    thumbs projects from their rankings (quality.quality_report)."""
    judgements = [Judgement(tiers, flagged) for _, tiers, flagged, _ in rankings]
    if adding is not None:
        judgements.append(adding)
    if thumbs:  # [ups, downs] by position: the canary is left out by id, never by dropping a tier
        agreement = prompt_thumbs_agreement(judgements, removed=[canary_id] if canary_id is not None else [])
        return PromptStats(None, agreement, (None,) * len(judgements))
    return prompt_stats(judgements, canary_id)


def changed_shares(rankings: Sequence[StoredRanking], shares: Sequence[float | None]) -> list[tuple[int, float | None]]:
    """[(ranking id, new share)] of the rankings whose leave-one-out agreement changed."""
    return [(pk, share) for (pk, _, _, stored), share in zip(rankings, shares, strict=False) if stored != share]


def store_prompt_stats(prompt_id: int, canary_id: int | None, project: Project | None = None,
                       rankings: int | None = None, thumbs: bool = False) -> PromptStats:
    """Recompute and store the prompt's figures and its rankings' leave-one-out agreements (one
    read, at most two writes). Given the project and the prompt's number of rankings, adaptive
    overlap's decision (wanted_rankings) is stored with them, from the same agreement: a revision
    may settle a dispute or open one."""
    stored = prompt_rankings(prompt_id)
    stats = stats_for(stored, canary_id, thumbs=thumbs)
    update_loo_shares(changed_shares(stored, stats.loo_shares))
    changes = {"agreement": stats.agreement, "quality_shape": stats.shape_key}
    if project is not None and rankings is not None:
        changes["wanted_rankings"] = wanted_after(project, stats.agreement, rankings)
    Prompt.objects.filter(pk=prompt_id).update(**changes)
    return stats


# --- Backfill -----------------------------------------------------------------------------------

BACKFILL_PROMPTS = 20_000  # prompts per round trip: their rows are written by COPY into a temporary table


def refresh_project_stats(project_id: int) -> int:
    """Recompute the stored quality figures of every prompt and ranking of a project from its
    rankings (for data stored before they existed, or written by other means than submit and
    revise). Returns the number of rankings. Streams the rankings; writes in batches of
    BACKFILL_PROMPTS prompts, each in its own transaction."""
    canaries = dict(
        Completion.objects.filter(prompt__project_id=project_id, source=Completion.Source.CANARY)
        .values_list("prompt_id", "pk")
    )
    feedback = Project.objects.filter(pk=project_id).values_list("feedback", flat=True).first()
    thumbs = feedback == Project.Feedback.THUMBS
    table_r, table_p = Ranking._meta.db_table, Prompt._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        # Prompts without rankings hold no figures.
        cursor.execute(
            f"UPDATE {table_p} SET agreement = NULL, quality_shape = NULL WHERE project_id = %s "  # noqa: S608
            "AND num_rankings = 0 AND (agreement IS NOT NULL OR quality_shape IS NOT NULL)"
            f" AND NOT EXISTS (SELECT 1 FROM {table_r} r WHERE r.prompt_id = {table_p}.id)",
            [project_id],
        )
    rows = (
        Ranking.objects.filter(project_id=project_id).order_by("prompt_id", "pk")
        .values_list("prompt_id", "pk", "tiers", "flagged", "shown_order").iterator(chunk_size=5000)
    )
    rankings_out: list[tuple] = []
    prompts_out: list[tuple] = []
    total = 0
    current, group = None, []

    def close_prompt() -> None:
        canary = canaries.get(current)
        stats = stats_for([(pk, t, f, None) for pk, t, f, _ in group], canary, thumbs=thumbs)
        prompts_out.append((current, stats.agreement, stats.shape_key))
        for (pk, tiers, flagged, shown), share in zip(group, stats.loo_shares, strict=True):
            facts = ranking_facts(Judgement(tiers, flagged), canary, shown)
            rankings_out.append((pk, share, *facts))

    for prompt_id, pk, tiers, flagged, shown in rows:
        if prompt_id != current:
            if group:
                close_prompt()
                if len(prompts_out) >= BACKFILL_PROMPTS:
                    _write_backfill(prompts_out, rankings_out)
                    prompts_out, rankings_out = [], []
            current, group = prompt_id, []
        group.append((pk, tiers, flagged, shown))
        total += 1
    if group:
        close_prompt()
    _write_backfill(prompts_out, rankings_out)
    return total


def _write_backfill(prompts: list[tuple], rankings: list[tuple]) -> None:
    if not prompts:
        return
    table_r, table_p = Ranking._meta.db_table, Prompt._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE quality_prompt_rows (id bigint, agreement double precision,"
                       " shape text) ON COMMIT DROP")
        cursor.execute("CREATE TEMPORARY TABLE quality_ranking_rows (id bigint, share double precision,"
                       " tie boolean, flagged smallint, judged smallint, canary smallint) ON COMMIT DROP")
        _copy(cursor, "quality_prompt_rows", prompts)
        _copy(cursor, "quality_ranking_rows", rankings)
        cursor.execute(
            f"UPDATE {table_p} AS p SET agreement = v.agreement, quality_shape = v.shape "  # noqa: S608
            "FROM quality_prompt_rows v WHERE p.id = v.id "
            "AND (p.agreement IS DISTINCT FROM v.agreement OR p.quality_shape IS DISTINCT FROM v.shape)"
        )
        cursor.execute(
            f"UPDATE {table_r} AS r SET loo_share = v.share, has_tie = v.tie, num_flagged = v.flagged, "  # noqa: S608
            "num_judged = v.judged, canary = v.canary FROM quality_ranking_rows v WHERE r.id = v.id "
            "AND (r.loo_share IS DISTINCT FROM v.share OR r.has_tie <> v.tie OR r.num_flagged <> v.flagged "
            "OR r.num_judged <> v.judged OR r.canary <> v.canary)"
        )


def _copy(cursor, table: str, rows: list[tuple]) -> None:
    """COPY the rows into the table (psycopg2's copy_expert, text format)."""
    import io

    def text(value) -> str:
        if value is None:
            return r"\N"
        if isinstance(value, bool):
            return "t" if value else "f"
        if isinstance(value, float):
            return repr(value)  # the shortest text that reads back as the same double
        return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    buffer = io.StringIO("".join("\t".join(map(text, row)) + "\n" for row in rows))
    cursor.cursor.copy_expert(f"COPY {table} FROM STDIN", buffer)
