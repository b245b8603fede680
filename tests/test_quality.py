"""Quality figures through the database: agreement endpoint, quality page, canaries, pseudonyms."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotations.assignment import next_assignment, submit_ranking
from annotations.canaries import add_canaries, build_canary, shuffled, truncated
from annotations.models import Completion, Prompt
from annotations.quality import labeler_agreement, labeler_pseudonym, quality_report

from .factories import completion_ids, make_project, make_prompt, make_user


def label_everything(project, labelers, reverse=()):
    """Each labeler ranks every prompt they are given: by position, or reversed for `reverse`."""
    for labeler in labelers:
        while (task := next_assignment(project, labeler)) is not None:
            order = completion_ids(task.prompt)
            canaries = Completion.objects.filter(prompt_id=task.prompt_id, source="canary")
            canary = set(canaries.values_list("pk", flat=True))
            order = [cid for cid in order if cid not in canary]
            if labeler in reverse:
                order.reverse()
            submit_ranking(task.pk, labeler, tiers=[[cid] for cid in order], flagged=sorted(canary))


@pytest.fixture
def crowd(project, alice, bob):
    carol = make_user("carol", "labeler", project)
    for _ in range(4):
        make_prompt(project, 3)
    label_everything(project, [alice, bob, carol], reverse=[carol])
    return alice, bob, carol


def test_labeler_agreement_scores_the_inverter_at_zero(project, crowd):
    alice, bob, carol = crowd
    scores = labeler_agreement(project)
    # Carol's others (alice, bob) agree on everything, and carol reverses it.
    assert scores[carol.pk].agreement == 0.0
    assert scores[carol.pk].rankings == 4
    # Alice's others (bob, carol) disagree on every pair: nothing to compare her with.
    assert alice.pk not in scores


def test_agreement_endpoint_has_the_contract_shape_with_usernames_for_admins(api, project, crowd, ada):
    response = api(ada).get(f"/api/projects/{project.slug}/agreement/")
    assert response.status_code == 200
    body = response.json()
    assert body["overall"]["pairwise_agreement"] == pytest.approx(1 / 3, abs=1e-4)
    carol = next(row for row in body["labelers"] if row["username"] == "carol")
    assert carol["labeler"] == labeler_pseudonym(project, crowd[2].pk)
    assert carol["rankings"] == 4
    assert carol["agreement"] == 0.0
    assert 0.0 <= carol["ci_low"] <= carol["agreement"] <= carol["ci_high"] <= 1.0
    alice = next(row for row in body["labelers"] if row["username"] == "alice")
    assert alice["agreement"] is None and alice["rankings"] == 4


def test_agreement_endpoint_hides_usernames_from_researchers(api, project, crowd, rita):
    body = api(rita).get(f"/api/projects/{project.slug}/agreement/").json()
    assert len(body["labelers"]) == 3
    assert all("username" not in row for row in body["labelers"])
    assert all(row["labeler"].startswith("labeler-") for row in body["labelers"])


def test_agreement_endpoint_is_refused_to_labelers_and_hidden_from_outsiders(api, project, alice):
    assert api(alice).get(f"/api/projects/{project.slug}/agreement/").status_code == 403
    assert api(make_user("mallory")).get(f"/api/projects/{project.slug}/agreement/").status_code == 404


def test_pseudonym_is_stable_per_project_and_never_the_username(project, alice):
    other = make_project()
    name = labeler_pseudonym(project, alice.pk)
    assert name == labeler_pseudonym(project, alice.pk)
    assert name != labeler_pseudonym(other, alice.pk)
    assert "alice" not in name and name.startswith("labeler-")


def _login(client, user):
    client.force_login(user)
    return client


def test_quality_page_shows_charts_and_the_labeler_table_to_admins(client, project, crowd, ada):
    response = _login(client, ada).get(f"/projects/{project.slug}/quality/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<svg") == 3
    assert 'data-labeler="' + labeler_pseudonym(project, crowd[2].pk) + '"' in html
    assert f"/projects/{project.slug}/prompts/" in html  # least-agreement prompts link to the prompts browser


def test_quality_page_is_refused_to_labelers(client, project, crowd):
    assert _login(client, crowd[0]).get(f"/projects/{project.slug}/quality/").status_code == 403


def test_quality_page_queries_do_not_grow_with_labelers_or_prompts(client, project, ada):
    labelers = [make_user(f"l{i}", "labeler", project) for i in range(3)]
    for _ in range(2):
        make_prompt(project, 3)
    label_everything(project, labelers)
    _login(client, ada)
    # The first view creates the leaderboard's row and claims its refresh (a few queries, once).
    client.get(f"/projects/{project.slug}/quality/")
    with CaptureQueriesContext(connection) as small:
        client.get(f"/projects/{project.slug}/quality/")
    labelers += [make_user(f"m{i}", "labeler", project) for i in range(4)]
    for _ in range(6):
        make_prompt(project, 4)
    label_everything(project, labelers)
    client.get(f"/projects/{project.slug}/quality/")  # the leaderboard, stale now, is fitted again (once)
    with CaptureQueriesContext(connection) as large:
        client.get(f"/projects/{project.slug}/quality/")
    assert len(large) == len(small)


# --- Canaries ------------------------------------------------------------------------------------


def test_canary_builders_change_the_text():
    text = "The quick brown fox jumps over the lazy dog"
    assert truncated(text) == "The quick brown"
    import random

    assert sorted(shuffled(text, random.Random(1)).split()) == sorted(text.split())
    assert shuffled(text, random.Random(1)) != text
    assert truncated("天气很好我们去公园") == "天气很"
    assert build_canary("other_prompt", text, "another answer", random.Random(1)) == ("other_prompt", "another answer")
    assert build_canary("other_prompt", text, None, random.Random(1))[0] == "shuffled"


def test_add_canaries_is_idempotent_and_updates_completion_counts(project, alice):
    project.canaries_enabled, project.canary_share = True, 1.0
    project.save()
    prompts = [make_prompt(project, 3) for _ in range(5)]
    given = next_assignment(project, alice).prompt  # already shown to alice: must stay unchanged
    first = add_canaries(project.pk)
    second = add_canaries(project.pk)
    assert first["added"] == 4 and second["added"] == 0
    for prompt in prompts:
        prompt.refresh_from_db()
        canaries = prompt.completions.filter(source="canary")
        if prompt.pk == given.pk:
            assert not canaries.exists() and prompt.num_completions == 3
        else:
            assert canaries.count() == 1 and prompt.num_completions == 4
            assert canaries.get().canary_kind in {"other_prompt", "truncated", "shuffled"}


def test_canaries_are_added_to_about_the_configured_share(project):
    project.canaries_enabled, project.canary_share = True, 0.1
    project.save()
    Prompt.objects.bulk_create(Prompt(project=project, text=f"p{i}", num_completions=2) for i in range(400))
    Completion.objects.bulk_create(
        Completion(prompt=p, position=i, text=f"answer {i} to {p.text}")
        for p in Prompt.objects.filter(project=project) for i in (1, 2)
    )
    added = add_canaries(project.pk)["added"]
    assert 20 <= added <= 60


def test_add_canaries_does_nothing_when_disabled(project):
    make_prompt(project, 3)
    assert add_canaries(project.pk)["added"] == 0
    assert not Completion.objects.filter(source="canary").exists()


def test_canary_pass_rate_counts_flags_and_last_places_and_canaries_do_not_move_agreement(project, alice, bob):
    project.canaries_enabled, project.canary_share = True, 1.0
    project.save()
    for _ in range(3):
        make_prompt(project, 3)
    add_canaries(project.pk)
    carol = make_user("carol", "labeler", project)
    label_everything(project, [alice, bob])  # flag the canary
    while (task := next_assignment(project, carol)) is not None:  # carol ranks the canary first
        canary = Completion.objects.get(prompt_id=task.prompt_id, source="canary").pk
        others = [cid for cid in completion_ids(task.prompt) if cid != canary]
        submit_ranking(task.pk, carol, tiers=[[canary]] + [[cid] for cid in others], flagged=[])
    report = quality_report(project)
    rows = {row.username: row for row in report.labelers}
    assert rows["alice"].canary_pass_rate == 1.0 and rows["alice"].canaries_seen == 3
    assert rows["carol"].canary_pass_rate == 0.0
    # With the canary left out all three rank the real completions identically.
    assert report.pairwise_agreement == 1.0
    assert {row.score.agreement for row in report.labelers} == {1.0}
    assert rows["alice"].flag_rate == 0.0
