"""The pair export: stream a project's rankings prompt by prompt, write the bundle as it goes.

`write_bundle` is the one code path of the command line and the Celery worker. It reads prompts,
completions and rankings with three server-side cursors ordered by prompt, hands each prompt's
plain records to pairs.prompt_rows, and writes the rows out at once, so memory stays flat as the
project grows. Every file is written under a temporary name and renamed when complete, and the
worker marks an export done only after the zip of the bundle is in place.

Bundle: pairs.<ext> (or train.<ext> + test.<ext>), rankings.jsonl, README.md (dataset card),
manifest.json (parameters, counts, sha256 of every other file)."""

import logging
import os
import queue
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

import labelhub

from .models import Completion, Export, InstructionVersion, Project, Prompt, Ranking
from .pairfiles import (
    Counts,
    PairsResult,
    pair_file_names,
    sha256_of,
    write_file_atomically,
    write_pairs,
    write_zip,
)
from .pairs import ExportOptions, PromptRecord, RankingRecord

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1000  # rows fetched per round trip of a server-side cursor
PROGRESS_EVERY_SECONDS = 0.5
ProgressCallback = Callable[[float], None]


# --- Reading the project from the database -----------------------------------------------------


def _grouped(rows: Iterator[tuple]) -> Iterator[tuple[int, list[tuple]]]:
    """Consecutive rows with the same first column (the prompt id) as one group."""
    group: list[tuple] = []
    current = None
    for row in rows:
        if row[0] != current and group:
            yield current, group
            group = []
        current = row[0]
        group.append(row)
    if group:
        yield current, group


class _MergeCursor:
    """A grouped stream that can be advanced to a prompt id (a merge join on prompt id)."""

    def __init__(self, rows: Iterator[tuple]) -> None:
        self.groups = _grouped(rows)
        self.head = next(self.groups, None)

    def take(self, prompt_id: int) -> list[tuple]:
        while self.head is not None and self.head[0] < prompt_id:
            self.head = next(self.groups, None)
        if self.head is not None and self.head[0] == prompt_id:
            rows = self.head[1]
            self.head = next(self.groups, None)
            return rows
        return []


def excluded_labelers(project: Project, threshold: float | None) -> set[int]:
    """Labelers whose agreement with their peers is below `threshold`. A labeler whose agreement
    cannot be measured yet (no ranking shared with others) is kept: unknown is not low."""
    if threshold is None:
        return set()
    from .quality import labeler_agreement

    return {user_id for user_id, score in labeler_agreement(project).items() if score.agreement < threshold}


def rankings_to_export(project: Project, excluded: set[int]):
    return Ranking.objects.filter(project=project).exclude(labeler_id__in=excluded)


# One row per prompt: (prompt id, external id, text, completions [(id, text, is canary)], rankings
# [(labeler id, tiers, flagged, shown order, instructions version, duration ms, submitted at)]).
PromptRow = tuple[int, str | None, str, list, list]


def _prompt_rows_orm(project: Project, chunk_size: int) -> Iterator[PromptRow]:
    """Three server-side cursors (prompts, completions, rankings), each ordered by prompt id and
    merged on it: any database."""
    prompts = (
        Prompt.objects.filter(project=project)
        .filter(Exists(Ranking.objects.filter(prompt=OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", "external_id", "text")
        .iterator(chunk_size=chunk_size)
    )
    completions = _MergeCursor(
        Completion.objects.filter(prompt__project=project)
        .order_by("prompt_id", "position")
        .values_list("prompt_id", "pk", "text", "source")
        .iterator(chunk_size=chunk_size)
    )
    rankings = _MergeCursor(
        Ranking.objects.filter(project=project)
        .order_by("prompt_id", "pk")
        .values_list("prompt_id", "labeler_id", "tiers", "flagged", "shown_order", "instruction_version",
                     "duration_ms", "submitted_at")
        .iterator(chunk_size=chunk_size)
    )
    canary = Completion.Source.CANARY
    for prompt_id, external_id, text in prompts:
        yield (
            prompt_id,
            external_id,
            text,
            [(cid, ctext, source == canary) for _, cid, ctext, source in completions.take(prompt_id)],
            [(*row[1:7], row[7].isoformat() if row[7] else None) for row in rankings.take(prompt_id)],
        )


_PROMPTS_WITH_JSON_SQL = """
    SELECT p.id, p.external_id, p.text,
        (SELECT json_agg(json_build_array(c.id, c.text, c.source = %s) ORDER BY c.position)
           FROM {completions} c WHERE c.prompt_id = p.id)::text,
        (SELECT json_agg(json_build_array(r.labeler_id, r.tiers, r.flagged, r.shown_order,
                                          r.instruction_version, r.duration_ms, r.submitted_at) ORDER BY r.id)
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


def _prompt_rows_postgresql(project: Project, chunk_size: int) -> Iterator[PromptRow]:
    """One server-side cursor over the prompts, each with its completions and rankings as JSON
    built by PostgreSQL: a fifth of the rows and no per-field conversion in Python. Inside a
    transaction (a caller's, or a test's) it reads on this connection, which alone sees that
    transaction's rows; otherwise a reader thread reads ahead."""
    fetch = _fetch_chunks if connection.in_atomic_block else _fetch_chunks_in_a_thread
    loads = orjson.loads
    for rows in fetch(project.pk, chunk_size):
        for prompt_id, external_id, text, completion_json, ranking_json in rows:
            yield prompt_id, external_id, text, loads(completion_json or "[]"), loads(ranking_json)


def stream_prompts(
    project: Project, options: ExportOptions, excluded: set[int], chunk_size: int = CHUNK_SIZE
) -> Iterator[tuple[PromptRecord, list[RankingRecord]]]:
    """(prompt, its rankings) for every prompt with a ranking, in prompt-id order, read with
    server-side cursors in chunks: memory does not grow with the project."""
    read = _prompt_rows_postgresql if connection.vendor == "postgresql" else _prompt_rows_orm
    k = project.labelers_per_prompt
    for prompt_id, external_id, text, completion_rows, ranking_rows in read(project, chunk_size):
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
        )
        yield record, kept


# --- The bundle --------------------------------------------------------------------------------


class BundleResult(NamedTuple):
    counts: dict[str, Any]
    sha256: dict[str, str]
    files: list[str]


def _counts_dict(splits: dict[str, Counts]) -> dict[str, Any]:
    total = Counts(*(sum(c[i] for c in splits.values()) for i in range(3)))
    return {**total._asdict(), "splits": {split: counts._asdict() for split, counts in splits.items()}}


def write_bundle(
    project: Project,
    options: ExportOptions,
    out_dir: Path,
    *,
    progress: ProgressCallback | None = None,
    export_id: int | None = None,
) -> BundleResult:
    """Write the whole bundle into `out_dir` (created if missing). `progress(fraction)` is called
    at most every PROGRESS_EVERY_SECONDS while the pairs are written, with fractions below 1."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = timezone.now()
    excluded = excluded_labelers(project, options.exclude_labelers_below)
    total = rankings_to_export(project, excluded).count() or 1
    pseudonyms: dict[int, str] = {}

    def pseudonym(user_id: int) -> str:
        name = pseudonyms.get(user_id)
        if name is None:
            from .quality import labeler_pseudonym

            name = pseudonyms[user_id] = labeler_pseudonym(project, user_id)
        return name

    last_report = [time.monotonic()]

    def on_prompt(rankings_done: int) -> None:
        now = time.monotonic()
        if progress is not None and now - last_report[0] >= PROGRESS_EVERY_SECONDS:
            last_report[0] = now
            progress(min(0.95, 0.95 * rankings_done / total))

    result = write_pairs(stream_prompts(project, options, excluded), options, out_dir, pseudonym, on_prompt)
    counts = _counts_dict(result.splits)
    counts["labelers_excluded"] = len(excluded)
    card = dataset_card(project, options, counts, result)
    write_file_atomically(out_dir / "README.md", card.encode())
    checksums = {name: result.sha256.get(name) or sha256_of(out_dir / name) for name in [*result.files, "README.md"]}
    manifest = {
        "labelhub_version": labelhub.__version__,
        "export_id": export_id,
        "created_at": started.isoformat(),
        "finished_at": timezone.now().isoformat(),
        "project": {
            "slug": project.slug,
            "name": project.name,
            "criterion": project.criterion,
            "labelers_per_prompt": project.labelers_per_prompt,
            "allow_ties": project.allow_ties,
        },
        "parameters": options.as_dict(),
        "columns": list(options.columns),
        "instructions_versions": result.instruction_versions,
        "counts": counts,
        "files": {name: {"sha256": digest, "bytes": (out_dir / name).stat().st_size}
                  for name, digest in checksums.items()},
    }
    write_file_atomically(out_dir / "manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return BundleResult(counts, checksums, [*result.files, "README.md", "manifest.json"])


# --- The dataset card --------------------------------------------------------------------------

COLUMN_DOCS = {
    "prompt": "the prompt text shown to the labelers",
    "chosen": "the preferred completion (reward 1)",
    "rejected": "the other completion (reward 0)",
    "prompt_id": "the prompt's id in the uploaded prompt set, else LabelHub's prompt id (as a string)",
    "chosen_id": "LabelHub's id of the chosen completion",
    "rejected_id": "LabelHub's id of the rejected completion",
    "chosen_rank": "tier of the chosen completion, 1 = best",
    "rejected_rank": "tier of the rejected completion (a flagged completion paired as rejected: last tier + 1)",
    "labeler": "stable pseudonym of the labeler (labeler mode); null in consensus mode",
    "agreement": "share of the prompt's labelers who preferred chosen over rejected (0.5 for a tied pair)",
    "split": "train or test; all pairs of one prompt are in the same split",
    "margin": "TRL's optional margin",
}


def dataset_card(project: Project, options: ExportOptions, counts: dict[str, Any], result: PairsResult) -> str:
    names = pair_file_names(options)
    fmt = options.format
    loader = {"jsonl": "json", "parquet": "parquet", "csv": "csv"}[fmt]
    data_files = ", ".join(f'"{split}": "{name}"' for split, name in names.items())
    versions = result.instruction_versions
    instructions = InstructionVersion.objects.filter(project=project, version__in=versions).order_by("version")
    margin_doc = {
        "agreement": "`margin` = `agreement`: pairs more labelers agree on push the rewards further apart.",
        "rank-gap": "`margin` = `rejected_rank - chosen_rank`: pairs further apart in the ranking push further.",
    }.get(options.margin or "", "")
    keep = '["chosen", "rejected", "margin"]' if options.margin else '["chosen", "rejected"]'
    lines = [
        f"# {project.name}: pairwise preferences for reward-model training",
        "",
        f"Exported from LabelHub {labelhub.__version__} (project `{project.slug}`), "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        "## What the data is",
        "",
        f"Human labelers read each prompt and ranked its completions by {project.criterion}, "
        "best first; completions ranked equal are a tie, and a completion that was nonsensical, confusing "
        "or irrelevant was flagged instead of ranked. Each ranking of n completions becomes the pairs of "
        "completions in different tiers, the preferred one as `chosen` (reward 1) and the other as "
        "`rejected` (reward 0): n·(n−1)/2 pairs when there are no ties and no flags.",
        "",
        f"- Mode: **{options.mode}**"
        + (" (one pair per labeler per completion pair)" if options.mode == "labeler"
           else " (the pairs of each prompt's consensus ranking, ranked pairs / Tideman)"),
        f"- Flagged completions: **{options.flagged}**"
        + (" (no pair)" if options.flagged == "drop" else " (paired as rejected below every ranked completion)"),
        f"- Ties: **{options.ties}**" + (" (no pair)" if options.ties == "drop" else " (one pair, agreement 0.5)"),
        f"- Only prompts ranked by all {project.labelers_per_prompt} labelers: "
        f"**{'yes' if options.complete_only else 'no'}**",
        f"- Labelers with agreement below {options.exclude_labelers_below} left out: "
        f"**{counts.get('labelers_excluded', 0)}**" if options.exclude_labelers_below is not None
        else "- No labeler left out",
        f"- Split: by prompt, hash of the prompt id with seed {options.seed}, test fraction "
        f"{options.test_fraction or 0}",
        "",
        "## How it was collected",
        "",
        f"Each prompt went to {project.labelers_per_prompt} labelers, who saw its completions in a random order "
        "(recorded per ranking as `shown_order` in `rankings.jsonl`) after reading the project's instructions. "
        "Known-bad canary completions, used to check labelers, are not in this export. "
        f"Instructions versions used: {', '.join(map(str, versions)) or 'none recorded'}.",
        "",
    ]
    for instruction in instructions:
        lines += [f"<details><summary>Instructions, version {instruction.version}</summary>", "",
                  instruction.text.strip(), "", "</details>", ""]
    lines += ["## Counts", "", "| split | prompts | rankings | pairs |", "|---|---|---|---|"]
    lines += [f"| {split} | {c['prompts']} | {c['rankings']} | {c['pairs']} |" for split, c in counts["splits"].items()]
    lines += ["", "## Files", ""]
    lines += [f"- `{name}`: the {split} pairs" for split, name in names.items()]
    lines += [
        "- `rankings.jsonl`: every ranking the pairs come from: pseudonymous `labeler`, `tiers` (completion ids, "
        "best first), `flagged`, `shown_order`, `instructions_version`, `duration_ms` (time spent), `submitted_at`",
        "- `manifest.json`: parameters, counts and the sha256 of every file",
        "",
        "## Columns",
        "",
    ]
    lines += [f"- `{column}`: {COLUMN_DOCS[column]}" for column in options.columns]
    if margin_doc:
        lines += ["", margin_doc]
    lines += [
        "",
        "## Load it",
        "",
        "```python",
        "from datasets import load_dataset",
        f'pairs = load_dataset("{loader}", data_files={{{data_files}}})',
        "```",
        "",
        "## Train a reward model with TRL",
        "",
        "TRL's `RewardTrainer` (TRL 0.12 or later) reads the `chosen` and `rejected` columns "
        "(and `margin` when present). "
        "Write the prompt in front of each completion, or use the conversational form below for a chat model:",
        "",
        "```python",
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
        "from trl import RewardConfig, RewardTrainer",
        "",
        'base = "Qwen/Qwen2.5-0.5B-Instruct"',
        "tokenizer = AutoTokenizer.from_pretrained(base)",
        "model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)",
        "",
        "def with_prompt(row):",
        '    return {"chosen": row["prompt"] + "\\n\\n" + row["chosen"],',
        '            "rejected": row["prompt"] + "\\n\\n" + row["rejected"]}',
        "",
        "# or, for a chat model, the conversational form (TRL applies the chat template):",
        "# def with_prompt(row):",
        '#     user = {"role": "user", "content": row["prompt"]}',
        '#     return {"chosen": [user, {"role": "assistant", "content": row["chosen"]}],',
        '#             "rejected": [user, {"role": "assistant", "content": row["rejected"]}]}',
        "",
        f"train = pairs[\"train\"].map(with_prompt).select_columns({keep})",
    ]
    evaluation = ""
    if "test" in names:
        lines.append(f"test = pairs[\"test\"].map(with_prompt).select_columns({keep})")
        evaluation = ", eval_dataset=test"
    lines += [
        "trainer = RewardTrainer(model=model, processing_class=tokenizer,",
        f'                        args=RewardConfig(output_dir="reward-model"), train_dataset=train{evaluation})',
        "trainer.train()",
        "```",
        "",
        "In labeler mode the same completion pair appears once per labeler; the `agreement` column lets you "
        "keep only pairs most labelers agree on, e.g. `train.filter(lambda r: r[\"agreement\"] >= 2 / 3)` "
        "before `select_columns`.",
        "",
    ]
    return "\n".join(lines)


# --- Export jobs (the Celery task is a thin wrapper around run_export) ---------------------------


def export_dir(export_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "exports" / str(export_id)


def zip_name(export: Export) -> str:
    return f"labelhub-{export.project.slug}-export-{export.pk}.zip"


def queue_export(project: Project, user, options: ExportOptions) -> Export:
    """Record an export and start it once the record is committed (the worker must see it)."""
    from .tasks import export_pairs_task

    export = Export.objects.create(project=project, requested_by=user, params=options.as_dict())
    transaction.on_commit(lambda: export_pairs_task.delay(export.pk))
    return export


def claim_export(export_id: int, *, redelivered: bool = False) -> bool:
    """Take the export queued → running. A redelivered message (its worker died before
    acknowledging it, acks_late) may also take back an export left running by that worker."""
    now = timezone.now()
    claimable = [Export.Status.QUEUED, Export.Status.RUNNING] if redelivered else [Export.Status.QUEUED]
    updated = Export.objects.filter(pk=export_id, status__in=claimable).update(
        status=Export.Status.RUNNING, started_at=now, progress=0.0, error=""
    )
    return bool(updated)


def run_export(export_id: int, *, redelivered: bool = False) -> bool:
    """Run one export job: claim it, write the bundle in a fresh attempt directory, zip it, move
    it into place, then mark it done. Anything that fails before the last step leaves the export
    not done, and the attempt's files are removed. Returns False when the job was not ours."""
    if not claim_export(export_id, redelivered=redelivered):
        return False
    export = Export.objects.select_related("project").get(pk=export_id)
    options = ExportOptions.from_dict(export.params)
    base = export_dir(export_id)
    if redelivered:  # the files of the attempt that died with its worker
        for stale in base.glob(".attempt-*"):
            shutil.rmtree(stale, ignore_errors=True)
    attempt = base / f".attempt-{secrets.token_hex(4)}"

    def report(fraction: float) -> None:
        Export.objects.filter(pk=export_id, status=Export.Status.RUNNING).update(progress=fraction)

    try:
        bundle = write_bundle(export.project, options, attempt, progress=report, export_id=export_id)
        report(0.97)
        zip_path = base / zip_name(export)
        write_zip(attempt, bundle.files, zip_path)
        final = base / "bundle"
        if final.exists():
            shutil.rmtree(final)  # left by an attempt that died after its rename
        os.replace(attempt, final)
    except BaseException:
        shutil.rmtree(attempt, ignore_errors=True)
        raise
    media = Path(settings.MEDIA_ROOT)
    files = {"bundle": str(zip_path.relative_to(media))}
    files.update((name, str((final / name).relative_to(media))) for name in bundle.files)
    Export.objects.filter(pk=export_id, status=Export.Status.RUNNING).update(
        status=Export.Status.DONE,
        progress=1.0,
        counts=bundle.counts,
        files=files,
        sha256={**bundle.sha256, "bundle": sha256_of(zip_path)},
        finished_at=timezone.now(),
    )
    return True


def fail_export(export_id: int, error: str) -> None:
    Export.objects.filter(pk=export_id).exclude(status=Export.Status.DONE).update(
        status=Export.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    )


def requeue_export(export_id: int) -> None:
    """Give a running export back to the queue before a retry (its partial files are gone)."""
    Export.objects.filter(pk=export_id, status=Export.Status.RUNNING).update(
        status=Export.Status.QUEUED, progress=0.0
    )

