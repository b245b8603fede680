"""Prompt-set files (JSONL, CSV, Parquet): read as a stream, validated record by record.

Pure: no Django here. `annotations/prompt_sets.py` stores what this module accepts.

Every problem becomes an `ImportProblem` that names where it is (JSONL: `line`, the first line is 1;
CSV: `row`, the header is row 1; Parquet: `row`, the first record is row 1) and the field, and reads
like `line 7: "completions" must be a list of strings`.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import orjson

from .jsonlimits import MAX_DEPTH, JsonTooDeep, loads_bounded

FORMATS = {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet"}
MAX_ERRORS = 50
MAX_COMPLETIONS = 100  # Completion.position is a small integer; no real prompt needs more
MAX_ID_LENGTH = 255  # Prompt.external_id
ROLES = ("system", "user", "assistant")  # the roles of a conversation's messages (OpenAI's chat roles)
CHECK_IDS_EVERY = 2000  # records per call of the "which ids are already taken" lookup
# A JSONL line or CSV line longer than this is refused without holding more of it in memory.
MAX_LINE_BYTES = 32 * 1024 * 1024
# Parquet: checked from the file's footer before a single row is read, so a file that claims
# billions of rows, or decompresses to far more than it weighs (a compression bomb), costs nothing.
MAX_PARQUET_ROWS = 2_000_000
MAX_ROW_GROUP_BYTES = 256 * 1024 * 1024  # uncompressed; pyarrow decodes a row group's column chunks whole
MAX_PARQUET_BYTES = 4 * 1024 * 1024 * 1024  # uncompressed, the whole file
MAX_EXPANSION = 100  # uncompressed size / file size: text compresses 3-10 times, never a hundred
EXPANSION_FLOOR = 16 * 1024 * 1024  # small files may expand more: they cost nothing either way
_BOM = codecs.BOM_UTF8
_COMPLETION_COLUMN = re.compile(r"^completion_(\d+)$")


@dataclass(frozen=True)
class ImportProblem:
    """One reason to refuse a file. `unit` is "line" or "row"; `number` is None for file-wide problems."""

    message: str
    unit: str = "line"
    number: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        return f"{self.unit} {self.number}: {self.message}" if self.number is not None else self.message

    def as_dict(self) -> dict:
        return {self.unit: self.number, "field": self.field, "message": str(self)}


@dataclass(frozen=True)
class CompletionRecord:
    text: str
    model: str = ""


@dataclass(frozen=True)
class PromptRecord:
    """One valid prompt, ready to store. `metadata_json` is the canonical JSON of its metadata. A
    conversation has `messages_json` (the canonical JSON of its messages) and `text` is then its
    last (user) message; a plain prompt has `messages_json` None."""

    number: int
    text: str
    external_id: str | None
    metadata_json: str
    completions: tuple[CompletionRecord, ...]
    messages_json: str | None = None


@dataclass
class ValidationReport:
    errors: list[ImportProblem] = field(default_factory=list)  # the first MAX_ERRORS
    total_errors: int = 0
    prompts: int = 0
    completions: int = 0

    @property
    def ok(self) -> bool:
        return self.total_errors == 0

    def add(self, problem: ImportProblem) -> None:
        self.total_errors += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(problem)


class PromptSetError(Exception):
    """A file that cannot be imported; carries its first problems and their total."""

    def __init__(self, errors: list[ImportProblem], total_errors: int | None = None):
        self.errors = errors
        self.total_errors = total_errors if total_errors is not None else len(errors)
        more = self.total_errors - len(errors)
        lines = [str(e) for e in errors] + ([f"... and {more} more errors"] if more > 0 else [])
        super().__init__("\n".join(lines))


def file_format(filename: str) -> str:
    """"jsonl", "csv" or "parquet" from the file name, else PromptSetError."""
    lower = filename.lower()
    for extension, name in FORMATS.items():
        if lower.endswith(extension):
            return name
    shown = "." + lower.rsplit(".", 1)[-1] if "." in lower else "no extension"
    raise PromptSetError([ImportProblem(
        f'unknown file type "{shown}" in {filename!r}: use .jsonl, .csv or .parquet', field="file"
    )])


# --- reading: each reader yields (number, record dict or None, problem or None) -----------------

Raw = tuple[int, dict | None, ImportProblem | None]


def read_jsonl(stream: BinaryIO) -> Iterator[Raw]:
    """One JSON object a line. BOM and CRLF accepted, blank lines skipped, never the whole file in memory."""
    seen_any = False
    for number, line in enumerate(bounded_lines(stream, "line"), start=1):
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM):]
        if not line.strip():
            continue
        seen_any = True
        try:
            record = loads_bounded(line)
        except JsonTooDeep:
            yield number, None, ImportProblem(f"JSON nested deeper than {MAX_DEPTH} levels", "line", number)
            continue
        except orjson.JSONDecodeError as exc:
            yield number, None, _json_problem(line, number, exc)
            continue
        if not isinstance(record, dict):
            yield number, None, ImportProblem(
                f"expected a JSON object, got {_json_type(record)}", "line", number
            )
            continue
        yield number, record, None
    if not seen_any:
        yield 0, None, ImportProblem("the file is empty: no prompts found", field="file")


def bounded_lines(stream: BinaryIO, unit: str) -> Iterator[bytes]:
    """The stream's lines (split at LF only; a CR before it stays), each at most MAX_LINE_BYTES:
    a longer one ends the file with a PromptSetError naming it, having read at most that much."""
    number = 0
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_BYTES:
            raise PromptSetError([ImportProblem(
                f"longer than {MAX_LINE_BYTES // (1024 * 1024)} MB: not a prompt-set file, or one record "
                "is far too long", unit, number)])
        yield line


def _json_problem(line: bytes, number: int, exc: Exception) -> ImportProblem:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as bad:
        return ImportProblem(
            f"invalid UTF-8 (byte 0x{line[bad.start]:02x} at byte {bad.start + 1} of the line)", "line", number
        )
    detail = str(exc).split(":", 1)[0]
    return ImportProblem(f"invalid JSON ({detail})", "line", number)


def read_csv(stream: BinaryIO) -> Iterator[Raw]:
    """Header row, then one prompt a row (row numbers as a spreadsheet shows them: the header is row 1).

    Lines are decoded with surrogateescape so that a bad byte is reported with its row, not as a
    crash somewhere in the middle of the file."""
    csv.field_size_limit(1 << 30)  # completions can be long; the csv module's default is 128 KiB
    # strict: a quote left open at the end (a truncated file) is an error, not a last prompt cut short.
    reader = csv.reader(_decoded_lines(stream), strict=True)
    header = None
    data_rows = 0
    for row_number, cells in _csv_rows(reader):
        if header is None:
            if not any(cell.strip() for cell in cells):
                continue  # blank lines before the header
            header = [cell.strip() for cell in cells]
            problem = _check_header(header)
            if problem:
                yield 1, None, problem
                return
            completion_columns = sorted(
                (int(m.group(1)), index) for index, name in enumerate(header) if (m := _COMPLETION_COLUMN.match(name))
            )
            continue
        number = row_number  # the spreadsheet row: csv records, so a quoted multi-line cell is one row
        if not any(cell.strip() for cell in cells):
            continue
        data_rows += 1
        if any(_has_bad_bytes(cell) for cell in cells):
            column = next(header[i] if i < len(header) else f"column {i + 1}" for i, c in enumerate(cells)
                          if _has_bad_bytes(c))
            yield number, None, ImportProblem("invalid UTF-8", "row", number, column)
            continue
        if len(cells) > len(header):
            yield number, None, ImportProblem(
                f"has {len(cells)} cells but the header has {len(header)} columns", "row", number
            )
            continue
        values = dict(zip(header, cells, strict=False))
        record: dict = {"prompt": values.get("prompt", "")}
        if values.get("id", "").strip():
            record["id"] = values["id"]
        record["completions"] = [
            cells[index] for _, index in completion_columns if index < len(cells) and cells[index].strip()
        ]
        yield number, record, None
    if header is None:
        yield 0, None, ImportProblem("the file is empty: no header row", field="file")
    elif not data_rows:
        yield 0, None, ImportProblem("the file has a header but no prompts", field="file")


def _csv_rows(reader) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells); the csv module's own errors become a PromptSetError naming the row."""
    row_number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise PromptSetError([ImportProblem(f"not valid CSV ({exc})", "row", row_number + 1)])
        row_number += 1
        yield row_number, cells


def _decoded_lines(stream: BinaryIO) -> Iterator[str]:
    for number, line in enumerate(bounded_lines(stream, "row"), start=1):
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM):]
        yield line.decode("utf-8", "surrogateescape")


def _has_bad_bytes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_header(header: list[str]) -> ImportProblem | None:
    if "prompt" not in header:
        return ImportProblem('the header has no "prompt" column', "row", 1, "prompt")
    duplicates = sorted({name for name in header if name and header.count(name) > 1})
    if duplicates:
        return ImportProblem(f'column "{duplicates[0]}" appears more than once in the header', "row", 1,
                             duplicates[0])
    return None


def read_parquet(stream: BinaryIO, batch_size: int = 2048) -> Iterator[Raw]:
    """Columns prompt or messages (list of {role, content}), optional id, optional completions (list of
    strings or of {text, model}), optional metadata. Read a record batch at a time."""
    import pyarrow as pa  # lazy: pyarrow takes a while to import and JSONL/CSV do not need it
    import pyarrow.parquet as pq

    try:
        size = stream.seek(0, 2)
        stream.seek(0)
        parquet = pq.ParquetFile(stream)
        names = parquet.schema_arrow.names
    except (pa.ArrowException, OSError, ValueError) as exc:
        yield 0, None, ImportProblem(f"not a readable Parquet file ({_arrow_message(exc)})", field="file")
        return
    problem = check_parquet_metadata(parquet.metadata, size)
    if problem is not None:
        yield 0, None, problem
        return
    if "prompt" not in names and "messages" not in names:
        yield 0, None, ImportProblem('the file has neither a "prompt" nor a "messages" column', field="prompt")
        return
    columns = [name for name in ("prompt", "messages", "id", "completions", "metadata") if name in names]
    number = 0
    try:
        for batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
            for record in batch.to_pylist():
                number += 1
                yield number, {key: value for key, value in record.items() if value is not None}, None
    except (pa.ArrowException, OSError, ValueError) as exc:
        # Any damage found while reading (truncated pages, bad encodings, a corrupt footer's lies):
        # a problem that names where the reading stopped, never a crash.
        yield number + 1, None, ImportProblem(
            f"the Parquet file is damaged from here on and cannot be read ({_arrow_message(exc)})", "row", number + 1)
        return
    if number == 0:
        yield 0, None, ImportProblem("the file is empty: no rows", field="file")


def check_parquet_metadata(metadata, file_size: int) -> ImportProblem | None:
    """A problem when the footer promises more than LabelHub will read: too many rows, a row group too
    large to decode, or an uncompressed size far beyond the file's own (a compression bomb)."""
    rows = metadata.num_rows
    if rows > MAX_PARQUET_ROWS:
        return ImportProblem(f"the file has {rows:,} rows; at most {MAX_PARQUET_ROWS:,} are allowed", field="file")
    total_rows = total_bytes = 0
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        total_rows += group.num_rows
        group_bytes = sum(group.column(c).total_uncompressed_size for c in range(group.num_columns))
        total_bytes += group_bytes
        if group_bytes > MAX_ROW_GROUP_BYTES:
            return ImportProblem(
                f"row group {index + 1} holds {group_bytes:,} bytes uncompressed; at most {MAX_ROW_GROUP_BYTES:,} "
                "are allowed (write the file with smaller row groups)", field="file")
    if total_rows != rows or rows < 0:
        return ImportProblem(f"the file's metadata is inconsistent: it claims {rows:,} rows but its row groups "
                             f"hold {total_rows:,}", field="file")
    allowed = min(MAX_PARQUET_BYTES, max(EXPANSION_FLOOR, MAX_EXPANSION * file_size))
    if total_bytes > allowed:
        return ImportProblem(f"the file decompresses to {total_bytes:,} bytes, more than the {allowed:,} allowed "
                             f"for a file of {file_size:,} bytes", field="file")
    return None


def _arrow_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def read_records(stream: BinaryIO, filename: str) -> Iterator[Raw]:
    kind = file_format(filename)
    if kind == "jsonl":
        return read_jsonl(stream)
    if kind == "csv":
        return read_csv(stream)
    return read_parquet(stream)


# --- validating ----------------------------------------------------------------------------------


def check_record(record: dict, number: int, unit: str, *, generation_enabled: bool
                 ) -> tuple[PromptRecord | None, list[ImportProblem]]:
    """The rules for one prompt, whatever the file format."""
    problems: list[ImportProblem] = []

    def problem(field_name: str, message: str) -> None:
        problems.append(ImportProblem(message, unit, number, field_name))

    text = record.get("prompt")
    messages_json = None
    if "messages" in record:
        if text is not None:
            problem("messages", 'give either "prompt" or "messages", not both')
        else:
            text, messages_json = _check_messages(record["messages"], problem)
    elif text is None:
        problem("prompt", '"prompt" is missing (or give "messages")')
    elif not isinstance(text, str):
        problem("prompt", f'"prompt" must be a string, not {_json_type(text)}')
    elif not text or text.isspace():
        problem("prompt", '"prompt" is empty')
    elif "\x00" in text:
        problem("prompt", '"prompt" contains a NUL character')

    external_id = record.get("id")
    if external_id is not None:
        if isinstance(external_id, int) and not isinstance(external_id, bool):
            external_id = str(external_id)
        if not isinstance(external_id, str):
            problem("id", f'"id" must be a string or a whole number, not {_json_type(external_id)}')
            external_id = None
        elif not external_id.strip():
            problem("id", '"id" is empty (leave it out to let LabelHub number the prompt)')
            external_id = None
        elif len(external_id) > MAX_ID_LENGTH or "\x00" in external_id:
            problem("id", f'"id" must be at most {MAX_ID_LENGTH} characters without NUL characters')
            external_id = None

    problems_before = len(problems)
    completions = _check_completions(record.get("completions"), problem)
    if len(completions) == 1 and not generation_enabled and len(problems) == problems_before:
        problem("completions", '"completions" has only one completion: give at least two, or none and '
                               "turn generation on for the project")

    metadata = record.get("metadata", {})
    metadata_json = "{}"
    if not isinstance(metadata, dict):
        problem("metadata", f'"metadata" must be an object, not {_json_type(metadata)}')
    elif metadata:
        try:
            metadata_json = orjson.dumps(metadata).decode()
        except TypeError:
            problem("metadata", '"metadata" must hold JSON values only')
        if "\\u0000" in metadata_json:
            problem("metadata", '"metadata" contains a NUL character')

    if problems:
        return None, problems
    return PromptRecord(number, text, external_id, metadata_json, tuple(completions), messages_json), []


def _check_messages(value, problem: Callable[[str, str], None]) -> tuple[str | None, str | None]:
    """A conversation: (its last user message, the canonical JSON of its messages), or (None, None)
    after reporting what is wrong. Keys other than role and content are dropped."""
    if not isinstance(value, list) or not value:
        problem("messages", '"messages" must be a non-empty list of {"role": ..., "content": ...} objects')
        return None, None
    messages = []
    for index, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            problem("messages", f'"messages" item {index} must be an object, not {_json_type(item)}')
            return None, None
        role, content = item.get("role"), item.get("content")
        if role not in ROLES:
            shown = f"{role!r}" if isinstance(role, str) else _json_type(role)
            problem("messages", f'"messages" item {index} has an unknown role {shown}: use system, user or assistant')
            return None, None
        if not isinstance(content, str):
            problem("messages", f'"messages" item {index}: "content" must be a string, not {_json_type(content)}')
            return None, None
        if not content or content.isspace():
            problem("messages", f'"messages" item {index}: "content" is empty')
            return None, None
        if "\x00" in content:
            problem("messages", f'"messages" item {index}: "content" contains a NUL character')
            return None, None
        messages.append({"role": role, "content": content})
    if messages[-1]["role"] != "user":
        problem("messages", f'"messages" must end with a user message; the last is {messages[-1]["role"]!r}')
        return None, None
    return messages[-1]["content"], orjson.dumps(messages).decode()


def _check_completions(value, problem: Callable[[str, str], None]) -> list[CompletionRecord]:
    if value is None:
        return []
    if not isinstance(value, list):
        problem("completions", '"completions" must be a list of strings')
        return []
    if len(value) > MAX_COMPLETIONS:
        problem("completions", f'"completions" has {len(value)} items; at most {MAX_COMPLETIONS} are allowed')
        return []
    completions = []
    for index, item in enumerate(value, start=1):
        model = ""
        if isinstance(item, dict):
            model = item.get("model") or ""
            item = item.get("text")
            if not isinstance(model, str):
                problem("completions", f'"completions" item {index}: "model" must be a string')
                continue
        if not isinstance(item, str):
            problem("completions", '"completions" must be a list of strings (or of {"text": ..., "model": ...} '
                                   f"objects); item {index} is {_json_type(item)}")
            continue
        if not item or item.isspace():
            problem("completions", f'"completions" item {index} is empty')
            continue
        if "\x00" in item:
            problem("completions", f'"completions" item {index} contains a NUL character')
            continue
        completions.append(CompletionRecord(item, model[:200]))
    return completions


def iter_checked(
    raws: Iterable[Raw],
    unit: str,
    *,
    generation_enabled: bool,
    taken_ids: Callable[[list[str]], set[str]] = lambda ids: set(),
) -> Iterator[PromptRecord | ImportProblem]:
    """Valid prompts and problems in file order. `taken_ids(ids)` answers which of `ids` the project
    already has; it is asked once per CHECK_IDS_EVERY records, so a database lookup stays cheap."""
    first_seen: dict[str, int] = {}
    pending: list[PromptRecord | ImportProblem] = []

    def flush() -> Iterator[PromptRecord | ImportProblem]:
        ids = [item.external_id for item in pending if isinstance(item, PromptRecord) and item.external_id]
        taken = taken_ids(ids) if ids else set()
        for item in pending:
            if isinstance(item, PromptRecord) and item.external_id is not None:
                earlier = first_seen.setdefault(item.external_id, item.number)
                if earlier != item.number:
                    yield ImportProblem(f'duplicate "id" {item.external_id!r}: already used on {unit} {earlier}',
                                        unit, item.number, "id")
                    continue
                if item.external_id in taken:
                    yield ImportProblem(f'"id" {item.external_id!r} already exists in this project',
                                        unit, item.number, "id")
                    continue
            yield item
        pending.clear()

    for number, record, problem in raws:
        if problem is not None:
            pending.append(problem)
        else:
            checked, problems = check_record(record, number, unit, generation_enabled=generation_enabled)
            pending.extend(problems or [checked])
        if len(pending) >= CHECK_IDS_EVERY:
            yield from flush()
    yield from flush()


def unit_for(filename: str) -> str:
    return "line" if file_format(filename) == "jsonl" else "row"


def parse_prompt_set(
    stream: BinaryIO,
    filename: str,
    *,
    generation_enabled: bool,
    taken_ids: Callable[[list[str]], set[str]] = lambda ids: set(),
) -> Iterator[PromptRecord | ImportProblem]:
    """The one parser behind every door: valid prompts and problems, in file order, streaming."""
    return iter_checked(read_records(stream, filename), unit_for(filename),
                        generation_enabled=generation_enabled, taken_ids=taken_ids)


def validate_prompt_set(
    stream: BinaryIO,
    filename: str,
    *,
    generation_enabled: bool,
    taken_ids: Callable[[list[str]], set[str]] = lambda ids: set(),
    on_valid: Callable[[PromptRecord], None] | None = None,
) -> ValidationReport:
    """Read the whole file once: counts, the first MAX_ERRORS problems and their total.

    `on_valid` receives each valid prompt as long as no problem has been seen, so that a caller can
    stage the rows for the insert during this same pass (they are thrown away if a problem follows)."""
    report = ValidationReport()
    try:
        items = parse_prompt_set(stream, filename, generation_enabled=generation_enabled, taken_ids=taken_ids)
        for item in items:
            if isinstance(item, ImportProblem):
                report.add(item)
            else:
                report.prompts += 1
                report.completions += len(item.completions)
                if on_valid is not None and report.ok:
                    on_valid(item)
    except PromptSetError as exc:
        for problem in exc.errors:
            report.add(problem)
    return report


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
