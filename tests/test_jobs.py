"""Jobs with a lease: claims, heartbeats, the sweep, generation in chunks, one job per "Generate",
identical exports deduplicated and a cap per project, a dropped database connection retried.
(The same under real faults, with worker subprocesses: tests/faults/.)"""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.utils import timezone

from annotations import generating
from annotations.export import bundle
from annotations.export.options import ExportOptions
from annotations.generating import run_generation_job
from annotations.leases import Lease, LeaseLost, claim, sweep_stale_jobs
from annotations.models import Completion, Export, GenerationJob, Prompt
from annotations.tasks import export_pairs_task, generate_completions, sweep_jobs

from .export_builders import rank
from .factories import make_project, make_prompt, make_user
from .llm_server import FakeLLM


@pytest.fixture
def lease(settings):
    settings.JOB_LEASE_SECONDS = 60
    settings.JOB_HEARTBEAT_SECONDS = 0
    settings.JOB_MAX_ATTEMPTS = 3


@pytest.fixture
def llm():
    with FakeLLM(latency=0.02) as server:
        yield server


def generating_project(llm, slug="gen", prompts=6, **options):
    project = make_project(slug, generation_enabled=True, target_completions=4, llm_base_url=llm.base_url,
                           llm_model="fixture-model", llm_api_key_env="", generation_concurrency=2, **options)
    for _ in range(prompts):
        make_prompt(project, 0)
    return project


def ranked(slug="ranked"):
    project = make_project(slug)
    labeler = make_user(f"{slug}-kim", "labeler", project)
    for _ in range(3):
        rank(make_prompt(project, 3), labeler, [[1], [2], [3]])
    return project


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def assert_exactly(project, target=4):
    per_prompt = Completion.objects.filter(prompt__project=project).values("prompt").annotate(n=Count("pk"))
    assert {row["n"] for row in per_prompt} == {target}
    for prompt in Prompt.objects.filter(project=project):
        assert list(prompt.completions.order_by("position").values_list("position", flat=True)) == [1, 2, 3, 4]


# --- claims and heartbeats ---------------------------------------------------------------------


def test_a_queued_job_is_claimed_once(db, lease):
    export = Export.objects.create(project=make_project("c"), params={})
    assert claim(Export, export.pk, "w1") is True
    assert claim(Export, export.pk, "w2") is False  # a second delivery: the heartbeat is fresh
    export.refresh_from_db()
    assert (export.status, export.owner, export.attempts) == ("running", "w1", 1)


def test_a_stale_job_is_taken_over_and_its_old_owner_stops_at_its_next_heartbeat(db, lease):
    export = Export.objects.create(project=make_project("c"), params={}, status="running", owner="w1",
                                   heartbeat_at=ago(61), attempts=1)
    old = Lease(Export, export.pk, "w1")
    assert claim(Export, export.pk, "w2") is True
    with pytest.raises(LeaseLost):
        old.beat()
    Lease(Export, export.pk, "w2").beat()  # the new owner's heartbeat goes on
    export.refresh_from_db()
    assert (export.owner, export.attempts) == ("w2", 2)


def test_an_owner_takes_back_its_own_job_on_a_retry(db, lease):
    export = Export.objects.create(project=make_project("c"), params={}, status="running", owner="w1",
                                   heartbeat_at=timezone.now())
    assert claim(Export, export.pk, "w1") is True
    assert claim(Export, export.pk, "w3") is False


def test_done_and_failed_jobs_are_never_claimed(db, lease):
    project = make_project("c")
    for status in ("done", "failed"):
        job = GenerationJob.objects.create(project=project, status=status, heartbeat_at=ago(3600))
        assert claim(GenerationJob, job.pk, "w1") is False


# --- the sweep -----------------------------------------------------------------------------------


def test_sweep_requeues_stale_jobs_fails_them_after_max_attempts_and_leaves_live_ones(db, lease, settings):
    settings.JOB_RESEND_QUEUED_SECONDS = 600
    project = make_project("s")
    stale = Export.objects.create(project=project, params={}, status="running", owner="dead",
                                  heartbeat_at=ago(61), attempts=1)
    worn_out = Export.objects.create(project=project, params={"seed": 1}, status="running", owner="dead",
                                     heartbeat_at=ago(61), attempts=3)
    live = GenerationJob.objects.create(project=project, status="running", owner="alive", heartbeat_at=ago(5))
    forgotten = GenerationJob.objects.create(project=project, status="queued")
    GenerationJob.objects.filter(pk=forgotten.pk).update(created_at=ago(601))
    waiting = Export.objects.create(project=project, params={"seed": 2})

    swept = sweep_stale_jobs()

    assert swept.requeued == {"export": [stale.pk], "generation": [forgotten.pk]}
    assert swept.failed == {"export": [worn_out.pk], "generation": []}
    stale.refresh_from_db()
    worn_out.refresh_from_db()
    live.refresh_from_db()
    assert (stale.status, stale.owner) == ("queued", "")
    assert worn_out.status == "failed" and "stopped 3 times" in worn_out.error
    assert (live.status, live.owner) == ("running", "alive")
    assert Export.objects.get(pk=waiting.pk).status == "queued"
    assert sweep_stale_jobs().requeued == {"export": [], "generation": []}  # the resend waits another period


@pytest.mark.django_db(transaction=True)
def test_sweep_task_sends_a_stale_export_again_and_it_finishes(lease, eager):
    project = ranked()
    export = Export.objects.create(project=project, params=ExportOptions().as_dict(), status="running",
                                   owner="dead", heartbeat_at=ago(120), attempts=1)
    result = sweep_jobs.apply().get()
    assert result["requeued"]["export"] == [export.pk]
    export.refresh_from_db()
    assert (export.status, export.attempts, export.counts["pairs"]) == ("done", 2, 9)


# --- generation in chunks, one job at a time -----------------------------------------------------


def test_a_chunk_stops_at_its_deadline_and_the_next_one_finishes_without_duplicates(db, lease):
    with FakeLLM(latency=0.1) as llm:
        project = generating_project(llm, prompts=10)
        job = GenerationJob.objects.create(project=project, params={"target": None})
        first, more = run_generation_job(job.pk, deadline=time.monotonic() + 1.0)
        assert more is True and first.status == "queued" and first.owner == ""
        assert 0 < first.done < 40 and first.done == Completion.objects.filter(prompt__project=project).count()
        last, more = run_generation_job(job.pk)
    assert more is False
    assert (last.status, last.total, last.done, last.attempts) == ("done", 40, 40, 2)
    assert len(llm.requests) == 40
    assert_exactly(project)


def test_the_task_queues_its_next_chunk_until_the_job_is_done(db, lease, eager, settings):
    settings.GENERATION_CHUNK_SECONDS = 0.2
    with FakeLLM(latency=0.05) as llm:
        project = generating_project(llm, prompts=8)
        result = generate_completions.apply(kwargs={"project_id": project.pk}).get()
    job = GenerationJob.objects.get(project=project)
    assert (job.status, job.done, job.total) == ("done", 32, 32) and job.attempts > 1
    assert result["job"] == job.pk
    assert_exactly(project)


def test_generate_on_an_active_job_returns_that_job(db, api, llm, django_capture_on_commit_callbacks):
    project = generating_project(llm)
    admin = make_user("ada-g", "admin", project)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = api(admin).post(f"/api/projects/{project.slug}/generation/", {}, format="json")
        second = api(admin).post(f"/api/projects/{project.slug}/generation/", {}, format="json")
    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json() == {"id": first.json()["id"], "status": "queued"}
    assert GenerationJob.objects.filter(project=project).count() == 1 and len(callbacks) == 1

    client = Client()
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        page = client.post(f"/projects/{project.slug}/generate/", follow=True)
    assert callbacks == [] and GenerationJob.objects.filter(project=project).count() == 1
    assert f"Generation job {first.json()['id']} is already queued" in page.content.decode()


# --- exports: identical ones deduplicated, a cap per project ---------------------------------------


def test_an_identical_export_still_queued_is_returned_instead_of_a_second(db, api, settings,
                                                                          django_capture_on_commit_callbacks):
    settings.EXPORTS_MAX_ACTIVE_PER_PROJECT = 2
    project = ranked()
    rita = make_user("rita-x", "researcher", project)
    url = f"/api/projects/{project.slug}/exports/"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = api(rita).post(url, {"format": "csv"}, format="json")
        same = api(rita).post(url, {"format": "csv"}, format="json")
        other = api(rita).post(url, {"format": "jsonl"}, format="json")
        over = api(rita).post(url, {"format": "parquet"}, format="json")
    assert (first.status_code, same.status_code, other.status_code, over.status_code) == (202, 202, 202, 429)
    assert same.json()["id"] == first.json()["id"]
    assert "2 exports queued or running" in over.json()["detail"]
    assert Export.objects.filter(project=project).count() == 2 and len(callbacks) == 2
    Export.objects.filter(pk=first.json()["id"]).update(status="done")
    with django_capture_on_commit_callbacks(execute=False):
        again = api(rita).post(url, {"format": "csv"}, format="json")
    assert again.status_code == 202 and again.json()["id"] != first.json()["id"]  # done ones are not reused


# --- a database connection dropped mid-task -------------------------------------------------------


def drop_this_connection():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")


@pytest.mark.django_db(transaction=True)
def test_an_export_whose_database_connection_drops_reconnects_and_finishes(lease, eager, monkeypatch):
    project = ranked()
    export = Export.objects.create(project=project, params=ExportOptions().as_dict())
    real, calls = bundle.write_bundle, []

    def drop_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            drop_this_connection()  # the server ends the session: the next statement fails
        return real(*args, **kwargs)

    monkeypatch.setattr(bundle, "write_bundle", drop_once)
    export_pairs_task.apply(kwargs={"export_id": export.pk}, throw=False)
    export.refresh_from_db()
    assert len(calls) == 2
    assert (export.status, export.counts["pairs"], export.attempts) == ("done", 9, 2)


@pytest.mark.django_db(transaction=True)
def test_a_generation_whose_database_connection_drops_reconnects_and_finishes(lease, eager, llm, monkeypatch):
    project = generating_project(llm, prompts=3)
    real, calls = generating.save_arrived, []

    def drop_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            drop_this_connection()
        return real(*args, **kwargs)

    monkeypatch.setattr(generating, "save_arrived", drop_once)
    generate_completions.apply(kwargs={"project_id": project.pk}, throw=False)
    job = GenerationJob.objects.get(project=project)
    assert (job.status, job.done, job.total) == ("done", 12, 12)
    assert_exactly(project)
