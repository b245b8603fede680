"""Deleting projects and exports removes their files, after commit and through the storage API;
old exports are pruned by the retention setting; users who labeled are deactivated, not deleted;
a ranked completion cannot be deleted."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models.deletion import ProtectedError
from django.utils import timezone

from annotations.deletion import delete_project, prune_exports, remove_user
from annotations.export.job import create_export, run_export
from annotations.export.options import ExportOptions
from annotations.files import file_storage, project_upload_prefix
from annotations.models import Assignment, Completion, Export, Prompt, Ranking

from .conftest import client_for
from .export_builders import rank
from .factories import make_project, make_prompt, make_user, page_client


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def media() -> Path:
    return Path(settings.MEDIA_ROOT)


def done_export(project, user=None) -> Export:
    """An export run to the end by the job code, its bundle written under MEDIA_ROOT."""
    export = create_export(project, user, ExportOptions.from_dict({}))
    assert run_export(export.pk)
    export.refresh_from_db()
    return export


@pytest.fixture
def ranked(project, alice, bob):
    prompt = make_prompt(project, 3, external_id="q1")
    rank(prompt, alice, [[2], [1], [3]])
    rank(prompt, bob, [[1], [2], [3]])
    return project


def test_deleting_a_project_removes_its_export_and_upload_files_after_commit(
        api, ranked, pam, django_capture_on_commit_callbacks):
    export = done_export(ranked)
    upload = file_storage().save(f"{project_upload_prefix(ranked.pk)}/prompts.jsonl", ContentFile(b'{"prompt": "x"}'))
    other = make_project("other")
    kept = done_export(other)
    export_dir = media() / "exports" / str(export.pk)
    assert (media() / export.files["bundle"]).is_file() and (media() / upload).is_file()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert api(pam).delete("/api/projects/helpful/").status_code == 204
    assert export_dir.is_dir(), "files stay until the deletion is committed"
    for callback in callbacks:
        callback()

    assert not export_dir.exists() and not (media() / upload).exists()
    assert not (media() / project_upload_prefix(ranked.pk)).exists()
    assert (media() / kept.files["bundle"]).is_file(), "another project's export is untouched"
    assert not Export.objects.filter(pk=export.pk).exists()


def test_a_rolled_back_project_deletion_keeps_its_files(ranked, django_capture_on_commit_callbacks):
    export = done_export(ranked)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError), \
            transaction.atomic():
        delete_project(ranked)
        raise RuntimeError("something after the delete failed")
    assert callbacks == []
    assert (media() / export.files["bundle"]).is_file()
    assert Export.objects.filter(pk=export.pk).exists()


def test_a_project_admin_deletes_an_export_and_its_files(api, ranked, pam, django_capture_on_commit_callbacks):
    export = done_export(ranked)
    # A dead attempt's leftovers in the export's directory go too.
    (media() / "exports" / str(export.pk) / "deadbeef").mkdir()
    (media() / "exports" / str(export.pk) / "deadbeef" / "half.zip").write_text("{}")
    with django_capture_on_commit_callbacks(execute=True):
        response = api(pam).delete(f"/api/exports/{export.pk}/")
    assert response.status_code == 204
    assert not Export.objects.filter(pk=export.pk).exists()
    assert not (media() / "exports" / str(export.pk)).exists()
    assert api(pam).get(f"/api/exports/{export.pk}/").status_code == 404


def test_only_admins_delete_exports(api, ranked, alice, rita, ada, django_capture_on_commit_callbacks):
    export = done_export(ranked)
    outsider = make_user("olga", "labeler", make_project("elsewhere"))
    assert api(rita).delete(f"/api/exports/{export.pk}/").status_code == 403
    assert api(alice).delete(f"/api/exports/{export.pk}/").status_code == 403
    assert api(outsider).delete(f"/api/exports/{export.pk}/").status_code == 404
    assert api(None).delete(f"/api/exports/{export.pk}/").status_code in (401, 403)
    assert (media() / export.files["bundle"]).is_file()
    with django_capture_on_commit_callbacks(execute=True):
        assert api(ada).delete(f"/api/exports/{export.pk}/").status_code == 204  # a site admin
    assert not (media() / export.files["bundle"]).exists()


def test_the_export_list_has_id_status_created_and_params_newest_first(api, ranked, rita):
    first = done_export(ranked, rita)
    second = create_export(ranked, rita, ExportOptions.from_dict({"mode": "consensus"}))
    rows = api(rita).get("/api/projects/helpful/exports/").json()
    assert [row["id"] for row in rows] == [second.pk, first.pk]
    assert {"id", "status", "created", "params"} <= set(rows[0])
    assert (rows[0]["status"], rows[0]["params"]["mode"], rows[1]["status"]) == ("queued", "consensus", "done")


def test_the_exports_page_offers_delete_to_admins_only_and_deletes(ranked, pam, rita,
                                                                   django_capture_on_commit_callbacks):
    export = done_export(ranked)
    assert b'data-action="delete-export"' in page_client(pam).get("/projects/helpful/exports/").content
    assert b'data-action="delete-export"' not in page_client(rita).get("/projects/helpful/exports/").content
    url = f"/projects/helpful/exports/{export.pk}/delete/"
    assert page_client(rita).post(url).status_code == 403
    assert page_client(pam).get(url).status_code == 405, "deleting is a POST (CSRF-protected form)"
    with django_capture_on_commit_callbacks(execute=True):
        answer = page_client(pam).post(url, follow=True)
    assert answer.redirect_chain[-1][0] == "/projects/helpful/exports/"
    assert f"Export {export.pk} and its files were deleted." in answer.content.decode()
    assert not Export.objects.filter(pk=export.pk).exists()
    assert not (media() / "exports" / str(export.pk)).exists()


def test_the_delete_form_needs_a_csrf_token(ranked, pam):
    from django.test import Client

    export = done_export(ranked)
    client = Client(enforce_csrf_checks=True)
    client.force_login(pam)
    assert client.post(f"/projects/helpful/exports/{export.pk}/delete/").status_code == 403
    assert Export.objects.filter(pk=export.pk).exists()


# --- retention ---------------------------------------------------------------------------------


def age(export: Export, days: int) -> None:
    then = timezone.now() - timedelta(days=days)
    Export.objects.filter(pk=export.pk).update(created_at=then, finished_at=then)


def test_prune_deletes_finished_exports_past_retention_and_keeps_the_rest(ranked, django_capture_on_commit_callbacks):
    old, recent, old_running = done_export(ranked), done_export(ranked), create_export(
        ranked, None, ExportOptions.from_dict({}))
    age(old, 40)
    age(recent, 5)
    Export.objects.filter(pk=old_running.pk).update(status=Export.Status.RUNNING,
                                                    created_at=timezone.now() - timedelta(days=40))
    with django_capture_on_commit_callbacks(execute=True):
        report = prune_exports(30)
    assert report.exports == [old.pk]
    assert set(Export.objects.values_list("pk", flat=True)) == {recent.pk, old_running.pk}
    assert not (media() / "exports" / str(old.pk)).exists()
    assert (media() / recent.files["bundle"]).is_file()


def test_prune_removes_files_no_row_refers_to(ranked):
    kept = done_export(ranked)
    orphan = media() / "exports" / "999999" / "bundle"
    orphan.mkdir(parents=True)
    (orphan / "pairs.jsonl").write_text("{}")
    file_storage().save(f"{project_upload_prefix(888888)}/x.jsonl", ContentFile(b"x"))
    report = prune_exports(0)
    assert report.exports == []
    assert sorted(report.orphans) == ["exports/999999", "uploads/888888"]
    assert not (media() / "exports" / "999999").exists() and not (media() / "uploads" / "888888").exists()
    assert (media() / kept.files["bundle"]).is_file()


def test_prune_exports_command_uses_the_retention_setting(ranked, settings, capsys,
                                                          django_capture_on_commit_callbacks):
    old = done_export(ranked)
    age(old, 10)
    settings.LABELHUB_EXPORT_RETENTION_DAYS = 0
    call_command("prune_exports")
    assert Export.objects.filter(pk=old.pk).exists(), "0 keeps every export"
    call_command("prune_exports", "--days", "7", "--dry-run")
    assert Export.objects.filter(pk=old.pk).exists()
    assert f"would delete 1 exports older than 7 days: {old.pk}" in capsys.readouterr().out
    settings.LABELHUB_EXPORT_RETENTION_DAYS = 7
    with django_capture_on_commit_callbacks(execute=True):
        call_command("prune_exports")
    assert not Export.objects.filter(pk=old.pk).exists()
    assert not (media() / "exports" / str(old.pk)).exists()
    with pytest.raises(CommandError, match="--days"):
        call_command("prune_exports", "--days", "-1")


# --- users and completions that labels depend on -----------------------------------------------


def test_a_user_with_rankings_cannot_be_deleted_and_is_deactivated_instead(ranked, alice):
    with pytest.raises(ProtectedError):
        alice.delete()
    rankings = Ranking.objects.filter(labeler=alice).count()
    assert remove_user(alice) == "deactivated"
    alice.refresh_from_db()
    assert alice.is_active is False
    assert Ranking.objects.filter(labeler=alice).count() == rankings == 1


def test_deactivating_a_labeler_gives_their_reservation_back(project, alice, bob):
    make_prompt(project, 3)
    assert client_for(alice).post("/api/projects/helpful/tasks/next/").status_code == 200
    prompt = Prompt.objects.get(project=project)
    assert prompt.num_reserved == 1
    assert remove_user(alice) == "deactivated"
    prompt.refresh_from_db()
    assert prompt.num_reserved == 0
    assert Assignment.objects.get(labeler=alice).status == Assignment.Status.EXPIRED


def test_a_user_who_never_labeled_is_deleted(project, rita):
    assert remove_user(rita) == "deleted"
    assert not get_user_model().objects.filter(username="rita").exists()


def test_the_admin_action_deactivates_labelers_and_deletes_others(ranked, alice, ada):
    idle = make_user("idle")
    answer = page_client(ada).post("/admin/auth/user/", {
        "action": "deactivate_or_delete", "_selected_action": [alice.pk, idle.pk]}, follow=True)
    text = answer.content.decode()
    assert "Deactivated (they labeled; their rankings stay): alice" in text and "Deleted: idle" in text
    alice.refresh_from_db()
    assert not alice.is_active and not get_user_model().objects.filter(pk=idle.pk).exists()


def test_the_admin_delete_page_refuses_a_user_with_rankings(ranked, alice, ada):
    answer = page_client(ada).post(f"/admin/auth/user/{alice.pk}/delete/", {"post": "yes"})
    text = answer.content.decode()
    assert answer.status_code == 200 and "Cannot delete user" in text
    assert "alice labeled: their rankings and assignments keep them. deactivate them instead" in text.lower()
    assert get_user_model().objects.filter(pk=alice.pk).exists()


def test_a_ranked_completion_cannot_be_deleted_but_its_prompt_can(ranked):
    prompt = Prompt.objects.get(project=ranked)
    completion = prompt.completions.first()
    with pytest.raises(ProtectedError, match="rankings refer to it"):
        completion.delete()
    with pytest.raises(ProtectedError):
        Completion.objects.filter(prompt=prompt).delete()
    assert prompt.completions.count() == 3
    prompt.delete()
    assert not Ranking.objects.filter(prompt_id=prompt.pk).exists()


def test_an_unranked_completion_can_be_deleted_and_the_count_follows(project):
    prompt = make_prompt(project, 3)
    prompt.completions.last().delete()
    prompt.refresh_from_db()
    assert prompt.num_completions == 2 == prompt.completions.count()


def test_the_admin_refuses_deleting_a_ranked_completion_with_a_message(ranked, ada):
    prompt = Prompt.objects.get(project=ranked)
    completions = list(prompt.completions.order_by("position"))
    form = {
        "project": ranked.pk, "external_id": "q1", "text": prompt.text, "metadata": "{}",
        "num_completions": 3, "num_rankings": 2, "num_reserved": 0, "generation_error": "",
        "generation_attempts": 0, "agreement": "",
        "completions-TOTAL_FORMS": 3, "completions-INITIAL_FORMS": 3,
        "completions-MIN_NUM_FORMS": 0, "completions-MAX_NUM_FORMS": 1000,
    }
    for i, c in enumerate(completions):
        form.update({f"completions-{i}-id": c.pk, f"completions-{i}-prompt": prompt.pk,
                     f"completions-{i}-position": c.position, f"completions-{i}-text": c.text,
                     f"completions-{i}-source": c.source, f"completions-{i}-model": c.model,
                     f"completions-{i}-params": "{}", f"completions-{i}-canary_kind": ""})
    form["completions-0-DELETE"] = "on"
    answer = page_client(ada).post(f"/admin/annotations/prompt/{prompt.pk}/change/", form)
    assert answer.status_code == 200
    assert "rankings refer to it" in answer.content.decode()
    assert prompt.completions.count() == 3
