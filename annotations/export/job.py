"""The export job: an Export row created by a door (view, API), claimed by the worker, run once.

Nothing here enqueues: the door calls `create_export` and then, after commit, the Celery task
(tasks.export_pairs_task), which calls `run_export`. A job is never marked done with partial
data: the bundle's zip is complete in storage (storing.py) before the row is updated."""

from django.utils import timezone

from .. import storage
from ..models import Export, Project
from . import storing
from .options import ExportOptions
from .storing import zip_name  # noqa: F401 - the doors name the download with it


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
    """Run one export job: claim it, write the bundle and store its zip (storing.py), then mark it
    done. Anything that fails before the last step leaves the export not done, with no file of
    this attempt left. Returns False when the job was not ours."""
    if not claim_export(export_id, redelivered=redelivered):
        return False
    export = Export.objects.select_related("project").get(pk=export_id)
    options = ExportOptions.from_dict(export.params)

    def report(fraction: float) -> None:
        Export.objects.filter(pk=export_id, status=Export.Status.RUNNING).update(progress=fraction)

    stored = storing.store_bundle(export, options, progress=report)
    done = Export.objects.filter(pk=export_id, status=Export.Status.RUNNING).update(
        status=Export.Status.DONE,
        progress=1.0,
        counts=stored.counts,
        files=stored.files,
        sha256=stored.sha256,
        finished_at=timezone.now(),
    )
    if not done:  # the job was taken from us (or deleted) meanwhile: our zip is nobody's
        storage.delete_prefix(stored.files["bundle"].rsplit("/", 1)[0])
        return False
    storing.remove_other_attempts(export_id, stored.files["bundle"])
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
