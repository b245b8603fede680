"""Real parts for the fault tests: a redis-server of our own on a free port (stopped and started by
the tests; the shared one is never touched), Celery workers as subprocesses (`celery -A labelhub
worker`, SIGKILLed by the tests), and the production web server (`python -m labelhub.serve`), all
on the test database. Short leases so that a stale job is noticed in seconds."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from celery import Celery

from ..databases import subprocess_database_url

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class OwnRedis:
    """A redis-server on a free port, no persistence: a restart loses every message, as a Redis
    without a volume would."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, 10, "redis-server to answer")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


class Service:
    """A subprocess in its own process group, its output in a log file."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def kill(self) -> None:
        """SIGKILL to the whole group: the main process and its pool die at once, as on a lost machine."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._out.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Stack:
    """What the fault tests start: their Redis, workers and a web server, on the test database."""

    def __init__(self, tmp: Path, media_root: Path, redis: OwnRedis) -> None:
        self.tmp = tmp
        self.redis = redis
        self.media_root = media_root
        self.services: list[Service] = []
        self.worker_count = 0
        self.base_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "labelhub.settings",
            "DATABASE_URL": subprocess_database_url(),
            "REDIS_URL": redis.url,
            "MEDIA_ROOT": str(media_root),
            "LABELHUB_VAR_DIR": str(tmp / "var"),
            "JOB_LEASE_SECONDS": str(LEASE_SECONDS),
            "JOB_HEARTBEAT_SECONDS": "0.5",
            "JOB_SWEEP_SECONDS": "1",
            "LLM_MAX_RETRIES": "0",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "PYTHONUNBUFFERED": "1",
        }

    def worker(self, slow_export_seconds: float = 0.0, **env: str) -> Service:
        """`celery -A labelhub worker` on every queue, with beat (the sweep). With
        slow_export_seconds, each prompt's pairs take that long to write (tests/faults/slow_worker.py)."""
        self.worker_count += 1
        command = [sys.executable, "-m", "tests.faults.slow_worker", "-A", "labelhub", "worker", "--loglevel=INFO",
                   "--concurrency=2", "--queues=celery,generation,exports", f"--hostname=fault{self.worker_count}@%h",
                   "--beat", f"--schedule={self.tmp / f'beat-{self.worker_count}'}", "--without-mingle",
                   "--without-gossip"]
        service = Service(command, {**self.base_env, "SLOW_EXPORT_SECONDS": str(slow_export_seconds), **env},
                          self.tmp / f"worker-{self.worker_count}.log")
        self.services.append(service)
        wait_until(lambda: "ready." in service.output() or service.process.poll() is not None, 60,
                   "the worker to start")
        assert service.process.poll() is None, service.output()
        return service

    def web(self) -> str:
        """The production web server (granian), one process; returns its base URL."""
        port = free_port()
        env = {**self.base_env, "WEB_BIND": f"127.0.0.1:{port}", "WEB_WORKERS": "1", "WEB_THREADS": "2"}
        service = Service([sys.executable, "-m", "labelhub.serve"], env, self.tmp / "web.log")
        self.services.append(service)
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            try:
                return httpx.get(f"{url}/accounts/login/", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, 30, "the web server to answer")
        return url

    def sender(self) -> Celery:
        """A Celery client on our Redis, to send a message as a redelivery would."""
        app = Celery("fault-sender", broker=self.redis.url)
        app.conf.task_routes = {"annotations.tasks.export_pairs_task": {"queue": "exports"},
                                "annotations.tasks.generate_completions": {"queue": "generation"}}
        return app

    def close(self) -> None:
        for service in self.services:
            service.stop()


@pytest.fixture
def stack(transactional_db, tmp_path, settings):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    redis = OwnRedis(tmp_path)
    redis.start()
    built = Stack(tmp_path, Path(settings.MEDIA_ROOT), redis)
    try:
        yield built
    finally:
        built.close()
        redis.stop()
