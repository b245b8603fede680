"""Thumbs projects: every completion up, down or flagged; stored as tiers [ups, downs]; agreement and
canaries adapted."""

import pytest

from annotations.models import Completion, Prompt, Ranking
from annotations.quality import quality_report
from annotations.ranking import RankingError, judgement_for, thumbs_to_tiers, tiers_to_thumbs
from annotations.thumbs import Judged, canary_passed, nominal_alpha, prompt_thumbs_agreement, vote_counts

from .factories import completion_ids, make_project, make_prompt, make_user


@pytest.fixture
def thumbs_project(db):
    return make_project("thumbs", feedback="thumbs")


def task_of(api, user, slug="thumbs"):
    return api(user).post(f"/api/projects/{slug}/tasks/next/").json()


def send(api, user, task, body):
    return api(user).post(f"/api/assignments/{task['assignment']}/ranking/", body, format="json")


# --- pure rules ------------------------------------------------------------------------------------


def test_thumbs_become_two_tiers_ups_then_downs():
    assert thumbs_to_tiers({"3": "down", "1": "up", "2": "up"}, [4], [1, 2, 3, 4]) == [[1, 2], [3]]
    assert thumbs_to_tiers({"1": "down"}, [2], [1, 2]) == [[], [1]]
    assert tiers_to_thumbs([[1, 2], [3]]) == {"1": "up", "2": "up", "3": "down"}


@pytest.mark.parametrize(("thumbs", "flagged", "message"), [
    ({"1": "up"}, [], "completions neither given a thumb nor flagged: [2]"),
    ({"1": "up", "2": "down"}, [2], "completions judged more than once (in thumbs and flagged, or twice): [2]"),
    ({"1": "up", "01": "down", "2": "up"}, [], "completions judged more than once (in thumbs and flagged, or "
                                               "twice): [1]"),
    ({"1": "meh", "2": "up"}, [], "\"thumbs\": completion 1 must be \"up\" or \"down\", not 'meh'"),
    ({"1": "up", "2": "up", "9": "down"}, [], "completions not shown in this assignment: [9]"),
    ({"x": "up"}, [], "\"thumbs\": 'x' is not a completion id"),
])
def test_bad_thumbs_say_what_is_wrong(thumbs, flagged, message):
    with pytest.raises(RankingError) as caught:
        thumbs_to_tiers(thumbs, flagged, [1, 2])
    assert str(caught.value) == message


def test_tiers_in_a_thumbs_project_and_thumbs_in_a_ranking_project_are_refused():
    with pytest.raises(RankingError, match="takes thumbs, not tiers"):
        judgement_for("thumbs", [[1], [2]], None, [], [1, 2], True)
    with pytest.raises(RankingError, match='send "tiers", not "thumbs"'):
        judgement_for("ranking", None, {"1": "up", "2": "down"}, [], [1, 2], True)


def test_agreement_is_the_majority_share_per_completion_and_a_flag_counts_as_down():
    judgements = [Judged([[1], [2]], []), Judged([[1, 2], []], []), Judged([[], [1]], [2])]
    assert vote_counts(judgements) == {1: (2, 1), 2: (1, 2)}
    assert prompt_thumbs_agreement(judgements) == pytest.approx(2 / 3)
    assert prompt_thumbs_agreement(judgements[:1]) is None
    assert prompt_thumbs_agreement(judgements, removed=[2]) == pytest.approx(2 / 3)


def test_nominal_alpha_by_hand_and_its_limits():
    # Two labelers, three completions: agree up, agree down, disagree. o_uu = o_dd = 2, o_ud = 1, n = 6:
    # D_o = 2/6, D_e = 2·3·3 / (6·5) = 0.6, alpha = 1 − (1/3)/0.6 = 4/9.
    assert nominal_alpha([(2, 0), (0, 2), (1, 1)]) == pytest.approx(4 / 9)
    assert nominal_alpha([(2, 0), (0, 2)]) == pytest.approx(1.0)
    assert nominal_alpha([(1, 1), (1, 1)]) == pytest.approx(-0.5)  # systematic disagreement is below 0
    assert nominal_alpha([(3, 0)]) is None and nominal_alpha([(1, 0)]) is None


def test_a_canary_passes_when_marked_down_or_flagged():
    assert canary_passed(Judged([[1], [9, 2]], []), 9)
    assert canary_passed(Judged([[1, 2], []], [9]), 9)
    assert not canary_passed(Judged([[1, 9], [2]], []), 9)


# --- through the API -------------------------------------------------------------------------------


def test_thumbs_are_stored_as_ups_then_downs_and_paired(api, thumbs_project):
    alice = make_user("alice", "labeler", thumbs_project)
    prompt = make_prompt(thumbs_project, 4)
    a, b, c, d = completion_ids(prompt)
    task = task_of(api, alice)
    response = send(api, alice, task, {"thumbs": {str(a): "up", str(b): "down", str(c): "up"}, "flagged": [d],
                                       "duration_ms": 900})
    assert response.status_code == 201, response.json()
    ranking = Ranking.objects.get()
    assert (ranking.tiers, ranking.flagged, ranking.duration_ms) == ([[a, c], [b]], [d], 900)
    repeat = send(api, alice, task, {"thumbs": {str(c): "up", str(a): "up", str(b): "down"}, "flagged": [d]})
    assert repeat.status_code == 200 and Ranking.objects.count() == 1


@pytest.mark.parametrize(("body", "detail"), [
    ("missing", "completions neither given a thumb nor flagged"),
    ("repeated", "completions judged more than once"),
    ("tiers", "this project takes thumbs, not tiers"),
])
def test_bad_thumbs_bodies_are_400s_that_say_what(api, thumbs_project, body, detail):
    alice = make_user("alice", "labeler", thumbs_project)
    a, b = completion_ids(make_prompt(thumbs_project, 2))
    bodies = {
        "missing": {"thumbs": {str(a): "up"}},
        "repeated": {"thumbs": {str(a): "up", str(b): "down"}, "flagged": [b]},
        "tiers": {"tiers": [[a], [b]]},
    }
    response = send(api, alice, task_of(api, alice), bodies[body])
    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert not Ranking.objects.exists()


def test_thumbs_agreement_is_stored_and_reported_with_canaries_passed_when_down(api, thumbs_project):
    alice = make_user("alice", "labeler", thumbs_project)
    bob = make_user("bob", "labeler", thumbs_project)
    prompt = make_prompt(thumbs_project, 3)
    a, b, c = completion_ids(prompt)
    Completion.objects.filter(pk=c).update(source="canary")
    send(api, alice, task_of(api, alice), {"thumbs": {str(a): "up", str(b): "down", str(c): "down"}})
    send(api, bob, task_of(api, bob), {"thumbs": {str(a): "up", str(b): "up"}, "flagged": [c]})
    # a: both up (1.0); b: split (0.5); the canary is left out.
    assert Prompt.objects.get().agreement == pytest.approx(0.75)
    report = quality_report(thumbs_project)
    assert report.pairwise_agreement == pytest.approx(0.75)
    assert report.krippendorff_alpha == pytest.approx(nominal_alpha([(2, 0), (1, 1)]))
    assert report.kendalls_w is None
    assert {row.username: row.canary_pass_rate for row in report.labelers} == {"alice": 1.0, "bob": 1.0}


def test_a_thumbs_project_is_created_by_the_api_and_its_quality_page_works(api, db):
    from django.test import Client

    from annotations.models import Project

    ada = make_user("ada", "admin")
    ada.is_staff = True
    ada.save()
    response = api(ada).post("/api/projects/", {"slug": "t2", "feedback": "thumbs"}, format="json")
    assert response.status_code == 201 and response.json()["feedback"] == "thumbs"
    project = Project.objects.get(slug="t2")
    assert project.feedback == "thumbs"
    changed = api(ada).patch("/api/projects/t2/", {"feedback": "ranking"}, format="json")
    assert Project.objects.get(slug="t2").feedback == "thumbs", changed.content  # fixed once created
    client = Client()
    client.force_login(ada)
    page = client.get("/projects/t2/quality/")
    assert page.status_code == 200 and "Krippendorff's α (nominal)" in page.content.decode()


def test_the_new_project_page_creates_a_thumbs_project(db):
    from django.test import Client

    from annotations.models import Project

    ada = make_user("ada", "admin")
    ada.is_staff = True
    ada.save()
    client = Client()
    client.force_login(ada)
    assert 'value="thumbs"' in client.get("/projects/new/").content.decode()
    response = client.post("/projects/new/", {"name": "Thumbs", "slug": "t3", "criterion": "helpfulness",
                                              "labelers_per_prompt": 2, "feedback": "thumbs"})
    assert response.status_code == 302 and Project.objects.get(slug="t3").feedback == "thumbs"
