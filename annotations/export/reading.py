"""Reading a project's rankings for the export: one aggregated PostgreSQL query, streamed.

One server-side cursor over the project's ranked prompts, each row carrying the prompt's
completions and rankings as JSON built by PostgreSQL, read in chunks: memory stays flat as the
project grows, and Python converts one text per prompt instead of every field."""

import queue
import threading
from collections.abc import Iterator

import orjson
from django.db import connection, transaction

from ..models import Completion, Project, Prompt, Ranking
from .options import ExportOptions
from .pairs import PromptRecord, RankingRecord

CHUNK_SIZE = 1000  # rows fetched per round trip of the server-side cursor


def excluded_labelers(project: Project, threshold: float | None) -> set[int]:
    """Labelers whose agreement with their peers is below `threshold`. A labeler whose agreement
    cannot be measured yet (no ranking shared with others) is kept: unknown is not low."""
    if threshold is None:
        return set()
    from ..quality import labeler_agreement  # quality reads the whole project: only when asked

    return {user_id for user_id, score in labeler_agreement(project).items() if score.agreement < threshold}


def has_conversations(project: Project) -> bool:
    """Whether any prompt of the project is a conversation: its export then uses TRL's
    conversational format for every row (plain prompts as one user message)."""
    return Prompt.objects.filter(project=project, messages__isnull=False).exists()


def rankings_to_export(project: Project, excluded: set[int]):
    return Ranking.objects.filter(project=project).exclude(labeler_id__in=excluded)


# One row per prompt: (prompt id, external id, text, completions [(id, text, is canary)], rankings
# [(labeler id, tiers, flagged, shown order, instructions version, duration ms, submitted at, revision)],
# messages or None).
PromptRow = tuple[int, str | None, str, list, list, list | None]


_PROMPTS_WITH_JSON_SQL = """
    SELECT p.id, p.external_id, p.text, p.messages::text,
        (SELECT json_agg(json_build_array(c.id, c.text, c.source = %s) ORDER BY c.position)
           FROM {completions} c WHERE c.prompt_id = p.id)::text,
        (SELECT json_agg(json_build_array(r.labeler_id, r.tiers, r.flagged, r.shown_order,
                                          r.instruction_version, r.duration_ms, r.submitted_at, r.revision)
                         ORDER BY r.id)
           FROM {rankings} r WHERE r.prompt_id = p.id)::text
    FROM {prompts} p
    WHERE p.project_id = %s AND EXISTS (SELECT 1 FROM {rankings} r WHERE r.prompt_id = p.id)
    ORDER BY p.id
"""


def _fetch_chunks(project_id: int, chunk_size: int) -> Iterator[list[tuple]]:
    """Chunks of the query's rows, from a server-side cursor of the current thread's connection."""
    sql = _PROMPTS_WITH_JSON_SQL.format(
        prompts=Prompt._meta.db_table, completions=Completion._meta.db_table, rankings=Ranking._meta.db_table
    )
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [Completion.Source.CANARY, project_id])
        while rows := cursor.fetchmany(chunk_size):
            yield rows


def _fetch_chunks_in_a_thread(project_id: int, chunk_size: int) -> Iterator[list[tuple]]:
    """The same chunks, read ahead by a thread with its own connection and transaction.

    Outside a transaction Django declares server-side cursors WITH HOLD, and PostgreSQL then runs
    the whole query before the first row arrives. In a transaction the cursor streams; the
    transaction is the reader thread's, so that the export's progress updates (on the caller's
    connection) are seen at once. The thread waits on PostgreSQL while this one makes pairs: the
    database's work and Python's overlap, on two cores. The short queue bounds memory."""
    chunks: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()
    done = object()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL jit = off")  # compiling this query costs more than it saves
                for rows in _fetch_chunks(project_id, chunk_size):
                    if not hand_over(rows):
                        return
            hand_over(done)
        except BaseException as exc:  # raised again in the consuming thread
            hand_over(exc)
        finally:
            connection.close()

    reader = threading.Thread(target=read, name=f"export read {project_id}", daemon=True)
    reader.start()
    try:
        while (item := chunks.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def _prompt_rows(project: Project, chunk_size: int) -> Iterator[PromptRow]:
    """One server-side cursor over the prompts, each with its completions and rankings as JSON
    built by PostgreSQL: a fifth of the rows and no per-field conversion in Python. Inside a
    transaction (a caller's, or a test's) it reads on this connection, which alone sees that
    transaction's rows; otherwise a reader thread reads ahead."""
    fetch = _fetch_chunks if connection.in_atomic_block else _fetch_chunks_in_a_thread
    loads = orjson.loads
    for rows in fetch(project.pk, chunk_size):
        for prompt_id, external_id, text, messages, completion_json, ranking_json in rows:
            yield (prompt_id, external_id, text, loads(completion_json or "[]"), loads(ranking_json),
                   loads(messages) if messages is not None else None)


def stream_prompts(
    project: Project, options: ExportOptions, excluded: set[int], chunk_size: int = CHUNK_SIZE
) -> Iterator[tuple[PromptRecord, list[RankingRecord]]]:
    """(prompt, its rankings) for every prompt with a ranking, in prompt-id order, read with
    server-side cursors in chunks: memory does not grow with the project."""
    k = project.labelers_per_prompt
    for prompt_id, external_id, text, completion_rows, ranking_rows, messages in _prompt_rows(project, chunk_size):
        if options.complete_only and len(ranking_rows) < k:
            continue  # complete means ranked by all k labelers, counted before any labeler is left out
        kept = [RankingRecord(*row) for row in ranking_rows if row[0] not in excluded]
        if not kept:
            continue
        record = PromptRecord(
            id=prompt_id,
            public_id=external_id if external_id is not None else str(prompt_id),
            text=text,
            completions={cid: ctext for cid, ctext, is_canary in completion_rows if not is_canary},
            canaries=frozenset(cid for cid, _, is_canary in completion_rows if is_canary),
            messages=messages,
        )
        yield record, kept
