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
- quality: the report computed and stored as the refresh task does (time, memory), then the quality page
  (GET through the test client, as an admin) served from it; api: GET /api/projects/{slug}/agreement/
  (time, peak RSS), and `export --exclude-labelers-below`'s labeler scores;
- export: the JSONL pair export (pairs/s, peak RSS) into a temporary directory;
- size: the database's size and its biggest tables.
"""

import argparse
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labeling_setup import ROOT, ensure_database, percentile, setup_django  # noqa: E402

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
                  f"(batch: read+compute {t_python - t_batch:.1f} s, write {time.perf_counter() - t_python:.1f} s)",
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


def own_peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM: ru_maxrss would carry a parent's peak over)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return peak_rss_mb()


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_next(args) -> None:
    """`next` in-process (the test client: the API's code path without HTTP), each answer's ranking
    then submitted (not timed) so that every `next` claims anew: for labeler 0, whose 10,000
    rankings are on the first prompts `next` considers (all still open: the worst case, `next`
    passes over all of them), and for labeler 500, whose ~3,000 are spread over the project."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from annotations.models import Ranking

    figures = {}
    for number in (0, 500):
        client, auth = Client(), {"HTTP_AUTHORIZATION": f"Token {number:040x}"}
        rankings = Ranking.objects.filter(labeler__username=f"bench-labeler-{number}").count()
        times, statements = [], []
        for i in range(args.next_calls + 20):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.post(f"/api/projects/{SLUG}/tasks/next/", **auth)
                elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (response.status_code, response.content[:300])
            task = response.json()
            if i >= 20:  # warm-up
                times.append(elapsed)
                statements.append(len(captured))
            client.post(f"/api/assignments/{task['assignment']}/ranking/",
                        {"tiers": [[c["id"]] for c in task["completions"]], "flagged": []},
                        content_type="application/json", **auth)
        figures[f"labeler_{number}"] = {
            "rankings": rankings, "calls": len(times), "p50_ms": round(percentile(times, 0.5), 2),
            "p99_ms": round(percentile(times, 0.99), 2), "max_ms": round(max(times), 2),
            "statements": sorted(set(statements))}
    emit("next", **figures)


def measure_loop(args) -> None:
    from labeling_loop import run_loop

    results = run_loop(args.database_url, [f"{i:040x}" for i in range(1, 33)], args.loop_seconds)
    emit("loop", clients=32, seconds=args.loop_seconds, rankings_per_s=round(results["rankings_per_s"], 1),
         errors=results["errors"][:3],
         **{f"{kind}_{q}_ms": round(results.get(f"{kind}_{q}", 0.0), 1)
            for kind in ("next", "ranking", "loop") for q in ("p50", "p99")},
         cpu_ms_per_ranking={name: round(ms, 2) for name, ms in results["cpu_ms_per_ranking"].items()})


def _timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return (time.perf_counter() - started) * 1000, value


def stored_report_ready() -> None:
    """The project's quality report computed and stored, as the refresh task does (timed: it is
    what a worker spends after rankings change), unless a fresh one is stored already."""
    from datetime import timedelta

    from django.conf import settings

    from annotations.models import Project, StoredQualityReport
    from annotations.stored_quality import refresh_quality_report
    from annotations.stored_results import is_stale

    project = Project.objects.get(slug=SLUG)
    row = StoredQualityReport.objects.filter(project=project).first()
    if not is_stale(row, project.pk, timedelta(seconds=settings.QUALITY_REPORT_MAX_AGE_SECONDS)):
        return
    from django.utils import timezone

    from annotations.stored_results import latest_revision

    # Rankings of the last seconds (the next phase's) are within the late-commit margin of a
    # refresh made now, which would leave it stale: wait the margin out, as a quiet project would.
    margin = timedelta(seconds=settings.STORED_RESULTS_LATE_COMMIT_SECONDS)
    latest = latest_revision(project.pk)
    if latest is not None and timezone.now() - latest < margin:
        time.sleep((margin - (timezone.now() - latest)).total_seconds() + 1)
    before = current_rss_mb()
    ms, report = _timed(lambda: refresh_quality_report(project.pk))
    emit("quality-refresh", ms=round(ms), rankings=report.rankings, rss_before_mb=round(before),
         peak_above_start_mb=round(own_peak_rss_mb() - before))


def _measure_get(args, client, url: str) -> tuple[dict, object]:
    """GET `url` --runs times from the stored report (times, memory) and the last response."""
    stored_report_ready()
    before = current_rss_mb()
    runs = []
    for _ in range(args.runs):
        ms, response = _timed(lambda: client.get(url))
        assert response.status_code == 200, response.status_code
        runs.append(ms)
    figures = {"ms_runs": [round(ms) for ms in runs], "ms_best": round(min(runs)), "rss_before_mb": round(before),
               "peak_rss_mb": round(own_peak_rss_mb()), "peak_above_start_mb": round(own_peak_rss_mb() - before)}
    return figures, response


def measure_quality_page(args) -> None:
    """The quality page served from the stored report (a large project's: stored_quality.py)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-admin"))
    figures, _ = _measure_get(args, client, f"/projects/{SLUG}/quality/")
    emit("quality-page", **figures)


def measure_agreement_api(args) -> None:
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(username="bench-admin"))
    figures, response = _measure_get(args, client, f"/api/projects/{SLUG}/agreement/")
    body = response.json()
    assert body["stale"] is False, "the stored report went stale during the measurement"
    emit("agreement-api", **figures, overall=body["overall"],
         misreaders=sum(row["possible_misreader"] for row in body["labelers"]))


def measure_exclusion(args) -> None:
    """The labeler scores behind `export --exclude-labelers-below` (excluded_labelers)."""
    from annotations.export.reading import excluded_labelers
    from annotations.models import Project

    project = Project.objects.get(slug=SLUG)
    before = current_rss_mb()
    runs = []
    for _ in range(args.runs):
        ms, excluded = _timed(lambda: excluded_labelers(project, 0.5))
        runs.append(ms)
    emit("exclude-labelers", ms_runs=[round(ms) for ms in runs], excluded=len(excluded),
         rss_before_mb=round(before), peak_above_start_mb=round(own_peak_rss_mb() - before))


def measure_recomputed(args) -> None:
    """The report recomputed from every ranking (the code before the stored figures), for comparison."""
    from annotations.models import Project
    from annotations.quality import quality_report, recomputed_quality_report

    project = Project.objects.get(slug=SLUG)
    before = current_rss_mb()
    ms, recomputed = _timed(lambda: recomputed_quality_report(project))
    emit("quality-recomputed", ms=round(ms), rss_before_mb=round(before),
         peak_above_start_mb=round(own_peak_rss_mb() - before), same_as_stored=recomputed == quality_report(project))


def _lines(path: Path) -> int:
    with path.open("rb") as stream:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))


def measure_export(args) -> None:
    """The JSONL export (write_bundle, what `export_pairs` and the export job run). With
    --export-seconds it is stopped after that long: the pairs written so far (lines of the pairs
    file), their rate, and the peak RSS so far are reported."""
    import threading

    from annotations.export.bundle import write_bundle
    from annotations.export.options import ExportOptions
    from annotations.models import Project

    project = Project.objects.get(slug=SLUG)
    before = current_rss_mb()
    with tempfile.TemporaryDirectory(prefix="scale-export-") as out:
        done: dict = {}
        started = time.perf_counter()
        worker = threading.Thread(target=lambda: done.setdefault("bundle", write_bundle(
            project, ExportOptions(), Path(out))), daemon=True)
        worker.start()
        worker.join(args.export_seconds or None)
        seconds = time.perf_counter() - started
        size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
        if "bundle" in done:
            pairs, finished = done["bundle"].counts["pairs"], True
        else:
            pairs = sum(_lines(p) for p in Path(out).rglob("*") if p.is_file() and ".jsonl" in p.name)
            finished = False
        emit("export", finished=finished, pairs=pairs, seconds=round(seconds, 1),
             pairs_per_s=round(pairs / seconds), bytes=size, rss_before_mb=round(before),
             peak_rss_mb=round(own_peak_rss_mb()))
    if not finished:
        os._exit(0)  # the export thread is still writing: stop it with the process


WORDS = ["the", "model", "answer", "helpful", "prompt", "completion", "ranking", "data", "label", "human",
         "feedback", "reward", "policy", "token", "sentence", "because", "however", "therefore", "example"]


def measure_import(args) -> None:
    """The real importer on a JSONL file of --import-prompts prompts × 4 completions of ~600
    characters, into a second project of the same database; the project is deleted afterwards."""
    from annotations.models import Project
    from annotations.projects import create_project
    from annotations.prompt_sets import import_prompt_set

    rng = random.Random(42)
    block = " ".join(rng.choice(WORDS) for _ in range(200_000))
    Project.objects.filter(slug="bench-import").delete()
    project = create_project("bench-import", name="Import bench", instructions="# Rank")
    with tempfile.TemporaryDirectory(prefix="scale-import-") as tmp:
        path = Path(tmp) / "prompts.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for i in range(args.import_prompts):
                texts = [block[(start := rng.randrange(len(block) - 700)):start + 600] for _ in range(4)]
                out.write(json.dumps({"id": f"p-{i}", "prompt": f"Question {i}: " + block[i % 1000:][:120],
                                      "completions": texts}) + "\n")
        file_bytes = path.stat().st_size
        before = current_rss_mb()
        ms, prompt_set = _timed(lambda: import_prompt_set(project, path))
    seconds = ms / 1000
    emit("import", prompts=prompt_set.prompts, completions=prompt_set.completions, file_mb=round(file_bytes / 2**20),
         seconds=round(seconds, 1), completions_per_s=round(prompt_set.completions / seconds),
         rss_before_mb=round(before), peak_rss_mb=round(own_peak_rss_mb()))
    project.delete()


def measure_size(args) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        total = cursor.fetchone()[0]
        cursor.execute("""SELECT relname, pg_total_relation_size(c.oid), pg_relation_size(c.oid)
                          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE n.nspname = 'public' AND c.relkind = 'r'
                          ORDER BY 2 DESC LIMIT 6""")
        tables = {name: {"total_mb": round(size / 2**20), "heap_mb": round(heap / 2**20)}
                  for name, size, heap in cursor.fetchall()}
    emit("size", database_mb=round(total / 2**20), tables=tables)


PHASES = {
    "next": measure_next, "loop": measure_loop, "quality": measure_quality_page, "api": measure_agreement_api,
    "exclude": measure_exclusion, "recomputed": measure_recomputed, "export": measure_export,
    "import": measure_import, "size": measure_size,
}


def child(phase: str, args) -> list[dict]:
    """The figures a phase's child process printed (one JSON line each; the quality phases may
    print the report's refresh before their own)."""
    command = [sys.executable, __file__, "--phase-child", phase, "--database-url", args.database_url,
               "--prompts", str(args.prompts), "--import-prompts", str(args.import_prompts or args.prompts),
               "--loop-seconds", str(args.loop_seconds), "--next-calls", str(args.next_calls),
               "--runs", str(args.runs), "--export-seconds", str(args.export_seconds)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        print(result.stdout[-2000:], result.stderr[-4000:], file=sys.stderr)
        return [{"phase": phase, "error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--reuse", action="store_true", help="keep the database of an earlier build")
    parser.add_argument("--phases", default="build,next,quality,api,exclude,export,loop,size,import",
                        help="also: recomputed (the report recomputed from every ranking)")
    parser.add_argument("--next-calls", type=int, default=200)
    parser.add_argument("--runs", type=int, default=2, help="times the quality page, API and exclusion run")
    parser.add_argument("--export-seconds", type=float, default=0,
                        help="stop the export after this long and report what it wrote (0: to the end)")
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
            for figures in child(phase, args):
                print(json.dumps({"prompts": args.prompts, **figures}), flush=True)


if __name__ == "__main__":
    main()
