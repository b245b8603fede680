"""From labeling to training data: labelers rank through the API, a researcher exports through a
Celery worker (a real one on Redis when REDIS_URL is set, else eagerly), downloads the zip,
checks its checksums and loads it with `datasets` as the dataset card says."""

import hashlib
import json
import os
import re
import time
import zipfile
from pathlib import Path

import pytest

from annotations.export.options import PAIR_COLUMNS

from .factories import make_prompt, make_user

PROMPTS, LABELERS, COMPLETIONS = 6, 3, 3
PAIRS_PER_RANKING = COMPLETIONS * (COMPLETIONS - 1) // 2


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Users are made by the dozen here; their passwords need no slow hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def hf_offline(tmp_path_factory):
    """`datasets` must never reach the network, and caches under a temporary directory. Set
    before `datasets` is first imported, since it reads these at import time."""
    cache = tmp_path_factory.mktemp("hf")
    names = {"HF_HOME": str(cache), "HF_DATASETS_CACHE": str(cache / "datasets"),
             "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    yield cache
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def rank_everything_through_the_api(api, project, labelers):
    """Each labeler takes tasks until none is left and ranks completions by id, the lowest best;
    the last labeler swaps the first two (so agreement is not always 1)."""
    for index, labeler in enumerate(labelers):
        client = api(labeler)
        while True:
            task = client.post(f"/api/projects/{project.slug}/tasks/next/")
            if task.status_code == 204:
                break
            ids = sorted(c["id"] for c in task.json()["completions"])
            if index == len(labelers) - 1:
                ids[0], ids[1] = ids[1], ids[0]
            body = {"tiers": [[cid] for cid in ids], "flagged": [], "duration_ms": 12_000}
            answer = client.post(f"/api/assignments/{task.json()['assignment']}/ranking/", body, format="json")
            assert answer.status_code == 201, answer.content


def wait_until_finished(client, export_id: int, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/exports/{export_id}/").json()
        assert 0 <= body["progress"] <= 1
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"export {export_id} did not finish in {timeout}s: {body}")


def download_and_check(client, body: dict, into: Path) -> dict:
    """Unzip the download and check every file against the manifest's sha256; return the manifest."""
    response = client.get(body["download"])
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive_path = into.with_suffix(".zip")
    archive_path.write_bytes(b"".join(response.streaming_content))
    with zipfile.ZipFile(archive_path) as archive:
        archive.extractall(into)
    manifest = json.loads((into / "manifest.json").read_text())
    assert set(manifest["files"]) | {"manifest.json"} == {p.name for p in into.iterdir()}
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((into / name).read_bytes()).hexdigest() == entry["sha256"], name
    return manifest


def run_the_card_lines(bundle: Path, hf_cache: Path):
    """Execute the dataset card's two loading lines in the bundle directory, as a researcher would."""
    card = (bundle / "README.md").read_text()
    block = re.search(r"```python\n(from datasets import load_dataset\n.*?)```", card, re.S).group(1)
    assert block.count("\n") == 2, block  # two lines
    cwd = os.getcwd()
    os.chdir(bundle)
    try:
        scope: dict = {}
        exec(block, scope)  # noqa: S102 - the card's own code, on our own files
    finally:
        os.chdir(cwd)
    return scope["pairs"]


def researcher_exports_and_loads(api, project, rita, tmp_path, hf_offline, wait):
    labelers = [make_user(f"labeler{i}", "labeler", project) for i in range(LABELERS)]
    for i in range(PROMPTS):
        make_prompt(project, COMPLETIONS, external_id=f"e2e-{i}" if i % 2 else None)
    rank_everything_through_the_api(api, project, labelers)
    client = api(rita)
    expected_pairs = PROMPTS * LABELERS * PAIRS_PER_RANKING

    jsonl = client.post(f"/api/projects/{project.slug}/exports/", {}, format="json")
    parquet = client.post(f"/api/projects/{project.slug}/exports/",
                          {"format": "parquet", "test_fraction": 0.5, "seed": 1, "margin": "agreement"}, format="json")
    assert jsonl.status_code == parquet.status_code == 202

    body = wait(client, jsonl.json()["id"])
    assert (body["status"], body["progress"]) == ("done", 1.0), body
    manifest = download_and_check(client, body, tmp_path / "jsonl")
    assert manifest["counts"]["pairs"] == expected_pairs
    pairs = run_the_card_lines(tmp_path / "jsonl", hf_offline)
    assert pairs["train"].column_names == list(PAIR_COLUMNS)
    assert pairs["train"].num_rows == expected_pairs
    assert set(pairs["train"]["prompt_id"]) == {f"e2e-{i}" for i in range(1, PROMPTS, 2)} | {
        str(p.pk) for p in project.prompts.filter(external_id__isnull=True)
    }
    assert sorted(set(pairs["train"]["agreement"])) == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert "labeler0" not in (tmp_path / "jsonl" / "pairs.jsonl").read_text()

    body = wait(client, parquet.json()["id"])
    assert body["status"] == "done", body
    manifest = download_and_check(client, body, tmp_path / "parquet")
    from datasets import load_dataset

    files = {"train": str(tmp_path / "parquet" / "train.parquet"), "test": str(tmp_path / "parquet" / "test.parquet")}
    data = load_dataset("parquet", data_files=files, cache_dir=str(hf_offline / "datasets"))
    assert data["train"].column_names == [*PAIR_COLUMNS, "margin"]
    assert data["train"].num_rows == manifest["counts"]["splits"]["train"]["pairs"]
    assert data["test"].num_rows == manifest["counts"]["splits"]["test"]["pairs"]
    assert data["train"].num_rows + data["test"].num_rows == expected_pairs
    assert not set(data["train"]["prompt_id"]) & set(data["test"]["prompt_id"])
    assert data["train"]["margin"] == data["train"]["agreement"]


@pytest.mark.worker
def test_rank_export_through_a_real_worker_download_and_load(celery_worker, api, rita, tmp_path, hf_offline):
    researcher_exports_and_loads(api, rita_project(rita), rita, tmp_path, hf_offline, wait_until_finished)


def rita_project(rita):
    return rita.memberships.get().project


def test_rank_export_eagerly_download_and_load(
    api, rita, tmp_path, hf_offline, eager, django_capture_on_commit_callbacks
):
    """The same flow without a broker: the job runs in the request, once the export is committed."""
    project = rita_project(rita)
    client_for_rita = api(rita)
    original_post = client_for_rita.post

    def post_and_commit(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return original_post(*args, **kwargs)

    client_for_rita.post = post_and_commit
    researcher_exports_and_loads(lambda user: client_for_rita if user == rita else api(user), project, rita,
                                 tmp_path, hf_offline, wait_until_finished)
