"""Real servers for tests that need separate processes: the production web server (labelhub.serve,
granian), a Celery worker, nginx. Each is started in its own process group and stopped by it."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_environment(database_url: str, **extra: str) -> dict[str, str]:
    """What a host of a deployment gets: the production profile, the shared database, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("STORAGE_", "AWS_"))}
    env.update({
        "DATABASE_URL": database_url, "LABELHUB_PROFILE": "production", "SECRET_KEY": "test-only-secret-key-" * 3,
        "SECURE_SSL_REDIRECT": "false", "ALLOWED_HOSTS": "127.0.0.1,localhost", "DJANGO_SETTINGS_MODULE":
        "labelhub.settings", "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = log.open("wb")
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
                            start_new_session=True)


def start_web(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    env = {**env, "WEB_BIND": f"127.0.0.1:{port}", "WEB_WORKERS": "1", "WEB_THREADS": "2"}
    return start([sys.executable, "-m", "labelhub.serve"], env, log)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    from labelhub.celery import QUEUES  # every queue, as `make run` and compose's workers together

    return start([sys.executable, "-m", "celery", "-A", "labelhub", "worker", "--pool", "threads",
                  "--concurrency", "2", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                  "--queues", ",".join(QUEUES)], env, log)


def wait_until_answering(url: str, process: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args} exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - a test's own server
            return
        except urllib.error.HTTPError:
            return  # it answers (401 without a token is fine)
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {seconds} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group this test started, SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx is answered to the test as an HTTPError it can read


def request(method: str, url: str, token: str | None = None, data: bytes | None = None,
            headers: dict[str, str] | None = None, follow: bool = True):
    """(status, headers, body) of one HTTP request; 4xx and 5xx are answers, not exceptions."""
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Token {token}"
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with opener.open(req, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()
