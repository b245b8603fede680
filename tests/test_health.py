"""/healthz and /readyz: what a load balancer and compose's health checks ask."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import Client

from labelhub.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthz_answers_200_without_touching_the_database(django_assert_num_queries, db):
    with django_assert_num_queries(0):
        response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_probes_need_no_login_and_set_no_cookie(db):
    client = Client(enforce_csrf_checks=True)
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code in (200, 503), path
        assert not response.cookies, path


def test_readyz_answers_200_when_database_and_broker_answer(db):
    if not os.environ.get("REDIS_URL"):
        pytest.skip("without REDIS_URL the broker is the filesystem transport")
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_answers_503_naming_the_broker_when_it_is_down(db, monkeypatch):
    port = closed_port()
    monkeypatch.setattr(celery_app.conf, "broker_url", f"redis://127.0.0.1:{port}/0")
    started = time.monotonic()
    response = Client().get("/readyz")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert str(port) in body["checks"]["broker"]


def test_readyz_answers_503_naming_the_database_when_it_is_down(tmp_path):
    """A server process whose DATABASE_URL points at a closed port: /healthz still 200, /readyz 503."""
    port = closed_port()
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "c = Client()\n"
        "print(c.get('/healthz').status_code)\n"
        "r = c.get('/readyz'); print(r.status_code); print(r.json()['checks']['database'])\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "labelhub.settings",
           "DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/nothing", "LABELHUB_VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    healthz, readyz, why = result.stdout.splitlines()[-3:]
    assert (healthz, readyz) == ("200", "503"), result.stderr
    assert str(port) in why


def test_compose_health_checks_use_readyz_and_a_worker_ping():
    import yaml

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert any("/readyz" in part for part in services["web"]["healthcheck"]["test"])
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])
