"""`make run`: the embedded PostgreSQL (unless DATABASE_URL is set), migrations, the demo, then the
development web server and the Celery workers (exports with beat, and generation), all stopped
together on Ctrl-C or SIGTERM.

    python -m labelhub.run [--host 127.0.0.1] [--port 8000]

Why a supervisor in Python rather than a shell `trap 'kill 0'`: each child runs in its own process
group, so a stop reaches the child's own children too (runserver's reloaded server, Celery's pool)
and whatever has not exited after a grace period is killed; the database stops last.
"""

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from labelhub import embedded_db

ROOT = Path(__file__).resolve().parent.parent
GRACE_SECONDS = 5.0  # then SIGKILL: web server, worker and database are gone within 10 s


class Stop(Exception):
    """Ctrl-C or SIGTERM arrived."""


def _on_signal(signum, frame) -> None:
    raise Stop


class Child:
    """A command in its own process group. `stop_signal_to_group`: runserver's reloader and the
    server it starts both stop on SIGTERM; Celery's main process stops its pool itself (warm
    shutdown), so it alone gets the signal. `restart`: started again when it exits (a Celery
    worker can exit on a lost Redis connection; compose's restart policy does the same)."""

    def __init__(self, command: list[str], stop_signal_to_group: bool = True, restart: bool = False) -> None:
        self.command = command
        self.process = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
        self.stop_signal_to_group = stop_signal_to_group
        self.restart = restart

    def start_again(self) -> None:
        self.process = subprocess.Popen(self.command, cwd=ROOT, start_new_session=True)

    def signal(self, signum: int) -> None:
        try:
            if self.stop_signal_to_group or signum == signal.SIGKILL:
                os.killpg(self.process.pid, signum)
            else:
                self.process.send_signal(signum)
        except ProcessLookupError:
            pass


def stop(children: list[Child], while_they_stop=lambda: None) -> None:
    deadline = time.monotonic() + GRACE_SECONDS
    for child in children:
        child.signal(signal.SIGTERM)
    while_they_stop()
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
    for child in children:  # leftovers: a child that did not exit, or one its leader left behind
        child.signal(signal.SIGKILL)
        child.process.wait()


def wait_for_any(children: list[Child]) -> Child:
    """The first child that exits and is not to be restarted; the others are started again."""
    while True:
        for child in children:
            if child.process.poll() is not None:
                if not child.restart:
                    return child
                print(f"{' '.join(child.command[1:5])} exited ({child.process.returncode}): starting it again",
                      file=sys.stderr, flush=True)
                time.sleep(1.0)
                child.start_again()
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve LabelHub for development (what `make run` runs).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    var_dir = embedded_db.default_var_dir()
    started_database = False
    children: list[Child] = []
    manage = [sys.executable, "manage.py"]
    try:
        if not os.environ.get("DATABASE_URL"):
            started_database = not embedded_db.is_running(var_dir)  # before: a stop may come during the start
            embedded_db.start(var_dir)
            os.environ["DATABASE_URL"] = embedded_db.url(var_dir)
        for step in (["migrate", "--noinput", "-v0"], ["load_demo"]):
            children = [Child(manage + step)]
            if wait_for_any(children).process.returncode != 0:
                return 1
        print(f"LabelHub on http://{args.host}:{args.port}/ (Ctrl-C stops the server and the worker)", flush=True)
        celery = [sys.executable, "-m", "celery", "-A", "labelhub", "worker", "--loglevel=INFO", "--concurrency=1"]
        children = [
            Child(manage + ["runserver", f"{args.host}:{args.port}"]),
            # One worker per kind of long job, so that neither starves the other; the first also
            # runs beat (-B), whose schedule sweeps jobs whose worker died (annotations/leases.py).
            Child(celery + ["--queues=celery,exports", "--hostname=exports@%h", "--beat"], stop_signal_to_group=False,
                  restart=True),
            Child(celery + ["--queues=generation", "--hostname=generation@%h"], stop_signal_to_group=False,
                  restart=True),
        ]
        ended = wait_for_any(children)
        print(f"{' '.join(ended.process.args[1:4])} exited ({ended.process.returncode}): stopping", file=sys.stderr)
        return 1
    except Stop:
        return 0  # a requested stop is a clean one (make then reports no error)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop(children, while_they_stop=(lambda: embedded_db.checkpoint(var_dir)) if started_database else lambda: None)
        if started_database:
            embedded_db.stop(var_dir)


if __name__ == "__main__":
    sys.exit(main())
