"""Load with faults: labelers rank through the production web server while the Celery worker is
SIGKILLed (then started again) and Redis is stopped (then started again), once each; a researcher
starts an export every few seconds meanwhile.

    .venv/bin/python bench/load_faults.py [--clients 50] [--seconds 60] [--prompts 3000]
        [--database-url postgres://postgres@127.0.0.1:5432/lh_jobs_faults_bench]

Redis is this script's own redis-server on a free port (the machine's shared one is never stopped).
Reported: requests by kind and status, rankings acknowledged (201) and stored, acknowledged
rankings stored exactly once, prompts over k (labelers_per_prompt), exports by final state (none may
stay queued or running), and the 5xx answers other than 503.
"""

import argparse
import collections
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from labeling_setup import SLUG, build_project, ensure_database, free_port, setup_django, web_server

ROOT = Path(__file__).resolve().parent.parent
K = 3  # labelers per prompt


def start_redis(port: int, directory: str) -> subprocess.Popen:
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", directory],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("redis-server did not start")


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "labelhub", "worker", "--loglevel=WARNING", "--concurrency=1",
         "--queues=celery,generation,exports", "--beat", f"--schedule={log.parent / 'beat'}"],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: collections.Counter = collections.Counter()
        self.acknowledged: list[int] = []  # assignment ids whose ranking answered 201

    def count(self, kind: str, status: int | str) -> None:
        with self.lock:
            self.statuses[f"{kind} {status}"] += 1


def request(conn: http.client.HTTPConnection, path: str, token: str, body: dict | None = None):
    conn.request("POST", path, body=json.dumps(body or {}),
                 headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()


def labeler(port: int, token: str, stop_at: float, tally: Tally) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.monotonic() < stop_at:
        try:
            status, data = request(conn, f"/api/projects/{SLUG}/tasks/next/", token)
            tally.count("next", status)
            if status != 200:
                time.sleep(0.2)
                continue
            task = json.loads(data)
            body = {"tiers": [[c["id"]] for c in task["completions"]], "flagged": []}
            status, _ = request(conn, f"/api/assignments/{task['assignment']}/ranking/", token, body)
            tally.count("ranking", status)
            if status == 201:
                with tally.lock:
                    tally.acknowledged.append(task["assignment"])
        except (OSError, http.client.HTTPException) as exc:
            tally.count("connection", type(exc).__name__)
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            time.sleep(0.2)
    conn.close()


def researcher(port: int, token: str, stop_at: float, tally: Tally, exports: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    seed = 0
    while time.monotonic() < stop_at:
        seed += 1
        try:
            status, data = request(conn, f"/api/projects/{SLUG}/exports/", token, {"seed": seed})
        except (OSError, http.client.HTTPException) as exc:
            tally.count("export", type(exc).__name__)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        tally.count("export", status)
        if status in (200, 202):
            exports.append(json.loads(data)["id"])
        time.sleep(3)
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--prompts", type=int, default=3000)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/lh_jobs_faults_bench")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is needed")
    tmp = Path(tempfile.mkdtemp(prefix="load-faults-"))
    redis_port = free_port()
    redis = start_redis(redis_port, str(tmp))
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    os.environ["MEDIA_ROOT"] = str(tmp / "media")
    os.environ["LABELHUB_VAR_DIR"] = str(tmp / "var")
    os.environ.setdefault("JOB_LEASE_SECONDS", "10")
    os.environ.setdefault("JOB_SWEEP_SECONDS", "2")
    # This Redis keeps nothing across its restart: a queued export's message is lost with it and
    # is sent again by the sweep after this long (600 s by default; compose's Redis persists).
    os.environ.setdefault("JOB_RESEND_QUEUED_SECONDS", "20")
    ensure_database(args.database_url)
    setup_django(args.database_url)
    from django.db.models import Count
    from rest_framework.authtoken.models import Token

    from annotations.models import Export, Membership, Project, Prompt, Ranking

    tokens = build_project(args.prompts, args.clients, labelers_per_prompt=K)
    project = Project.objects.get(slug=SLUG)
    from django.contrib.auth import get_user_model

    rita = get_user_model().objects.create_user("bench-researcher")
    Membership.objects.create(user=rita, project=project, role=Membership.Role.RESEARCHER)
    research_token = Token.objects.create(user=rita).key
    worker_env = {**os.environ, "DATABASE_URL": args.database_url}
    worker = start_worker(worker_env, tmp / "worker.log")
    events: list[str] = []
    tally, exports = Tally(), []
    with web_server(args.database_url) as (base, _server):
        port = int(base.rsplit(":", 1)[1])
        started = time.monotonic()
        stop_at = started + args.seconds
        threads = [threading.Thread(target=labeler, args=(port, token, stop_at, tally)) for token in tokens]
        threads.append(threading.Thread(target=researcher, args=(port, research_token, stop_at, tally, exports)))
        for thread in threads:
            thread.start()
        plan = [(0.25, "kill worker"), (0.35, "start worker"), (0.5, "stop redis"), (0.6, "start redis")]
        for share, action in plan:
            time.sleep(max(0.0, started + share * args.seconds - time.monotonic()))
            if action == "kill worker":
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
            elif action == "start worker":
                worker = start_worker(worker_env, tmp / "worker.log")
            elif action == "stop redis":
                redis.kill()
                redis.wait()
            else:
                redis = start_redis(redis_port, str(tmp))
            events.append(f"{time.monotonic() - started:5.1f} s {action}")
        for thread in threads:
            thread.join()
        # Exports started before the end must all finish (or fail with a message), none stuck.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and Export.objects.filter(
                pk__in=exports, status__in=["queued", "running"]).exists():
            time.sleep(1)
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(timeout=30)
    redis.kill()

    acknowledged = tally.acknowledged
    stored = dict(Ranking.objects.filter(assignment_id__in=acknowledged).values("assignment_id")
                  .annotate(n=Count("pk")).values_list("assignment_id", "n"))
    over_k = Prompt.objects.filter(project=project, num_rankings__gt=K).count()
    over_k_rows = (Ranking.objects.filter(project=project).values("prompt").annotate(n=Count("pk"))
                   .filter(n__gt=K).count())
    five_hundreds = {key: n for key, n in tally.statuses.items() if key.split()[-1].startswith("5")
                     and not key.endswith("503")}
    report = {
        "clients": args.clients, "seconds": args.seconds, "events": events,
        "requests": sum(n for key, n in tally.statuses.items() if key.split()[0] in ("next", "ranking", "export")),
        "by_status": dict(sorted(tally.statuses.items())),
        "rankings_acknowledged": len(acknowledged),
        "rankings_stored": Ranking.objects.filter(project=project).count(),
        "acknowledged_stored_exactly_once": sum(1 for a in acknowledged if stored.get(a) == 1),
        "acknowledged_lost": sum(1 for a in acknowledged if a not in stored),
        "prompts_over_k": max(over_k, over_k_rows),
        "exports": dict(collections.Counter(Export.objects.filter(pk__in=exports).values_list("status", flat=True))),
        "5xx_other_than_503": five_hundreds,
    }
    print(json.dumps(report, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
