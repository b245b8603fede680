"""Export jobs over HTTP: who may start, follow and download them; what a failed or killed
worker leaves behind; the export page."""

import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import OperationalError
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotations.export import bundle, writers
from annotations.export.bundle import write_bundle
from annotations.export.job import run_export
from annotations.export.options import ExportOptions
from annotations.models import Export
from annotations.tasks import export_pairs_task

from .export_builders import rank
from .factories import make_prompt, make_user

pytestmark = pytest.mark.usefixtures("fast_passwords")  # users are made by the dozen here


@pytest.fixture
def ranked(project, alice, bob):
    for i in range(3):
        prompt = make_prompt(project, 3, external_id=f"q{i}")
        rank(prompt, alice, [[2], [1], [3]])
        rank(prompt, bob, [[2], [3]], flagged=[1])
    return project


def start(api, user, slug="helpful", **options):
    return api(user).post(f"/api/projects/{slug}/exports/", options, format="json")


# --- permissions -------------------------------------------------------------------------------


def test_researcher_starts_an_export_and_gets_202_with_id_and_status(api, project, rita):
    response = start(api, rita, format="parquet", mode="consensus", test_fraction=0.2)
    assert response.status_code == 202
    export = Export.objects.get(pk=response.json()["id"])
    assert response.json()["status"] == "queued"
    assert (export.requested_by, export.params["format"], export.params["test_fraction"]) == (rita, "parquet", 0.2)


def test_site_admin_and_project_admin_may_export(api, project, ada):
    assert start(api, ada).status_code == 202
    owner = make_user("olga", "admin", project)
    assert start(api, owner, format="csv").status_code == 202


def test_labeler_may_not_start_follow_or_download_exports(api, project, alice, rita):
    assert start(api, alice).status_code == 403
    assert api(alice).get("/api/projects/helpful/exports/").status_code == 403
    export_id = start(api, rita).json()["id"]
    assert api(alice).get(f"/api/exports/{export_id}/").status_code == 403
    assert api(alice).get(f"/api/exports/{export_id}/download/").status_code == 403


def test_non_member_gets_404_for_the_project_and_its_exports(api, project, rita):
    outsider = make_user("eve", "researcher", make_project_elsewhere())
    export_id = start(api, rita).json()["id"]
    assert start(api, outsider).status_code == 404
    assert api(outsider).get(f"/api/exports/{export_id}/").status_code == 404
    assert api(outsider).get(f"/api/exports/{export_id}/download/").status_code == 404
    assert api(None).get(f"/api/exports/{export_id}/").status_code in (401, 403)


def make_project_elsewhere():
    from .factories import make_project

    return make_project("elsewhere")


def test_bad_option_is_a_400_naming_the_field(api, project, rita):
    response = start(api, rita, format="xlsx", test_fraction=2)
    assert response.status_code == 400
    assert set(response.json()) >= {"format", "test_fraction"}
    assert not Export.objects.exists()


def test_download_before_done_is_a_409(api, project, rita):
    export_id = start(api, rita).json()["id"]
    assert api(rita).get(f"/api/exports/{export_id}/download/").status_code == 409


def test_export_list_takes_a_fixed_number_of_queries(api, project, rita, django_assert_max_num_queries):
    for seed in range(6):
        Export.objects.create(project=project, requested_by=rita, params=ExportOptions(seed=seed).as_dict())
    with django_assert_max_num_queries(6):
        response = api(rita).get("/api/projects/helpful/exports/")
    assert len(response.json()) == 6


# --- running the job ---------------------------------------------------------------------------


def test_export_runs_after_commit_and_is_done_with_progress_1_counts_and_zip(
    api, ranked, rita, eager, django_capture_on_commit_callbacks, settings
):
    with django_capture_on_commit_callbacks(execute=True):
        export_id = start(api, rita).json()["id"]
    body = api(rita).get(f"/api/exports/{export_id}/").json()
    assert (body["status"], body["progress"]) == ("done", 1.0)
    assert body["counts"]["pairs"] == 3 * 3 + 3 * 1  # alice: 3 pairs per prompt; bob: 1 (c1 flagged)
    assert body["counts"]["splits"]["train"] == {"prompts": 3, "rankings": 6, "pairs": 12}
    assert body["params"]["format"] == "jsonl" and body["created"]
    download = api(rita).get(body["download"])
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith('attachment; filename="labelhub-helpful-export-')
    zip_path = Path(settings.MEDIA_ROOT) / "dl.zip"
    zip_path.write_bytes(b"".join(download.streaming_content))
    with zipfile.ZipFile(zip_path) as archive:
        assert sorted(archive.namelist()) == ["README.md", "manifest.json", "pairs.jsonl", "rankings.jsonl"]
    # The zip is the one file kept; the worker's scratch files are gone.
    stored = Path(settings.MEDIA_ROOT) / "exports" / str(export_id)
    assert [p.name for p in stored.rglob("*") if p.is_file()] == [f"labelhub-helpful-export-{export_id}.zip"]
    assert list(Path(settings.LABELHUB_WORK_DIR).rglob("*.jsonl")) == []


def test_progress_is_reported_while_the_pairs_are_written(project, alice, monkeypatch, tmp_path):
    for _ in range(30):
        rank(make_prompt(project, 4), alice, [[1], [2], [3], [4]])
    monkeypatch.setattr(bundle, "PROGRESS_EVERY_SECONDS", 0)
    seen: list[float] = []
    write_bundle(project, ExportOptions(), tmp_path, progress=seen.append)
    assert len(seen) >= 20
    assert seen == sorted(seen) and seen[0] > 0 and seen[-1] < 1


def test_export_reads_the_same_number_of_queries_for_few_or_many_prompts(project, alice, tmp_path):
    def queries_for_export(name: str) -> int:
        with CaptureQueriesContext(db_connection) as queries:
            write_bundle(project, ExportOptions(), tmp_path / name)
        return len(queries)

    for _ in range(3):
        rank(make_prompt(project, 3), alice, [[1], [2], [3]])
    few = queries_for_export("few")
    for _ in range(30):
        rank(make_prompt(project, 3), alice, [[1], [2], [3]])
    assert queries_for_export("many") == few


def test_a_crash_mid_export_leaves_it_failed_with_no_files(ranked, rita, monkeypatch, settings):
    export = Export.objects.create(project=ranked, requested_by=rita, params=ExportOptions().as_dict())

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writers, "write_zip", disk_full)
    export_pairs_task.apply(args=[export.pk])
    export.refresh_from_db()
    assert export.status == "failed" and "No space left" in export.error
    assert export.files == {} and export.progress < 1
    leftovers = list((Path(settings.MEDIA_ROOT) / "exports" / str(export.pk)).rglob("*"))
    assert leftovers == []
    assert [p for p in Path(settings.LABELHUB_WORK_DIR).rglob("*") if p.is_file()] == []


def test_a_lost_database_connection_is_retried_and_then_done(ranked, rita, monkeypatch, eager):
    export = Export.objects.create(project=ranked, requested_by=rita, params=ExportOptions().as_dict())
    real_write_bundle = bundle.write_bundle
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_write_bundle(*args, **kwargs)

    monkeypatch.setattr(bundle, "write_bundle", flaky)
    export_pairs_task.apply(args=[export.pk], throw=False)  # as a worker does: the retry runs again
    export.refresh_from_db()
    assert len(calls) == 2
    assert (export.status, export.progress) == ("done", 1.0)


def test_export_left_running_is_taken_back_only_once_its_heartbeat_is_stale(ranked, rita, settings):
    settings.JOB_LEASE_SECONDS = 60
    export = Export.objects.create(project=ranked, requested_by=rita, params=ExportOptions().as_dict(),
                                   status=Export.Status.RUNNING, progress=0.4, owner="w1:1:alive",
                                   heartbeat_at=timezone.now() - timedelta(seconds=10))
    dead_attempt = Path(settings.LABELHUB_WORK_DIR) / "exports" / f"{export.pk}-dead"
    dead_attempt.mkdir(parents=True)
    (dead_attempt / "pairs.jsonl").write_text('{"prompt": "half a li')
    assert run_export(export.pk) is False  # a second delivery while the first still runs does nothing
    export.refresh_from_db()
    assert (export.status, export.files, export.owner) == ("running", {}, "w1:1:alive")
    assert dead_attempt.exists()  # a live attempt's files are left alone
    Export.objects.filter(pk=export.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    assert run_export(export.pk) is True
    export.refresh_from_db()
    assert export.status == "done" and export.counts["pairs"] == 12 and export.attempts == 1
    assert not dead_attempt.exists()
    assert list((Path(settings.LABELHUB_WORK_DIR) / "exports").iterdir()) == []
    stored = Path(settings.MEDIA_ROOT) / "exports" / str(export.pk)
    assert [p.name for p in stored.rglob("*") if p.is_file()] == [f"labelhub-helpful-export-{export.pk}.zip"]


def test_done_export_is_not_run_again(ranked, rita):
    export = Export.objects.create(project=ranked, requested_by=rita, params=ExportOptions().as_dict())
    assert run_export(export.pk) is True
    finished = Export.objects.get(pk=export.pk).finished_at
    assert run_export(export.pk) is False
    assert Export.objects.get(pk=export.pk).finished_at == finished


# --- the page ----------------------------------------------------------------------------------


def test_export_page_lists_exports_with_parameters_progress_and_download(client, ranked, rita):
    Export.objects.create(project=ranked, requested_by=rita, params=ExportOptions(format="csv").as_dict())
    done = Export.objects.create(project=ranked, requested_by=rita, params=ExportOptions().as_dict())
    run_export(done.pk)
    client.force_login(rita)
    page = client.get("/projects/helpful/exports/").content.decode()
    assert "data-export-form" in page
    assert f'data-export="{done.pk}" data-status="done"' in page
    assert "csv · labeler · flagged drop · ties drop" in page
    assert "<progress data-export-progress" in page
    assert f'href="/api/exports/{done.pk}/download/"' in page
    assert "exports.js" in page


def test_export_page_form_starts_an_export(client, ranked, rita, django_capture_on_commit_callbacks):
    client.force_login(rita)
    form = {"format": "parquet", "mode": "consensus", "flagged": "rejected", "ties": "drop", "margin": "rank-gap",
            "test_fraction": "0.3", "exclude_labelers_below": "", "seed": "7"}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/projects/helpful/exports/", form)
    assert response.status_code == 302
    export = Export.objects.get()
    assert export.params == {**ExportOptions().as_dict(), "format": "parquet", "mode": "consensus",
                             "flagged": "rejected", "margin": "rank-gap", "test_fraction": 0.3, "seed": 7}
    assert len(callbacks) == 1  # the job is queued once the export is committed


def test_export_page_is_closed_to_labelers_and_strangers(client, project, alice):
    client.force_login(alice)
    assert client.get("/projects/helpful/exports/").status_code == 403
    client.force_login(make_user("eve"))
    assert client.get("/projects/helpful/exports/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_reading_ahead_in_a_thread_gives_the_same_bundle_as_reading_in_the_transaction(tmp_path):
    from django.db import transaction

    from annotations.export.reading import stream_prompts

    project = make_project_elsewhere()
    labelers = [make_user(f"l{i}", "labeler", project) for i in range(3)]
    for i in range(25):
        prompt = make_prompt(project, 4, external_id=f"x{i}")
        for labeler in labelers:
            rank(prompt, labeler, [[1], [3], [2, 4]] if i % 2 else [[4], [2]], flagged=[] if i % 2 else [1, 3])
    options = ExportOptions(ties="include", flagged="rejected")
    write_bundle(project, options, tmp_path / "thread")  # autocommit: the reader thread
    with transaction.atomic():
        write_bundle(project, options, tmp_path / "same")  # in a transaction: this connection
    assert (tmp_path / "thread" / "pairs.jsonl").read_bytes() == (tmp_path / "same" / "pairs.jsonl").read_bytes()
    # 12 prompts tie two of four (5 ordered pairs + 1 tied), 13 flag two (1 + 2·2 pairs), by 3 labelers
    assert (tmp_path / "thread" / "pairs.jsonl").read_bytes().count(b"\n") == (12 * 6 + 13 * 5) * 3
    # A reader that is left early stops its thread rather than hanging.
    stream = stream_prompts(project, options, set(), chunk_size=2)
    next(stream)
    stream.close()


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_export_leaves_it_running_then_a_stale_lease_is_taken_over(settings):
    """SIGKILL in the middle of writing the pairs, in a real separate process: nothing is marked
    done and no final file appears; the redelivered task takes the export back and completes it."""
    import os
    import subprocess
    import sys

    from .databases import subprocess_database_url

    project = make_project_elsewhere()
    labeler = make_user("kim", "labeler", project)
    for _ in range(20):
        rank(make_prompt(project, 4), labeler, [[1], [2], [3], [4]])
    export = Export.objects.create(project=project, params=ExportOptions().as_dict())
    url = subprocess_database_url()  # the test database, also when it is the embedded server's socket
    script = (
        "import os, signal, django\n"
        "django.setup()\n"
        "from annotations.export import writers\n"
        "from annotations.export.job import run_export\n"
        "real = writers.JsonlPairWriter.write_pairs\n"
        "def write_then_die(self, prompt, rows):\n"
        "    real(self, prompt, rows)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "writers.JsonlPairWriter.write_pairs = write_then_die\n"
        f"run_export({export.pk})\n"
    )
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": "", "MEDIA_ROOT": str(settings.MEDIA_ROOT),
           "LABELHUB_WORK_DIR": str(settings.LABELHUB_WORK_DIR), "DJANGO_SETTINGS_MODULE": "labelhub.settings"}
    killed = subprocess.run([sys.executable, "-c", script], env=env, cwd=Path(__file__).resolve().parents[1],
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    export.refresh_from_db()
    assert (export.status, export.files) == ("running", {})
    base = Path(settings.MEDIA_ROOT) / "exports" / str(export.pk)
    assert not base.exists()  # the zip is written only once the bundle's files are complete
    scratch = Path(settings.LABELHUB_WORK_DIR) / "exports"
    assert [p.name.split("-")[0] for p in scratch.iterdir()] == [str(export.pk)]  # the dead attempt's files
    assert run_export(export.pk) is False  # its heartbeat is fresh: the killed worker might be alive
    Export.objects.filter(pk=export.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert run_export(export.pk)
    export.refresh_from_db()
    assert export.status == "done" and export.counts["pairs"] == 20 * 6
    assert list(scratch.iterdir()) == []
    assert [p.name for p in base.rglob("*") if p.is_file()] == [f"labelhub-elsewhere-export-{export.pk}.zip"]


def test_home_page_links_researchers_to_the_export_page(client, project, rita):
    client.force_login(rita)
    assert 'href="/projects/helpful/exports/"' in client.get("/").content.decode()
