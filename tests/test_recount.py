"""`manage.py recount` recomputes every denormalised counter (Prompt.num_completions,
num_rankings, num_reserved, agreement) and says what it fixed; after every delete path the
stored counters equal what recount computes."""

import io

import orjson
import pytest
from django.core.management import CommandError, call_command
from django.db.models.deletion import ProtectedError

from annotations.deletion import delete_export, delete_project, remove_user
from annotations.export.job import create_export, run_export
from annotations.export.options import ExportOptions
from annotations.models import Completion, Export, Membership, Prompt, PromptSet, Ranking
from annotations.prompt_sets import import_prompt_set
from annotations.recount import recount
from annotations.team import remove_member

from .conftest import client_for
from .export_builders import add_canary
from .factories import make_project, make_user


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def upload(project, n: int, tag: str) -> PromptSet:
    lines = b"".join(orjson.dumps({"id": f"{tag}{i}", "prompt": f"prompt {tag}{i}",
                                   "completions": [f"{tag}{i} a", f"{tag}{i} b", f"{tag}{i} c"]}) + b"\n"
                     for i in range(n))
    return import_prompt_set(project, io.BytesIO(lines), filename=f"{tag}.jsonl")


def label(user, slug: str, rounds: int) -> None:
    """`user` takes and ranks `rounds` tasks through the API, as the labeling page does."""
    api = client_for(user)
    for _ in range(rounds):
        task = api.post(f"/api/projects/{slug}/tasks/next/")
        if task.status_code == 204:
            return
        ids = [c["id"] for c in task.json()["completions"]]
        body = {"tiers": [[ids[0]], [ids[1]], *[[i] for i in ids[2:]]], "flagged": [], "duration_ms": 1000}
        answer = api.post(f"/api/assignments/{task.json()['assignment']}/ranking/", body, format="json")
        assert answer.status_code == 201


def reserve(user, slug: str) -> None:
    assert client_for(user).post(f"/api/projects/{slug}/tasks/next/").status_code == 200


def assert_counters_exact() -> None:
    report = recount(fix=False)
    assert report.total_fixed == 0, report.fixed


def test_recount_fixes_every_counter_and_reports_it(project, alice, bob, capsys):
    upload(project, 2, "q")
    label(alice, "helpful", 2)
    label(bob, "helpful", 2)
    prompt = Prompt.objects.filter(project=project).order_by("pk").first()
    right = (prompt.num_completions, prompt.num_rankings, prompt.num_reserved, prompt.agreement)
    assert right[1] == 2 and right[3] is not None
    Prompt.objects.filter(pk=prompt.pk).update(num_completions=9, num_rankings=0, num_reserved=4, agreement=0.123)

    with pytest.raises(CommandError, match="4 counters are wrong"):
        call_command("recount", "--check")
    call_command("recount")
    out = capsys.readouterr().out
    assert f"prompt {prompt.pk}: num_completions fixed: 9 → 3" in out
    assert f"prompt {prompt.pk}: num_rankings fixed: 0 → 2" in out
    assert f"prompt {prompt.pk}: num_reserved fixed: 4 → 0" in out
    assert f"prompt {prompt.pk}: agreement fixed: 0.123 → {right[3]}" in out
    assert "fixed: num_completions 1, num_rankings 1, num_reserved 1, agreement 1" in out
    prompt.refresh_from_db()
    assert (prompt.num_completions, prompt.num_rankings, prompt.num_reserved, prompt.agreement) == right
    call_command("recount", "--project", "helpful")
    assert "fixed: num_completions 0, num_rankings 0, num_reserved 0, agreement 0" in capsys.readouterr().out


def test_recount_leaves_the_canary_out_of_agreement(project, alice, bob):
    upload(project, 1, "q")
    add_canary(Prompt.objects.get(project=project))
    Prompt.objects.filter(project=project).update(num_completions=4)
    label(alice, "helpful", 1)
    label(bob, "helpful", 1)
    assert_counters_exact()


def test_recount_of_an_unknown_project_is_an_error(db):
    with pytest.raises(CommandError, match="no project with slug 'nope'"):
        call_command("recount", "--project", "nope")


def test_counters_match_recount_after_every_delete_path(project, alice, bob, rita, pam,
                                                        django_capture_on_commit_callbacks):
    carol = make_user("carol", "labeler", project)
    dave = make_user("dave", "labeler", project)
    other = make_project("other")
    make_user("pam2", "admin", other)
    first, second = upload(project, 3, "a"), upload(project, 3, "b")
    upload(other, 2, "o")
    make_user("olga", "labeler", other)
    for user in (alice, bob, carol):
        label(user, "helpful", 3)
    reserve(dave, "helpful")
    assert_counters_exact()

    # A completion that rankings refer to: refused, nothing changes.
    ranked = Ranking.objects.filter(project=project).first()
    with pytest.raises(ProtectedError):
        Completion.objects.get(pk=ranked.tiers[0][0]).delete()
    assert_counters_exact()

    # A completion nobody has seen: deleted, its prompt's count follows.
    unseen = Prompt.objects.filter(project=project, num_rankings=0, num_reserved=0).first()
    unseen.completions.order_by("position").last().delete()
    assert_counters_exact()

    # An export.
    export = create_export(project, rita, ExportOptions.from_dict({}))
    run_export(export.pk)
    with django_capture_on_commit_callbacks(execute=True):
        delete_export(Export.objects.get(pk=export.pk))
    assert_counters_exact()

    # Membership removal: carol's reservation goes back to the pool, her rankings stay.
    reserve(carol, "helpful")
    remove_member(project, carol)
    assert_counters_exact()

    # User deactivation (dave holds a reservation) and deletion of a user who never labeled.
    assert remove_user(dave) == "deactivated"
    assert_counters_exact()
    assert remove_user(make_user("idle", "labeler", project)) == "deleted"
    assert_counters_exact()

    # A prompt set: its prompts stay (their prompt_set becomes empty).
    first.delete()
    assert_counters_exact()
    assert Prompt.objects.filter(project=project, external_id="a0").exists()

    # A prompt, with its completions, assignments and rankings.
    reserve(bob, "helpful")
    Prompt.objects.filter(project=project, num_rankings__gt=0).first().delete()
    assert_counters_exact()
    second.delete()
    assert_counters_exact()

    # The project, with everything in it; the other project's counters are untouched.
    with django_capture_on_commit_callbacks(execute=True):
        delete_project(project)
    assert_counters_exact()
    assert Prompt.objects.filter(project=other).count() == 2
    assert not Membership.objects.filter(project_id=project.pk).exists()
