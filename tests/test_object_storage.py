"""Uploads and export bundles in an S3-compatible object store (STORAGE_URL), against moto's
standalone server on 127.0.0.1: what is stored where, downloads by short-lived signed URL after the
permission check, streaming multipart writes, deletion. The local-disk variants: X-Accel-Redirect."""

import hashlib
import io
import re
import time
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import orjson
import pytest
from django.core.files.storage import default_storage

from annotations import storage
from annotations.export.job import run_export
from annotations.export.options import ExportOptions
from annotations.models import Export, Prompt, PromptSet

from .export_builders import rank
from .factories import make_user

PROMPTS = b"".join(
    orjson.dumps({"id": f"q{i}", "prompt": f"question {i}", "completions": [f"a{i}", f"b{i}", f"c{i}"]}) + b"\n"
    for i in range(4)
)


def keys(client, bucket: str) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def local_files(settings) -> list[Path]:
    roots = [Path(settings.MEDIA_ROOT), Path(settings.LABELHUB_WORK_DIR)]
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


def upload_file(api, user, content: bytes, name: str):
    handle = io.BytesIO(content)
    handle.name = name
    return api(user).post("/api/projects/helpful/prompt-sets/", {"file": handle}, format="multipart")


def test_an_accepted_upload_is_kept_in_the_bucket_and_nothing_on_local_disk(api, project, pam, object_storage,
                                                                             settings):
    client, bucket, prefix, _ = object_storage
    response = upload_file(api, pam, PROMPTS, "prompts.jsonl")
    assert response.status_code == 201, response.content
    prompt_set = PromptSet.objects.get(pk=response.json()["id"])
    key = f"{prefix}/uploads/{project.pk}/{prompt_set.pk}/prompts.jsonl"
    assert prompt_set.stored_as == key.removeprefix(f"{prefix}/")
    assert keys(client, bucket) == [key]
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == PROMPTS
    assert Prompt.objects.filter(project=project).count() == 4
    assert local_files(settings) == []


def test_a_refused_upload_leaves_no_object(api, project, pam, object_storage):
    client, bucket, _, _ = object_storage
    response = upload_file(api, pam, b'{"prompt": ""}\n', "bad.jsonl")
    assert response.status_code == 400
    assert keys(client, bucket) == []


def test_an_import_that_fails_after_the_upload_removes_the_object(project, object_storage, monkeypatch):
    from annotations import prompt_sets

    client, bucket, _, _ = object_storage

    def broken_copy(self):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(prompt_sets.CopyStage, "copy", broken_copy)
    with pytest.raises(RuntimeError):
        prompt_sets.import_prompt_set(project, io.BytesIO(PROMPTS), "prompts.jsonl")
    assert keys(client, bucket) == []
    assert not Prompt.objects.exists()


def test_a_stream_longer_than_a_part_is_uploaded_in_parts_and_reads_back_whole(object_storage, settings):
    """open_for_writing streams through S3's multipart upload: 12 MB in 5 MB parts (three), hashed on
    the way; a failure midway leaves no object."""
    client, bucket, prefix, _ = object_storage
    data = hashlib.sha256(b"seed").digest() * (12 * 1024 * 1024 // 32)
    with storage.open_for_writing("exports/1/big.bin") as sink:
        for start in range(0, len(data), 1 << 20):
            sink.write(data[start:start + (1 << 20)])
    head = client.head_object(Bucket=bucket, Key=f"{prefix}/exports/1/big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # a multipart object's ETag counts its parts
    assert head["ContentLength"] == len(data)
    assert sink.digest.hexdigest() == hashlib.sha256(data).hexdigest()
    with pytest.raises(OSError), storage.open_for_writing("exports/2/broken.bin") as sink:
        sink.write(data[: 6 * 1024 * 1024])
        raise OSError(28, "No space left on device")
    assert keys(client, bucket) == [f"{prefix}/exports/1/big.bin"]


def wait_for(export_id: int, seconds: float = 60) -> Export:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        export = Export.objects.get(pk=export_id)
        if export.status in (Export.Status.DONE, Export.Status.FAILED):
            return export
        time.sleep(0.2)
    raise AssertionError(f"export {export_id} still {export.status} after {seconds} s")


@pytest.mark.worker
def test_an_export_run_by_the_worker_is_stored_in_the_bucket_and_downloaded_by_a_signed_url(
    api, project, pam, alice, bob, rita, object_storage, celery_worker, settings
):
    client, bucket, prefix, _ = object_storage
    assert upload_file(api, pam, PROMPTS, "prompts.jsonl").status_code == 201
    for prompt in Prompt.objects.filter(project=project):
        rank(prompt, alice, [[1], [2], [3]])
        rank(prompt, bob, [[2], [1], [3]])
    started = api(rita).post("/api/projects/helpful/exports/", {"format": "jsonl"}, format="json")
    assert started.status_code == 202
    export = wait_for(started.json()["id"])
    assert export.status == "done", export.error
    key = f"{prefix}/{export.files['bundle']}"
    assert re.fullmatch(rf"{prefix}/exports/{export.pk}/[0-9a-f]{{8}}/labelhub-helpful-export-{export.pk}\.zip", key)
    assert key in keys(client, bucket)
    assert local_files(settings) == []  # neither the zip nor the worker's scratch files stay on disk

    assert api(alice).get(f"/api/exports/{export.pk}/download/").status_code == 403  # checked before signing
    response = api(rita).get(f"/api/exports/{export.pk}/download/")
    assert response.status_code == 302
    url = response["Location"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["300"] and "X-Amz-Signature" in query
    assert response["Cache-Control"] == "no-store"
    with urllib.request.urlopen(url) as fetched:  # noqa: S310 - the test's own server
        body = fetched.read()
        assert fetched.headers["Content-Disposition"].startswith(
            f'attachment; filename="labelhub-helpful-export-{export.pk}.zip"')
    assert hashlib.sha256(body).hexdigest() == export.sha256["bundle"]
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        pairs = archive.read("pairs.jsonl")
        manifest = orjson.loads(archive.read("manifest.json"))
    assert pairs.count(b"\n") == 4 * 3 * 2
    assert manifest["files"]["pairs.jsonl"]["sha256"] == hashlib.sha256(pairs).hexdigest() == export.sha256[
        "pairs.jsonl"]



def test_download_of_an_object_gone_from_the_bucket_is_a_410(project, rita, api, object_storage):
    client, bucket, prefix, _ = object_storage
    make_user("kim", "labeler", project)
    export = Export.objects.create(project=project, requested_by=rita, params=ExportOptions().as_dict())
    assert run_export(export.pk)
    export.refresh_from_db()
    client.delete_object(Bucket=bucket, Key=f"{prefix}/{export.files['bundle']}")
    assert api(rita).get(f"/api/exports/{export.pk}/download/").status_code == 410


def test_deleting_an_exports_prefix_and_a_projects_prefix_removes_their_objects(api, project, pam, rita,
                                                                               object_storage):
    client, bucket, prefix, _ = object_storage
    assert upload_file(api, pam, PROMPTS, "prompts.jsonl").status_code == 201
    exports = [Export.objects.create(project=project, requested_by=rita, params=ExportOptions().as_dict())
               for _ in range(2)]
    for export in exports:
        assert run_export(export.pk)
    assert len(keys(client, bucket)) == 3
    assert storage.delete_prefix(storage.export_prefix(exports[0].pk)) == 1
    assert storage.delete_prefix(storage.export_prefix(exports[0].pk)) == 0  # again: nothing, no error
    assert storage.delete_prefix(storage.prompt_set_prefix(project.pk)) == 1
    exports[1].refresh_from_db()
    assert keys(client, bucket) == [f"{prefix}/{exports[1].files['bundle']}"]


# --- local storage ------------------------------------------------------------------------------------


def test_behind_nginx_a_local_download_is_handed_to_the_proxy_after_the_permission_check(
    api, project, alice, rita, settings
):
    settings.LABELHUB_ACCEL_REDIRECT = "/protected-media/"
    export = Export.objects.create(project=project, requested_by=rita, params=ExportOptions().as_dict())
    assert run_export(export.pk)
    assert api(alice).get(f"/api/exports/{export.pk}/download/").status_code == 403
    response = api(rita).get(f"/api/exports/{export.pk}/download/")
    assert response.status_code == 200
    name = Export.objects.get(pk=export.pk).files["bundle"]
    assert name.startswith(f"exports/{export.pk}/") and name.endswith(f"/labelhub-helpful-export-{export.pk}.zip")
    assert response["X-Accel-Redirect"] == f"/protected-media/{name}"
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="labelhub-helpful-export-')
    assert response.content == b""  # nginx sends the bytes
    assert (Path(settings.MEDIA_ROOT) / name).is_file()


def test_without_a_proxy_the_app_streams_a_local_download(api, project, rita, settings):
    export = Export.objects.create(project=project, requested_by=rita, params=ExportOptions().as_dict())
    assert run_export(export.pk)
    response = api(rita).get(f"/api/exports/{export.pk}/download/")
    assert response.status_code == 200 and not response.has_header("X-Accel-Redirect")
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == Export.objects.get(pk=export.pk).sha256["bundle"]


def test_storage_url_must_name_an_s3_bucket():
    from django.core.exceptions import ImproperlyConfigured

    from labelhub.settings import storage_from_url

    for bad in ("gs://bucket", "s3://", "bucket/prefix"):
        with pytest.raises(ImproperlyConfigured, match="STORAGE_URL"):
            storage_from_url(bad)
    options = storage_from_url("s3://team-data/labelhub/prod/")["OPTIONS"]
    assert (options["bucket_name"], options["location"], options["default_acl"]) == ("team-data", "labelhub/prod",
                                                                                       None)
    assert default_storage is not None


def test_an_attempt_that_lost_its_export_leaves_no_zip_and_the_winner_keeps_its_own(project, rita, object_storage,
                                                                                   monkeypatch):
    """Two attempts of one export (a worker presumed dead wakes up): each stores under its own name;
    the one that finds the export no longer running removes its zip, and the finished export's zip
    is never overwritten."""
    from annotations.export import storing

    client, bucket, prefix, _ = object_storage
    make_user("kim", "labeler", project)
    export = Export.objects.create(project=project, requested_by=rita, params=ExportOptions().as_dict())
    real_store = storing.store_bundle

    def taken_over_meanwhile(export_row, options, progress=None):
        stored = real_store(export_row, options, progress)
        Export.objects.filter(pk=export_row.pk).update(status=Export.Status.FAILED)  # someone else's now
        return stored

    monkeypatch.setattr(storing, "store_bundle", taken_over_meanwhile)
    assert run_export(export.pk) is False
    assert keys(client, bucket) == []
    monkeypatch.setattr(storing, "store_bundle", real_store)
    Export.objects.filter(pk=export.pk).update(status=Export.Status.QUEUED)
    dead = f"exports/{export.pk}/deadbeef/labelhub-helpful-export-{export.pk}.zip"  # a dead attempt's zip
    client.put_object(Bucket=bucket, Key=f"{prefix}/{dead}", Body=b"half")
    assert run_export(export.pk) is True
    export.refresh_from_db()
    assert keys(client, bucket) == [f"{prefix}/{export.files['bundle']}"] and dead not in export.files["bundle"]
