"""Benchmark: LabelHub at a million prompts (issue 16): a project of P prompts × 4 completions and
3 rankings per prompt by 1,000 labelers (one of them with 10,000 rankings), on PostgreSQL.

    .venv/bin/python bench/scale.py --prompts 1000000 --database-url postgres://postgres@127.0.0.1:5432/lh_scale_bench
        [--reuse] [--phases build,import,next,loop,quality,export,size] [--import-prompts N] [--loop-seconds 15]

`build` drops and creates the database and writes the project by COPY (prompts, completions,
assignments and rankings, with the rankings' stored quality figures computed by the same pure
functions the application uses, annotations/quality_stats.py); `--reuse` keeps the database of an
earlier build and runs only the other phases. The project asks for 4 labelers per prompt, so every
prompt still has a free slot and `next` and the labeling loop find work. Each measurement runs in a
child process of its own (peak RSS is its own). Prints one line of JSON per phase and a summary;
bench/results.md holds the figures.

Phases:
- import: the real importer (annotations.importing) on a JSONL prompt-set file of --import-prompts
  prompts × 4 completions (default: all of --prompts) into a second project: completions/s, peak RSS;
- next: `next` in-process for the labeler with 10,000 rankings: statements per call, p50/p99 (ms);
- loop: bench/labeling_loop.py's 32 clients against the production web server for --loop-seconds;
- quality: the quality page (GET through the test client, as an admin) and GET /api/projects/{slug}/agreement/
  (time, peak RSS), and `export --exclude-labelers-below`'s labeler scores;
- export: the JSONL pair export (pairs/s, peak RSS) into a temporary directory;
- size: the database's size and its biggest tables.
"""

import argparse
import io
import json
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labeling_setup import ROOT, ensure_database, setup_django  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lh_scale_bench"
SLUG = "bench-loop"  # labeling_loop.py's clients ask this project for work
LABELERS = 1000
HEAVY_RANKINGS = 10_000  # the rankings of labeler 0, the one `next` is measured with
PER_PROMPT = 3
BATCH = 50_000  # prompts per COPY round


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(phase: str, **figures) -> None:
    print(json.dumps({"phase": phase, **figures}), flush=True)


# --- build ------------------------------------------------------------------------------------------


def _copy(cursor, table: str, columns: str, rows: list[str]) -> None:
    cursor.cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", io.StringIO("".join(rows)))


def _secondary_indexes(cursor, tables: list[str]) -> list[tuple[str, str]]:
    """(name, definition) of the tables' indexes that back no constraint: dropped during the load."""
    cursor.execute(
        """SELECT i.indexname, i.indexdef FROM pg_indexes i
           WHERE i.tablename = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
        [tables],
    )
    return cursor.fetchall()


def ranking_of(rng: random.Random, truth: list[int], inverter: bool) -> tuple[list[list[int]], list[int]]:
    """A labeler's tiers and flags for completions whose true order is `truth`."""
    order = list(reversed(truth)) if inverter else list(truth)
    if rng.random() < 0.3:  # one adjacent swap
        i = rng.randrange(len(order) - 1)
        order[i], order[i + 1] = order[i + 1], order[i]
    flagged = [order.pop()] if rng.random() < 0.03 else []
    tiers = [[cid] for cid in order]
    if len(tiers) > 1 and rng.random() < 0.08:  # one tie
        i = rng.randrange(len(tiers) - 1)
        tiers[i:i + 2] = [sorted(tiers[i] + tiers[i + 1])]
    return tiers, flagged


def build(args) -> None:
    ensure_database(args.database_url)
    setup_django(args.database_url)
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from rest_framework.authtoken.models import Token

    from annotations.consensus import Judgement
    from annotations.models import Membership
    from annotations.projects import create_project
    from annotations.quality_stats import ShapeMeasures, prompt_stats, ranking_facts

    started = time.perf_counter()
    User = get_user_model()
    project = create_project(SLUG, name="Scale bench", labelers_per_prompt=PER_PROMPT + 1,
                             instructions="# Rank by helpfulness")
    users = User.objects.bulk_create(User(username=f"bench-labeler-{i}") for i in range(LABELERS))
    users = list(User.objects.filter(username__startswith="bench-labeler-").order_by("pk"))
    User.objects.create_superuser("bench-admin", password="bench-admin-password")  # noqa: S106 - a bench database
    Membership.objects.bulk_create(Membership(user=u, project=project, role=Membership.Role.LABELER) for u in users)
    Token.objects.bulk_create(Token(user=u, key=f"{i:040x}") for i, u in enumerate(users))
    labeler_ids = [u.pk for u in users]
    inverters = set(labeler_ids[-LABELERS // 50:])  # 2% misread the instructions
    tables = ["annotations_prompt", "annotations_completion", "annotations_assignment", "annotations_ranking"]
    with connection.cursor() as cursor:
        # The load is the database's own rows: no foreign-key trigger per row (restored below).
        cursor.execute("SET session_replication_role = replica")
        dropped = _secondary_indexes(cursor, tables)
        for name, _ in dropped:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(
            """INSERT INTO annotations_prompt (project_id, text, metadata, num_completions, num_rankings,
                    num_reserved, generation_error, generation_attempts, created_at)
               SELECT %s, 'Prompt ' || g || ': explain how a reward model learns from rankings.', '{}',
                      4, %s, 0, '', 0, now()
               FROM generate_series(1, %s) AS g""",
            [project.pk, PER_PROMPT, args.prompts],
        )
        cursor.execute(
            """INSERT INTO annotations_completion (prompt_id, position, text, source, model, params,
                    canary_kind, created_at)
               SELECT p.id, c, 'Completion ' || c || ' of prompt ' || p.id || ': a reward model is trained '
                      || 'on pairs of answers, the preferred one first.', 'uploaded', '', '{}', '', now()
               FROM annotations_prompt AS p CROSS JOIN generate_series(1, 4) AS c
               WHERE p.project_id = %s""",
            [project.pk],
        )
    emit("build-prompts", seconds=round(time.perf_counter() - started, 1))
    phase_started = time.perf_counter()
    rng = random.Random(16)
    measures = ShapeMeasures()
    start_day = datetime(2026, 11, 1, tzinfo=UTC)
    next_id = 1
    with transaction.atomic(), connection.chunked_cursor() as source, connection.cursor() as cursor:
        source.execute(
            """SELECT p.id, array_agg(c.id ORDER BY c.position) FROM annotations_prompt p
               JOIN annotations_completion c ON c.prompt_id = p.id WHERE p.project_id = %s
               GROUP BY p.id ORDER BY p.id""",
            [project.pk],
        )
        index = 0
        t_batch = time.perf_counter()
        while rows := source.fetchmany(BATCH):
            assignments, rankings, updates = [], [], []
            for prompt_id, completions in rows:
                if index < HEAVY_RANKINGS:  # labeler 0's rankings: the first prompts, `next` skips them all
                    who = [labeler_ids[0], *(labeler_ids[1 + (3 * index + j) % (LABELERS - 1)] for j in range(2))]
                else:
                    who = [labeler_ids[1 + (3 * index + j) % (LABELERS - 1)] for j in range(PER_PROMPT)]
                truth = rng.sample(completions, len(completions))
                judged = [ranking_of(rng, truth, labeler in inverters) for labeler in who]
                stats = prompt_stats([Judgement(t, f) for t, f in judged], None, measures)
                updates.append(f"{prompt_id}\t{_num(stats.agreement)}\t{stats.shape_key or chr(92) + 'N'}\n")
                day = start_day + timedelta(seconds=index * 2_592_000 // args.prompts)
                for labeler, (tiers, flagged), share in zip(who, judged, stats.loo_shares, strict=True):
                    shown = json.dumps(rng.sample(completions, len(completions)))
                    facts = ranking_facts(Judgement(tiers, flagged), None, [])
                    at = day.isoformat()
                    assignments.append(f"{next_id}\t{project.pk}\t{prompt_id}\t{labeler}\tsubmitted\t{shown}\t"
                                       f"{at}\t{at}\t{at}\n")
                    rankings.append(
                        f"{next_id}\t{next_id}\t{project.pk}\t{prompt_id}\t{labeler}\t{json.dumps(tiers)}\t"
                        f"{json.dumps(flagged)}\t{shown}\t1\t{rng.randint(2_000, 60_000)}\t{at}\t{at}\t1\t"
                        f"{_num(share)}\t{'t' if facts.has_tie else 'f'}\t{facts.num_flagged}\t{facts.num_judged}\t0\n"
                    )
                    next_id += 1
                index += 1
            t_python = time.perf_counter()
            _copy(cursor, "annotations_assignment",
                  "id, project_id, prompt_id, labeler_id, status, shown_order, reserved_until, created_at, finished_at",
                  assignments)
            _copy(cursor, "annotations_ranking",
                  "id, assignment_id, project_id, prompt_id, labeler_id, tiers, flagged, shown_order, "
                  "instruction_version, duration_ms, submitted_at, revised_at, revision, loo_share, has_tie, "
                  "num_flagged, num_judged, canary", rankings)
            cursor.execute("CREATE TEMPORARY TABLE IF NOT EXISTS bench_prompt_stats "
                           "(id bigint, agreement double precision, shape text)")
            cursor.execute("TRUNCATE bench_prompt_stats")
            _copy(cursor, "bench_prompt_stats", "id, agreement, shape", updates)
            cursor.execute("UPDATE annotations_prompt p SET agreement = s.agreement, quality_shape = s.shape "
                           "FROM bench_prompt_stats s WHERE p.id = s.id")
            print(f"  {index} prompts, {next_id - 1} rankings, {time.perf_counter() - started:.0f} s "
                  f"(this batch: read+compute {t_python - t_batch:.1f} s, write {time.perf_counter() - t_python:.1f} s)",
                  flush=True)
            t_batch = time.perf_counter()
        for table in ("annotations_assignment", "annotations_ranking"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    loaded = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("VACUUM FULL annotations_prompt")  # the stats update above left a dead copy of each row
        for _, definition in dropped:
            cursor.execute(definition)
        cursor.execute("VACUUM ANALYZE")
    emit("build", prompts=args.prompts, rankings=next_id - 1, labelers=LABELERS,
         load_seconds=round(loaded - started, 1), index_seconds=round(time.perf_counter() - loaded, 1),
         shapes=len(measures._shapes))


def _num(value: float | None) -> str:
    return "\\N" if value is None else repr(value)


# --- measurements (each in a child process: `--phase-child NAME`) ----------------------------------


def measure_import(args) -> None:
    from annotations.importing import import_prompt_set  # noqa: F401 - checked below

    raise NotImplementedError


def child(phase: str, args) -> dict:
    command = [sys.executable, __file__, "--phase-child", phase, "--database-url", args.database_url,
               "--prompts", str(args.prompts), "--import-prompts", str(args.import_prompts or args.prompts),
               "--loop-seconds", str(args.loop_seconds)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        print(result.stdout[-2000:], result.stderr[-4000:], file=sys.stderr)
        return {"phase": phase, "error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--reuse", action="store_true", help="keep the database of an earlier build")
    parser.add_argument("--phases", default="build,import,next,loop,quality,export,size")
    parser.add_argument("--import-prompts", type=int, default=None, help="prompts in the imported file")
    parser.add_argument("--loop-seconds", type=float, default=15.0)
    parser.add_argument("--phase-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase_child:
        setup_django(args.database_url)
        PHASES[args.phase_child](args)
        return
    phases = args.phases.split(",")
    if "build" in phases and not args.reuse:
        build(args)
    for phase in phases:
        if phase != "build":
            emit(phase + "-result", **child(phase, args))


PHASES: dict = {}

if __name__ == "__main__":
    main()
