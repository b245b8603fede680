"""Deleting things without losing labels or leaving files behind.

- A project or an export: the rows go in one transaction, their files after it commits
  (files.py), so a rolled-back delete never loses a file.
- Old exports: `prune_exports` removes finished exports older than the retention period
  (settings.LABELHUB_EXPORT_RETENTION_DAYS) and files whose row is gone.
- A user who labeled (rankings or assignments, which the database PROTECTs) is deactivated,
  not deleted: their rankings stay in the data and in every export."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import files
from .assignment import release_reservations
from .models import Assignment, Export, Project, Ranking


def delete_project(project: Project) -> None:
    """Delete the project with everything in it; its export and upload files go after commit."""
    with transaction.atomic():
        export_files = dict(Export.objects.filter(project=project).values_list("pk", "files"))
        project_id = project.pk
        project.delete()
        transaction.on_commit(partial(files.delete_project_files, project_id, export_files), robust=True)


def delete_export(export: Export) -> None:
    """Delete one export and, after commit, its files. A running export's worker finds its row
    gone and stores nothing; files it writes afterwards are removed by `prune_exports`."""
    with transaction.atomic():
        export_id, listed = export.pk, dict(export.files or {})
        export.delete()
        transaction.on_commit(partial(files.delete_export_files, export_id, listed), robust=True)


@dataclass
class PruneReport:
    exports: list[int] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)


def expired_exports(days: int, now: datetime | None = None):
    """Finished (done or failed) exports that ended more than `days` days ago; queued and running
    ones are never pruned."""
    cutoff = (now or timezone.now()) - timedelta(days=days)
    finished = Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, created_at__lt=cutoff)
    return Export.objects.filter(finished, status__in=[Export.Status.DONE, Export.Status.FAILED])


def prune_exports(days: int | None, now: datetime | None = None, *, dry_run: bool = False) -> PruneReport:
    """Apply the retention period: delete exports older than `days` (none when `days` is None or
    0) with their files, then remove export and upload files no row refers to. Safe to repeat;
    a periodic sweep may call it."""
    report = PruneReport()
    if days:
        for export in expired_exports(days, now).order_by("pk"):
            report.exports.append(export.pk)
            if not dry_run:
                delete_export(export)
    if not dry_run:
        report.orphans = files.prune_orphan_files()
    return report


# --- Users ---------------------------------------------------------------------------------------


def has_labeled(user) -> bool:
    """Whether deleting `user` would lose labels (the rows that PROTECT them)."""
    return Ranking.objects.filter(labeler=user).exists() or Assignment.objects.filter(labeler=user).exists()


def remove_user(user) -> str:
    """Remove a user's access: delete them if they never labeled, otherwise deactivate them (they
    can no longer sign in; their reservations go back to the pool; their rankings stay).
    Returns "deleted" or "deactivated"."""
    with transaction.atomic():
        if not has_labeled(user):
            user.delete()
            return "deleted"
        user.is_active = False
        user.save(update_fields=["is_active"])
        for project in Project.objects.filter(assignments__labeler=user, assignments__status="reserved").distinct():
            release_reservations(project, user)
        return "deactivated"
