"""/metrics: Prometheus text for the operator, behind METRICS_ENABLED and METRICS_TOKEN."""

import os
import time
import zipfile
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from annotations.export.job import run_export
from annotations.models import Export, GenerationJob
from annotations.tasks import recount_project
from labelhub.celery import app as celery_app
from labelhub.metrics import celery_queue_names

from .export_builders import rank
from .factories import make_prompt


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = ""
    return settings


def scrape(token: str | None = None) -> str:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    response = Client().get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def value(text: str, name: str, **labels) -> float | None:
    """The sample `name` with exactly these labels (None when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == {k: str(v) for k, v in labels.items()}:
                return sample.value
    return None


def submit_one_ranking(api, project, labeler) -> int:
    make_prompt(project, 3)
    task = api(labeler).post(f"/api/projects/{project.slug}/tasks/next/").json()
    ids = [c["id"] for c in task["completions"]]
    response = api(labeler).post(f"/api/assignments/{task['assignment']}/ranking/",
                                 {"tiers": [[ids[1]], [ids[0]], [ids[2]]], "flagged": []}, format="json")
    assert response.status_code == 201
    return task["assignment"]


def test_metrics_answer_404_when_disabled(settings, db):
    settings.METRICS_ENABLED = False
    settings.METRICS_TOKEN = "s3cret"
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 404


def test_metrics_need_the_bearer_token_when_one_is_set(metrics_on, db):
    metrics_on.METRICS_TOKEN = "s3cret-token"
    client = Client()
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Token s3cret-token").status_code == 401
    assert "labelhub_jobs" in scrape("s3cret-token")


def test_a_submitted_ranking_moves_the_counter_and_the_latency_histogram(metrics_on, api, project, alice):
    before = scrape()
    submit_one_ranking(api, project, alice)
    after = scrape()
    assert value(after, "labelhub_rankings_submitted_total") == value(before, "labelhub_rankings_submitted_total") + 1
    assigned = dict(result="assigned")
    assert value(after, "labelhub_task_claims_total", **assigned) == \
        (value(before, "labelhub_task_claims_total", **assigned) or 0) + 1
    ranking_posts = dict(view="api-ranking", method="POST", status="2xx")
    assert value(after, "labelhub_http_request_duration_seconds_count", **ranking_posts) == \
        (value(before, "labelhub_http_request_duration_seconds_count", **ranking_posts) or 0) + 1


def test_a_made_up_method_adds_no_new_series(metrics_on, db):
    Client().generic("BREW", "/healthz")
    text = scrape()
    assert value(text, "labelhub_http_request_duration_seconds_count", view="healthz", method="other",
                 status="4xx") >= 1
    assert "BREW" not in text


def test_an_identical_resubmission_is_not_counted_again(metrics_on, api, project, alice):
    assignment = submit_one_ranking(api, project, alice)
    before = value(scrape(), "labelhub_rankings_submitted_total")
    from annotations.models import Ranking

    ranking = Ranking.objects.get(assignment_id=assignment)
    again = api(alice).post(f"/api/assignments/{assignment}/ranking/",
                            {"tiers": ranking.tiers, "flagged": []}, format="json")
    assert again.status_code == 200
    assert value(scrape(), "labelhub_rankings_submitted_total") == before


def test_a_claim_that_finds_nothing_is_counted_as_empty(metrics_on, api, project, alice):
    before = value(scrape(), "labelhub_task_claims_total", result="empty") or 0
    assert api(alice).post(f"/api/projects/{project.slug}/tasks/next/").status_code == 204
    assert value(scrape(), "labelhub_task_claims_total", result="empty") == before + 1


def test_jobs_by_state_and_duration_come_from_the_job_rows(metrics_on, project, rita):
    now = timezone.now()
    Export.objects.create(project=project, status=Export.Status.QUEUED)
    Export.objects.create(project=project, status=Export.Status.QUEUED)
    Export.objects.create(project=project, status=Export.Status.FAILED,
                          started_at=now - timedelta(seconds=40), finished_at=now)
    GenerationJob.objects.create(project=project, status=GenerationJob.Status.DONE,
                                 started_at=now - timedelta(seconds=200), finished_at=now)
    Export.objects.filter(status=Export.Status.QUEUED).update(created_at=now - timedelta(minutes=10))
    text = scrape()
    assert value(text, "labelhub_jobs", kind="export", state="queued") == 2
    assert value(text, "labelhub_jobs", kind="export", state="failed") == 1
    assert value(text, "labelhub_jobs", kind="export", state="running") == 0
    assert value(text, "labelhub_jobs", kind="generation", state="done") == 1
    assert value(text, "labelhub_job_duration_seconds_count", kind="export") == 1
    assert value(text, "labelhub_job_duration_seconds_sum", kind="export") == pytest.approx(40)
    assert value(text, "labelhub_job_duration_seconds_bucket", kind="export", le="30.0") == 0
    assert value(text, "labelhub_job_duration_seconds_bucket", kind="export", le="60.0") == 1
    assert value(text, "labelhub_job_duration_seconds_bucket", kind="generation", le="300.0") == 1
    assert value(text, "labelhub_job_oldest_queued_seconds", kind="export") >= 600
    assert value(text, "labelhub_job_oldest_queued_seconds", kind="generation") == 0


def test_export_bundle_bytes_are_the_finished_bundles_size(metrics_on, project, alice, bob, rita, settings):
    celery_app.conf.task_always_eager, previous = True, celery_app.conf.task_always_eager
    try:
        prompt = make_prompt(project, 3)
        rank(prompt, alice, [[2], [1], [3]])
        rank(prompt, bob, [[1], [2], [3]])
        from annotations.api.exports import ExportOptions  # noqa: F401 - the API's own options type
        from annotations.tasks import export_pairs_task

        export = Export.objects.create(project=project, requested_by=rita, params={})
        export_pairs_task.apply(args=[export.pk])  # signals fire as in a worker
    finally:
        celery_app.conf.task_always_eager = previous
    export.refresh_from_db()
    assert export.status == Export.Status.DONE, export.error
    bundle = settings.MEDIA_ROOT / export.files["bundle"]
    assert zipfile.is_zipfile(bundle)
    assert export.bundle_bytes == bundle.stat().st_size > 0
    assert value(scrape(), "labelhub_export_bundle_bytes") == export.bundle_bytes


def test_an_export_run_without_its_task_leaves_the_size_unknown(metrics_on, project, rita):
    export = Export.objects.create(project=project, requested_by=rita, params={})
    assert run_export(export.pk)
    export.refresh_from_db()
    assert export.bundle_bytes is None
    assert value(scrape(), "labelhub_export_bundle_bytes") == 0


def test_queue_names_come_from_celerys_configuration():
    from kombu import Queue

    conf = celery_app.conf
    previous = conf.task_queues, conf.task_routes
    conf.task_queues = [Queue("celery"), Queue("generation")]
    conf.task_routes = {"annotations.tasks.export_pairs_task": {"queue": "exports"}}
    celery_app.amqp.__dict__.pop("queues", None)  # amqp.queues is cached from the configuration
    try:
        assert celery_queue_names() == ["celery", "exports", "generation"]
    finally:
        conf.task_queues, conf.task_routes = previous
        celery_app.amqp.__dict__.pop("queues", None)


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="queue depth is read from Redis")
def test_queue_length_counts_messages_waiting_in_redis(metrics_on, project):
    celery_app.control.purge()
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        recount_project.delay(project.pk)  # no worker runs in this test: the message waits
        recount_project.delay(project.pk)
        text = scrape()
    finally:
        celery_app.conf.task_always_eager = previous
        celery_app.control.purge()
    assert value(text, "labelhub_broker_up") == 1
    assert value(text, "labelhub_queue_length", queue=celery_app.conf.task_default_queue) == 2
    assert value(scrape(), "labelhub_queue_length", queue=celery_app.conf.task_default_queue) == 0


def test_a_broker_that_is_down_gives_broker_up_0_not_a_failed_scrape(metrics_on, db, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    text = scrape()
    assert value(text, "labelhub_broker_up") == 0
    assert value(text, "labelhub_jobs", kind="export", state="queued") == 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own test server
        return response.read().decode()


def test_the_production_servers_worker_processes_are_summed_in_one_scrape(transactional_db, tmp_path):
    """labelhub.serve with two granian workers and METRICS_ENABLED: each worker counts its own
    requests in PROMETHEUS_MULTIPROC_DIR (emptied at start) and any worker's scrape sums them."""
    import signal
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    from django.db import connection

    db = connection.settings_dict
    port = _free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_99999.db").write_bytes(b"left by a previous run")
    env = {**os.environ, "WEB_BIND": f"127.0.0.1:{port}", "WEB_WORKERS": "2", "WEB_THREADS": "2",
           "METRICS_ENABLED": "true", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "LABELHUB_VAR_DIR": str(tmp_path / "var")}
    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen([sys.executable, "-m", "labelhub.serve"], cwd=root, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(f"{base}/healthz", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                assert server.poll() is None, "the server exited"
                time.sleep(0.3)
        time.sleep(2)  # the second worker too
        healthz = dict(view="healthz", method="GET", status="2xx")
        # Probes that timed out while a worker was still starting were served (and counted) later.
        before = value(_get(f"{base}/metrics"), "labelhub_http_request_duration_seconds_count", **healthz)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: _get(f"{base}/healthz"), range(59)))
        served_by = {path.name for path in metrics_dir.glob("histogram_*.db")}
        scrapes = [_get(f"{base}/metrics") for _ in range(6)]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert not (metrics_dir / "counter_99999.db").exists()  # the last run's counts are gone
    assert len(served_by) == 2, served_by  # both processes served requests (and wrote their files)
    counts = {value(text, "labelhub_http_request_duration_seconds_count", **healthz) for text in scrapes}
    assert before >= 1 and counts == {before + 59}
