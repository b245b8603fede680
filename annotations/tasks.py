"""Celery tasks: thin wrappers that take ids and call plain functions. Each is idempotent.

A door (view, API, command) enqueues them after its transaction commits; the services they call
never import this module, so imports go one way: doors and tasks → services → rules → models."""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .canaries import add_canaries
from .export.job import fail_export, requeue_export, run_export
from .generating import run_generation
from .recount import recount

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def recount_project(project_id: int) -> dict:
    """Recompute the prompts' denormalised counters from the rows themselves (safe to repeat)."""
    report = recount(project_id)
    return {"project": project_id, "prompts": report.prompts}


@shared_task(acks_late=True)
def generate_completions(project_id: int, n: int | None = None) -> dict:
    """Top up the project's prompts to their target number of completions (resumes, never duplicates)."""
    job = run_generation(project_id, n=n)
    return {"job": job.pk, "status": job.status, "done": job.done, "failed": job.failed, "total": job.total}


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=3)
def export_pairs_task(self, export_id: int) -> None:
    """Run one pair export. A worker killed mid-export leaves the message unacknowledged (acks_late),
    so it is redelivered and the export taken back; a lost database connection is retried; any
    other error marks the export failed. Never "done" with partial data: see run_export."""
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    try:
        run_export(export_id, redelivered=redelivered)
    except (OperationalError, InterfaceError) as exc:
        if self.request.retries >= self.max_retries:
            fail_export(export_id, f"database unavailable: {exc}")
            return
        requeue_export(export_id)
        raise self.retry(exc=exc, countdown=2 ** self.request.retries)
    except Exception as exc:
        logger.exception("export %s failed", export_id)
        fail_export(export_id, f"{type(exc).__name__}: {exc}")


@shared_task(acks_late=True)
def add_canaries_task(project_id: int) -> dict:
    """Add canary completions to the project's chosen prompts (idempotent: never two on a prompt)."""
    return add_canaries(project_id)
