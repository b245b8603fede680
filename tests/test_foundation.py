"""Set-up, settings, commands, deployment files: the ground everything else stands on."""

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
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 600
    # On unless turned off: a connection PostgreSQL dropped is replaced before the request uses it.
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is (os.environ.get("DB_HEALTH_CHECKS") != "false")


def test_without_database_url_the_embedded_postgresql_socket_under_var_is_used(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; import django; django.setup(); "
         "db = settings.DATABASES['default']; print(db['ENGINE'], db['HOST'], db['NAME'])"],
        cwd=ROOT, capture_output=True, text=True,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        | {"DJANGO_SETTINGS_MODULE": "labelhub.settings", "LABELHUB_VAR_DIR": str(tmp_path)},
    )
    assert result.stdout.split() == ["django.db.backends.postgresql", str((tmp_path / "postgres").resolve()),
                                     "labelhub"], result.stderr


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


def test_command_errors_go_to_stderr_with_exit_status_1_and_no_traceback(db, tmp_path):
    from .databases import subprocess_database_url

    fresh = {"LABELHUB_VAR_DIR": str(tmp_path), "DATABASE_URL": subprocess_database_url(), "REDIS_URL": ""}
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
    assert re.search(r"migrate --noinput && exec python -m labelhub.serve$", web)
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
    for path in ("labelhub", "annotations", "templates", "static", "manage.py", "package-lock.json"):
        assert path in dockerfile
        assert (ROOT / path).exists()
    assert 'CMD ["python", "-m", "labelhub.serve"]' in dockerfile


def test_make_serve_runs_the_web_server_as_the_image_does():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^serve:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE).group(1)
    assert recipe.strip() == "exec $(PY) -m labelhub.serve"  # no migrate, no set-up


def test_the_web_server_serves_the_wsgi_application_on_web_bind():
    from labelhub.serve import granian_command

    command = granian_command({"WEB_BIND": "127.0.0.1:9001", "WEB_WORKERS": "3", "WEB_THREADS": "4"})
    assert command[1:5] == ["-m", "granian", "--interface", "wsgi"]
    options = dict(zip(command[5:-1], command[6:-1], strict=False))
    assert (options["--host"], options["--port"], options["--workers"], options["--blocking-threads"]) == (
        "127.0.0.1", "9001", "3", "4")
    wsgi_module, app_name = command[-1].split(":")
    assert (wsgi_module, app_name) == ("labelhub.wsgi", "application")
    assert callable(getattr(__import__(wsgi_module, fromlist=[app_name]), app_name))
    default = granian_command({})
    assert default[default.index("--host") + 1] == "0.0.0.0" and default[default.index("--port") + 1] == "8000"


PUBLIC_PATHS = {"/api/auth/token/", "/api/schema/", "/api/docs/", "/accounts/login/", "/accounts/logout/",
                "/accounts/password_reset/", "/accounts/password_reset/done/", "/accounts/reset/done/",
                "/invite/1/",  # an invite link's page is for people without an account (tests/test_invites.py)
                "/healthz", "/readyz", "/metrics"}  # probes, and the scrape behind its own token (tests/test_health.py)


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
