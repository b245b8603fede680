"""Storing prompt sets: the one importer behind the upload page, the API and `manage.py import_prompts`.

The file is validated completely first, as a stream; only a file without a single problem is then
inserted, inside one transaction. The validation pass also stages the rows for PostgreSQL's COPY in
temporary files (one parse of the file), and the insert is two COPY statements (about ten times
faster than INSERTs for long completions).
"""

import logging
import os
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import orjson
import psycopg2
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from .importing import (
    ImportProblem,
    PromptRecord,
    PromptSetError,
    file_format,
    validate_prompt_set,
)
from .models import Completion, Project, Prompt, PromptSet
from .storage import prompt_set_prefix

logger = logging.getLogger(__name__)

ID_BLOCK = 1000  # prompt ids reserved per sequence query
COPY_CHUNK = 1 << 20  # bytes per read of the staged rows


class PromptSetRejected(PromptSetError):
    """A refused file; `prompt_set` is the failed PromptSet row that records the errors."""

    def __init__(self, prompt_set: PromptSet, errors: list[ImportProblem], total_errors: int):
        super().__init__(errors, total_errors)
        self.prompt_set = prompt_set


def import_prompt_set(
    project: Project,
    source: str | os.PathLike | BinaryIO,
    filename: str | None = None,
    uploaded_by=None,
) -> PromptSet:
    """Validate then store a prompt-set file, all or nothing. Raises PromptSetRejected on a bad file."""
    filename = filename or os.path.basename(getattr(source, "name", None) or str(source))
    with ExitStack() as stack:
        stream = source if hasattr(source, "read") else stack.enter_context(Path(source).open("rb"))
        prompt_set = PromptSet.objects.create(project=project, uploaded_by=uploaded_by, filename=filename[:255])
        try:
            file_format(filename)
        except PromptSetError as exc:
            _reject(prompt_set, exc.errors, exc.total_errors)

        staged = stack.enter_context(CopyStage(project, prompt_set))
        try:
            report = validate_prompt_set(
                stream, filename, generation_enabled=project.generation_enabled, taken_ids=_taken_ids(project),
                on_valid=staged.add,
            )
        except Exception as exc:
            # A file that breaks the reader in a way nobody foresaw: the upload is recorded as failed
            # (never left "importing") with what broke, and the traceback goes to the log.
            logger.exception("prompt set %s (%s) could not be read", prompt_set.pk, filename)
            _reject(prompt_set, [ImportProblem(
                f"the file could not be read ({type(exc).__name__}); nothing was imported", field="file")], 1)
        if not report.ok:
            _reject(prompt_set, report.errors, report.total_errors)

        # The accepted file is kept in storage (local disk or object store) for the record; a refused
        # one is not. Stored before the insert, removed again if the insert fails: all or nothing.
        stream.seek(0)
        stored_as = default_storage.save(stored_name(prompt_set), File(stream, name=filename))
        try:
            with transaction.atomic():
                staged.copy()
                PromptSet.objects.filter(pk=prompt_set.pk).update(
                    status=PromptSet.Status.DONE, prompts=report.prompts, completions=report.completions,
                    stored_as=stored_as,
                )
        except IntegrityError:
            default_storage.delete(stored_as)
            # Another upload stored one of these ids between our validation and our insert.
            _reject(prompt_set, [ImportProblem(
                "an id in this file was stored by another upload of the same project meanwhile; "
                "nothing was imported, try again", field="id")], 1)
        except BaseException:
            default_storage.delete(stored_as)
            raise
    prompt_set.refresh_from_db()
    return prompt_set


def stored_name(prompt_set: PromptSet) -> str:
    """Where an accepted upload is kept: under its project's prefix, so deleting the project's
    files is one prefix (storage.delete_prefix)."""
    safe = get_valid_filename(os.path.basename(prompt_set.filename)) or "upload"
    return f"{prompt_set_prefix(prompt_set.project_id)}/{prompt_set.pk}/{safe}"


def _reject(prompt_set: PromptSet, errors: list[ImportProblem], total_errors: int):
    stored = [problem.as_dict() for problem in errors]
    if total_errors > len(errors):
        stored.append({"line": None, "field": None, "message": f"... and {total_errors - len(errors)} more errors"})
    PromptSet.objects.filter(pk=prompt_set.pk).update(status=PromptSet.Status.FAILED, errors=stored)
    raise PromptSetRejected(prompt_set, errors, total_errors)


def _taken_ids(project: Project):
    def taken(ids: list[str]) -> set[str]:
        rows = Prompt.objects.filter(project=project, external_id__in=ids).values_list("external_id", flat=True)
        return set(rows)

    return taken


# --- PostgreSQL COPY -------------------------------------------------------------------------------


def copy_text(value: str) -> str:
    """Escape one value for COPY's text format. Most values need nothing: four substring tests
    find that out about fifteen times faster than one regular-expression search."""
    if "\\" not in value and "\t" not in value and "\n" not in value and "\r" not in value:
        return value
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_value(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        return copy_text(orjson.dumps(value).decode())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return copy_text(str(value))


class CopyLayout:
    """The columns of a COPY into `model`: the ones the importer fills (in order), then every other
    column with its model default, so a column added later by a migration needs no change here."""

    def __init__(self, model, filled: tuple[str, ...], now):
        fields = [f for f in model._meta.concrete_fields if not (f.primary_key and f.attname not in filled)]
        rest = [f for f in fields if f.attname not in filled]
        by_attname = {f.attname: f for f in fields}
        self.columns = [by_attname[name].column for name in filled] + [f.column for f in rest]
        defaults = [now if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False) else f.get_default()
                    for f in rest]
        self.tail = "".join("\t" + copy_value(value) for value in defaults) + "\n"
        self.sql = f"COPY {model._meta.db_table} ({', '.join(self.columns)}) FROM STDIN"


PROMPT_FILLED = ("id", "project_id", "prompt_set_id", "external_id", "text", "metadata", "num_completions",
                 "messages")
COMPLETION_FILLED = ("prompt_id", "position", "text", "source", "model")


class CopyStage:
    """Rows for PostgreSQL's COPY, written to temporary files while the file is validated, so the file
    is parsed only once; the insert is then two COPY statements in one transaction. Memory stays flat
    (the rows go to disk); prompt ids are reserved from the table's sequence as the rows are staged,
    so a refused file only leaves a gap in the ids."""

    def __init__(self, project: Project, prompt_set: PromptSet):
        now = timezone.now()
        self.prompt_layout = CopyLayout(Prompt, PROMPT_FILLED, now)
        self.completion_layout = CopyLayout(Completion, COMPLETION_FILLED, now)
        self.prompt_head = f"\t{project.pk}\t{prompt_set.pk}\t"
        self._ids: list[int] = []

    def __enter__(self) -> "CopyStage":
        # Binary: the rows are encoded once here, and psycopg2 sends the bytes as they are.
        self.prompt_rows = tempfile.TemporaryFile("w+b", prefix="labelhub-prompts-")
        self.completion_rows = tempfile.TemporaryFile("w+b", prefix="labelhub-completions-")
        return self

    def __exit__(self, *exc_info) -> None:
        self.prompt_rows.close()
        self.completion_rows.close()

    def _next_id(self) -> int:
        if not self._ids:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [Prompt._meta.db_table, ID_BLOCK],
                )
                self._ids = [row[0] for row in reversed(cursor.fetchall())]
        return self._ids.pop()

    def add(self, record: PromptRecord) -> None:
        prompt_id = self._next_id()
        external_id = copy_text(record.external_id) if record.external_id is not None else "\\N"
        messages = copy_text(record.messages_json) if record.messages_json is not None else "\\N"
        self.prompt_rows.write((
            f"{prompt_id}{self.prompt_head}{external_id}\t{copy_text(record.text)}\t"
            f"{copy_text(record.metadata_json)}\t{len(record.completions)}\t"
            f"{messages}{self.prompt_layout.tail}"
        ).encode())
        if record.completions:
            tail = self.completion_layout.tail
            self.completion_rows.write("".join(
                f"{prompt_id}\t{position}\t{copy_text(completion.text)}\tuploaded\t{copy_text(completion.model)}{tail}"
                for position, completion in enumerate(record.completions, start=1)
            ).encode())

    def copy(self) -> None:
        """Send the staged rows; call inside the import's transaction."""
        with connection.cursor() as cursor:
            staged = ((self.prompt_layout, self.prompt_rows), (self.completion_layout, self.completion_rows))
            for layout, rows in staged:
                rows.flush()
                if rows.tell() == 0:
                    continue
                rows.seek(0)
                try:
                    cursor.copy_expert(layout.sql, rows, COPY_CHUNK)
                except psycopg2.IntegrityError as exc:
                    raise IntegrityError(str(exc)) from exc
