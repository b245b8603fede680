"""Where LabelHub's files live: Django's default storage, the local filesystem under MEDIA_ROOT or an
S3-compatible bucket (STORAGE_URL, settings.py). Everything that writes, serves or deletes an
uploaded prompt set or an export bundle goes through here, so no host needs another host's disk.

Names are relative to the storage's root: `exports/<export id>/<attempt>/<zip>`,
`uploads/<project id>/<prompt set id>/<file name>`: one prefix per export and per project, so
removing an export's or a project's files is one `delete_prefix`."""

import contextlib
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.http import FileResponse, HttpResponse, HttpResponseBase, HttpResponseRedirect


def media_storage() -> Storage:
    return default_storage


def is_local(storage: Storage | None = None) -> bool:
    return isinstance(storage or default_storage, FileSystemStorage)


def export_prefix(export_id: int) -> str:
    return f"exports/{export_id}"


def prompt_set_prefix(project_id: int) -> str:
    return f"uploads/{project_id}"


class HashingSink(io.RawIOBase):
    """A write-only, forward-only stream over a storage file: counts and hashes what passes through.

    It says it cannot seek, so zipfile writes each entry's sizes after its data (data descriptors)
    and never goes back: an object store's multipart upload can only append."""

    def __init__(self, target) -> None:
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.size  # zipfile records each entry's offset from this

    def write(self, data) -> int:
        data = bytes(data)
        self.target.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)


@contextlib.contextmanager
def open_for_writing(name: str) -> Iterator[HashingSink]:
    """Write the file `name` in storage as a stream (S3: a multipart upload of
    AWS_S3_FILE_BUFFER_SIZE parts, 5 MB by default, so neither memory nor local disk holds the
    file). On an error the partial file is removed; nobody points at `name` before it is complete
    (the caller records it afterwards)."""
    storage = default_storage
    if is_local(storage):
        Path(storage.path(name)).parent.mkdir(parents=True, exist_ok=True)  # FileSystemStorage.open does not
    handle = storage.open(name, "wb")
    sink = HashingSink(handle)
    try:
        yield sink
    except BaseException:
        handle.close()
        storage.delete(name)
        _remove_empty_directories(name)
        raise
    handle.close()


def _remove_empty_directories(name: str) -> None:
    """Local storage: the directories above `name` that are now empty (object stores have none)."""
    if not is_local():
        return
    for parent in Path(name).parents:
        if str(parent) == ".":
            return
        try:
            Path(default_storage.path(str(parent))).rmdir()
        except OSError:
            return  # not empty: nor are the ones above


def delete_prefix(prefix: str) -> int:
    """Remove every file under `prefix` (a "directory": an export's or a project's files); returns how
    many. Safe to repeat; a missing prefix removes nothing."""
    storage = default_storage
    removed = 0
    try:
        directories, files = storage.listdir(prefix)
    except FileNotFoundError:
        return 0
    for directory in directories:
        removed += delete_prefix(f"{prefix}/{directory}")
    for name in files:
        storage.delete(f"{prefix}/{name}")
        removed += 1
    if is_local(storage):  # leave no empty directory behind
        with contextlib.suppress(OSError):
            Path(storage.path(prefix)).rmdir()
        _remove_empty_directories(prefix)
    return removed


def download_response(name: str, filename: str, content_type: str) -> HttpResponseBase | None:
    """The answer to a download the caller has already authorised, or None when the file is gone.

    - object storage: 302 to a signed URL valid LABELHUB_DOWNLOAD_URL_SECONDS (the bytes never pass
      through the app);
    - local storage behind nginx (LABELHUB_ACCEL_REDIRECT): an empty answer whose X-Accel-Redirect
      tells nginx to send the file from its internal location, so no app thread waits on a slow client;
    - otherwise the app streams the file."""
    storage = default_storage
    if not storage.exists(name):
        return None
    disposition = f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"
    if not is_local(storage):
        url = storage.url(name, parameters={"ResponseContentDisposition": disposition,
                                            "ResponseContentType": content_type})
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "no-store"  # the URL expires; never reuse it from a cache
        return response
    if settings.LABELHUB_ACCEL_REDIRECT:
        response = HttpResponse(content_type=content_type)
        response["Content-Disposition"] = disposition
        response["X-Accel-Redirect"] = settings.LABELHUB_ACCEL_REDIRECT + quote(name)
        return response
    return FileResponse(storage.open(name, "rb"), as_attachment=True, filename=filename, content_type=content_type)
