"""Adaptive overlap on the database: agreeing prompts stop at k, disputed ones take one more
labeler at a time up to the maximum and never beyond (also with 50 labelers at once), off by
default; its settings, its counts, and the claim still one statement."""

import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotations.assignment import next_assignment, submit_ranking
from annotations.consensus import Judgement, prompt_pairwise_agreement, strip_completions
from annotations.models import Completion, Prompt, Ranking
from annotations.projects import update_project
from annotations.quality import progress_counts, quality_report
from annotations.revisions import revise_ranking

from .factories import make_project, make_prompt, make_user, page_client
from .test_assignment import _in_threads, _labelers, statements


def forward(task) -> list[list[int]]:
    return [[cid] for cid in sorted(task.shown_order)]


def backward(task) -> list[list[int]]:
    return [[cid] for cid in sorted(task.shown_order, reverse=True)]


def rank(project, labeler, order, flagged=()) -> "Ranking | None":
    """The labeler takes their next task and ranks it with order(task); None when none is left."""
    task = next_assignment(project, labeler)
    if task is None:
        return None
    return submit_ranking(task.pk, labeler, tiers=order(task), flagged=list(flagged))[0]


def labelers(project, count: int, prefix: str = "l"):
    return [make_user(f"{prefix}{i}", "labeler", project) for i in range(count)]


@pytest.fixture
def adaptive(db):
    """k = 2, up to 4 labelers, target 0.75; one prompt of three completions."""
    project = make_project("adaptive", labelers_per_prompt=2, max_labelers_per_prompt=4, agreement_target=0.75)
    return project, make_prompt(project, 3)


def test_off_by_default_the_maximum_is_k_and_a_disputed_prompt_stops_at_k(db):
    project = make_project("plain", labelers_per_prompt=2)
    assert (project.max_labelers_per_prompt, project.agreement_target) == (2, 0.75)
    prompt = make_prompt(project, 3)
    first, second, third = labelers(project, 3)
    rank(project, first, forward)
    rank(project, second, backward)  # agreement 0
    prompt.refresh_from_db()
    assert (prompt.num_rankings, prompt.agreement, prompt.wanted_rankings) == (2, 0.0, 0)
    assert next_assignment(project, third) is None
    assert progress_counts(project)["complete"] == 1


def test_an_agreeing_prompt_stops_at_k(adaptive):
    project, prompt = adaptive
    first, second, third = labelers(project, 3)
    rank(project, first, forward)
    rank(project, second, forward)
    prompt.refresh_from_db()
    assert (prompt.num_rankings, prompt.agreement, prompt.wanted_rankings) == (2, 1.0, 0)
    assert next_assignment(project, third) is None
    assert progress_counts(project)["complete"] == 1


def test_a_disputed_prompt_takes_one_more_labeler_at_a_time_up_to_the_maximum_and_never_beyond(adaptive):
    project, prompt = adaptive
    crowd = labelers(project, 6)
    rank(project, crowd[0], forward)
    rank(project, crowd[1], backward)
    prompt.refresh_from_db()
    assert (prompt.num_rankings, prompt.wanted_rankings) == (2, 3)
    assert progress_counts(project)["complete"] == 0
    held = next_assignment(project, crowd[2])
    assert held is not None and held.prompt.pk == prompt.pk
    assert next_assignment(project, crowd[3]) is None  # one slot at a time: the third is held
    submit_ranking(held.pk, crowd[2], tiers=forward(held), flagged=[])  # 2 of 3 forward: still disputed
    prompt.refresh_from_db()
    assert (prompt.num_rankings, prompt.wanted_rankings) == (3, 4)
    assert rank(project, crowd[3], backward) is not None  # the maximum, 4
    prompt.refresh_from_db()
    assert (prompt.num_rankings, prompt.num_reserved, prompt.wanted_rankings) == (4, 0, 0)
    assert prompt.agreement < project.agreement_target
    assert next_assignment(project, crowd[4]) is None  # never beyond the maximum
    assert progress_counts(project)["complete"] == 1  # reached the maximum


def test_an_extra_ranking_that_settles_the_dispute_stops_the_prompt(adaptive):
    project, prompt = adaptive
    crowd = labelers(project, 5)
    rank(project, crowd[0], forward)
    rank(project, crowd[1], lambda task: [[min(task.shown_order)], sorted(task.shown_order)[1:][::-1]])
    prompt.refresh_from_db()
    assert prompt.agreement == pytest.approx(2 / 3) and prompt.wanted_rankings == 3
    rank(project, crowd[2], forward)
    prompt.refresh_from_db()
    assert prompt.agreement == pytest.approx(7 / 9)  # above the target now: settled at 3
    assert (prompt.num_rankings, prompt.wanted_rankings) == (3, 0)
    assert next_assignment(project, crowd[3]) is None
    assert progress_counts(project)["complete"] == 1


def test_a_revision_can_settle_a_dispute_or_open_one(adaptive):
    project, prompt = adaptive
    first, second, third = labelers(project, 3)
    rank(project, first, forward)
    disputed = rank(project, second, backward)
    prompt.refresh_from_db()
    assert prompt.wanted_rankings == 3
    revise_ranking(disputed.assignment_id, second, tiers=[[c] for c in sorted(disputed.shown_order)], flagged=[])
    prompt.refresh_from_db()
    assert (prompt.agreement, prompt.wanted_rankings) == (1.0, 0)
    assert next_assignment(project, third) is None
    revise_ranking(disputed.assignment_id, second, tiers=[[c] for c in sorted(disputed.shown_order)[::-1]],
                   flagged=[])
    prompt.refresh_from_db()
    assert prompt.wanted_rankings == 3
    assert next_assignment(project, third).prompt.pk == prompt.pk


def test_changing_the_settings_re_decides_every_prompt_from_its_stored_agreement(db):
    project = make_project("later", labelers_per_prompt=2)
    agreeing, disputed = make_prompt(project, 3), make_prompt(project, 3)
    first, second, third = labelers(project, 3)
    for labeler, order in ((first, forward), (second, backward)):
        for _ in range(2):  # the disputed prompt is ranked both ways, the agreeing one forward twice
            task = next_assignment(project, labeler)
            tiers = forward(task) if task.prompt.pk == agreeing.pk else order(task)
            submit_ranking(task.pk, labeler, tiers=tiers, flagged=[])
    assert next_assignment(project, third) is None
    update_project(project, {"max_labelers_per_prompt": 3})
    assert dict(Prompt.objects.filter(project=project).values_list("pk", "wanted_rankings")) == {
        agreeing.pk: 0, disputed.pk: 3}
    assert next_assignment(project, third).prompt.pk == disputed.pk
    assert progress_counts(project)["complete"] == 1
    update_project(project, {"max_labelers_per_prompt": 2})  # off again: nothing more wanted
    assert set(Prompt.objects.filter(project=project).values_list("wanted_rankings", flat=True)) == {0}
    assert progress_counts(project)["complete"] == 2


def test_the_canary_is_left_out_of_the_decision(adaptive):
    project, prompt = adaptive
    canary = Completion.objects.create(prompt=prompt, position=9, text="garbled", source=Completion.Source.CANARY)
    Prompt.objects.filter(pk=prompt.pk).update(num_completions=4)
    first, second = labelers(project, 2)

    def canary_first(task):  # real completions in the same order; the canary on top
        return [[canary.pk]] + [[cid] for cid in sorted(set(task.shown_order) - {canary.pk})]

    def canary_last(task):
        return [[cid] for cid in sorted(set(task.shown_order) - {canary.pk})] + [[canary.pk]]

    rank(project, first, canary_first)
    rank(project, second, canary_last)
    prompt.refresh_from_db()
    assert (prompt.agreement, prompt.wanted_rankings) == (1.0, 0)


def test_a_disputed_flag_brings_one_more_labeler(adaptive):
    project, prompt = adaptive
    first, second, third = labelers(project, 3)
    rank(project, first, forward)
    rank(project, second, lambda task: [[c] for c in sorted(task.shown_order)[:2]],
         flagged=[max(Completion.objects.filter(prompt=prompt).values_list("pk", flat=True))])
    prompt.refresh_from_db()
    # The flagged completion counts as below the others, so the orders agree: no one more labeler.
    assert prompt.agreement == 1.0 and prompt.wanted_rankings == 0
    other = make_prompt(project, 3)
    ids = sorted(Completion.objects.filter(prompt=other).values_list("pk", flat=True))
    rank(project, first, lambda task: [[ids[2]], [ids[0]], [ids[1]]])
    rank(project, second, lambda task: [[ids[0]], [ids[1]]], flagged=[ids[2]])  # flags the first's best
    other.refresh_from_db()
    assert other.agreement == pytest.approx(1 / 3) and other.wanted_rankings == 3
    assert next_assignment(project, third).prompt.pk == other.pk


def test_next_stays_one_statement_with_adaptive_overlap_on(db):
    project = make_project(labelers_per_prompt=2, max_labelers_per_prompt=5, agreement_target=0.9)
    for _ in range(10):
        make_prompt(project, 4)
    first, second, alice = (make_user(name, "labeler", project) for name in ("one", "two", "alice"))
    rank(project, first, forward)  # the process's first sweep happens here
    rank(project, second, backward)  # the same prompt (closest to complete): it now wants a third labeler
    disputed = Prompt.objects.get(project=project, num_rankings=2)
    assert disputed.wanted_rankings == 3
    with CaptureQueriesContext(connection) as captured:
        task = next_assignment(project, alice)
    assert task.prompt.pk == disputed.pk  # the prompt closest to complete comes first
    assert len(statements(captured)) == 3, statements(captured)  # BEGIN, the claim, COMMIT


def test_quality_report_counts_prompts_beyond_k_and_their_agreement_rise(adaptive):
    project, prompt = adaptive
    crowd = labelers(project, 3)
    rank(project, crowd[0], forward)
    rank(project, crowd[1], lambda task: [[min(task.shown_order)], sorted(task.shown_order)[1:][::-1]])
    rank(project, crowd[2], forward)
    report = quality_report(project)
    assert report.prompts_complete == 1
    assert report.overlap.prompts_beyond_k == 1
    assert report.overlap.agreement_at_k == pytest.approx(2 / 3)
    assert report.overlap.agreement_now == pytest.approx(7 / 9)
    assert report.overlap.rise == pytest.approx(7 / 9 - 2 / 3)
    rita = make_user("rita", "researcher", project)
    page = page_client(rita).get(f"/projects/{project.slug}/quality/").content.decode()
    assert 'data-count="beyond-k">1<' in page and 'data-figure="agreement-rise">+0.111<' in page


# --- Settings: the page and the API -------------------------------------------------------------


def test_api_sets_and_validates_the_adaptive_settings(project, pam, api):
    client = api(pam)
    url = f"/api/projects/{project.slug}/"
    body = client.get(url).json()
    assert (body["max_labelers_per_prompt"], body["agreement_target"]) == (3, 0.75)
    response = client.patch(url, {"max_labelers_per_prompt": 2}, format="json")
    assert response.status_code == 400
    assert "at least labelers per prompt (3)" in response.json()["max_labelers_per_prompt"][0]
    for bad in (0, -0.1, 1.01):
        response = client.patch(url, {"agreement_target": bad}, format="json")
        assert response.status_code == 400 and "Agreement target" in response.json()["agreement_target"][0]
    response = client.patch(url, {"max_labelers_per_prompt": 5, "agreement_target": 1}, format="json")
    assert response.status_code == 200
    assert (response.json()["max_labelers_per_prompt"], response.json()["agreement_target"]) == (5, 1.0)


def test_the_maximum_follows_k_while_adaptive_overlap_is_off(project, pam, api):
    client = api(pam)
    url = f"/api/projects/{project.slug}/"
    assert client.patch(url, {"labelers_per_prompt": 5}, format="json").json()["max_labelers_per_prompt"] == 5
    assert client.patch(url, {"labelers_per_prompt": 2}, format="json").json()["max_labelers_per_prompt"] == 2
    client.patch(url, {"max_labelers_per_prompt": 4}, format="json")
    assert client.patch(url, {"labelers_per_prompt": 3}, format="json").json()["max_labelers_per_prompt"] == 4
    created = api(make_user("boss", "admin")).post(
        "/api/projects/", {"slug": "five", "labelers_per_prompt": 5}, format="json")
    assert created.status_code == 201 and created.json()["max_labelers_per_prompt"] == 5


def test_settings_page_shows_and_saves_the_adaptive_settings(project, pam):
    client = page_client(pam)
    page = client.get(f"/projects/{project.slug}/settings/").content.decode()
    assert "Maximum labelers per prompt" in page and "Agreement target" in page
    form = {"name": project.name, "criterion": project.criterion, "labelers_per_prompt": 3,
            "max_labelers_per_prompt": 2, "agreement_target": 0.6, "reservation_minutes": 30,
            "target_completions": 4, "temperature": 1.0, "top_p": 1.0, "max_tokens": 512,
            "generation_concurrency": 16, "allow_ties": "on"}
    refused = client.post(f"/projects/{project.slug}/settings/", form)
    assert refused.status_code == 400 and "at least labelers per prompt (3)" in refused.content.decode()
    saved = client.post(f"/projects/{project.slug}/settings/", {**form, "max_labelers_per_prompt": 5})
    assert saved.status_code == 302
    project.refresh_from_db()
    assert (project.max_labelers_per_prompt, project.agreement_target) == (5, 0.6)


# --- 50 labelers at once on PostgreSQL ----------------------------------------------------------


def stored_judgements(prompt_id: int, canary: int | None = None) -> list[Judgement]:
    rows = Ranking.objects.filter(prompt_id=prompt_id).order_by("pk").values_list("tiers", "flagged")
    judgements = [Judgement(tiers, flagged) for tiers, flagged in rows]
    return [strip_completions(j, {canary}) for j in judgements] if canary else judgements


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("run", range(2))
def test_fifty_labelers_at_once_follow_the_rule_and_never_pass_the_maximum(run):
    k, maximum, target = 2, 4, 0.75
    project = make_project(labelers_per_prompt=k, max_labelers_per_prompt=maximum, agreement_target=target)
    prompts = [make_prompt(project, 4) for _ in range(30)]
    agreeing = {p.pk for p in prompts[::2]}  # everyone ranks these the same way
    crowd = _labelers(50, f"adaptive{run}-", project)

    def label_until_done(labeler):
        rng = random.Random(f"{run}:{labeler.pk}")
        while (task := next_assignment(project, labeler)) is not None:
            order = sorted(task.shown_order)
            if task.prompt.pk not in agreeing:
                rng.shuffle(order)  # two shuffles of 4 agree on half the pairs on average
            submit_ranking(task.pk, labeler, tiers=[[cid] for cid in order], flagged=[])

    _in_threads(crowd, label_until_done)
    extra = 0
    for prompt in Prompt.objects.filter(project=project):
        judgements = stored_judgements(prompt.pk)
        n = len(judgements)
        assert prompt.num_rankings == n and prompt.num_reserved == 0
        assert k <= n <= maximum
        if prompt.pk in agreeing:
            assert n == k
        # Each ranking beyond k was asked for: the agreement before it was below the target ...
        for before in range(k, n):
            assert prompt_pairwise_agreement(judgements[:before]) < target
        # ... and the prompt stopped at the target or at the maximum.
        assert n == maximum or prompt_pairwise_agreement(judgements) >= target
        assert prompt.agreement == pytest.approx(prompt_pairwise_agreement(judgements))
        extra += n - k
    assert extra > 0  # some shuffled prompts were disputed (1 in 6 pairs of shuffles agree enough)
    counts = progress_counts(project)
    assert counts["complete"] == len(prompts) and counts["in_progress"] == 0
    assert Ranking.objects.values("prompt", "labeler").distinct().count() == Ranking.objects.count()
