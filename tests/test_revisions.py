"""Correcting a submitted ranking: PUT revises it (earlier revisions kept), GET reopens it,
my-rankings lists the recent ones; consensus and agreement use the latest revision."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotations.models import Assignment, Completion, Membership, Prompt, Ranking, RankingRevision
from annotations.projects import set_instructions
from annotations.quality import labeler_pseudonym, quality_report

from .factories import make_prompt, make_user


def ranking_url(assignment_id: int) -> str:
    return f"/api/assignments/{assignment_id}/ranking/"


def take(api, user, slug: str = "helpful") -> dict:
    response = api(user).post(f"/api/projects/{slug}/tasks/next/")
    assert response.status_code == 200, response.content
    return response.json()


def ids_of(task: dict) -> list[int]:
    return [c["id"] for c in task["completions"]]


def submitted(api, user, order=None) -> dict:
    """Take a task and rank it (in the order shown unless `order` reorders the ids)."""
    task = take(api, user)
    ids = ids_of(task) if order is None else order(ids_of(task))
    response = api(user).post(ranking_url(task["assignment"]), {"tiers": [[i] for i in ids], "duration_ms": 1000},
                              format="json")
    assert response.status_code == 201, response.content
    return task


def test_put_revises_the_ranking_and_keeps_the_earlier_revision(api, project, alice):
    make_prompt(project, 3)
    task = submitted(api, alice)
    ids = ids_of(task)
    first = Ranking.objects.get()
    response = api(alice).put(ranking_url(task["assignment"]),
                              {"tiers": [[ids[2]], [ids[0], ids[1]]], "flagged": [], "duration_ms": 2500},
                              format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["revision"] == 2
    assert body["tiers"] == [[ids[2]], sorted([ids[0], ids[1]])]
    assert body["assignment"] == task["assignment"] and body["duration_ms"] == 2500
    latest = Ranking.objects.get()
    assert (latest.pk, latest.revision, latest.duration_ms) == (first.pk, 2, 2500)
    assert latest.revised_at > first.revised_at and latest.submitted_at == first.submitted_at
    (earlier,) = RankingRevision.objects.filter(ranking=latest)
    assert (earlier.revision, earlier.tiers, earlier.duration_ms) == (1, [[i] for i in ids], 1000)
    assert earlier.revised_at == first.revised_at
    assert Prompt.objects.get().num_rankings == 1  # a revision is not a new ranking


def test_a_third_revision_keeps_both_earlier_ones(api, project, alice):
    make_prompt(project, 3)
    task = submitted(api, alice)
    ids = ids_of(task)
    for tiers in ([[ids[1]], [ids[0]], [ids[2]]], [[ids[2]], [ids[1]], [ids[0]]]):
        assert api(alice).put(ranking_url(task["assignment"]), {"tiers": tiers}, format="json").status_code == 200
    assert Ranking.objects.get().revision == 3
    assert list(RankingRevision.objects.values_list("revision", "tiers")) == [
        (1, [[ids[0]], [ids[1]], [ids[2]]]), (2, [[ids[1]], [ids[0]], [ids[2]]]),
    ]


def test_an_identical_put_answers_200_and_stores_nothing(api, project, alice):
    make_prompt(project, 3)
    task = submitted(api, alice)
    response = api(alice).put(ranking_url(task["assignment"]), {"tiers": [[i] for i in ids_of(task)]}, format="json")
    assert response.status_code == 200
    assert response.json()["revision"] == 1
    assert not RankingRevision.objects.exists()


def test_put_validates_as_post_does(api, project, alice):
    project.allow_ties = False
    project.save()
    make_prompt(project, 3)
    task = submitted(api, alice)
    ids = ids_of(task)
    url = ranking_url(task["assignment"])
    for body, message in (({"tiers": [[ids[0]], [ids[1]]]}, f"neither ranked nor flagged: [{ids[2]}]"),
                          ({"tiers": [[ids[0], ids[1]], [ids[2]]]}, "does not allow ties"),
                          ({"tiers": [[ids[0]], [ids[1]], [ids[2]], [999999]]}, "not shown"),
                          ({"flagged": []}, '"tiers" is required')):
        response = api(alice).put(url, body, format="json")
        assert response.status_code == 400, body
        assert message in response.json()["detail"]
    assert Ranking.objects.get().revision == 1 and not RankingRevision.objects.exists()


def test_put_on_an_assignment_not_yet_submitted_is_409(api, project, alice):
    make_prompt(project, 3)
    task = take(api, alice)
    response = api(alice).put(ranking_url(task["assignment"]), {"tiers": [[i] for i in ids_of(task)]}, format="json")
    assert response.status_code == 409
    assert "submit it with POST first" in response.json()["detail"]
    assert not Ranking.objects.exists()


def test_post_of_a_different_ranking_still_answers_409(api, project, alice):
    make_prompt(project, 3)
    task = submitted(api, alice)
    other = {"tiers": [[i] for i in reversed(ids_of(task))]}
    assert api(alice).post(ranking_url(task["assignment"]), other, format="json").status_code == 409
    assert Ranking.objects.get().revision == 1


def test_another_labelers_ranking_cannot_be_revised_or_read(api, project, alice, bob):
    make_prompt(project, 3)
    task = submitted(api, alice)
    body = {"tiers": [[i] for i in reversed(ids_of(task))]}
    assert api(bob).put(ranking_url(task["assignment"]), body, format="json").status_code == 404
    assert api(bob).get(ranking_url(task["assignment"])).status_code == 404
    assert Ranking.objects.get().revision == 1


def test_a_removed_labeler_can_no_longer_revise_or_reopen_but_the_ranking_stays(api, project, alice):
    make_prompt(project, 3)
    task = submitted(api, alice)
    Membership.objects.filter(user=alice, project=project).delete()
    body = {"tiers": [[i] for i in reversed(ids_of(task))]}
    assert api(alice).put(ranking_url(task["assignment"]), body, format="json").status_code == 404
    assert api(alice).get(ranking_url(task["assignment"])).status_code == 404
    assert api(alice).get("/api/projects/helpful/my-rankings/").status_code == 404
    assert Ranking.objects.get().revision == 1


def test_a_revision_records_the_instructions_version_it_was_made_under(api, project, alice):
    make_prompt(project, 3)
    task = submitted(api, alice)
    set_instructions(project, "# Version two")
    body = {"tiers": [[i] for i in reversed(ids_of(task))]}
    assert api(alice).put(ranking_url(task["assignment"]), body, format="json").json()["instructions_version"] == 2
    assert RankingRevision.objects.get().instruction_version == 1


def test_get_reopens_the_callers_ranking_with_its_completions_in_the_order_shown(api, project, alice):
    prompt = make_prompt(project, ["<b>one</b>", "two", "three"])
    task = submitted(api, alice, order=lambda ids: list(reversed(ids)))
    response = api(alice).get(ranking_url(task["assignment"]))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"assignment", "project", "prompt", "completions", "tiers", "flagged", "revision",
                         "duration_ms", "instructions_version", "submitted", "revised"}
    assert body["assignment"] == task["assignment"] and body["project"] == "helpful"
    assert body["prompt"] == {"id": prompt.pk, "text": prompt.text, "messages": None}
    assert body["completions"] == task["completions"]  # same ids, texts and order as tasks/next gave
    assert body["tiers"] == [[i] for i in reversed(ids_of(task))]
    assert (body["flagged"], body["revision"], body["duration_ms"], body["instructions_version"]) == ([], 1, 1000, 1)
    assert body["submitted"] and body["revised"] is None
    api(alice).put(ranking_url(task["assignment"]), {"tiers": [[i] for i in ids_of(task)]}, format="json")
    body = api(alice).get(ranking_url(task["assignment"])).json()
    assert body["revision"] == 2 and body["revised"] is not None


def test_get_of_an_assignment_without_a_ranking_is_404(api, project, alice):
    make_prompt(project, 3)
    task = take(api, alice)
    assert api(alice).get(ranking_url(task["assignment"])).status_code == 404
    assert api(alice).get(ranking_url(2**63)).status_code == 404


def test_my_rankings_lists_the_latest_revised_first(api, project, alice):
    for _ in range(3):
        make_prompt(project, 3)
    tasks = [submitted(api, alice) for _ in range(3)]
    first = tasks[0]
    api(alice).put(ranking_url(first["assignment"]), {"tiers": [[i] for i in reversed(ids_of(first))]}, format="json")
    response = api(alice).get("/api/projects/helpful/my-rankings/")
    assert response.status_code == 200
    rows = response.json()
    assert [row["assignment"] for row in rows] == [tasks[0]["assignment"], tasks[2]["assignment"],
                                                   tasks[1]["assignment"]]
    assert rows[0]["prompt"] == {"id": first["prompt"]["id"], "text": first["prompt"]["text"]}  # a list: text only
    assert (rows[0]["revision"], rows[1]["revision"]) == (2, 1)
    assert rows[0]["revised"] is not None and rows[1]["revised"] is None


def test_my_rankings_shows_only_the_callers_last_fifty_in_fixed_queries(api, project, alice, bob,
                                                                        django_assert_max_num_queries):
    prompts = [make_prompt(project, 2) for _ in range(60)]
    now = timezone.now()
    for n, prompt in enumerate(prompts):
        for labeler in (alice, bob):
            completions = list(Completion.objects.filter(prompt=prompt).values_list("pk", flat=True))
            assignment = Assignment.objects.create(project=project, prompt=prompt, labeler=labeler,
                                                   status="submitted", shown_order=completions, reserved_until=now)
            Ranking.objects.create(assignment=assignment, project=project, prompt=prompt, labeler=labeler,
                                   tiers=[[c] for c in completions], shown_order=completions,
                                   revised_at=now - timedelta(minutes=n))
    with django_assert_max_num_queries(2):  # the project with the caller's roles, the rankings
        rows = api(alice).get("/api/projects/helpful/my-rankings/").json()
    assert len(rows) == 50
    mine = dict(Ranking.objects.filter(labeler=alice).values_list("assignment_id", "prompt_id"))
    assert all(mine[row["assignment"]] == row["prompt"]["id"] for row in rows)
    assert [row["prompt"]["id"] for row in rows] == [p.pk for p in prompts[:50]]


def test_my_rankings_is_for_the_projects_labelers(api, project, rita, ada):
    outsider = make_user("mallory")
    assert api(rita).get("/api/projects/helpful/my-rankings/").status_code == 403
    assert api(ada).get("/api/projects/helpful/my-rankings/").status_code == 403  # staff, not a labeler member
    assert api(outsider).get("/api/projects/helpful/my-rankings/").status_code == 404


@pytest.fixture
def three_rankings(api, project, alice, bob):
    """One prompt ranked the same way by alice, bob and carol."""
    carol = make_user("carol", "labeler", project)
    make_prompt(project, 3)
    tasks = {user.username: submitted(api, user, order=sorted) for user in (alice, bob, carol)}
    return tasks, carol


def test_consensus_and_agreement_use_the_latest_revision(api, project, alice, three_rankings, rita):
    tasks, _ = three_rankings
    before = api(rita).get("/api/projects/helpful/agreement/").json()
    assert before["overall"]["pairwise_agreement"] == 1.0
    task = tasks["alice"]
    api(alice).put(ranking_url(task["assignment"]), {"tiers": [[i] for i in sorted(ids_of(task), reverse=True)]},
                   format="json")
    after = api(rita).get("/api/projects/helpful/agreement/").json()
    # Alice now reverses the other two: of the 3 labeler pairs × 3 completion pairs, only bob and carol agree.
    assert after["overall"]["pairwise_agreement"] == pytest.approx(1 / 3, abs=1e-4)
    scores = {row["labeler"]: row["agreement"] for row in after["labelers"]}
    assert scores[labeler_pseudonym(project, alice.pk)] == 0.0  # against the consensus of bob and carol
    report = quality_report(project)
    assert list(report.agreement_counts.items()) == [(pytest.approx(1 / 3), 1)]
    assert Prompt.objects.get().agreement == pytest.approx(1 / 3)
