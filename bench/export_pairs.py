"""Benchmark: the JSONL pair export of a project with P prompts x 4 completions x 3 labelers on
PostgreSQL (100,000 prompts: 300,000 rankings, 1.8 M labeler pairs), against the ceiling of the same
records serialised from memory with no database, measured in the same run.

    .venv/bin/python bench/export_pairs.py [--prompts 10000,100000] [--chars 300]
        [--database-url postgres://postgres@127.0.0.1:5432/lh_export_bench] [--keep] [--conversations]

With --conversations each size is built twice, with plain prompts and with the same prompts as
6-turn conversations (about 2 KB of messages), and the two exports are compared (issue 14: the
conversational export at least 70% of the plain one's pairs/s, memory flat); no ceiling then.

For each size the data is built once (bulk_create in batches; rankings are random permutations,
no ties, no flags, so every ranking gives 6 pairs) and its tables are vacuumed and analyzed, as
autovacuum would have done to a project imported a while ago; then each measurement runs in a
fresh subprocess so that its peak RSS (VmHWM) is that of the exporting process alone:

- export:  annotations.export.bundle.write_bundle, i.e. exactly what `manage.py export_pairs` and
           the worker run: one aggregated server-side cursor, pairs + rankings.jsonl + README +
           manifest with sha256 of every file.
- ceiling: the same (prompt, rankings) records loaded into memory first (not timed), then
           write_pairs + sha256 of the files: the export minus the database.

Targets (issue 6): export >= 150,000 pairs/s, within 3x of the ceiling, peak RSS < 300 MB and flat
from 10,000 to 100,000 prompts.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labeling_setup import child_result, setup_django  # bench/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lh_export_bench"
COMPLETIONS, LABELERS = 4, 3
VOCABULARY = ("the model answer helpful prompt completion ranking data label human feedback reward policy token "
         "sentence because however therefore example result question useful clear short long careful kind "
         "river mountain city garden window kitchen morning evening history science music language")
WORDS = VOCABULARY.split()


def ensure_database(database_url: str) -> None:
    import psycopg2

    name = database_url.rsplit("/", 1)[1]
    admin = psycopg2.connect(database_url.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("select 1 from pg_database where datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'create database "{name}"')
    admin.close()
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)


TURN_CHARS = 330  # six turns of about 330 characters: about 2 KB of messages per conversation


def conversation(block: str, i: int, last: str) -> list[dict]:
    roles = ["system", "user", "assistant", "user", "assistant"]
    turns = [{"role": role, "content": block[(i * 131 + k * 7919) % 150_000:][:TURN_CHARS]}
             for k, role in enumerate(roles)]
    return [*turns, {"role": "user", "content": last}]


def build_project(slug: str, prompts: int, chars: int, conversational: bool = False) -> None:
    """P prompts x 4 completions, each ranked by the same 3 labelers (random order, no ties);
    `conversational`: each prompt a 6-turn conversation ending with the same text."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from annotations.models import Assignment, Completion, Project, Prompt, Ranking

    Project.objects.filter(slug=slug).delete()
    project = Project.objects.create(slug=slug, name=slug, labelers_per_prompt=LABELERS)
    users = [get_user_model().objects.get_or_create(username=f"bench-labeler-{i}")[0] for i in range(LABELERS)]
    rng = random.Random(7)
    block = " ".join(rng.choice(WORDS) for _ in range(200_000))
    now = timezone.now()
    later = now + timedelta(minutes=30)
    batch = 5000
    for start in range(0, prompts, batch):
        with transaction.atomic():
            texts = {i: f"Question {i}: " + block[i % 150_000:][:chars // 2]
                     for i in range(start, min(start + batch, prompts))}
            made = Prompt.objects.bulk_create(
                Prompt(project=project, external_id=f"p{i}", text=text, num_completions=COMPLETIONS,
                       num_rankings=LABELERS, messages=conversation(block, i, text) if conversational else None)
                for i, text in texts.items()
            )
            completions = Completion.objects.bulk_create(
                Completion(prompt=prompt, position=j, text=block[(prompt.pk * 31 + j * 977) % 150_000:][:chars])
                for prompt in made for j in range(1, COMPLETIONS + 1)
            )
            ids = [c.pk for c in completions]
            orders = []
            assignments = []
            for index, prompt in enumerate(made):
                mine = ids[index * COMPLETIONS:(index + 1) * COMPLETIONS]
                for user in users:
                    order = mine[:]
                    rng.shuffle(order)
                    orders.append(order)
                    assignments.append(Assignment(project=project, prompt=prompt, labeler=user, shown_order=order,
                                                  status=Assignment.Status.SUBMITTED, reserved_until=later))
            assignments = Assignment.objects.bulk_create(assignments)
            Ranking.objects.bulk_create(
                Ranking(assignment=a, project=project, prompt_id=a.prompt_id, labeler_id=a.labeler_id,
                        tiers=[[cid] for cid in order], flagged=[], shown_order=order, instruction_version=1,
                        duration_ms=rng.randrange(5_000, 90_000))
                for a, order in zip(assignments, orders, strict=True)
            )
    from annotations.quality_store import refresh_project_stats

    refresh_project_stats(project.pk)  # the stored quality figures (bench/quality_report.py reads them)
    print(f"  built {slug}: {prompts} prompts, {prompts * COMPLETIONS} completions, {prompts * LABELERS} rankings",
          flush=True)


def settle_tables() -> None:
    """VACUUM ANALYZE the tables the export reads: planner statistics and visibility map as in
    production, where autovacuum runs after a bulk import (this bench's PostgreSQL may run with
    autovacuum off, and a never-analyzed table gets a worse plan). Not part of the measurement."""
    from django.db import connection

    from annotations.models import Completion, Prompt, Ranking

    with connection.cursor() as cursor:
        for model in (Prompt, Completion, Ranking):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def peak_rss_mb() -> float:
    """This process's own peak RSS. Not getrusage's ru_maxrss: Linux carries that over from the
    parent through fork and exec, so a child of a big parent would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(kind: str, slug: str, out: Path) -> dict:
    """Runs in the child process: one export, timed, with its peak RSS."""
    from annotations.export.bundle import write_bundle
    from annotations.export.options import ExportOptions
    from annotations.export.reading import stream_prompts
    from annotations.export.writers import sha256_of, write_pairs
    from annotations.models import Project
    from annotations.quality import labeler_pseudonym

    project = Project.objects.get(slug=slug)
    options = ExportOptions()
    rss_before = peak_rss_mb()
    cpu_started = time.process_time()
    if kind == "export":
        started = time.perf_counter()
        bundle = write_bundle(project, options, out)
        seconds = time.perf_counter() - started
        pairs = bundle.counts["pairs"]
    else:
        records = list(stream_prompts(project, options, set()))  # loaded before the clock starts
        names = {}

        def pseudonym(user_id: int) -> str:
            if user_id not in names:
                names[user_id] = labeler_pseudonym(project, user_id)
            return names[user_id]

        cpu_started = time.process_time()
        started = time.perf_counter()
        result = write_pairs(records, options, out, pseudonym)
        for name in result.files:
            if name not in result.sha256:
                sha256_of(out / name)
        seconds = time.perf_counter() - started
        pairs = sum(c.pairs for c in result.splits.values())
    cpu = time.process_time() - cpu_started
    size = sum(p.stat().st_size for p in out.iterdir())
    return {"kind": kind, "pairs": pairs, "seconds": seconds, "pairs_per_s": pairs / seconds, "cpu_seconds": cpu,
            "peak_rss_mb": peak_rss_mb(), "rss_before_mb": rss_before, "bytes": size}


def ensure_project(slug: str, prompts: int, chars: int, reuse: bool, conversational: bool = False) -> bool:
    """Build the project of that size, or with `reuse` keep one already built; True if built."""
    from annotations.models import Project, Ranking

    built = Project.objects.filter(slug=slug).first()
    if reuse and built and Ranking.objects.filter(project=built).count() == prompts * LABELERS:
        return False
    started = time.perf_counter()
    build_project(slug, prompts, chars, conversational)
    print(f"  (built in {time.perf_counter() - started:.0f}s)", flush=True)
    return True


def run_child(database_url: str, kind: str, slug: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="lh-export-bench-") as tmp:
        return child_result(__file__, ["--database-url", database_url, "--child", kind, "--slug", slug, "--out", tmp])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", default="10000,100000", help="comma-separated project sizes")
    parser.add_argument("--chars", type=int, default=300, help="characters per completion (prompt: half)")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="reuse projects already built at these sizes")
    parser.add_argument("--conversations", action="store_true",
                        help="compare plain prompts with the same prompts as 6-turn conversations")
    parser.add_argument("--child", choices=["export", "ceiling"], help=argparse.SUPPRESS)
    parser.add_argument("--slug", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        setup_django(args.database_url)
        print(json.dumps(measure(args.child, args.slug, Path(args.out))))
        return

    ensure_database(args.database_url)
    setup_django(args.database_url)

    sizes = [int(s) for s in args.prompts.split(",")]
    print(f"export bench: {sizes} prompts x {COMPLETIONS} completions x {LABELERS} labelers, "
          f"{args.chars} chars per completion, database {args.database_url}", flush=True)
    if args.conversations:
        for prompts in sizes:
            results = {}
            for label in ("plain", "conversations"):
                slug = f"bench-export-{prompts}" + ("-chat" if label == "conversations" else "")
                ensure_project(slug, prompts, args.chars, reuse=args.keep, conversational=label == "conversations")
                settle_tables()
                results[label] = run_child(args.database_url, "export", slug)
                r = results[label]
                print(f"  {prompts:>7} prompts, {label}: {r['pairs']:,} pairs in {r['seconds']:.2f}s = "
                      f"{r['pairs_per_s']:,.0f} pairs/s, peak RSS {r['peak_rss_mb']:.0f} MB, "
                      f"{r['bytes'] / 1e6:,.0f} MB written", flush=True)
            share = results["conversations"]["pairs_per_s"] / results["plain"]["pairs_per_s"]
            print(f"  {prompts:>7} prompts: conversations at {share:.0%} of the plain export's pairs/s "
                  f"(target >= 70%)", flush=True)
        return

    rows = []
    for prompts in sizes:
        slug = f"bench-export-{prompts}"
        ensure_project(slug, prompts, args.chars, reuse=args.keep)
        settle_tables()
        export = run_child(args.database_url, "export", slug)
        ceiling = run_child(args.database_url, "ceiling", slug)
        rows.append((prompts, export, ceiling))
        print(f"  {prompts:>7} prompts: export {export['pairs']:,} pairs in {export['seconds']:.2f}s wall "
              f"= {export['pairs_per_s']:,.0f} pairs/s (CPU of the export process {export['cpu_seconds']:.2f}s), "
              f"peak RSS {export['peak_rss_mb']:.0f} MB, {export['bytes'] / 1e6:,.0f} MB written", flush=True)
        print(f"  {'':>7}          ceiling {ceiling['pairs_per_s']:,.0f} pairs/s ({ceiling['seconds']:.2f}s wall, "
              f"CPU {ceiling['cpu_seconds']:.2f}s); export/ceiling time "
              f"{export['seconds'] / ceiling['seconds']:.2f}x", flush=True)
    largest = rows[-1][1]
    smallest = rows[0][1]
    print("targets:")
    print(f"  >= 150,000 pairs/s at {rows[-1][0]} prompts: {largest['pairs_per_s']:,.0f} "
          f"{'OK' if largest['pairs_per_s'] >= 150_000 else 'MISSED'}")
    ratio = largest["seconds"] / rows[-1][2]["seconds"]
    print(f"  within 3x of the ceiling: {ratio:.2f}x {'OK' if ratio <= 3 else 'MISSED'}")
    print(f"  peak RSS < 300 MB: {largest['peak_rss_mb']:.0f} MB {'OK' if largest['peak_rss_mb'] < 300 else 'MISSED'}")
    growth = largest["peak_rss_mb"] - smallest["peak_rss_mb"]
    print(f"  flat from {rows[0][0]} to {rows[-1][0]} prompts: {smallest['peak_rss_mb']:.0f} -> "
          f"{largest['peak_rss_mb']:.0f} MB ({growth:+.0f} MB)")


if __name__ == "__main__":
    main()
