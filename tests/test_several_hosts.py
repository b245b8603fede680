"""Several hosts, one deployment (issue 16, part 7): two production web servers and one Celery
worker, separate processes, each with its own empty local media folder, sharing only PostgreSQL
(the test database), Redis and the S3-compatible server (moto). A prompt set uploaded through web A,
labelled through both, an export started through web B and run by the worker, downloaded through
web A: nothing is ever read from a local disk of another host, and no host keeps a file."""

import hashlib
import io
import os
import time
import uuid
import zipfile
from pathlib import Path

import orjson
import pytest

from .servers import app_environment, free_port, request, start_web, start_worker, stop, wait_until_answering

pytestmark = pytest.mark.worker

PROMPTS = b"".join(
    orjson.dumps({"id": f"q{i}", "prompt": f"question {i}", "completions": [f"a{i}", f"b{i}", f"c{i}"]}) + b"\n"
    for i in range(4)
)


def multipart(field: str, filename: str, content: bytes) -> tuple[bytes, dict[str, str]]:
    boundary = f"labelhub-{uuid.uuid4().hex}"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


@pytest.fixture
def hosts(transactional_db, object_storage, tmp_path):
    """web A, web B and a worker: {name: (base URL or None, its own folder)}; stopped after the test,
    before the test database is emptied."""
    if not os.environ.get("REDIS_URL"):
        pytest.skip("REDIS_URL is not set: the hosts need a shared broker")
    from .databases import subprocess_database_url

    _, _, _, s3_env = object_storage
    shared = {"REDIS_URL": os.environ["REDIS_URL"], **s3_env}
    started, hosts = [], {}
    try:
        for name in ("web-a", "web-b", "worker"):
            folder = tmp_path / name
            folder.mkdir()
            env = app_environment(subprocess_database_url(), **shared, MEDIA_ROOT=str(folder / "media"),
                                  LABELHUB_VAR_DIR=str(folder / "var"), LABELHUB_WORK_DIR=str(folder / "work"))
            log = tmp_path / f"{name}.log"
            if name == "worker":
                started.append((start_worker(env, log), None, log))
                hosts[name] = (None, folder)
            else:
                port = free_port()
                started.append((start_web(env, port, log), f"http://127.0.0.1:{port}", log))
                hosts[name] = (f"http://127.0.0.1:{port}", folder)
        for process, base, log in started:
            if base:
                wait_until_answering(f"{base}/api/projects/", process, log)
        hosts["logs"] = {name: tmp_path / f"{name}.log" for name in ("web-a", "web-b", "worker")}
        yield hosts
    finally:
        for process, _, _ in started:
            stop(process)


def rank_everything(base: str, token: str) -> int:
    """Take tasks through `base` until none is left, ranking the completions in the order shown."""
    done = 0
    while True:
        status, _, body = request("POST", f"{base}/api/projects/helpful/tasks/next/", token)
        if status == 204:
            return done
        assert status == 200, body
        task = orjson.loads(body)
        tiers = [[completion["id"]] for completion in task["completions"]]
        ranking = orjson.dumps({"tiers": tiers, "flagged": [], "duration_ms": 1000})
        status, _, body = request("POST", f"{base}/api/assignments/{task['assignment']}/ranking/", token, ranking,
                                  {"Content-Type": "application/json"})
        assert status == 201, body
        done += 1


def test_upload_on_a_export_started_on_b_run_by_the_worker_downloaded_on_a(hosts, object_storage):
    from rest_framework.authtoken.models import Token

    from .factories import make_project, make_user

    client, bucket, prefix, _ = object_storage
    (web_a, folder_a), (web_b, folder_b), (_, folder_worker) = hosts["web-a"], hosts["web-b"], hosts["worker"]
    project = make_project("helpful", labelers_per_prompt=2)
    token = {name: Token.objects.create(user=make_user(name, role, project)).key
             for name, role in (("pam", "admin"), ("alice", "labeler"), ("bob", "labeler"), ("rita", "researcher"))}

    body, headers = multipart("file", "prompts.jsonl", PROMPTS)
    status, _, answer = request("POST", f"{web_a}/api/projects/helpful/prompt-sets/", token["pam"], body, headers)
    assert status == 201, answer
    assert f"{prefix}/uploads/{project.pk}/{orjson.loads(answer)['id']}/prompts.jsonl" in [
        item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert rank_everything(web_a, token["alice"]) == 4
    assert rank_everything(web_b, token["bob"]) == 4

    status, _, answer = request("POST", f"{web_b}/api/projects/helpful/exports/", token["rita"],
                                orjson.dumps({"format": "jsonl"}), {"Content-Type": "application/json"})
    assert status == 202, answer
    export_id = orjson.loads(answer)["id"]
    deadline = time.monotonic() + 120
    while True:
        status, _, answer = request("GET", f"{web_a}/api/exports/{export_id}/", token["rita"])
        export = orjson.loads(answer)
        if export["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert export["status"] == "done", (export, hosts["logs"]["worker"].read_text()[-3000:])
    assert "export_pairs_task[" in hosts["logs"]["worker"].read_text()  # run by the worker host

    status, headers, _ = request("GET", f"{web_a}/api/exports/{export_id}/download/", token["rita"], follow=False)
    assert status == 302
    status, _, bundle = request("GET", headers["Location"])
    assert status == 200
    assert hashlib.sha256(bundle).hexdigest() == export["sha256"]["bundle"]
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        pairs = archive.read("pairs.jsonl")
    assert pairs.count(b"\n") == 4 * 2 * 3  # 4 prompts, 2 labelers, 3 pairs each
    assert hashlib.sha256(pairs).hexdigest() == export["sha256"]["pairs.jsonl"]
    for folder in (folder_a, folder_b, folder_worker):
        assert files_under(folder / "media") == [] and files_under(folder / "work") == [], folder
