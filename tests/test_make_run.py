"""`make run` stops cleanly: Ctrl-C leaves no web server, worker or database behind.

The test starts the supervisor exactly as the Makefile's `run` recipe execs it (`python -m
labelhub.run --host ... --port ...`), rather than `make run` itself, which would first install the
project into the virtualenv. It runs as on a fresh clone: no DATABASE_URL (so the embedded
PostgreSQL starts in a throwaway var/ directory), no REDIS_URL.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def login_page_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def processes_of(var_dir: Path, supervisor_pid: int, port: int) -> list[psutil.Process]:
    """The supervisor's process group, and anything it started: runserver on the port, the Celery
    worker and the PostgreSQL server of this var/ directory (they run in their own groups)."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "environ"]):
        try:
            command = " ".join(process.info["cmdline"] or [])
            in_group = os.getpgid(process.pid) == supervisor_pid
        except (psutil.Error, ProcessLookupError):
            continue
        environment = process.info["environ"] or {}
        if in_group or str(var_dir) in command or f":{port}" in command \
                or environment.get("LABELHUB_VAR_DIR") == str(var_dir):
            found.append(process)
    return found


def test_ctrl_c_on_make_run_stops_web_server_worker_and_database_within_10_seconds(tmp_path):
    var_dir = tmp_path / "var"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"LABELHUB_VAR_DIR": str(var_dir), "LABELHUB_DEMO_PASSWORD": "demo-password-1"}
    stderr_file = (tmp_path / "stderr").open("w+")  # a file, not a pipe nobody reads until the end
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "labelhub.run", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=stderr_file,
    )
    try:
        deadline = time.monotonic() + 180  # initdb, migrations and the demo on a busy machine
        while not login_page_answers(port):
            assert supervisor.poll() is None, (tmp_path / "stderr").read_text()
            assert time.monotonic() < deadline, "the login page did not answer"
            time.sleep(0.5)
        running = processes_of(var_dir, supervisor.pid, port)
        commands = [" ".join(process.cmdline()) for process in running]
        assert any("runserver" in command for command in commands)
        assert any("celery" in command for command in commands)
        assert any("postgres" in command for command in commands)

        os.killpg(supervisor.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        stopped_by = time.monotonic() + 10
        _, alive = psutil.wait_procs(running, timeout=10)
        assert time.monotonic() <= stopped_by + 0.5
        assert alive == [], [" ".join(process.cmdline()) for process in alive]
        assert supervisor.wait(timeout=1) == 0
        assert processes_of(var_dir, supervisor.pid, port) == []
        stderr = (tmp_path / "stderr").read_text()
        assert "Segmentation fault" not in stderr
        assert "Traceback" not in stderr, stderr
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
        for process in processes_of(var_dir, supervisor.pid, port):
            process.kill()
        stderr_file.close()
