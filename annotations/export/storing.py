"""An export's bundle, from the database into storage (local disk or an object store).

The bundle's files are written into a scratch directory of the worker (several files are written
at once as the prompts stream by, and the manifest needs their checksums), then zipped forward
only straight into storage: on S3 a multipart upload of 5 MB parts, so no local copy of the zip
exists. The scratch directory is removed whatever happens. The zip is the one file an export keeps;
the manifest inside it holds the checksum of every member, the Export row that of the zip."""

import secrets
import shutil
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings

from .. import storage
from ..models import Export
from . import bundle, writers
from .bundle import ProgressCallback
from .options import ExportOptions


class StoredBundle(NamedTuple):
    counts: dict[str, Any]
    files: dict[str, str]  # "bundle" → the zip's name in storage
    sha256: dict[str, str]  # every member's, and "bundle": the zip's


def zip_name(export: Export) -> str:
    return f"labelhub-{export.project.slug}-export-{export.pk}.zip"


def bundle_name(export: Export, attempt: str) -> str:
    """Each attempt stores under its own name: an attempt that lost its job (its worker presumed
    dead) can never overwrite the zip of the one that finished; the Export row names the winner."""
    return f"{storage.export_prefix(export.pk)}/{attempt}/{zip_name(export)}"


def remove_other_attempts(export_id: int, kept: str) -> None:
    """After the export is done: what attempts that died left in storage, beside the kept zip."""
    prefix = storage.export_prefix(export_id)
    try:
        directories, _ = storage.media_storage().listdir(prefix)
    except FileNotFoundError:
        return
    for directory in directories:
        if not kept.startswith(f"{prefix}/{directory}/"):
            storage.delete_prefix(f"{prefix}/{directory}")


def scratch_dir(export_id: int, attempt: str) -> Path:
    """This attempt's own directory, so a second run never touches another's files."""
    return Path(settings.LABELHUB_WORK_DIR) / "exports" / f"{export_id}-{attempt}"


def store_bundle(export: Export, options: ExportOptions, progress: ProgressCallback | None = None) -> StoredBundle:
    """Write the bundle and store its zip under a name of this attempt (bundle_name). Nothing is
    recorded here: the caller marks the export done with the result."""
    attempt = secrets.token_hex(4)
    work = scratch_dir(export.pk, attempt)
    for stale in work.parent.glob(f"{export.pk}-*"):  # left on this host by an attempt that died
        shutil.rmtree(stale, ignore_errors=True)
    try:
        written = bundle.write_bundle(export.project, options, work, progress=progress, export_id=export.pk)
        if progress is not None:
            progress(0.97)
        name = bundle_name(export, attempt)
        with storage.open_for_writing(name) as sink:
            writers.write_zip(work, written.files, sink)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return StoredBundle(written.counts, {"bundle": name}, {**written.sha256, "bundle": sink.digest.hexdigest()})
