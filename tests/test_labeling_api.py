"""The labeling loop through the HTTP API: next task, ranking, skip."""

import json

from annotations.models import Assignment, Ranking

from .factories import make_prompt, make_user


def _next(api, user, slug="helpful"):
    return api(user).post(f"/api/projects/{slug}/tasks/next/")


def test_next_returns_prompt_and_completions_in_shown_order(api, project, alice):
    prompt = make_prompt(project, 4)
    response = _next(api, alice)
    assert response.status_code == 200
    body = response.json()
    assert body["prompt"] == {"id": prompt.pk, "text": prompt.text, "messages": None}
    assignment = Assignment.objects.get(pk=body["assignment"])
    assert [c["id"] for c in body["completions"]] == assignment.shown_order
    assert sorted(assignment.shown_order) == sorted(prompt.completions.values_list("pk", flat=True))
    assert body["instructions_version"] == 1


def test_next_twice_returns_the_same_open_assignment(api, project, alice):
    make_prompt(project, 3)
    make_prompt(project, 3)
    assert _next(api, alice).json()["assignment"] == _next(api, alice).json()["assignment"]


def test_next_answers_204_when_nothing_is_left(api, project, alice):
    assert _next(api, alice).status_code == 204


def test_prompt_with_one_completion_is_not_offered(api, project, alice):
    make_prompt(project, 1)
    assert _next(api, alice).status_code == 204


def _rank_first_task(api, user):
    task = _next(api, user).json()
    ids = [c["id"] for c in task["completions"]]
    body = {"tiers": [[ids[1]], [ids[0]], [ids[2]]], "flagged": [], "duration_ms": 4100}
    return task, body, api(user).post(f"/api/assignments/{task['assignment']}/ranking/", body, format="json")


def test_ranking_is_stored_with_shown_order_and_instructions_version(api, project, alice):
    make_prompt(project, 3)
    task, body, response = _rank_first_task(api, alice)
    assert response.status_code == 201
    ranking = Ranking.objects.get()
    assert ranking.tiers == body["tiers"]
    assert ranking.shown_order == [c["id"] for c in task["completions"]]
    assert ranking.instruction_version == 1
    assert ranking.duration_ms == 4100
    assert ranking.prompt.num_rankings == 1


def test_second_identical_submission_stores_nothing(api, project, alice):
    make_prompt(project, 3)
    task, body, _ = _rank_first_task(api, alice)
    again = api(alice).post(f"/api/assignments/{task['assignment']}/ranking/", body, format="json")
    assert again.status_code == 200
    assert Ranking.objects.count() == 1
    assert Ranking.objects.get().prompt.num_rankings == 1


def test_different_second_submission_is_a_conflict_and_changes_nothing(api, project, alice):
    make_prompt(project, 3)
    task, body, _ = _rank_first_task(api, alice)
    other = {"tiers": list(reversed(body["tiers"])), "flagged": []}
    response = api(alice).post(f"/api/assignments/{task['assignment']}/ranking/", other, format="json")
    assert response.status_code == 409
    assert Ranking.objects.get().tiers == body["tiers"]


def test_incomplete_ranking_is_a_400_that_names_the_missing_completion(api, project, alice):
    make_prompt(project, 3)
    task = _next(api, alice).json()
    ids = [c["id"] for c in task["completions"]]
    response = api(alice).post(
        f"/api/assignments/{task['assignment']}/ranking/", {"tiers": [[ids[0]], [ids[1]]], "flagged": []}, format="json"
    )
    assert response.status_code == 400
    assert str(ids[2]) in response.json()["detail"]
    assert not Ranking.objects.exists()


def test_tie_is_rejected_where_the_project_forbids_ties(api, project, alice):
    project.allow_ties = False
    project.save()
    make_prompt(project, 3)
    task = _next(api, alice).json()
    ids = [c["id"] for c in task["completions"]]
    response = api(alice).post(
        f"/api/assignments/{task['assignment']}/ranking/", {"tiers": [[ids[0], ids[1]], [ids[2]]]}, format="json"
    )
    assert response.status_code == 400
    assert "ties" in response.json()["detail"]


def test_an_assignment_id_beyond_the_id_column_is_404_not_a_database_error(api, project, alice):
    body = {"tiers": [[1]], "flagged": []}
    for assignment_id in (2**63, 10**30):
        assert api(alice).post(f"/api/assignments/{assignment_id}/ranking/", body, format="json").status_code == 404
        assert api(alice).post(f"/api/assignments/{assignment_id}/skip/").status_code == 404


def test_ranking_another_labelers_assignment_is_404(api, project, alice, bob):
    make_prompt(project, 3)
    task = _next(api, alice).json()
    ids = [c["id"] for c in task["completions"]]
    response = api(bob).post(f"/api/assignments/{task['assignment']}/ranking/", {"tiers": [ids]}, format="json")
    assert response.status_code == 404
    assert api(bob).post(f"/api/assignments/{task['assignment']}/skip/").status_code == 404


def test_skipped_prompt_goes_to_the_next_prompt_for_this_labeler(api, project, alice):
    first = make_prompt(project, 3)
    second = make_prompt(project, 3)
    task = _next(api, alice).json()
    assert api(alice).post(f"/api/assignments/{task['assignment']}/skip/").status_code == 200
    following = _next(api, alice).json()
    assert following["prompt"]["id"] != task["prompt"]["id"]
    assert {task["prompt"]["id"], following["prompt"]["id"]} == {first.pk, second.pk}


def test_prompt_goes_to_at_most_k_labelers(api, project):
    project.labelers_per_prompt = 2
    project.save()
    make_prompt(project, 3)
    labelers = [make_user(f"l{i}", "labeler", project) for i in range(3)]
    answers = [_next(api, user).status_code for user in labelers]
    assert answers == [200, 200, 204]


def test_non_member_cannot_get_tasks(api, project):
    outsider = make_user("mallory")
    make_prompt(project, 3)
    assert _next(api, outsider).status_code == 404


def test_researcher_cannot_label(api, project, rita):
    make_prompt(project, 3)
    assert _next(api, rita).status_code == 403


def test_ranking_records_the_instructions_version_the_labeler_was_shown(api, project, alice):
    from annotations.projects import set_instructions

    make_prompt(project, 3)
    task = _next(api, alice).json()
    assert task["instructions_version"] == 1
    set_instructions(project, "# New rules")  # published while alice works on the task
    ids = [c["id"] for c in task["completions"]]
    body = {"tiers": [[i] for i in ids], "instructions_version": task["instructions_version"]}
    assert api(alice).post(f"/api/assignments/{task['assignment']}/ranking/", body, format="json").status_code == 201
    assert Ranking.objects.get().instruction_version == 1


def test_ranking_answer_has_exactly_the_documented_ranking_out_fields(api, project, alice):
    from rest_framework.renderers import JSONRenderer

    from annotations.api.serializers import RankingOut

    make_prompt(project, 3)
    task = _next(api, alice).json()
    ids = [c["id"] for c in task["completions"]]
    response = api(alice).post(f"/api/assignments/{task['assignment']}/ranking/",
                               {"tiers": [[i] for i in ids], "duration_ms": 900}, format="json")
    assert response.status_code == 201
    documented = JSONRenderer().render(RankingOut(Ranking.objects.get(assignment_id=task["assignment"])).data)
    assert response.content == documented


def test_bad_optional_fields_are_a_400_that_names_the_field(api, project, alice):
    make_prompt(project, 3)
    task = _next(api, alice).json()
    tiers = [[c["id"]] for c in task["completions"]]
    url = f"/api/assignments/{task['assignment']}/ranking/"
    for body, named in (({"flagged": []}, '"tiers" is required'),
                        ({"tiers": tiers, "duration_ms": -5}, '"duration_ms" must be a whole number from 0'),
                        ({"tiers": tiers, "duration_ms": "soon"}, '"duration_ms"'),
                        ({"tiers": tiers, "duration_ms": 2**31}, '"duration_ms"'),
                        ({"tiers": tiers, "duration_ms": 9.5}, '"duration_ms"'),
                        ({"tiers": tiers, "instructions_version": 0}, '"instructions_version"'),
                        ({"tiers": "[[1], oops"}, '"tiers" must be JSON'),
                        ([1, 2], "JSON object")):
        response = api(alice).post(url, body, format="json")
        assert response.status_code == 400, body
        assert named in response.json()["detail"]
    assert not Ranking.objects.exists()


def test_ranking_accepts_what_the_documented_serializer_accepted(api, project, alice):
    # Whole numbers as text or as 900.0, and a form post with the tiers as JSON text.
    make_prompt(project, 3)
    make_prompt(project, 3)
    task = _next(api, alice).json()
    tiers = [[c["id"]] for c in task["completions"]]
    response = api(alice).post(f"/api/assignments/{task['assignment']}/ranking/",
                               {"tiers": tiers, "duration_ms": "900", "instructions_version": 1.0}, format="json")
    assert response.status_code == 201, response.content
    assert Ranking.objects.get(assignment_id=task["assignment"]).duration_ms == 900
    task = _next(api, alice).json()
    ids = [c["id"] for c in task["completions"]]
    response = api(alice).post(f"/api/assignments/{task['assignment']}/ranking/",
                               {"tiers": json.dumps([[i] for i in ids]), "duration_ms": "1200"})  # a form post
    assert response.status_code == 201, response.content
    stored = Ranking.objects.get(assignment_id=task["assignment"])
    assert (stored.tiers, stored.duration_ms) == ([[i] for i in ids], 1200)


def test_a_malformed_ranking_is_a_400_keyed_by_the_field_with_a_summary(api, project, alice):
    make_prompt(project, 3)
    task = _next(api, alice).json()
    url = f"/api/assignments/{task['assignment']}/ranking/"
    for body, field, named in (({"tiers": [[1, "x"]]}, "tiers", "completion ids must be integers, got 'x'"),
                               ({"tiers": [1, 2]}, "tiers", "each tier must be a list of completion ids"),
                               ({"tiers": None}, "tiers", '"tiers" must be a list of lists'),
                               ({"tiers": [[1]], "flagged": [True]}, "flagged", "completion ids must be integers")):
        response = api(alice).post(url, body, format="json")
        assert response.status_code == 400, body
        assert field in response.json() and named in response.json()["detail"]
        assert response.json()["detail"].startswith(f'"{field}"')
    assert not Ranking.objects.exists()
