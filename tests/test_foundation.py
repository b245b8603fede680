"""Set-up, settings, commands, deployment files: the ground everything else stands on."""

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from annotations.models import Completion, Membership, Project, Prompt
from labelhub import settings as lh_settings

from .factories import make_project

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, capture_output=True, text=True, input=stdin, env={**os.environ, **(env or {})}, timeout=120,
    )


# -- settings ----------------------------------------------------------------------------------

def test_production_profile_passes_check_deploy_without_warnings(tmp_path):
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING",
        env={"LABELHUB_PROFILE": "production", "SECRET_KEY": "x" * 20 + "-long-random-production-key-1234567890",
             "ALLOWED_HOSTS": "labelhub.example.com", "LABELHUB_VAR_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_profile_refuses_to_start_without_secret_key(tmp_path):
    result = run_manage("check", env={"LABELHUB_PROFILE": "production", "SECRET_KEY": "",
                                      "LABELHUB_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_bad_boolean_setting_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(Exception, match="DEBUG must be true or false"):
        lh_settings.env_bool("DEBUG")


def test_database_url_selects_the_database_and_persists_connections(settings):
    if os.environ.get("DATABASE_URL"):
        assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
        assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 600
        assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is (os.environ.get("DB_HEALTH_CHECKS") == "true")
    else:
        assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"


def test_without_redis_celery_uses_the_filesystem_transport():
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; import django; django.setup(); "
         "print(settings.CELERY_BROKER_URL)"],
        cwd=ROOT, capture_output=True, text=True,
        env={k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        | {"DJANGO_SETTINGS_MODULE": "labelhub.settings"},
    )
    assert result.stdout.strip() == "filesystem://", result.stderr


# -- commands -----------------------------------------------------------------------------------

def test_add_user_creates_labeler_member_of_project(db):
    make_project("demo2")
    call_command("add_user", "lena", "--role", "labeler", "--project", "demo2", "--password", "s3cret-pass")
    user = get_user_model().objects.get(username="lena")
    assert user.check_password("s3cret-pass")
    assert Membership.objects.filter(user=user, project__slug="demo2", role="labeler").exists()
    assert user.groups.filter(name="labeler").exists()
    assert user.groups.get(name="labeler").permissions.filter(codename="add_ranking").exists()


def test_add_user_admin_without_project_is_site_wide_staff(db):
    call_command("add_user", "root2", "--role", "admin", "--password", "s3cret-pass")
    assert get_user_model().objects.get(username="root2").is_staff


def test_add_user_for_existing_user_adds_role_and_sets_password(db):
    make_project("demo2")
    call_command("add_user", "lena", "--role", "labeler", "--project", "demo2", "--password", "first-pass")
    call_command("add_user", "lena", "--role", "researcher", "--project", "demo2", "--password", "second-pass")
    user = get_user_model().objects.get(username="lena")
    assert user.check_password("second-pass")
    assert set(Membership.objects.filter(user=user).values_list("role", flat=True)) == {"labeler", "researcher"}


def test_add_user_reads_password_from_standard_input(db, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("piped-password\n"))
    call_command("add_user", "stdin-user", "--role", "researcher")
    assert get_user_model().objects.get(username="stdin-user").check_password("piped-password")


def test_command_errors_go_to_stderr_with_exit_status_1_and_no_traceback(tmp_path):
    fresh = {"LABELHUB_VAR_DIR": str(tmp_path), "DATABASE_URL": "", "REDIS_URL": ""}
    assert run_manage("migrate", "-v0", env=fresh).returncode == 0
    result = run_manage("add_user", "x", "--role", "labeler", "--project", "nope", "--password", "pw-123456", env=fresh)
    assert result.returncode == 1
    assert "no project with slug 'nope'" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_manage("create_project", "p", "--instructions", str(tmp_path / "absent.md"), env=fresh)
    assert missing.returncode == 1
    assert "absent.md: no such file" in missing.stderr


def test_create_project_with_instructions_file_and_no_ties(db, tmp_path):
    instructions = tmp_path / "guide.md"
    instructions.write_text("# Rank by harmlessness\n", encoding="utf-8")
    call_command("create_project", "harm", "--name", "Harmlessness", "--labelers-per-prompt", "5",
                 "--instructions", str(instructions), "--no-ties")
    project = Project.objects.get(slug="harm")
    assert (project.name, project.labelers_per_prompt, project.allow_ties) == ("Harmlessness", 5, False)
    assert project.current_instructions().version == 1
    assert not project.generation_enabled


def test_load_demo_creates_project_prompts_and_users_once(db, capsys):
    call_command("load_demo", "--password", "demo-password-1")
    out = capsys.readouterr().out
    assert "demo-password-1" in out
    project = Project.objects.get(slug="demo")
    assert project.prompts.count() >= 20
    counts = {p.num_completions for p in project.prompts.all()}
    assert counts <= {3, 4}
    hot = Prompt.objects.get(project=project, text="My house is too hot.")
    assert hot.completions.count() == 3
    instructions = project.current_instructions().text
    for words in ("most helpful", "search engine", "rarely", "nonsensical, confusing or irrelevant"):
        assert words in instructions
    for username in ("admin", "labeler1", "labeler2", "labeler3", "researcher"):
        assert get_user_model().objects.get(username=username).check_password("demo-password-1")
    call_command("load_demo")
    assert "already loaded" in capsys.readouterr().out
    stored = Completion.objects.filter(prompt__project=project).count()
    assert stored == sum(p.num_completions for p in project.prompts.all())


def test_demo_users_can_log_in_and_see_the_labeling_home(db):
    call_command("load_demo", "--password", "demo-password-1")
    client = Client()
    response = client.post("/accounts/login/", {"username": "labeler1", "password": "demo-password-1"})
    assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    assert b"Demo: helpfulness" in home.content
    admin_client = Client()
    admin_client.post("/accounts/login/", {"username": "admin", "password": "demo-password-1"})
    assert admin_client.get("/admin/annotations/prompt/").status_code == 200


def test_login_page_is_served(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content and b'name="password"' in response.content


# -- deployment files ---------------------------------------------------------------------------

def test_compose_services_run_things_the_project_has():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {"web", "worker", "db", "redis"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
    web = " ".join(services["web"]["command"])
    wsgi_module, app_name = re.search(r"gunicorn (\S+):(\S+)", web).groups()
    module = __import__(wsgi_module, fromlist=[app_name])
    assert callable(getattr(module, app_name))
    assert "migrate" in web
    worker = services["worker"]["command"]
    assert worker[:4] == ["celery", "-A", "labelhub", "worker"]
    from labelhub.celery import app

    assert app.main == "labelhub"
    for name in ("web", "worker"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@db:" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert env["LABELHUB_PROFILE"] == "production"
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
    named_volumes = set(compose["volumes"])
    for name in ("db", "redis"):
        for volume in services[name]["volumes"]:
            assert volume.split(":")[0] in named_volumes


def test_dockerfile_copies_what_the_image_needs():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for path in ("labelhub", "annotations", "templates", "static", "manage.py", "gunicorn.conf.py",
                 "package-lock.json"):
        assert path in dockerfile
        assert (ROOT / path).exists()
    assert "labelhub.wsgi:application" in dockerfile


@contextlib.contextmanager
def _gunicorn_with_the_projects_config(workers: int, threads: int, options: str = ""):
    """gunicorn started as the Dockerfile starts it (gunicorn.conf.py); yields a function that GETs
    the login page on a new connection and returns (status, Connection header)."""
    import http.client
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "WEB_WORKERS": str(workers), "WEB_THREADS": str(threads), "WEB_BIND": f"127.0.0.1:{port}",
           "GUNICORN_CMD_ARGS": options}
    server = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "labelhub.wsgi:application"],
                              cwd=ROOT, env=env, stderr=subprocess.PIPE)

    def get_login_page(timeout: float = 3) -> tuple[int, str | None]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            connection.request("GET", "/accounts/login/")
            response = connection.getresponse()
            response.read()
            return response.status, response.getheader("Connection")
        finally:
            connection.close()

    get_login_page.port = port
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert get_login_page(timeout=10) == (200, "close")
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        yield get_login_page
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_gunicorn_with_the_projects_config_hands_requests_to_a_worker_with_a_free_thread():
    """A worker whose threads are all taken accepts no connection: with two one-thread workers and
    a client holding one of them (connected, request not sent), every other request is answered
    at once by the other worker. A worker that accepted while busy would hold some of them until
    gunicorn gives up waiting for the silent client's request (5 s)."""
    import socket
    import time

    with (
        _gunicorn_with_the_projects_config(workers=2, threads=1) as get_login_page,
        socket.create_connection(("127.0.0.1", get_login_page.port)),  # a client that never sends
    ):
        time.sleep(0.5)  # accepted by one of the workers meanwhile
        started = time.monotonic()
        answers = [get_login_page() for _ in range(8)]
        elapsed = time.monotonic() - started
    assert answers == [(200, "close")] * 8
    assert elapsed < 3


def test_gunicorn_closing_a_connection_waits_for_the_client_without_holding_up_the_worker():
    """After its answer the server sends FIN and waits for the client's (up to 2 s). A client that
    read its answer but keeps its socket open must not delay the worker's next request, as it did
    with gunicorn's own threaded worker (2 s)."""
    import socket
    import time

    with (
        _gunicorn_with_the_projects_config(workers=1, threads=2) as get_login_page,
        socket.create_connection(("127.0.0.1", get_login_page.port), timeout=5) as slow,
    ):
        slow.sendall(b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = b""
        while b"\r\n\r\n" not in received:
            received += slow.recv(65536)
        head, _, body = received.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(body) < length:
            body += slow.recv(65536)
        started = time.monotonic()
        assert get_login_page() == (200, "close")
        assert time.monotonic() - started < 1
        assert slow.recv(1) == b""  # the server did close its side


def test_a_gunicorn_worker_that_stops_finishes_the_graceful_closes_under_way():
    """A worker restarting after max_requests still waits for a client that was sending a body the
    server answered without reading (a 404): its connection is closed, not reset under it."""
    import socket
    import time

    with (
        _gunicorn_with_the_projects_config(workers=1, threads=2, options="--max-requests 2") as get_login_page,
        socket.create_connection(("127.0.0.1", get_login_page.port), timeout=5) as uploader,
    ):
        # The start-up check was the worker's first request; this is its last before it restarts.
        uploader.sendall(b"POST /api/nothing-here/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60000\r\n\r\n"
                         + b"a" * 1000)
        time.sleep(0.3)  # answered, and the worker is on its way out
        for _ in range(20):  # the rest of the upload keeps coming, as from a slow client
            uploader.sendall(b"b" * 2000)  # BrokenPipeError/ConnectionResetError once reset
            time.sleep(0.02)
        assert uploader.recv(65536).startswith(b"HTTP/1.1 404")


def test_graceful_closes_waiting_at_once_are_capped_oldest_closed_first(monkeypatch):
    """Clients that never close their side must not pile up open sockets in the worker."""
    import socket
    import time

    from labelhub import gunicorn_worker

    monkeypatch.setattr(gunicorn_worker, "LINGER_MAX_SOCKETS", 3)
    closer = gunicorn_worker.GracefulCloser()
    closer.start()
    pairs = [socket.socketpair() for _ in range(5)]
    for server_side, _ in pairs:
        closer.close(server_side)
        time.sleep(0.05)  # in order: the first ones are the oldest
    deadline = time.monotonic() + 2
    while len(closer.lingering) > 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [server_side.fileno() == -1 for server_side, _ in pairs] == [True, True, False, False, False]
    assert all(client_side.recv(1) == b"" for _, client_side in pairs)  # each got the server's FIN
    for _, client_side in pairs:
        client_side.close()  # the clients close: the rest are closed too
    deadline = time.monotonic() + 2
    while closer.busy() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not closer.busy() and all(server_side.fileno() == -1 for server_side, _ in pairs)


PUBLIC_PATHS = {"/api/auth/token/", "/api/schema/", "/api/docs/", "/accounts/login/", "/accounts/logout/",
                "/accounts/password_reset/", "/accounts/password_reset/done/", "/accounts/reset/done/",
                "/invite/1/"}  # an invite link's page is for people without an account (tests/test_invites.py)


def _concrete_paths(patterns, prefix=""):
    """Every URL of the site with its parameters filled in (slug → a project, ids → 1)."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if hasattr(pattern, "url_patterns"):
            if route.startswith("admin/"):
                continue  # Django's admin has its own login
            yield from _concrete_paths(pattern.url_patterns, route)
            continue
        if route.startswith("^") or "(?P" in route:
            continue
        route = re.sub(r"<slug:\w+>", "helpful", route)
        route = re.sub(r"<(\w+:)?\w+>", "1", route)
        yield "/" + route


def test_anonymous_visitors_get_nothing_but_the_public_pages(client, project):
    from django.urls import get_resolver

    paths = sorted(set(_concrete_paths(get_resolver().url_patterns)) - PUBLIC_PATHS)
    assert "/api/projects/helpful/tasks/next/" in paths
    for path in paths:
        if "reset/" in path:
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            redirected_to_login = response.status_code == 302 and "/accounts/login/" in response["Location"]
            assert redirected_to_login or response.status_code in (401, 403, 405), (method, path, response.status_code)
