"""The production web server: granian's WSGI interface serving labelhub.wsgi:application.

    python -m labelhub.serve     # what `make serve`, the Dockerfile, docker compose and bench/ run

No set-up, no migrations: the current environment, and three settings of our own:
- WEB_BIND: host:port to listen on (default 0.0.0.0:8000);
- WEB_WORKERS: processes (default one per core, at most 8: os.cpu_count() sees the host's cores,
  not a container's share);
- WEB_THREADS: Python threads per process that run requests (default 4; on two cores 2 × 4 served
  more than 3 × 2 on bench/labeling_loop.py). Each thread keeps its own
  database connection, so workers × threads must stay below PostgreSQL's max_connections (100 by
  default, shared with the Celery workers).
Any other granian setting can be given as its GRANIAN_* variable (`granian --help`), e.g.
GRANIAN_LOG_ACCESS_ENABLED=true for an access log.

Why granian (figures in bench/README.md): its connections are handled by Rust (HTTP parsing,
keep-alive, slow clients), and a request reaches a Python thread only when it has arrived, so a
silent or slow client never holds a thread and a busy process does not hoard kept-alive
connections. On bench/labeling_loop.py it served more rankings per second with less server CPU per
ranking and a lower p99 than gunicorn's own threaded worker, in every pair of neighbouring runs.
"""

import os
import sys
import tempfile


def granian_command(environ: dict[str, str]) -> list[str]:
    host, _, port = environ.get("WEB_BIND", "0.0.0.0:8000").rpartition(":")  # noqa: S104 - a container's port
    workers = environ.get("WEB_WORKERS") or str(min(os.cpu_count() or 1, 8))
    return [
        sys.executable, "-m", "granian", "--interface", "wsgi", "--no-ws",
        "--host", host.strip("[]") or "0.0.0.0", "--port", port,  # noqa: S104
        "--workers", workers, "--blocking-threads", environ.get("WEB_THREADS") or "4",
        "--respawn-failed-workers",  # a worker that dies is replaced, as gunicorn's arbiter does
        # A worker that has not stopped 5 s after the master asked is killed: with Ctrl-C on `make serve`
        # every process gets SIGINT, and a worker then sometimes never exits (granian 2.8 waits forever).
        "--workers-kill-timeout", environ.get("GRANIAN_WORKERS_KILL_TIMEOUT") or "5",
        "labelhub.wsgi:application",
    ]


def prepare_metrics_dir(environ: dict[str, str]) -> None:
    """With METRICS_ENABLED, granian's workers count requests in prometheus-client's multiprocess
    mode: each writes its values to files in PROMETHEUS_MULTIPROC_DIR, and a scrape of any worker
    sums them (labelhub/metrics.py). The directory must start empty, or a restart would add the last
    run's counts to this one's: given one, its files are removed; else a fresh one is made."""
    if environ.get("METRICS_ENABLED", "").lower() not in {"1", "true", "yes"}:
        return
    directory = environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))
    else:
        environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="labelhub-metrics-")


def main() -> None:
    prepare_metrics_dir(os.environ)  # before granian starts: its workers inherit the variable
    command = granian_command(dict(os.environ))
    os.execv(command[0], command)  # noqa: S606 - granian becomes the process docker and `make serve` signal


if __name__ == "__main__":
    main()
