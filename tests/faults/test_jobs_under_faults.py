"""Jobs under faults, with the real parts: a Celery worker subprocess SIGKILLed mid-job and
restarted, a second delivery while the first run is alive, Redis stopped and started again, a
visibility timeout shorter than the task. (The database restart is tests/faults/test_database_restart.py.)"""

import re
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db.models import Count
from rest_framework.authtoken.models import Token

from annotations.export.job import run_export
from annotations.export.options import ExportOptions
from annotations.models import Completion, Export, GenerationJob, Prompt

from ..export_builders import rank
from ..factories import make_project, make_prompt, make_user
from ..llm_server import FakeLLM
from .conftest import wait_until

pytestmark = pytest.mark.faults

# The contract: within 2 minutes of a worker running again the job runs again (and then finishes).
RECOVERY_SECONDS = 120


def ranked_project(slug: str, prompts: int = 30):
    project = make_project(slug)
    labeler = make_user(f"{slug}-kim", "labeler", project)
    for _ in range(prompts):
        rank(make_prompt(project, 4), labeler, [[1], [2], [3], [4]])
    return project


def generating_project(llm: FakeLLM, slug: str, prompts: int, concurrency: int = 2):
    project = make_project(slug, generation_enabled=True, target_completions=4, llm_base_url=llm.base_url,
                           llm_model="fixture-model", llm_api_key_env="", generation_concurrency=concurrency)
    for _ in range(prompts):
        make_prompt(project, 0)
    return project


def export_row(pk: int) -> Export:
    return Export.objects.get(pk=pk)


def content_checksums(export: Export) -> dict[str, str]:
    """The files' checksums, without the zip (it holds the export's id) and the manifest and card
    (they name the export and its time)."""
    return {name: digest for name, digest in export.sha256.items()
            if name.startswith("pairs") or name == "rankings.jsonl"}


def assert_generated_exactly(project, target: int = 4) -> None:
    per_prompt = Completion.objects.filter(prompt__project=project).values("prompt").annotate(n=Count("pk"))
    assert {row["n"] for row in per_prompt} == {target}
    for prompt in Prompt.objects.filter(project=project):
        positions = list(prompt.completions.order_by("position").values_list("position", flat=True))
        assert positions == list(range(1, target + 1))
        assert prompt.num_completions == target


def received(worker_log: str, task: str) -> int:
    return len(re.findall(rf"Task {re.escape(task)}\[[0-9a-f-]+\] received", worker_log))


def test_worker_killed_mid_export_then_restarted_finishes_it_once_with_the_same_checksums(stack):
    project = ranked_project("killed-export")
    export = Export.objects.create(project=project, params=ExportOptions().as_dict())
    worker = stack.worker(slow_export_seconds=0.2)
    stack.sender().send_task("annotations.tasks.export_pairs_task", kwargs={"export_id": export.pk})
    wait_until(lambda: export_row(export.pk).progress >= 0.2, 60, "the export to be under way")
    first_owner = export_row(export.pk).owner
    worker.kill()

    killed = export_row(export.pk)
    assert (killed.status, killed.files, killed.owner) == ("running", {}, first_owner)
    stored = Path(settings.MEDIA_ROOT) / "exports" / str(export.pk)
    assert not stored.exists()  # the zip is stored only once the bundle's files are complete

    restarted_at = time.monotonic()
    stack.worker()
    done = wait_until(lambda: (row := export_row(export.pk)).status in ("done", "failed") and row,
                      RECOVERY_SECONDS, "the export to finish after the restart")
    recovery = time.monotonic() - restarted_at
    assert done.status == "done", done.error
    assert done.attempts == 2 and recovery < RECOVERY_SECONDS
    assert done.counts["pairs"] == 30 * 6
    assert [p for p in stored.rglob("*") if p.is_file()] == [Path(settings.MEDIA_ROOT) / done.files["bundle"]]
    assert list((stack.tmp / "var" / "work" / "exports").iterdir()) == []  # no attempt left behind
    bundle = Path(settings.MEDIA_ROOT) / done.files["bundle"]
    from annotations.export.writers import sha256_of

    assert sha256_of(bundle) == done.sha256["bundle"]
    # The same export made again without any fault gives the same files.
    again = Export.objects.create(project=project, params=ExportOptions().as_dict())
    assert run_export(again.pk)
    assert content_checksums(export_row(again.pk)) == content_checksums(done) != {}
    print(f"\nexport: killed at {killed.progress:.0%}, done {recovery:.1f} s after the restart")


def test_worker_killed_mid_generation_then_restarted_completes_every_prompt_without_duplicates(stack):
    with FakeLLM(latency=0.25) as llm:
        project = generating_project(llm, "killed-generation", prompts=15)
        job = GenerationJob.objects.create(project=project, params={"target": None})
        worker = stack.worker()
        stack.sender().send_task("annotations.tasks.generate_completions",
                                 kwargs={"project_id": project.pk, "job_id": job.pk})
        wait_until(lambda: GenerationJob.objects.get(pk=job.pk).done >= 12, 60, "the generation to be under way")
        worker.kill()
        stored_at_kill = Completion.objects.filter(prompt__project=project).count()
        killed = GenerationJob.objects.get(pk=job.pk)
        assert killed.status == "running" and killed.done == stored_at_kill  # counted with each save

        restarted_at = time.monotonic()
        stack.worker()
        finished = wait_until(
            lambda: (row := GenerationJob.objects.get(pk=job.pk)).status in ("done", "failed") and row,
            RECOVERY_SECONDS, "the generation to finish after the restart")
        recovery = time.monotonic() - restarted_at
        requests = len(llm.requests)
    assert finished.status == "done", finished.error
    assert (finished.total, finished.done, finished.failed, finished.attempts) == (60, 60, 0, 2)
    assert_generated_exactly(project)
    # Paid twice at most: what was in flight when the worker died (concurrency 2, two queued each).
    assert 60 <= requests <= 60 + 4
    print(f"\ngeneration: killed with {stored_at_kill}/60 stored, done {recovery:.1f} s after the restart, "
          f"{requests} LLM requests for 60 completions")


def test_a_second_delivery_while_the_first_run_is_alive_does_nothing(stack):
    project = ranked_project("redelivered", prompts=25)
    export = Export.objects.create(project=project, params=ExportOptions().as_dict())
    worker = stack.worker(slow_export_seconds=0.2)
    sender = stack.sender()
    sender.send_task("annotations.tasks.export_pairs_task", kwargs={"export_id": export.pk})
    wait_until(lambda: export_row(export.pk).progress > 0, 60, "the export to be under way")
    owner = export_row(export.pk).owner
    sender.send_task("annotations.tasks.export_pairs_task", kwargs={"export_id": export.pk})  # as a redelivery
    wait_until(lambda: received(worker.output(), "annotations.tasks.export_pairs_task") == 2, 30,
               "the second message to reach the worker")
    assert export_row(export.pk).owner == owner  # not taken over
    done = wait_until(lambda: (row := export_row(export.pk)).status == "done" and row, 60, "the export to finish")
    assert done.attempts == 1 and done.counts["pairs"] == 25 * 6


def test_redis_down_answers_503_and_leaves_no_job_waiting_then_new_jobs_run_when_it_is_back(stack):
    with FakeLLM() as llm:
        project = generating_project(llm, "broker-down", prompts=3)
        labeler = make_user("bd-kim", "labeler", project)
        for prompt in Prompt.objects.filter(project=project)[:1]:
            Completion.objects.bulk_create([Completion(prompt=prompt, position=i, text=f"c{i}") for i in (1, 2)])
            Prompt.objects.filter(pk=prompt.pk).update(num_completions=2)
            rank(Prompt.objects.get(pk=prompt.pk), labeler, [[1], [2]])
        admin = make_user("bd-ada", "admin", project)
        token = Token.objects.create(user=admin).key
        url = stack.web()
        worker = stack.worker()
        client = httpx.Client(base_url=url, headers={"Authorization": f"Token {token}"}, timeout=30)

        stack.redis.stop()
        started = time.monotonic()
        export_response = client.post(f"/api/projects/{project.slug}/exports/", json={})
        generation_response = client.post(f"/api/projects/{project.slug}/generation/", json={})
        took = time.monotonic() - started
        assert export_response.status_code == 503, export_response.text
        assert generation_response.status_code == 503, generation_response.text
        assert "cannot be reached" in export_response.json()["detail"]
        assert took < 15  # fails fast: no request hangs on the dead broker
        assert list(Export.objects.filter(project=project).values_list("status", flat=True)) == ["failed"]
        assert "cannot be reached" in Export.objects.get(project=project).error
        failed_job = GenerationJob.objects.get(project=project)
        assert failed_job.status == "failed" and "cannot be reached" in failed_job.error

        stack.redis.start()
        # A worker holding an unacknowledged message when Redis went away may have exited (kombu
        # restores it on the closed connection: AttributeError); compose and `make run` start it again.
        worker_exited = worker.process.poll() is not None
        if worker_exited:
            stack.worker()
        export_id = wait_until(
            lambda: (r := client.post(f"/api/projects/{project.slug}/exports/", json={})).status_code == 202
            and r.json()["id"], 60, "an export to be accepted again")
        job_id = client.post(f"/api/projects/{project.slug}/generation/", json={}).json()["id"]
        wait_until(lambda: export_row(export_id).status == "done", 90, "the new export to run")
        wait_until(lambda: GenerationJob.objects.get(pk=job_id).status == "done", 90, "the new generation to run")
    assert Completion.objects.filter(prompt__project=project).count() == 3 * 4
    print(f"\nbroker down: both answers 503 in {took:.1f} s; worker exited on the outage: {worker_exited}")


def test_a_task_longer_than_the_visibility_timeout_runs_once(stack):
    with FakeLLM(latency=0.5) as llm:
        project = generating_project(llm, "long-task", prompts=12)
        job = GenerationJob.objects.create(project=project, params={"target": None})
        worker = stack.worker(CELERY_VISIBILITY_TIMEOUT="2")
        stack.sender().send_task("annotations.tasks.generate_completions",
                                 kwargs={"project_id": project.pk, "job_id": job.pk})
        finished = wait_until(
            lambda: (row := GenerationJob.objects.get(pk=job.pk)).status in ("done", "failed") and row,
            120, "the generation to finish")
        requests = len(llm.requests)
    log = worker.output()
    assert finished.status == "done", finished.error
    # Redis did hand the message out again while the first run went on...
    assert received(log, "annotations.tasks.generate_completions") >= 2, log[-3000:]
    # ...and that delivery did nothing: one claim, one request per completion.
    assert finished.attempts == 1 and requests == 48 == finished.done
    assert_generated_exactly(project)
