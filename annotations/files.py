"""Removing the files that belong to exports and projects, through Django's storage API.

Every removal goes through `file_storage()`, the storage the files were written with, so the same
code removes files under MEDIA_ROOT or in object storage. Layout (relative to the storage root):
`exports/<export id>/` holds an export's zip and its bundle (export/job.py); `uploads/<project id>/`
is where a project's uploaded files go when they are kept. Callers remove files after their
transaction commits (`transaction.on_commit`), so a rolled-back delete never loses a file, and a
failure to remove (storage down) leaves only unreferenced files, which `prune_orphan_files` removes
later."""

import logging

from django.core.files.storage import Storage, default_storage

from .models import Export, Project

logger = logging.getLogger(__name__)

EXPORTS_DIR = "exports"
UPLOADS_DIR = "uploads"


def file_storage() -> Storage:
    """The storage of uploads and export bundles (the one place to change if they move)."""
    return default_storage


def export_prefix(export_id: int) -> str:
    return f"{EXPORTS_DIR}/{export_id}"


def project_upload_prefix(project_id: int) -> str:
    return f"{UPLOADS_DIR}/{project_id}"


def delete_tree(prefix: str, storage: Storage | None = None) -> int:
    """Remove every file under `prefix` (a directory of the storage) and the directory itself.
    Returns the number of files removed; a missing prefix removes nothing."""
    storage = storage or file_storage()
    try:
        directories, files = storage.listdir(prefix)
    except FileNotFoundError:
        return 0
    removed = 0
    for name in files:
        storage.delete(f"{prefix}/{name}")
        removed += 1
    for name in directories:
        removed += delete_tree(f"{prefix}/{name}", storage)
    # Local storage: the now empty directory; object storage has no directories (a no-op there).
    storage.delete(prefix)
    return removed


def delete_export_files(export_id: int, listed: dict | None = None) -> int:
    """Remove one export's files: those its row lists (`Export.files`) and anything else under
    its directory (a dead attempt's leftovers). Returns the number of files removed."""
    storage = file_storage()
    removed = 0
    prefix = export_prefix(export_id)
    for name in (listed or {}).values():
        if not str(name).startswith(prefix + "/") and storage.exists(name):
            storage.delete(name)
            removed += 1
    return removed + delete_tree(prefix, storage)


def delete_project_files(project_id: int, export_files: dict[int, dict]) -> int:
    """Remove a deleted project's files: its exports' (`{export id: Export.files}`, read before the
    rows went) and its uploads. Returns the number of files removed."""
    removed = sum(delete_export_files(export_id, files) for export_id, files in export_files.items())
    return removed + delete_tree(project_upload_prefix(project_id))


def prune_orphan_files() -> list[str]:
    """Remove export and upload directories whose row is gone (an export deleted while its worker
    was still writing, a removal that failed after commit). Returns the prefixes removed."""
    storage = file_storage()
    removed = []
    for top, model in ((EXPORTS_DIR, Export), (UPLOADS_DIR, Project)):
        try:
            directories, _ = storage.listdir(top)
        except FileNotFoundError:
            continue
        ids = {int(name) for name in directories if name.isdigit()}
        alive = set(model.objects.filter(pk__in=ids).values_list("pk", flat=True))
        for orphan in sorted(ids - alive):
            delete_tree(f"{top}/{orphan}", storage)
            removed.append(f"{top}/{orphan}")
    if removed:
        logger.info("removed orphaned files: %s", ", ".join(removed))
    return removed
