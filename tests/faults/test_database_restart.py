"""When PostgreSQL drops every connection (a restart, a failover, an idle-connection reaper), no
request answers 500 (PRODUCT, "Operations and limits"): the production server (python -m
labelhub.serve) keeps a connection per thread, and Django's health check replaces a dead one before
the request uses it. The database backends are terminated with pg_terminate_backend on the test
database only; the shared PostgreSQL server itself is never stopped."""

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.databases import subprocess_database_url
from tests.factories import make_project, make_user

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
THREADS = 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def terminate_backends() -> int:
    """Terminate every other connection to the test database; how many there were."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0]


def server_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0]


def serve(health_checks: bool):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": subprocess_database_url(), "WEB_BIND": f"127.0.0.1:{port}",
           "WEB_WORKERS": "1", "WEB_THREADS": str(THREADS), "DEBUG": "false",
           "DB_HEALTH_CHECKS": "true" if health_checks else "false"}
    process = subprocess.Popen([sys.executable, "-m", "labelhub.serve"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return process, f"http://127.0.0.1:{port}"


def burst(client: httpx.Client, url: str, n: int) -> list[int]:
    """n requests, THREADS × 2 at a time, so that every server thread (and its connection) is used."""
    with ThreadPoolExecutor(THREADS * 2) as pool:
        return list(pool.map(lambda _: client.get(url).status_code, range(n)))


@pytest.fixture
def token(db):
    project = make_project("helpful")
    user = make_user("alice", "labeler", project)
    return Token.objects.create(user=user).key


def run_scenario(token: str, health_checks: bool) -> list[list[int]]:
    """Statuses of a warm-up burst, then of a burst after each of two rounds of terminated backends."""
    process, base = serve(health_checks)
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Token {token}"}, timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if client.get("/api/projects/").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, process.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "the server did not answer within 30 s"
                time.sleep(0.2)
            rounds = [burst(client, "/api/projects/", 40)]
            for _ in range(2):
                assert server_backends() >= 2  # the server holds persistent connections
                assert terminate_backends() >= 2
                started = time.monotonic()
                rounds.append(burst(client, "/api/projects/", 40))
                assert time.monotonic() - started < 10  # recovered within seconds
            return rounds
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_terminated_database_connections_never_answer_500(token):
    rounds = run_scenario(token, health_checks=True)
    assert all(status == 200 for statuses in rounds for status in statuses), rounds


def test_without_health_checks_the_same_fault_answers_500(token):
    """The control: the scenario above does break a server that reuses connections unchecked."""
    rounds = run_scenario(token, health_checks=False)
    assert all(status == 200 for status in rounds[0])
    assert 500 in rounds[1] + rounds[2]
