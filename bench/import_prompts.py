"""Benchmark: import of a prompt set (default 100,000 prompts x 4 completions of ~600 characters, JSONL)
into PostgreSQL through LabelHub's importer, against the ceiling of a raw PostgreSQL COPY of the same
rows into the same tables, measured in the same run.

    .venv/bin/python bench/import_prompts.py [--prompts 100000] [--completions 4] [--chars 600]
        [--database-url postgres://postgres@127.0.0.1:5432/lh_import_bench] [--runs 1] [--conversations]

With --conversations the importer runs twice in each run instead: on the plain file, then on the same
prompts as conversations of 6 turns (system, then user and assistant in turn, ending with the user;
about 2 KB of messages) with the same completions, and prints the conversations' completions/s as a
share of the plain file's (issue 14 asks for at least 70%).

The database is created if missing and its prompt tables are emptied before every measurement. Each
measurement runs in a fresh subprocess, so the peak RSS reported (getrusage ru_maxrss) is that of the
importing process alone, Python and Django included.
"""

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labeling_setup import setup_django  # bench/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lh_import_bench"
WORDS = [
    "the", "model", "answer", "helpful", "prompt", "completion", "ranking", "data", "label", "human", "feedback",
    "reward", "policy", "token", "sentence", "because", "however", "therefore", "example", "result", "question",
    "useful", "clear", "short", "long", "careful", "kind", "river", "mountain", "city", "garden", "window",
    "kitchen", "morning", "evening", "history", "science", "music", "language",
]


def write_prompt_set(path: Path, prompts: int, completions: int, chars: int) -> None:
    rng = random.Random(42)
    block = " ".join(rng.choice(WORDS) for _ in range(400_000))
    with path.open("w", encoding="utf-8") as out:
        for i in range(prompts):
            texts = []
            for _ in range(completions):
                start = rng.randrange(0, len(block) - chars - 1)
                texts.append(block[start:start + chars])
            prompt = f"Question {i}: " + block[(i * 7919) % 300_000:][:120]
            out.write(json.dumps({"id": f"bench-{i}", "prompt": prompt, "completions": texts}) + "\n")


TURN_CHARS = 330  # six turns of about 330 characters: about 2 KB of messages per conversation


def write_conversations(path: Path, plain: Path) -> None:
    """The plain file's prompts as 6-turn conversations ending with the prompt, same completions."""
    rng = random.Random(7)
    block = " ".join(rng.choice(WORDS) for _ in range(400_000))
    roles = ["system", "user", "assistant", "user", "assistant"]
    with plain.open("rb") as source, path.open("w", encoding="utf-8") as out:
        for line in source:
            row = json.loads(line)
            turns = []
            for role in roles:
                start = rng.randrange(0, len(block) - TURN_CHARS - 1)
                turns.append({"role": role, "content": block[start:start + TURN_CHARS]})
            turns.append({"role": "user", "content": row.pop("prompt")})
            out.write(json.dumps({"id": row["id"], "messages": turns, "completions": row["completions"]}) + "\n")


def empty_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE annotations_completion, annotations_prompt, annotations_promptset CASCADE")


def child_import(path: str, slug: str) -> dict:
    from annotations.models import Project
    from annotations.prompt_sets import import_prompt_set

    project = Project.objects.get(slug=slug)
    started = time.perf_counter()
    prompt_set = import_prompt_set(project, path)
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "prompts": prompt_set.prompts, "completions": prompt_set.completions,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child_copy_ceiling(path: str, slug: str) -> dict:
    """The same rows, prepared before the clock starts, sent with COPY in one transaction."""
    from django.db import connection, transaction
    from django.utils import timezone

    from annotations.models import Completion, Project, Prompt, PromptSet
    from annotations.prompt_sets import COMPLETION_FILLED, PROMPT_FILLED, CopyLayout, copy_text

    project = Project.objects.get(slug=slug)
    prompt_set = PromptSet.objects.create(project=project, filename="ceiling.jsonl")
    now = timezone.now()
    prompt_layout, completion_layout = CopyLayout(Prompt, PROMPT_FILLED, now), CopyLayout(
        Completion, COMPLETION_FILLED, now)
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('annotations_prompt', 'id'))")
        first_id = cursor.fetchone()[0] + 1000
    tmp = Path(tempfile.mkdtemp())
    prompts_file, completions_file = tmp / "prompts.tsv", tmp / "completions.tsv"
    n_prompts = n_completions = 0
    with open(path, "rb") as source, prompts_file.open("w") as p_out, completions_file.open("w") as c_out:
        import orjson

        for line in source:
            row = orjson.loads(line)
            prompt_id = first_id + n_prompts
            p_out.write(f"{prompt_id}\t{project.pk}\t{prompt_set.pk}\t{copy_text(row['id'])}\t"
                        f"{copy_text(row['prompt'])}\t{{}}\t{len(row['completions'])}\t\\N{prompt_layout.tail}")
            for position, text in enumerate(row["completions"], start=1):
                c_out.write(f"{prompt_id}\t{position}\t{copy_text(text)}\tuploaded\t{completion_layout.tail}")
            n_prompts += 1
            n_completions += len(row["completions"])
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        with prompts_file.open("rb") as rows:
            cursor.copy_expert(prompt_layout.sql, rows, 1 << 20)
        with completions_file.open("rb") as rows:
            cursor.copy_expert(completion_layout.sql, rows, 1 << 20)
    elapsed = time.perf_counter() - started
    prompts_file.unlink()
    completions_file.unlink()
    return {"seconds": elapsed, "prompts": n_prompts, "completions": n_completions}


def run_child(mode: str, path: Path, slug: str, database_url: str) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--file", str(path), "--slug", slug,
         "--database-url", database_url],
        capture_output=True, text=True, check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--completions", type=int, default=4)
    parser.add_argument("--chars", type=int, default=600)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep-file", help="reuse or keep the generated file at this path")
    parser.add_argument("--conversations", action="store_true",
                        help="compare the plain file's import with the same prompts as 6-turn conversations")
    parser.add_argument("--child", choices=["import", "ceiling"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--slug", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        setup_django(args.database_url)
        work = child_import if args.child == "import" else child_copy_ceiling
        print(json.dumps(work(args.file, args.slug)))
        return

    name = args.database_url.rsplit("/", 1)[-1]
    server = args.database_url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", server, "-qc", f"CREATE DATABASE {name}"], capture_output=True)
    setup_django(args.database_url)
    from django.core.management import call_command

    from annotations.models import Project

    call_command("migrate", verbosity=0)
    path = Path(args.keep_file) if args.keep_file else Path(tempfile.mkdtemp()) / "bench.jsonl"
    if not path.exists():
        started = time.perf_counter()
        write_prompt_set(path, args.prompts, args.completions, args.chars)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s")
    Project.objects.get_or_create(slug="bench-import", defaults={"name": "bench"})

    if args.conversations:
        chats = path.with_name(path.stem + "-conversations.jsonl")
        if not chats.exists():
            write_conversations(chats, path)
        per_prompt = chats.stat().st_size / args.prompts
        print(f"wrote {chats} ({chats.stat().st_size / 1e6:.0f} MB, {per_prompt:,.0f} bytes a line)")
        for run in range(1, args.runs + 1):
            rates = {}
            for label, source in (("plain", path), ("conversations", chats)):
                empty_tables()
                result = run_child("import", source, "bench-import", args.database_url)
                rates[label] = result["completions"] / result["seconds"]
                print(f"run {run}: {label}: {result['prompts']} prompts, {result['completions']} completions in "
                      f"{result['seconds']:.2f} s = {rates[label]:,.0f} completions/s, "
                      f"peak RSS {result['peak_rss_mb']:.0f} MB")
            empty_tables()
            print(f"run {run}: conversations at {rates['conversations'] / rates['plain']:.0%} of the plain "
                  f"importer's completions/s")
        if not args.keep_file:
            path.unlink()
            chats.unlink()
        return

    for run in range(1, args.runs + 1):
        empty_tables()
        imported = run_child("import", path, "bench-import", args.database_url)
        empty_tables()
        ceiling = run_child("ceiling", path, "bench-import", args.database_url)
        empty_tables()
        rate = imported["completions"] / imported["seconds"]
        ceiling_rate = ceiling["completions"] / ceiling["seconds"]
        print(f"run {run}: importer {imported['prompts']} prompts, {imported['completions']} completions in "
              f"{imported['seconds']:.2f} s = {rate:,.0f} completions/s, peak RSS {imported['peak_rss_mb']:.0f} MB")
        ratio = imported["seconds"] / ceiling["seconds"]
        print(f"run {run}: COPY ceiling {ceiling['completions']} completions in {ceiling['seconds']:.2f} s = "
              f"{ceiling_rate:,.0f} completions/s; importer/ceiling time ratio {ratio:.2f}")
    if not args.keep_file:
        path.unlink()


if __name__ == "__main__":
    main()
