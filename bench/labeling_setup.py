"""Shared set-up of the labeling-loop benchmarks (bench/next_task.py, bench/labeling_loop.py):
a PostgreSQL database with one project of P prompts × 4 completions, labelers with API tokens,
and the production web server serving labelhub.wsgi:application on it."""

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lh_quality_bench"
SLUG = "bench-loop"


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DEBUG"] = "false"  # as in production: no query log kept per request
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def ensure_database(database_url: str) -> None:
    """A fresh database for each run (no dead rows or autovacuum work left from the last one)."""
    import psycopg2

    name = database_url.rsplit("/", 1)[1]
    admin = psycopg2.connect(database_url.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'drop database if exists "{name}"')
        cursor.execute(f'create database "{name}"')
    admin.close()
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True,
                   env={**os.environ, "DATABASE_URL": database_url})


def build_project(prompts: int, labelers: int, labelers_per_prompt: int = 3, max_labelers_per_prompt: int | None = None,
                  agreement_target: float | None = None) -> list[str]:
    """A fresh project of `prompts` prompts × 4 completions (written by SQL, in seconds) and
    `labelers` labelers; returns their API tokens. A maximum above k turns adaptive overlap on."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from annotations.models import Completion, Membership, Prompt
    from annotations.projects import create_project

    User = get_user_model()
    overlap = {name: value for name, value in (("max_labelers_per_prompt", max_labelers_per_prompt),
                                               ("agreement_target", agreement_target)) if value is not None}
    project = create_project(SLUG, name="Labeling loop bench", labelers_per_prompt=labelers_per_prompt,
                             instructions="# Rank by helpfulness", **overlap)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {Prompt._meta.db_table} (project_id, text, metadata, num_completions, num_rankings,
                    num_reserved, generation_error, generation_attempts, created_at)
                SELECT %s, 'Prompt ' || g || ': explain how a reward model learns from rankings.', '{{}}',
                       4, 0, 0, '', 0, now()
                FROM generate_series(1, %s) AS g""",  # noqa: S608 - table name from the model
            [project.pk, prompts],
        )
        cursor.execute(
            f"""INSERT INTO {Completion._meta.db_table} (prompt_id, position, text, source, model, params,
                    canary_kind, created_at)
                SELECT p.id, c, 'Completion ' || c || ' of prompt ' || p.id || ': a reward model is trained '
                       || 'on pairs of answers, the preferred one first.', 'uploaded', '', '{{}}', '', now()
                FROM {Prompt._meta.db_table} AS p CROSS JOIN generate_series(1, 4) AS c
                WHERE p.project_id = %s""",  # noqa: S608 - table names from the models
            [project.pk],
        )
        # As a project imported a while ago would be: statistics fresh, and the insert-triggered
        # autovacuum of the new rows already done rather than running during the measurement.
        cursor.execute("VACUUM ANALYZE")
    users = User.objects.bulk_create(User(username=f"bench-labeler-{i}") for i in range(labelers))
    users = list(User.objects.filter(username__startswith="bench-labeler-").order_by("pk"))
    Membership.objects.bulk_create(Membership(user=u, project=project, role=Membership.Role.LABELER) for u in users)
    tokens = Token.objects.bulk_create(Token(user=u, key=secrets.token_hex(20)) for u in users)
    return [token.key for token in tokens]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def web_server(database_url: str, workers: int | None = None, threads: int | None = None, server: str = "granian",
               options: str = ""):
    """The web server on a free port; yields (base URL, server process). "granian": the production
    server exactly as `make serve`, the Dockerfile and compose start it (`python -m labelhub.serve`),
    with its deployed settings unless workers/threads are given. "gunicorn": the alternative it was
    measured against (bench/README.md), gthread worker, `options` as more command-line settings."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "DEBUG": "false", "LOG_LEVEL": "WARNING",
           "WEB_BIND": f"127.0.0.1:{port}", "GRANIAN_LOG_LEVEL": "warning"}
    if server == "granian":
        command = [sys.executable, "-m", "labelhub.serve"]
        if workers is not None:
            env["WEB_WORKERS"] = str(workers)
        if threads is not None:
            env["WEB_THREADS"] = str(threads)
    else:
        command = [str(Path(sys.executable).with_name("gunicorn")), "labelhub.wsgi:application",
                   "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "--worker-class", "gthread",
                   "--workers", str(workers or 3), "--threads", str(threads or 2), *options.split()]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 120  # a loaded machine starts the workers slowly
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def child_result(script: str, arguments: list[str]) -> dict:
    """Run a bench script again as a child process (so that its peak RSS is its own) and return
    the JSON object its last line of output prints."""
    result = subprocess.run([sys.executable, script, *arguments], cwd=ROOT, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def add_overlap_arguments(parser) -> None:
    """--max-labelers and --agreement-target: the bench project with adaptive overlap on. The
    clients rank in the (random) order shown, so most prompts look disputed: the worst case."""
    parser.add_argument("--max-labelers", type=int, help="max_labelers_per_prompt (default: k, adaptive overlap off)")
    parser.add_argument("--agreement-target", type=float, help="agreement_target (default 0.75)")
