"""Leases on background jobs (exports, generation): who runs a job, and whether it is still alive.

A worker claims a job with one conditional UPDATE: a queued job, or a running one whose heartbeat
is older than JOB_LEASE_SECONDS (its worker died), or one it already owns (a retry of its own
attempt). A redelivered message whose job has a fresh heartbeat claims nothing and does nothing.
While it runs, the owner renews heartbeat_at; a renewal that updates no row means the lease was
lost (swept and taken by another worker), and the owner stops without writing its result.

The sweep (tasks.sweep_jobs, on beat and at worker start-up) puts stale jobs back in the queue,
or fails them with a message after JOB_MAX_ATTEMPTS claims."""

import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Model, Q
from django.utils import timezone

from .models import Export, GenerationJob

JOB_MODELS: dict[str, type[Model]] = {"export": Export, "generation": GenerationJob}


class LeaseLost(Exception):
    """Another worker took the job over (this one's heartbeat had stopped): stop, write nothing."""


def new_owner() -> str:
    """A name for one attempt: host and process, to read in the admin, and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def lease_expired_before() -> "timezone.datetime":
    return timezone.now() - timedelta(seconds=settings.JOB_LEASE_SECONDS)


def claim(model: type[Model], job_id: int, owner: str) -> bool:
    """Take the job for `owner` if it is queued, stale, or already `owner`'s. One UPDATE."""
    running = model.Status.RUNNING
    stale = Q(status=running) & (Q(heartbeat_at__lt=lease_expired_before()) | Q(heartbeat_at__isnull=True))
    mine = Q(status=running, owner=owner)
    updated = model.objects.filter(Q(status=model.Status.QUEUED) | stale | mine, pk=job_id).update(
        status=running, owner=owner, heartbeat_at=timezone.now(), attempts=F("attempts") + 1
    )
    return bool(updated)


def release(model: type[Model], job_id: int, owner: str) -> bool:
    """Give a running job back to the queue (a chunk is done, or a retry follows)."""
    return bool(model.objects.filter(pk=job_id, status=model.Status.RUNNING, owner=owner).update(
        status=model.Status.QUEUED, owner="", heartbeat_at=timezone.now()
    ))


@dataclass
class Lease:
    """The owner's side of a claimed job: `beat()` renews the heartbeat at most every
    JOB_HEARTBEAT_SECONDS (cheap to call often) and raises LeaseLost when the job is no longer
    ours. `changes` are written with the heartbeat (progress, say)."""

    model: type[Model]
    job_id: int
    owner: str
    _last: float = field(default_factory=time.monotonic)

    def owned(self):
        return self.model.objects.filter(pk=self.job_id, status=self.model.Status.RUNNING, owner=self.owner)

    def beat(self, force: bool = False, **changes) -> None:
        if not force and time.monotonic() - self._last < settings.JOB_HEARTBEAT_SECONDS:
            if changes:  # progress still shows, without the lease check
                self.owned().update(**changes)
            return
        if not self.owned().update(heartbeat_at=timezone.now(), **changes):
            raise LeaseLost(f"{self.model.__name__} {self.job_id} is no longer owned by {self.owner}")
        self._last = time.monotonic()


@dataclass
class Swept:
    requeued: dict[str, list[int]] = field(default_factory=dict)  # kind → ids to send again
    failed: dict[str, list[int]] = field(default_factory=dict)


def sweep_stale_jobs() -> Swept:
    """Running jobs whose heartbeat stopped go back to the queue (their ids are returned, for the
    caller to send again), or fail after JOB_MAX_ATTEMPTS claims; queued jobs nobody took for
    JOB_RESEND_QUEUED_SECONDS are returned too (their message may be lost)."""
    swept = Swept()
    now = timezone.now()
    expired = lease_expired_before()
    resend_before = now - timedelta(seconds=settings.JOB_RESEND_QUEUED_SECONDS)
    for kind, model in JOB_MODELS.items():
        stale = model.objects.filter(
            Q(heartbeat_at__lt=expired) | Q(heartbeat_at__isnull=True), status=model.Status.RUNNING
        )
        gave_up = list(stale.filter(attempts__gte=settings.JOB_MAX_ATTEMPTS).values_list("pk", flat=True))
        if gave_up:
            model.objects.filter(pk__in=gave_up, status=model.Status.RUNNING).filter(
                Q(heartbeat_at__lt=expired) | Q(heartbeat_at__isnull=True)
            ).update(
                status=model.Status.FAILED, finished_at=now, owner="",
                error=f"stopped: its worker stopped {settings.JOB_MAX_ATTEMPTS} times without finishing it",
            )
        requeue = list(stale.exclude(pk__in=gave_up).values_list("pk", flat=True))
        # Conditional on still being stale: a worker that claimed one meanwhile keeps it.
        model.objects.filter(pk__in=requeue, status=model.Status.RUNNING).filter(
            Q(heartbeat_at__lt=expired) | Q(heartbeat_at__isnull=True)
        ).update(status=model.Status.QUEUED, owner="", heartbeat_at=now)
        forgotten = model.objects.filter(status=model.Status.QUEUED).filter(
            Q(heartbeat_at__lt=resend_before) | Q(heartbeat_at__isnull=True, created_at__lt=resend_before)
        )
        resend = list(forgotten.values_list("pk", flat=True))
        model.objects.filter(pk__in=resend).update(heartbeat_at=now)
        swept.requeued[kind] = sorted({*requeue, *resend})
        swept.failed[kind] = gave_up
    return swept
