"""The export job: an Export row created by a door (view, API), claimed by the worker, run once.

Nothing here enqueues: the door calls `create_export` and then, after commit, the Celery task
(tasks.export_pairs_task), which calls `run_export`. A job is never marked done with partial
data: the bundle is written in a fresh attempt directory, zipped, moved into place, and only then
is the row updated."""

import os
import secrets
import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..leases import Lease, claim, new_owner
from ..models import Export, Project
from . import bundle, writers
from .options import ExportOptions


def export_dir(export_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "exports" / str(export_id)


def zip_name(export: Export) -> str:
    return f"labelhub-{export.project.slug}-export-{export.pk}.zip"


class TooManyExports(Exception):
    """The project already has EXPORTS_MAX_ACTIVE_PER_PROJECT exports queued or running."""


def create_export(project: Project, user, options: ExportOptions) -> Export:
    """Record an export, queued. The caller enqueues the job once this row is committed."""
    return Export.objects.create(project=project, requested_by=user, params=options.as_dict())


def start_export(project: Project, user, options: ExportOptions) -> tuple[Export, bool]:
    """(export, created): an identical export (same options) still queued or running is returned
    instead of a new one; past the project's cap of active exports, TooManyExports. The project
    row is locked so that two identical requests at once make one export."""
    active = [Export.Status.QUEUED, Export.Status.RUNNING]
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        exports = Export.objects.filter(project=project, status__in=active)
        same = exports.filter(params=options.as_dict()).order_by("created_at").first()
        if same is not None:
            return same, False
        cap = settings.EXPORTS_MAX_ACTIVE_PER_PROJECT
        if exports.count() >= cap:
            raise TooManyExports(f"this project already has {cap} exports queued or running: "
                                 "wait for one to finish")
        return create_export(project, user, options), True


def run_export(export_id: int, *, owner: str | None = None) -> bool:
    """Run one export job: claim it (a lease: annotations/leases.py), write the bundle in a fresh
    attempt directory, zip it, move it into place, then mark it done. Anything that fails before
    the last step leaves the export not done, and the attempt's files are removed. Returns False
    when the job was not ours to run (done, failed, or owned by a live worker)."""
    owner = owner or new_owner()
    if not claim(Export, export_id, owner):
        return False
    lease = Lease(Export, export_id, owner)
    export = Export.objects.select_related("project").get(pk=export_id)
    Export.objects.filter(pk=export_id, owner=owner).update(started_at=timezone.now(), progress=0.0, error="")
    options = ExportOptions.from_dict(export.params)
    base = export_dir(export_id)
    # Attempts of earlier owners: those owners lost their lease (their heartbeat stopped), and an
    # owner that wakes up again finds the lease gone and stops. Our own (a retry) is also stale.
    for stale in base.glob(".attempt-*"):
        shutil.rmtree(stale, ignore_errors=True)
    attempt = base / f".attempt-{secrets.token_hex(4)}"

    def report(fraction: float) -> None:
        lease.beat(progress=fraction)

    try:
        written = bundle.write_bundle(export.project, options, attempt, progress=report, export_id=export_id)
        report(0.97)
        zip_path = base / zip_name(export)
        writers.write_zip(attempt, written.files, zip_path)
        lease.beat(force=True)  # still ours: only the owner moves files into place
        final = base / "bundle"
        if final.exists():
            shutil.rmtree(final)  # left by an attempt that died after its rename
        os.replace(attempt, final)
    except BaseException:
        shutil.rmtree(attempt, ignore_errors=True)
        raise
    media = Path(settings.MEDIA_ROOT)
    files = {"bundle": str(zip_path.relative_to(media))}
    files.update((name, str((final / name).relative_to(media))) for name in written.files)
    Export.objects.filter(pk=export_id, status=Export.Status.RUNNING, owner=owner).update(
        status=Export.Status.DONE,
        progress=1.0,
        counts=written.counts,
        files=files,
        sha256={**written.sha256, "bundle": writers.sha256_of(zip_path)},
        finished_at=timezone.now(),
        owner="",
    )
    return True


def fail_export(export_id: int, error: str, owner: str | None = None) -> None:
    """Mark the export failed (only while `owner` holds it, when given) with a message saying why."""
    rows = Export.objects.filter(pk=export_id).exclude(status=Export.Status.DONE)
    if owner is not None:
        rows = rows.filter(owner=owner)
    rows.update(status=Export.Status.FAILED, error=error[:2000], finished_at=timezone.now(), owner="")
