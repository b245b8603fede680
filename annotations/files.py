"""Removing the files that belong to exports and projects, through the storage layer (storage.py),
so the same code removes files under MEDIA_ROOT or in object storage.

Layout (relative to the storage root): `exports/<export id>/` holds an export's zip(s) (one per
attempt, export/storing.py); `uploads/<project id>/` a project's kept uploads. Callers remove files
after their transaction commits (`transaction.on_commit`), so a rolled-back delete never loses a
file, and a failure to remove (storage down) leaves only unreferenced files, which
`prune_orphan_files` removes later."""

import logging

from django.core.files.storage import Storage

from .models import Export, Project
from .storage import delete_prefix, export_prefix, media_storage, prompt_set_prefix

logger = logging.getLogger(__name__)

EXPORTS_DIR = "exports"
UPLOADS_DIR = "uploads"


def file_storage() -> Storage:
    """The storage of uploads and export bundles."""
    return media_storage()


def project_upload_prefix(project_id: int) -> str:
    return prompt_set_prefix(project_id)


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
    return removed + delete_prefix(prefix)


def delete_project_files(project_id: int, export_files: dict[int, dict]) -> int:
    """Remove a deleted project's files: its exports' (`{export id: Export.files}`, read before the
    rows went) and its uploads. Returns the number of files removed."""
    removed = sum(delete_export_files(export_id, files) for export_id, files in export_files.items())
    return removed + delete_prefix(project_upload_prefix(project_id))


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
            delete_prefix(f"{top}/{orphan}")
            removed.append(f"{top}/{orphan}")
    if removed:
        logger.info("removed orphaned files: %s", ", ".join(removed))
    return removed
