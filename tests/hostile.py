"""The large files of the hostile corpus, built at test time (tests/data/hostile/ holds the small ones):
each is tiny to build or to store compressed, and hostile only once it is read."""

import io
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

MB = 1024 * 1024


def fifty_mb_line(path: Path) -> Path:
    """One JSONL line of 50 MB, no newline: a reader that holds a line in memory holds all of it."""
    with path.open("wb") as out:
        out.write(b'{"prompt": "')
        chunk = b"a" * MB
        for _ in range(50):
            out.write(chunk)
        out.write(b'", "completions": ["a", "b"]}')
    return path


def zip_bomb(path: Path) -> Path:
    """A zip archive of 200 MB of zeros (about 200 KB), named .parquet."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive, \
            archive.open("prompts.parquet", "w", force_zip64=True) as member:
        zeros = bytes(MB)
        for _ in range(200):
            member.write(zeros)
    return path


def parquet_bomb(path: Path) -> Path:
    """A real Parquet file of a few KB whose one column decompresses to 40 MB."""
    table = pa.table({"prompt": pa.array(["a" * MB] * 40)})
    pq.write_table(table, path, compression="zstd", use_dictionary=False)
    return path


def huge_row_count(path: Path) -> Path:
    """A real Parquet file of a few KB that holds 3,000,000 rows (all null)."""
    pq.write_table(pa.table({"prompt": pa.nulls(3_000_000, pa.null())}), path)
    return path


def parquet_bytes(columns: dict) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


GENERATED = {
    "fifty_mb_line.jsonl": fifty_mb_line,
    "zip_bomb.parquet": zip_bomb,
    "parquet_bomb.parquet": parquet_bomb,
    "huge_row_count.parquet": huge_row_count,
}
