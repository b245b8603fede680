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
from django.utils import timezone

from ..models import Export, Project
from . import bundle, writers
from .options import ExportOptions


def export_dir(export_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "exports" / str(export_id)


def zip_name(export: Export) -> str:
    return f"labelhub-{export.project.slug}-export-{export.pk}.zip"


def create_export(project: Project, user, options: ExportOptions) -> Export:
    """Record an export, queued. The caller enqueues the job once this row is committed."""
    return Export.objects.create(project=project, requested_by=user, params=options.as_dict())


def claim_export(export_id: int, *, redelivered: bool = False) -> bool:
    """Take the export queued → running. A redelivered message (its worker died before
    acknowledging it, acks_late) may also take back an export left running by that worker."""
    now = timezone.now()
    claimable = [Export.Status.QUEUED, Export.Status.RUNNING] if redelivered else [Export.Status.QUEUED]
    updated = Export.objects.filter(pk=export_id, status__in=claimable).update(
        status=Export.Status.RUNNING, started_at=now, progress=0.0, error=""
    )
    return bool(updated)


def run_export(export_id: int, *, redelivered: bool = False) -> bool:
    """Run one export job: claim it, write the bundle in a fresh attempt directory, zip it, move
    it into place, then mark it done. Anything that fails before the last step leaves the export
    not done, and the attempt's files are removed. Returns False when the job was not ours."""
    if not claim_export(export_id, redelivered=redelivered):
        return False
    export = Export.objects.select_related("project").get(pk=export_id)
    options = ExportOptions.from_dict(export.params)
    base = export_dir(export_id)
    if redelivered:  # the files of the attempt that died with its worker
        for stale in base.glob(".attempt-*"):
            shutil.rmtree(stale, ignore_errors=True)
    attempt = base / f".attempt-{secrets.token_hex(4)}"

    def report(fraction: float) -> None:
        Export.objects.filter(pk=export_id, status=Export.Status.RUNNING).update(progress=fraction)

    try:
        written = bundle.write_bundle(export.project, options, attempt, progress=report, export_id=export_id)
        report(0.97)
        zip_path = base / zip_name(export)
        writers.write_zip(attempt, written.files, zip_path)
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
    Export.objects.filter(pk=export_id, status=Export.Status.RUNNING).update(
        status=Export.Status.DONE,
        progress=1.0,
        counts=written.counts,
        files=files,
        sha256={**written.sha256, "bundle": writers.sha256_of(zip_path)},
        finished_at=timezone.now(),
    )
    return True


def fail_export(export_id: int, error: str) -> None:
    Export.objects.filter(pk=export_id).exclude(status=Export.Status.DONE).update(
        status=Export.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    )


def requeue_export(export_id: int) -> None:
    """Give a running export back to the queue before a retry (its partial files are gone)."""
    Export.objects.filter(pk=export_id, status=Export.Status.RUNNING).update(
        status=Export.Status.QUEUED, progress=0.0
    )
