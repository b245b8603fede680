"""JSON logs and request ids: one line per request and per job event, and a job started by a request
logs that request's id."""

import json
import logging
import time

import pytest
from django.test import Client

from annotations.models import Export
from labelhub.observability import JsonFormatter

from .export_builders import rank
from .factories import make_prompt


class JsonLines(logging.Handler):
    """Formats each record as it is emitted (in the emitting thread, as a real handler does)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def objects(self, logger: str) -> list[dict]:
        return [line for line in map(json.loads, self.lines) if line["logger"] == logger]


@pytest.fixture
def json_logs(settings):
    settings.LOG_REQUESTS = True
    handler = JsonLines()
    logger = logging.getLogger("labelhub")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


def test_each_request_logs_one_json_line_with_its_id_route_status_and_user(json_logs, api, project, alice):
    make_prompt(project, 3)
    response = api(alice).post("/api/projects/helpful/tasks/next/", HTTP_X_REQUEST_ID="lb-7f3a.1")
    assert response.status_code == 200
    assert response["X-Request-ID"] == "lb-7f3a.1"
    [line] = json_logs.objects("labelhub.request")
    assert line["request_id"] == "lb-7f3a.1"
    assert (line["method"], line["path"], line["route"], line["status"]) == (
        "POST", "/api/projects/helpful/tasks/next/", "api-next-task", 200)
    assert line["user_id"] == alice.pk
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["level"] == "INFO" and line["time"].endswith("+00:00")


def test_a_request_without_an_id_gets_a_new_one_and_a_strange_id_is_replaced(json_logs, db):
    first, second = Client().get("/healthz"), Client().get("/healthz")
    assert len(first["X-Request-ID"]) == 32 and first["X-Request-ID"] != second["X-Request-ID"]
    strange = Client().get("/healthz", HTTP_X_REQUEST_ID='"><script>alert(1)</script>')
    assert strange["X-Request-ID"].isalnum() and len(strange["X-Request-ID"]) == 32
    ids = [line["request_id"] for line in json_logs.objects("labelhub.request")]
    assert ids == [first["X-Request-ID"], second["X-Request-ID"], strange["X-Request-ID"]]
    assert json_logs.objects("labelhub.request")[0]["user_id"] is None


def test_an_unmatched_path_is_logged_under_one_route_name(json_logs, db):
    assert Client().get("/no/such/page/").status_code == 404
    [line] = json_logs.objects("labelhub.request")
    assert (line["route"], line["status"], line["path"]) == ("unmatched", 404, "/no/such/page/")


def test_an_exception_is_one_line_with_its_traceback():
    record = logging.LogRecord("labelhub.job", logging.ERROR, __file__, 1, "export %s failed", (12,), None)
    try:
        raise ValueError("disk full")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "export 12 failed"
    assert "ValueError: disk full" in parsed["exc_info"]


@pytest.mark.worker
def test_a_job_started_by_a_request_logs_that_requests_id_in_the_worker(
    celery_worker, json_logs, api, project, alice, bob, rita
):
    prompt = make_prompt(project, 3)
    rank(prompt, alice, [[2], [1], [3]])
    rank(prompt, bob, [[1], [2], [3]])

    response = api(rita).post("/api/projects/helpful/exports/", {"format": "jsonl"}, format="json",
                              HTTP_X_REQUEST_ID="req-export-42")
    assert response.status_code == 202
    export_id = response.json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if Export.objects.get(pk=export_id).status in (Export.Status.DONE, Export.Status.FAILED):
            break
        time.sleep(0.2)
    export = Export.objects.get(pk=export_id)
    assert export.status == Export.Status.DONE, export.error

    events = []
    while time.monotonic() < deadline:  # the finished line follows the row's update
        events = [line for line in json_logs.objects("labelhub.job") if line.get("export_id") == export_id]
        if len(events) == 2:
            break
        time.sleep(0.1)
    started, finished = events
    assert [line["event"] for line in events] == ["task_started", "task_finished"]
    assert {line["request_id"] for line in events} == {"req-export-42"}
    assert started["task"] == finished["task"] == "annotations.tasks.export_pairs_task"
    assert started["task_id"] == finished["task_id"]
    assert finished["state"] == "SUCCESS" and finished["duration_ms"] > 0
    [request_line] = [line for line in json_logs.objects("labelhub.request") if line["route"] == "api-exports"]
    assert request_line["request_id"] == "req-export-42"
    export.refresh_from_db()
    assert export.bundle_bytes and export.bundle_bytes > 0  # recorded by the worker once the job succeeded



def test_log_format_json_makes_every_line_on_stderr_one_json_object(tmp_path):
    """The settings' wiring: LOG_FORMAT=json alone turns on the JSON formatter and the request lines."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = ("import django; django.setup()\n"
              "from django.test import Client\n"
              "Client().get('/healthz', HTTP_X_REQUEST_ID='from-the-lb')\n"
              "import logging; logging.getLogger('annotations').warning('disk %s full', 'media')\n")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "labelhub.settings", "LOG_FORMAT": "json",
           "LABELHUB_VAR_DIR": str(tmp_path)}
    env.pop("LOG_REQUESTS", None)
    result = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parent.parent, env=env,
                            capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    request, warning = lines[-2:]
    assert (request["logger"], request["route"], request["request_id"]) == ("labelhub.request", "healthz",
                                                                            "from-the-lb")
    assert (warning["level"], warning["message"], warning["request_id"]) == ("WARNING", "disk media full", None)
