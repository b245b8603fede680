"""The export job: an Export row created by a door (view, API), claimed by the worker, run once.

Nothing here enqueues: the door calls `start_export` and then, after commit, the Celery task
(tasks.export_pairs_task), which calls `run_export`. The worker claims the job with a lease
(annotations/leases.py): a redelivered message whose export has a live owner does nothing. A job is
never marked done with partial data: the bundle's zip is complete in storage (storing.py), under a
name of its own attempt, before the row is updated, and only while this attempt still owns it."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import storage
from ..leases import Lease, claim, new_owner
from ..models import Export, Project
from . import storing
from .options import ExportOptions
from .storing import zip_name  # noqa: F401 - the doors name the download with it


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
    """Run one export job: claim it (a lease), write the bundle and store its zip (storing.py),
    then mark it done while the lease is still ours. Anything that fails before the last step
    leaves the export not done, with no file of this attempt left. Returns False when the job was
    not ours to run (done, failed, or owned by a live worker) or was taken from us meanwhile."""
    owner = owner or new_owner()
    if not claim(Export, export_id, owner):
        return False
    lease = Lease(Export, export_id, owner)
    export = Export.objects.select_related("project").get(pk=export_id)
    Export.objects.filter(pk=export_id, owner=owner).update(started_at=timezone.now(), progress=0.0, error="")
    options = ExportOptions.from_dict(export.params)

    def report(fraction: float) -> None:
        lease.beat(progress=fraction)

    stored = storing.store_bundle(export, options, progress=report)
    done = Export.objects.filter(pk=export_id, status=Export.Status.RUNNING, owner=owner).update(
        status=Export.Status.DONE,
        progress=1.0,
        counts=stored.counts,
        files=stored.files,
        sha256=stored.sha256,
        finished_at=timezone.now(),
        owner="",
    )
    if not done:  # the job was taken from us (or deleted) meanwhile: our zip is nobody's
        storage.delete_prefix(stored.files["bundle"].rsplit("/", 1)[0])
        return False
    storing.remove_other_attempts(export_id, stored.files["bundle"])
    return True


def fail_export(export_id: int, error: str, owner: str | None = None) -> None:
    """Mark the export failed (only while `owner` holds it, when given) with a message saying why."""
    rows = Export.objects.filter(pk=export_id).exclude(status=Export.Status.DONE)
    if owner is not None:
        rows = rows.filter(owner=owner)
    rows.update(status=Export.Status.FAILED, error=error[:2000], finished_at=timezone.now(), owner="")
