"""Who may label (labeler members only), what a labeler removed from the team can still do, the
prompt's stored agreement, and the labeling API's typed schema."""

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from annotations.assignment import next_assignment, release_reservations, submit_ranking
from annotations.models import Assignment, Completion, Membership, Prompt, Ranking
from annotations.quality import quality_report
from annotations.roles import grant_role, may_label

from .factories import make_prompt, make_user


def _next(api, user, slug="helpful"):
    return api(user).post(f"/api/projects/{slug}/tasks/next/")


def _rank_body(task: dict, reverse: bool = False) -> dict:
    ids = [c["id"] for c in task["completions"]]
    return {"tiers": [[i] for i in (reversed(ids) if reverse else ids)], "flagged": []}


# --- Site admins and the labeling pool ---------------------------------------------------------


def test_a_site_admin_is_not_in_the_labeling_pool_unless_a_labeler_member(api, project, ada):
    make_prompt(project, 3)
    assert not may_label(ada, project)
    assert _next(api, ada).status_code == 403  # they see the project, but do not label it
    assert next_assignment(project, ada) is None  # nor does the claim give them anything
    assert not Assignment.objects.exists()
    grant_role(ada, "labeler", project)
    assert may_label(ada, project)
    assert _next(api, ada).status_code == 200


def test_home_offers_a_site_admin_no_labeling_link_where_they_do_not_label(project, ada):
    client = Client()
    client.force_login(ada)
    assert "/projects/helpful/label/" not in client.get("/").content.decode()


def test_a_project_admin_member_does_not_label_either(api, project):
    owner = make_user("olga", "admin", project)
    make_prompt(project, 3)
    assert _next(api, owner).status_code == 403


# --- A labeler removed from the team -----------------------------------------------------------


@pytest.fixture
def removed(api, project, alice):
    """Alice ranked one prompt and holds another, then was removed from the team."""
    make_prompt(project, 3)
    make_prompt(project, 3)
    done = _next(api, alice).json()
    assert api(alice).post(f"/api/assignments/{done['assignment']}/ranking/", _rank_body(done),
                           format="json").status_code == 201
    held = _next(api, alice).json()
    Membership.objects.filter(user=alice, project=project).delete()
    return done, held


def test_a_removed_labeler_gets_404_for_next_and_for_the_assignment_they_hold(api, alice, removed):
    done, held = removed
    assert _next(api, alice).status_code == 404
    url = f"/api/assignments/{held['assignment']}"
    assert api(alice).post(f"{url}/ranking/", _rank_body(held), format="json").status_code == 404
    assert api(alice).post(f"{url}/skip/").status_code == 404
    assert Assignment.objects.get(pk=held["assignment"]).status == Assignment.Status.RESERVED
    assert Ranking.objects.filter(labeler=alice).count() == 1  # the submitted ranking stays


def test_releasing_a_removed_labelers_reservations_frees_the_slot_at_once(api, project, alice, bob, removed):
    _, held = removed
    project.labelers_per_prompt = 1
    project.save()
    prompt = Prompt.objects.get(pk=held["prompt"]["id"])
    assert (prompt.num_rankings, prompt.num_reserved) == (0, 1)
    assert _next(api, bob).status_code == 204  # the one free prompt is held by alice
    assert release_reservations(project, alice) == 1
    assert release_reservations(project, alice) == 0  # nothing twice
    prompt.refresh_from_db()
    assert prompt.num_reserved == 0
    assert Assignment.objects.get(pk=held["assignment"]).status == Assignment.Status.EXPIRED
    assert _next(api, bob).json()["prompt"]["id"] == prompt.pk
    assert Ranking.objects.filter(labeler=alice).count() == 1


# --- Prompt.agreement ----------------------------------------------------------------------------


def test_prompt_agreement_is_stored_with_each_ranking_as_the_quality_report_measures_it(api, project, alice, bob):
    carol = make_user("carol", "labeler", project)
    prompt = make_prompt(project, 4)
    for user, reverse in ((alice, False), (bob, False), (carol, True)):
        task = _next(api, user).json()
        body = _rank_body({"completions": sorted(task["completions"], key=lambda c: c["id"])}, reverse)
        assert api(user).post(f"/api/assignments/{task['assignment']}/ranking/", body, format="json").status_code == 201
        prompt.refresh_from_db()
        if user is alice:
            assert prompt.agreement is None  # below two rankings
        elif user is bob:
            assert prompt.agreement == 1.0
    assert prompt.agreement == pytest.approx(1 / 3)
    assert list(quality_report(project).agreement_counts.items()) == [(pytest.approx(prompt.agreement), 1)]


def test_prompt_agreement_leaves_the_canary_out(project, alice, bob):
    prompt = make_prompt(project, 3)
    canary = Completion.objects.create(prompt=prompt, position=9, text="nonsense", source="canary")
    Prompt.objects.filter(pk=prompt.pk).update(num_completions=4)
    real = sorted(set(prompt.completions.values_list("pk", flat=True)) - {canary.pk})
    # Both order the real completions alike; only one of them spots the canary.
    for user, tiers, flagged in ((alice, [[c] for c in real], [canary.pk]),
                                 (bob, [[canary.pk], *[[c] for c in real]], [])):
        task = next_assignment(project, user)
        submit_ranking(task.pk, user, tiers=tiers, flagged=flagged)
    prompt.refresh_from_db()
    assert prompt.agreement == 1.0


def test_storing_the_agreement_reads_only_that_prompts_rankings(project, alice, bob):
    prompt = make_prompt(project, 3)
    make_prompt(project, 3)
    first = next_assignment(project, bob)
    with CaptureQueriesContext(connection) as captured:  # the first ranking: nothing to compare, nothing read
        submit_ranking(first.pk, bob, tiers=[[c] for c in sorted(first.shown_order)], flagged=[])
    assert not [q for q in captured if 'FROM "annotations_ranking"' in q["sql"]]
    task = next_assignment(project, alice)
    assert task.prompt_id == prompt.pk == first.prompt_id
    with CaptureQueriesContext(connection) as captured:
        submit_ranking(task.pk, alice, tiers=[[c] for c in sorted(task.shown_order)], flagged=[])
    reads = [q["sql"] for q in captured if q["sql"].startswith("SELECT") and 'FROM "annotations_ranking"' in q["sql"]]
    assert len(reads) == 1
    assert f'"annotations_ranking"."prompt_id" = {prompt.pk}' in reads[0]
    assert Prompt.objects.get(pk=prompt.pk).agreement == 1.0


# --- The typed schema ----------------------------------------------------------------------------


def test_the_schema_types_tiers_as_lists_of_lists_of_integers(client, ada):
    client.force_login(ada)
    schema = json.loads(client.get("/api/schema/?format=json").content)
    body = schema["components"]["schemas"]["RankingIn"]["properties"]
    assert body["tiers"]["type"] == "array"
    assert body["tiers"]["items"] == {"type": "array", "items": {"type": "integer"}}
    assert body["flagged"]["items"] == {"type": "integer"}
    ranking = schema["paths"]["/api/assignments/{assignment_id}/ranking/"]
    assert {"get", "post", "put"} <= set(ranking)
    assert "/api/projects/{slug}/my-rankings/" in schema["paths"]
