"""Celery tasks: thin wrappers that take ids and call plain functions. Each is idempotent.

A door (view, API, command) enqueues them after its transaction commits; the services they call
never import this module, so imports go one way: doors and tasks → services → rules → models."""

import logging
import time

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection

from .canaries import add_canaries
from .export.job import fail_export, run_export
from .generating import run_generation_job, start_generation
from .leases import LeaseLost, new_owner, sweep_stale_jobs
from .models import GenerationJob, Project
from .recount import recount
from .stored_leaderboard import refresh_leaderboard
from .stored_quality import refresh_quality_report

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def recount_project(project_id: int) -> dict:
    """Recompute the prompts' denormalised counters from the rows themselves (safe to repeat)."""
    report = recount(project_id)
    return {"project": project_id, "prompts": report.prompts}


# A database connection dropped mid-task: close it (close_old_connections drops the broken one)
# and retry on a new one, a few times, with the lease kept by passing its owner on.
DATABASE_ERRORS = (OperationalError, InterfaceError)
DATABASE_RETRIES = 5


def _drop_broken_connection() -> None:
    # Celery's Django fix-up does this between tasks; mid-task it is ours to do. (Not inside a
    # transaction: an eager run in a test's transaction keeps its connection.)
    if not connection.in_atomic_block:
        close_old_connections()


def _retry_on_database_error(task, exc: Exception, owner: str, **kwargs) -> None:
    _drop_broken_connection()
    if task.request.retries >= DATABASE_RETRIES:
        raise exc
    logger.warning("%s: database error, retrying on a new connection: %s", task.name, exc)
    raise task.retry(exc=exc, countdown=min(30, 2 ** task.request.retries), kwargs={**kwargs, "owner": owner},
                     max_retries=DATABASE_RETRIES)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def generate_completions(self, project_id: int, n: int | None = None, job_id: int | None = None,
                         owner: str | None = None) -> dict:
    """Top up the project's prompts to their target number of completions (resumes, never
    duplicates), one chunk of GENERATION_CHUNK_SECONDS at a time: a chunk that runs out of time
    queues the next one, so no task outlives the broker's visibility timeout."""
    if job_id is None:  # the project's unfinished job, or a new one
        job, _ = start_generation(Project.objects.get(pk=project_id), n)
        job_id = job.pk
    owner = owner or new_owner()
    deadline = time.monotonic() + settings.GENERATION_CHUNK_SECONDS
    try:
        job, more = run_generation_job(job_id, owner=owner, deadline=deadline)
    except LeaseLost:
        logger.warning("generation job %s was taken over by another worker: this one stops", job_id)
        return {"job": job_id, "status": "taken over"}
    except DATABASE_ERRORS as exc:
        _retry_on_database_error(self, exc, owner, project_id=project_id, n=n, job_id=job_id)
    if more:
        generate_completions.apply_async(kwargs={"project_id": project_id, "n": n, "job_id": job_id})
    return {"job": job.pk, "status": job.status, "done": job.done, "failed": job.failed, "total": job.total}


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def export_pairs_task(self, export_id: int, owner: str | None = None) -> None:
    """Run one pair export, claimed with a lease (a redelivered message whose export has a live
    owner does nothing; a stale one is taken over). A lost database connection is retried on a
    new one; any other error marks the export failed. Never "done" with partial data: see run_export."""
    owner = owner or new_owner()
    try:
        run_export(export_id, owner=owner)
    except LeaseLost:
        logger.warning("export %s was taken over by another worker: this one stops", export_id)
    except DATABASE_ERRORS as exc:
        if self.request.retries >= DATABASE_RETRIES:
            _drop_broken_connection()
            fail_export(export_id, f"database unavailable: {exc}", owner=owner)
            return
        _retry_on_database_error(self, exc, owner, export_id=export_id)
    except Exception as exc:
        logger.exception("export %s failed", export_id)
        fail_export(export_id, f"{type(exc).__name__}: {exc}", owner=owner)


@shared_task
def sweep_jobs() -> dict:
    """Requeue (or fail, after JOB_MAX_ATTEMPTS) jobs whose worker stopped renewing its lease, and
    send again queued jobs nobody took. On beat, and once when a worker starts."""
    swept = sweep_stale_jobs()
    for export_id in swept.requeued["export"]:
        export_pairs_task.delay(export_id)
    for job_id in swept.requeued["generation"]:
        project_id = GenerationJob.objects.filter(pk=job_id).values_list("project_id", flat=True).first()
        if project_id is not None:
            generate_completions.apply_async(kwargs={"project_id": project_id, "job_id": job_id})
    if any(swept.requeued.values()) or any(swept.failed.values()):
        logger.warning("sweep: requeued %s, failed %s", swept.requeued, swept.failed)
    return {"requeued": swept.requeued, "failed": swept.failed}


@worker_ready.connect
def _sweep_when_a_worker_starts(sender, **kwargs) -> None:
    sweep_jobs.delay()


@shared_task(acks_late=True)
def add_canaries_task(project_id: int) -> dict:
    """Add canary completions to the project's chosen prompts (idempotent: never two on a prompt)."""
    return add_canaries(project_id)


@shared_task(acks_late=True)
def refresh_leaderboard_task(project_id: int, pairs: str) -> dict:
    """Compute the project's model leaderboard for `pairs` and store it (idempotent: the last
    computation wins, stamped with the rankings it saw)."""
    board = refresh_leaderboard(project_id, pairs)
    return {"project": project_id, "pairs": pairs, "models": len(board.models)}


@shared_task(acks_late=True)
def refresh_quality_report_task(project_id: int) -> dict:
    """Compute the project's quality report and store it (idempotent: the last computation wins,
    stamped with the rankings it saw)."""
    report = refresh_quality_report(project_id)
    return {"project": project_id, "rankings": report.rankings}
