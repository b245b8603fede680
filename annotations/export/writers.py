"""Writing the export's files: plain Python over plain records (no Django), shared by the
database export (bundle.py) and the bench's in-memory ceiling.

Every file is written under a temporary name in its directory, fsynced and renamed when complete,
so a reader (or a crash) never sees half a file under the final name."""

import contextlib
import csv
import hashlib
import os
import queue
import secrets
import sys
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import orjson

from .options import ExportOptions
from .pairs import PromptExport, PromptRecord, RankingRecord, conversation_of, kto_rows, prompt_rows

PARQUET_ROW_GROUP = 50_000  # pairs per Parquet row group: bounded memory, efficient reads


def temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def publish(tmp: Path, path: Path) -> None:
    """fsync, then atomically rename: a reader sees the whole file or none."""
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_file_atomically(path: Path, data: bytes) -> None:
    tmp = temporary_name(path)
    tmp.write_bytes(data)
    publish(tmp, path)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class _AtomicBinaryFile:
    """A binary file written under a temporary name and hashed as it is written.

    Hashing and writing happen in a background thread, fed with chunks of almost a megabyte
    through a short queue: hashlib and file writes release the GIL, so they run on another core
    while the export makes the next rows, and the queue keeps memory bounded. The thread also
    flushes to disk every SYNC_EVERY bytes, so the final fsync before the rename is short."""

    # Just under 1 MiB, the size from which bytes.join releases the GIL while it copies: the
    # producer would then wait to take the GIL back from the other threads at every chunk.
    CHUNK = 1_000_000
    # About a dozen chunks: room for what the producer makes while the thread waits on a flush.
    QUEUED = 12
    SYNC_EVERY = 64 << 20

    def __init__(self, path: Path) -> None:
        self.path, self.tmp = path, temporary_name(path)
        self.handle = open(self.tmp, "wb", buffering=0)  # noqa: SIM115 - closed in close()/abort()
        self.digest = hashlib.sha256()
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=self.QUEUED)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._drain, name=f"write {path.name}", daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        unsynced = 0
        while (chunk := self.queue.get()) is not None:
            if self.error is not None:
                continue  # keep taking chunks so that the producer never blocks
            try:
                self.digest.update(chunk)
                self.handle.write(chunk)
                unsynced += len(chunk)
                if unsynced >= self.SYNC_EVERY:
                    os.fdatasync(self.handle.fileno())
                    unsynced = 0
            except BaseException as exc:  # reported to the producer in write()/close()
                self.error = exc

    def write(self, data: bytes) -> None:
        if self.pending_size + len(data) > self.CHUNK:
            self._hand_over()  # before, so that a chunk stays below CHUNK (unless `data` alone exceeds it)
        self.pending.append(data)
        self.pending_size += len(data)

    def write_pieces(self, pieces: list[bytes]) -> None:
        """Like write(b"".join(pieces)), without that copy: the pieces are joined once, into the
        chunk handed to the thread (a conversational export's rows are ~3x longer, all copying)."""
        size = sum(map(len, pieces))
        if self.pending_size + size > self.CHUNK:
            self._hand_over()
        self.pending.extend(pieces)
        self.pending_size += size

    def _hand_over(self) -> None:
        if self.error is not None:
            raise self.error
        if self.pending:
            self.queue.put(b"".join(self.pending))
            self.pending, self.pending_size = [], 0

    def _stop(self) -> None:
        self.queue.put(None)
        self.thread.join()

    def close(self) -> str:
        self._hand_over()
        self._stop()
        if self.error is not None:
            self.handle.close()
            self.tmp.unlink(missing_ok=True)
            raise self.error
        self.handle.close()
        publish(self.tmp, self.path)
        return self.digest.hexdigest()

    def abort(self) -> None:
        self.pending = []
        self._stop()
        self.handle.close()
        self.tmp.unlink(missing_ok=True)


class RecordsJsonlWriter(_AtomicBinaryFile):
    """JSON Lines of dicts (rankings.jsonl)."""

    def write_records(self, records: list[dict[str, Any]]) -> None:
        dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        self.write(b"".join([dumps(record, option=option) for record in records]))


class JsonlPairWriter(_AtomicBinaryFile):
    """Pairs as JSON Lines, byte for byte what orjson makes of pairs.pair_record (a test checks
    it), but assembled from pieces serialised once: each text once per prompt (a prompt's texts
    recur in every one of its pairs, and escaping them is most of the cost of a line), and the end
    of a line (ranks, labeler, agreement, split, margin) once per distinct combination, which
    recurs across prompts. A line is five pieces joined, with no formatting per pair."""

    TAILS_KEPT = 4096  # distinct line ends remembered: a few per labeler, bounded whatever the project

    def __init__(self, path: Path, columns: tuple[str, ...], split: str, conversational: bool = False) -> None:
        super().__init__(path)
        self.with_margin = "margin" in columns
        self.split_tail = b',"split":' + orjson.dumps(split)
        self.tails: dict[tuple, bytes] = {}

    def _tail(self, row: tuple) -> bytes:
        """The end of the row's line, from the chosen_rank's value: `1,"rejected_rank":2,…}\n`.
        Remembered by value, which is safe because rows have fixed types (ranks int, agreement
        and margin float, labeler str or None): equal keys serialise alike."""
        _, _, chosen_rank, rejected_rank, labeler, agreement, margin = row
        tail = b'%d,"rejected_rank":%d,"labeler":%b,"agreement":%b%b' % (
            chosen_rank, rejected_rank, orjson.dumps(labeler), orjson.dumps(agreement), self.split_tail)
        tail += b',"margin":%b}\n' % orjson.dumps(margin) if self.with_margin else b"}\n"
        if len(self.tails) >= self.TAILS_KEPT:
            self.tails.clear()
        self.tails[row[2:]] = tail
        return tail

    def write_pairs(self, prompt: PromptRecord, rows: list[tuple]) -> None:
        dumps = orjson.dumps
        head = b'{"prompt":' + dumps(prompt.text) + b',"chosen":'
        prompt_id = b',"prompt_id":' + dumps(prompt.public_id) + b',"chosen_id":'
        # Per completion, the pieces of a line that depend on it as chosen, and as rejected:
        # '{"prompt":…,"chosen":<text>' and '<id>,"rejected_id":';
        # ',"rejected":<text>,"prompt_id":…,"chosen_id":' and '<id>,"chosen_rank":'.
        as_chosen, as_rejected = {}, {}
        for cid, text in prompt.completions.items():
            escaped = dumps(text)
            as_chosen[cid] = (head + escaped, b'%d,"rejected_id":' % cid)
            as_rejected[cid] = (b',"rejected":' + escaped + prompt_id, b'%d,"chosen_rank":' % cid)
        tails, tail_of = self.tails, self._tail
        pieces: list[bytes] = []
        extend = pieces.extend
        for row in rows:
            chosen, rejected = as_chosen[row[0]], as_rejected[row[1]]
            extend((chosen[0], rejected[0], chosen[1], rejected[1], tails.get(row[2:]) or tail_of(row)))
        self.write_pieces(pieces)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value):
    """A text cell that a spreadsheet would run as a formula (it starts with =, +, -, @, tab or CR),
    prefixed with `'` so that it shows as text (OWASP's CSV injection advice). Numbers pass as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _AtomicCsvFile:
    """A CSV file written under a temporary name with its header row, published whole by close()
    (renamed into place after an fsync) or removed by abort(): a reader never sees half a file."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self.path, self.tmp = path, temporary_name(path)
        self.handle = open(self.tmp, "w", encoding="utf-8", newline="", buffering=1 << 20)  # noqa: SIM115
        self.writer = csv.writer(self.handle)
        self.writer.writerow(columns)

    def close(self) -> None:
        self.handle.close()
        publish(self.tmp, self.path)

    def abort(self) -> None:
        self.handle.close()
        self.tmp.unlink(missing_ok=True)


class _AtomicParquetFile:
    """A zstd-compressed Parquet file of `schema` under a temporary name, published whole by close()
    or removed by abort(). Subclasses buffer rows and write them as row groups in _flush()."""

    def __init__(self, path: Path, schema) -> None:
        import pyarrow.parquet as pq

        self.path, self.tmp, self.schema = path, temporary_name(path), schema
        self.writer = pq.ParquetWriter(self.tmp, schema, compression="zstd")

    def _flush(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._flush()
        self.writer.close()
        publish(self.tmp, self.path)

    def abort(self) -> None:
        self.writer.close()
        self.tmp.unlink(missing_ok=True)


class CsvPairWriter(_AtomicCsvFile):
    """CSV with a header row; an empty cell for a null (e.g. `labeler` in consensus mode). Text cells
    are escaped against formula injection (`csv_safe`); JSONL and Parquet keep the text as it is."""

    def __init__(self, path: Path, columns: tuple[str, ...], split: str, conversational: bool = False) -> None:
        super().__init__(path, columns)
        self.split = split
        self.with_margin = "margin" in columns

    def write_pairs(self, prompt: PromptRecord, rows: list[tuple]) -> None:
        if not isinstance(prompt.text, str):  # conversational: the messages as JSON in the cell
            prompt = as_json_cells(prompt)
        text, public_id, split = csv_safe(prompt.text), csv_safe(prompt.public_id), csv_safe(self.split)
        texts = {cid: csv_safe(completion) for cid, completion in prompt.completions.items()}
        self.writer.writerows([
            [text, texts[chosen], texts[rejected], public_id, chosen, rejected, chosen_rank, rejected_rank,
             csv_safe(labeler), agreement, split, *((margin,) if self.with_margin else ())]
            for chosen, rejected, chosen_rank, rejected_rank, labeler, agreement, margin in rows
        ])


class ParquetPairWriter(_AtomicParquetFile):
    """Parquet with a fixed schema, zstd-compressed, written one row group at a time."""

    def __init__(self, path: Path, columns: tuple[str, ...], split: str, conversational: bool = False) -> None:
        import pyarrow as pa

        self.pa = pa
        types = {
            "chosen_id": pa.int64(), "rejected_id": pa.int64(), "chosen_rank": pa.int32(),
            "rejected_rank": pa.int32(), "agreement": pa.float64(), "margin": pa.float64(),
            **({name: MESSAGES_TYPE(pa) for name in ("prompt", "chosen", "rejected")} if conversational else {}),
        }
        super().__init__(path, pa.schema([(name, types.get(name, pa.string())) for name in columns]))
        self.columns, self.split = columns, split
        self.buffer: dict[str, list] = {name: [] for name in columns}
        self.buffered = 0

    def write_pairs(self, prompt: PromptRecord, rows: list[tuple]) -> None:
        columns, texts = self.buffer, prompt.completions
        for chosen, rejected, chosen_rank, rejected_rank, labeler, agreement, margin in rows:
            columns["chosen"].append(texts[chosen])
            columns["rejected"].append(texts[rejected])
            columns["chosen_id"].append(chosen)
            columns["rejected_id"].append(rejected)
            columns["chosen_rank"].append(chosen_rank)
            columns["rejected_rank"].append(rejected_rank)
            columns["labeler"].append(labeler)
            columns["agreement"].append(agreement)
            if "margin" in columns:
                columns["margin"].append(margin)
        columns["prompt"].extend([prompt.text] * len(rows))
        columns["prompt_id"].extend([prompt.public_id] * len(rows))
        columns["split"].extend([self.split] * len(rows))
        self.buffered += len(rows)
        if self.buffered >= PARQUET_ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.buffered:
            table = self.pa.Table.from_pydict(self.buffer, schema=self.schema)
            self.writer.write_table(table, row_group_size=PARQUET_ROW_GROUP)
            self.buffer = {name: [] for name in self.columns}
            self.buffered = 0


WRITERS = {"jsonl": JsonlPairWriter, "csv": CsvPairWriter, "parquet": ParquetPairWriter}


def MESSAGES_TYPE(pa):  # noqa: N802 - a type, built lazily (pyarrow is imported only for Parquet)
    """Parquet type of a list of chat messages, as TRL's conversational datasets hold them."""
    return pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def as_conversation(prompt: PromptRecord) -> PromptRecord:
    """The prompt in TRL's conversational preference format: `text` becomes the list of messages
    and each completion `[{"role": "assistant", "content": ...}]`. The writers take it as it is:
    orjson and pyarrow write lists as they write strings."""
    return prompt._replace(
        text=conversation_of(prompt),
        completions={cid: [{"role": "assistant", "content": text}] for cid, text in prompt.completions.items()},
    )


def as_json_cells(prompt: PromptRecord) -> PromptRecord:
    """A conversational prompt for CSV: its lists of messages as JSON text."""
    dumps = orjson.dumps
    return prompt._replace(
        text=dumps(prompt.text).decode(),
        completions={cid: dumps(value).decode() for cid, value in prompt.completions.items()},
    )


class CsvRecordWriter(_AtomicCsvFile):
    """Records (dicts) as CSV with a header row; a list (a conversation) as JSON text in its cell.
    Text cells are escaped against formula injection (`csv_safe`), as in the pair CSV."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        super().__init__(path, columns)
        self.columns = columns

    def write_records(self, records: list[dict[str, Any]]) -> None:
        dumps = orjson.dumps
        self.writer.writerows([
            [dumps(value).decode() if isinstance(value, list) else csv_safe(value) for value in record.values()]
            for record in records
        ])


class ParquetRecordWriter(_AtomicParquetFile):
    """Records (dicts) as Parquet, zstd-compressed, one row group at a time."""

    def __init__(self, path: Path, columns: tuple[str, ...], types: dict[str, Any]) -> None:
        import pyarrow as pa

        self.pa = pa
        super().__init__(path, pa.schema([(name, types.get(name, pa.string())) for name in columns]))
        self.buffer: list[dict[str, Any]] = []

    def write_records(self, records: list[dict[str, Any]]) -> None:
        self.buffer.extend(records)
        if len(self.buffer) >= PARQUET_ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.buffer:
            self.writer.write_table(self.pa.Table.from_pylist(self.buffer, schema=self.schema))
            self.buffer = []


def kto_writer(options: ExportOptions, path: Path, conversational: bool):
    if options.format == "jsonl":
        return RecordsJsonlWriter(path)
    if options.format == "csv":
        return CsvRecordWriter(path, options.columns)
    import pyarrow as pa

    types = {"label": pa.bool_(), "completion_id": pa.int64()}
    if conversational:
        types.update(prompt=MESSAGES_TYPE(pa), completion=MESSAGES_TYPE(pa))
    return ParquetRecordWriter(path, options.columns, types)


def kto_records(prompt: PromptRecord, rows: list[tuple[int, bool, str]], split: str) -> list[dict[str, Any]]:
    """The contract's KTO rows (`prompt` and `completion` already conversational if the export is)."""
    text, texts, public_id = prompt.text, prompt.completions, prompt.public_id
    return [
        {"prompt": text, "completion": texts[cid], "label": label, "prompt_id": public_id,
         "completion_id": cid, "labeler": labeler, "split": split}
        for cid, label, labeler in rows
    ]


class Counts(NamedTuple):
    prompts: int
    rankings: int
    pairs: int


class PairsResult(NamedTuple):
    splits: dict[str, Counts]
    files: list[str]  # names of the files written in out_dir
    sha256: dict[str, str]  # of the files hashed while written (the others: sha256_of afterwards)
    rankings_by_version: dict[int | None, int]  # instructions version → rankings exported under it
    identical_pairs_dropped: int  # pairs of identical texts left out (pairs.py)


SWITCH_INTERVAL = 0.0005  # seconds; Python's default is 0.005


@contextlib.contextmanager
def quick_thread_switches() -> Iterator[None]:
    """A shorter GIL switch interval while the export makes its rows.

    Its helper threads (the file writers, the database reader) spend their time in calls that
    release the GIL (hashing, writing, fetching) but need it for a moment between two calls;
    while the main thread makes rows they wait for it up to the switch interval each time, and
    at the default 5 ms the pair file's writer falls behind and the main thread waits on it
    (about 1 s of a 100,000-prompt export). The previous interval comes back afterwards, unless
    something else changed it meanwhile (e.g. a second export in another thread)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, SWITCH_INTERVAL))
    ours = sys.getswitchinterval()
    try:
        yield
    finally:
        if sys.getswitchinterval() == ours:
            sys.setswitchinterval(previous)


def write_pairs(
    prompts: Iterable[tuple[PromptRecord, list[RankingRecord]]],
    options: ExportOptions,
    out_dir: Path,
    pseudonym: Callable[[int], str],
    on_prompt: Callable[[int], None] | None = None,
    *,
    conversational: bool = False,
    thumbs: bool = False,
) -> PairsResult:
    """Write the pair file(s) (or, for a kto export, the KTO rows) and rankings.jsonl from a stream
    of (prompt, its rankings), one prompt at a time. `on_prompt(rankings_done)` is called after
    each prompt (for progress). `conversational`: every row in TRL's conversational format;
    `thumbs`: the rankings are thumbs (tiers `[ups, downs]`)."""
    names = options.pair_file_names()
    kto = options.kind == "kto"
    if kto:
        writers = {split: kto_writer(options, out_dir / name, conversational) for split, name in names.items()}
    else:
        writers = {split: WRITERS[options.format](out_dir / name, options.columns, split, conversational)
                   for split, name in names.items()}
    raw = RecordsJsonlWriter(out_dir / "rankings.jsonl")
    counts = {split: [0, 0, 0] for split in names}
    by_version: dict[int | None, int] = {}
    identical = done = 0
    try:
        with quick_thread_switches():
            for prompt, rankings in prompts:
                result: PromptExport = prompt_rows(prompt, rankings, options, pseudonym, thumbs)
                shown = as_conversation(prompt) if conversational else prompt
                if kto:
                    rows = kto_rows(prompt, rankings, pseudonym, thumbs)
                    result = result._replace(pairs=rows, identical_dropped=0)  # no pairs in KTO
                    if rows:
                        writers[result.split].write_records(kto_records(shown, rows, result.split))
                elif result.pairs:
                    writers[result.split].write_pairs(shown, result.pairs)
                raw.write_records(result.rankings)
                tally = counts[result.split]
                tally[0] += 1
                tally[1] += len(rankings)
                tally[2] += len(result.pairs)
                identical += result.identical_dropped
                for ranking in rankings:
                    version = ranking.instruction_version
                    by_version[version] = by_version.get(version, 0) + 1
                done += len(rankings)
                if on_prompt is not None:
                    on_prompt(done)
    except BaseException:
        for writer in [*writers.values(), raw]:
            writer.abort()
        raise
    digests = {}
    for split, writer in writers.items():
        digest = writer.close()
        if digest:
            digests[names[split]] = digest
    digests["rankings.jsonl"] = raw.close()
    return PairsResult(
        {split: Counts(*tally) for split, tally in counts.items()},
        [*names.values(), "rankings.jsonl"],
        digests,
        by_version,
        identical,
    )


def write_zip(source_dir: Path, names: list[str], out: BinaryIO) -> None:
    """One zip of the bundle, written forward only into `out` (a storage stream: the local disk or
    an object store's multipart upload). When `out` cannot seek, zipfile puts each entry's sizes
    after its data (data descriptors), which every unzip, Python's zipfile and `datasets` read."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name in names:
            # Parquet is compressed already: storing it saves time and loses nothing.
            method = zipfile.ZIP_STORED if name.endswith(".parquet") else zipfile.ZIP_DEFLATED
            archive.write(source_dir / name, arcname=name, compress_type=method)
