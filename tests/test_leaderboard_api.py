"""The model leaderboard of a project: GET /api/projects/{slug}/leaderboard/, the quality page's
chart and the dataset card's table, from rankings stored as the labeling API stores them. The
leaderboard is computed by a Celery task and stored: the API and the page serve the stored one,
and queue a refresh (once) when it is missing or the rankings changed."""

import itertools
import math
import random
import time
from datetime import timedelta

import pytest
from django.test import TestCase
from django.utils import timezone

from annotations.export.bundle import write_bundle
from annotations.export.options import ExportOptions
from annotations.models import Completion, ModelLeaderboard, Prompt
from annotations.stored_leaderboard import refresh_leaderboard
from annotations.tasks import refresh_leaderboard_task

from .export_builders import add_canary, rank
from .factories import make_user, page_client
from .test_leaderboard import reference_mle

STRENGTH = {"large": 1.0, "medium": 0.2, "small": -0.6}


def prompt_of(project, models: list[str], lengths: list[int] | None = None) -> Prompt:
    """A prompt with one completion per entry of `models` ("" = an uploaded one without a model)."""
    prompt = Prompt.objects.create(project=project, text="p", num_completions=len(models))
    lengths = lengths or [100 + 10 * i for i in range(len(models))]
    Completion.objects.bulk_create(
        Completion(prompt=prompt, position=i, text="x" * length, model=model)
        for i, (model, length) in enumerate(zip(models, lengths, strict=True), start=1)
    )
    return prompt


def board(api, user, project, **params):
    """The leaderboard as the API serves it once the refresh it queued has run: the request queues
    the task after its commit (captured here: the test's transaction never commits), the task's
    body runs, and the next request answers the stored result, fresh."""
    url = f"/api/projects/{project.slug}/leaderboard/"
    with TestCase.captureOnCommitCallbacks(execute=False) as queued:
        first = api(user).get(url, params)
    assert first.status_code in (200, 202), first.content
    if queued:
        assert len(queued) == 1
        refresh_leaderboard_task(project.pk, params.get("pairs", "consensus"))
    response = api(user).get(url, params)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["stale"] is False and body["refreshing"] is False
    return body


@pytest.fixture
def judged(project, alice):
    """60 prompts, one completion per model in a random position, each ranked by alice by a
    Bradley–Terry draw of the models' strengths (k = 1: the consensus is her ranking). Returns the
    (prompt, model_a, model_b, outcome) records the fit must see."""
    rng = random.Random(5)
    names = list(STRENGTH)
    records = []
    for number in range(60):
        order = names[:]
        rng.shuffle(order)
        prompt = prompt_of(project, order)
        keys = {name: -STRENGTH[name] + rng.gauss(0, 1.2) for name in names}  # noisy order: upsets happen
        ranked = sorted(order, key=keys.__getitem__)
        rank(prompt, alice, [[order.index(name) + 1] for name in ranked])
        for a, b in itertools.combinations(order, 2):
            records.append((number, a, b, "a" if ranked.index(a) < ranked.index(b) else "b"))
    return records


def test_api_scores_match_a_plain_maximum_likelihood_fit_and_intervals_contain_them(project, rita, api, judged):
    body = board(api, rita, project)
    assert body["method"] == "bradley-terry" and body["bootstrap"] == 200 and body["pairs"] == "consensus"
    reference = reference_mle(judged, list(STRENGTH))
    assert [row["model"] for row in body["models"]] == sorted(reference, key=lambda m: -reference[m])
    for row in body["models"]:
        assert row["score"] == pytest.approx(reference[row["model"]], abs=1e-6)
        assert row["ci_low"] <= row["score"] <= row["ci_high"] and row["ci_low"] < row["ci_high"]
        assert row["pairs"] == 120 and row["wins"] + row["losses"] + row["ties"] == 120
    assert sum(row["score"] for row in body["models"]) / 3 == pytest.approx(1000.0)


def test_labeler_pairs_count_every_ranking_and_consensus_pairs_one_per_prompt(project, alice, bob, rita, api):
    carol = make_user("carol", "labeler", project)
    for _ in range(4):
        prompt = prompt_of(project, ["m1", "m2"])
        rank(prompt, alice, [[1], [2]])
        rank(prompt, bob, [[1], [2]])
        rank(prompt, carol, [[2], [1]])  # outvoted: the consensus says m1
    consensus = {row["model"]: row for row in board(api, rita, project)["models"]}
    labeler = {row["model"]: row for row in board(api, rita, project, pairs="labeler")["models"]}
    assert (consensus["m1"]["wins"], consensus["m1"]["losses"], consensus["m1"]["pairs"]) == (4, 0, 4)
    assert (labeler["m1"]["wins"], labeler["m1"]["losses"], labeler["m1"]["pairs"]) == (8, 4, 12)
    # 8 to 4: m1 is 400·log10(2) above m2 on labeler pairs.
    assert labeler["m1"]["score"] - labeler["m2"]["score"] == pytest.approx(400 * math.log10(2), abs=1e-6)


def test_a_tie_is_half_a_win_each_way_and_a_majority_flag_loses_to_every_ranked_one(project, alice, rita, api):
    for _ in range(3):
        rank(prompt_of(project, ["x", "y"]), alice, [[1], [2]])
    rank(prompt_of(project, ["x", "y"]), alice, [[1, 2]])
    rank(prompt_of(project, ["x", "y"]), alice, [[1, 2]])
    rank(prompt_of(project, ["x", "y"]), alice, [[1]], flagged=[2])  # y flagged: x wins
    rows = {row["model"]: row for row in board(api, rita, project)["models"]}
    assert (rows["x"]["wins"], rows["x"]["losses"], rows["x"]["ties"]) == (4, 0, 2)
    assert rows["y"]["ties"] == 2
    # 4 wins and 2 ties against 0 wins and 2 ties: P(x beats y) = 5/6, but y never won outright:
    # still a finite fit (ties count as half a win for y).
    assert rows["x"]["score"] - rows["y"]["score"] == pytest.approx(400 * math.log10(5), abs=1e-6)


def test_uploaded_completions_without_a_model_count_as_uploaded_and_canaries_are_left_out(project, alice, rita, api):
    for _ in range(3):
        prompt = prompt_of(project, ["", "gpt"])
        canary = add_canary(prompt)
        ids = list(prompt.completions.order_by("position").values_list("pk", flat=True))
        assert canary.pk == ids[-1]
        rank(prompt, alice, [[3], [2], [1]])  # the canary on top changes nothing
    rank(prompt_of(project, ["", "gpt"]), alice, [[1], [2]])
    rows = {row["model"]: row for row in board(api, rita, project)["models"]}
    assert set(rows) == {"uploaded", "gpt"}
    assert (rows["gpt"]["wins"], rows["gpt"]["losses"]) == (3, 1)


def test_a_single_model_gives_no_leaderboard_and_says_why(project, alice, rita, api):
    rank(prompt_of(project, ["solo", "solo", "solo"]), alice, [[1], [2], [3]])
    body = board(api, rita, project)
    assert body["models"] == [] and "at least two models" in body["reason"] and "solo" in body["reason"]
    page = page_client(rita).get(f"/projects/{project.slug}/quality/").content.decode()
    assert "data-leaderboard-empty" in page and "at least two models" in page


def test_models_never_compared_give_no_pairs_or_separate_groups(project, alice, rita, api):
    rank(prompt_of(project, ["a", "a"]), alice, [[1], [2]])
    rank(prompt_of(project, ["b", "b"]), alice, [[2], [1]])
    body = board(api, rita, project)
    assert body["models"] == [] and "no ranking compares completions of two different models" in body["reason"]
    for _ in range(2):
        rank(prompt_of(project, ["a", "c"]), alice, [[1], [2]])
        rank(prompt_of(project, ["c", "a"]), alice, [[1], [2]])
        rank(prompt_of(project, ["b", "d"]), alice, [[2], [1]])
        rank(prompt_of(project, ["d", "b"]), alice, [[1], [2]])
    body = board(api, rita, project)
    assert len(body["components"]) == 2
    assert {row["model"]: row["component"] for row in body["models"]}.keys() == {"a", "b", "c", "d"}
    page = page_client(rita).get(f"/projects/{project.slug}/quality/").content.decode()
    assert "data-leaderboard-components" in page


def test_length_diagnostic_is_the_share_of_decided_pairs_won_by_the_longer(project, alice, rita, api):
    rank(prompt_of(project, ["p", "q"], [500, 100]), alice, [[1], [2]])  # longer (p) won
    rank(prompt_of(project, ["p", "q"], [500, 100]), alice, [[2], [1]])  # shorter won
    rank(prompt_of(project, ["p", "q"], [100, 500]), alice, [[2], [1]])  # longer (q) won
    rows = {row["model"]: row for row in board(api, rita, project)["models"]}
    assert rows["p"]["longer_won"] == pytest.approx(2 / 3) == rows["q"]["longer_won"]


def test_who_may_read_the_leaderboard(project, alice, rita, pam, api, judged):
    url = f"/api/projects/{project.slug}/leaderboard/"
    outsider = make_user("olga")
    refresh_leaderboard(project.pk, "consensus")
    assert api(rita).get(url).status_code == 200
    assert api(pam).get(url).status_code == 200
    assert api(alice).get(url).status_code == 403  # labelers do not see the models' results
    assert api(outsider).get(url).status_code == 404
    assert api(None).get(url).status_code in (401, 403)
    bad = api(rita).get(url, {"pairs": "everything"})
    assert bad.status_code == 400 and "pairs must be one of consensus, labeler" in bad.json()["pairs"][0]


def test_quality_page_draws_the_chart_and_the_card_has_the_table(project, rita, judged, tmp_path):
    refresh_leaderboard(project.pk, "consensus")
    page = page_client(rita).get(f"/projects/{project.slug}/quality/").content.decode()
    assert 'data-chart="leaderboard"' in page
    chart = page[page.index('data-chart="leaderboard"'):page.index("</svg>", page.index('data-chart="leaderboard"'))]
    assert chart.count("<circle") == 3 and chart.count("data-interval") == 3
    assert chart.index('data-model="large"') < chart.index('data-model="small"')  # best first
    assert "<script" not in chart and " on" not in chart.replace(" one", "")
    write_bundle(project, ExportOptions(), tmp_path)
    card = (tmp_path / "README.md").read_text()
    section = card[card.index("## Model leaderboard"):card.index("## Files")]
    lines = [line for line in section.splitlines() if line.startswith("| large") or line.startswith("| small")]
    assert len(lines) == 2 and section.index("| large") < section.index("| small")


# --- stored, refreshed in the background -------------------------------------------------------


def url_of(project) -> str:
    return f"/api/projects/{project.slug}/leaderboard/"


@pytest.fixture(autouse=True)
def no_late_commit_margin(settings):
    """Rankings stored by these tests are committed at once: a result refreshed right after them is
    fresh (the margin for late commits has its own test, test_stored_results.py)."""
    settings.STORED_RESULTS_LATE_COMMIT_SECONDS = 0


@pytest.fixture
def fitted_by_the_worker(settings):
    """As for a project above LEADERBOARD_INLINE_MAX_RANKINGS: the leaderboard is fitted by the task."""
    settings.LEADERBOARD_INLINE_MAX_RANKINGS = 0


def test_a_small_project_is_fitted_in_the_request_and_always_current(project, alice, rita, api, judged):
    first = api(rita).get(f"/api/projects/{project.slug}/leaderboard/")
    assert first.status_code == 200 and first.json()["stale"] is False and first.json()["models"]
    before = ModelLeaderboard.objects.get(project=project, pairs="consensus").rankings_count
    rank(prompt_of(project, ["small", "large"]), alice, [[1], [2]])  # no worker runs: fitted in the request
    again = api(rita).get(f"/api/projects/{project.slug}/leaderboard/")
    assert again.status_code == 200 and again.json()["stale"] is False
    assert ModelLeaderboard.objects.get(project=project, pairs="consensus").rankings_count == before + 1


def test_before_the_first_computation_the_api_answers_202_and_queues_one_refresh(
        fitted_by_the_worker, project, rita, pam, api, judged):
    with TestCase.captureOnCommitCallbacks(execute=False) as queued:
        first = api(rita).get(url_of(project))
        second = api(pam).get(url_of(project))  # a refresh is queued already: not a second one
    assert first.status_code == second.status_code == 202
    assert first.json() == {"status": "computing", "pairs": "consensus"}
    assert len(queued) == 1
    assert ModelLeaderboard.objects.get(project=project, pairs="consensus").refreshing_since is not None
    with TestCase.captureOnCommitCallbacks(execute=False) as queued:
        assert api(rita).get(url_of(project), {"pairs": "labeler"}).status_code == 202
    assert len(queued) == 1  # each kind of pairs has its own


def test_a_stored_result_is_served_as_stored_without_recomputing(project, rita, api, judged,
                                                                   django_assert_max_num_queries):
    refresh_leaderboard(project.pk, "consensus")
    row = ModelLeaderboard.objects.get(project=project, pairs="consensus")
    row.result["models"][0]["score"] = 1234.5  # a value no fit gives: the answer must be the stored one
    # 4 queries: the project, the membership, the stored row, the rankings stamp (a fit streams 2 more and writes)
    row.save(update_fields=["result"])
    with django_assert_max_num_queries(4), TestCase.captureOnCommitCallbacks(execute=False) as queued:
        response = api(rita).get(url_of(project))
    assert response.status_code == 200 and not queued
    body = response.json()
    assert body["models"][0]["score"] == 1234.5 and body["stale"] is False and body["refreshing"] is False
    assert body["computed_at"] and body["method"] == "bradley-terry" and body["bootstrap"] == 200


def test_a_new_ranking_makes_it_stale_and_queues_a_refresh_once(fitted_by_the_worker, project, alice, rita, api,
                                                                 judged):
    refresh_leaderboard(project.pk, "consensus")
    before = {row["model"]: row["pairs"] for row in api(rita).get(url_of(project)).json()["models"]}
    rank(prompt_of(project, ["small", "large"]), alice, [[1], [2]])  # small beats large, once more
    with TestCase.captureOnCommitCallbacks(execute=False) as queued:
        answers = [api(rita).get(url_of(project)) for _ in range(3)]
    assert len(queued) == 1
    for response in answers:  # the previous result, meanwhile, marked stale
        body = response.json()
        assert response.status_code == 200 and body["stale"] is True and body["refreshing"] is True
        assert {row["model"]: row["pairs"] for row in body["models"]} == before
    refresh_leaderboard_task(project.pk, "consensus")
    body = api(rita).get(url_of(project)).json()
    assert body["stale"] is False and body["refreshing"] is False
    after = {row["model"]: row["pairs"] for row in body["models"]}
    assert after == {"small": before["small"] + 1, "large": before["large"] + 1, "medium": before["medium"]}


def test_a_revised_ranking_makes_it_stale(project, alice, rita, api, judged):
    from annotations.models import Ranking
    from annotations.stored_leaderboard import stored_leaderboard

    refresh_leaderboard(project.pk, "consensus")
    assert stored_leaderboard(project, "consensus")[1] is False
    ranking = Ranking.objects.filter(project=project).first()
    Ranking.objects.filter(pk=ranking.pk).update(revised_at=timezone.now() + timedelta(seconds=1))
    assert stored_leaderboard(project, "consensus")[1] is True


def test_quality_page_shows_the_age_and_updating_while_a_refresh_runs(
        fitted_by_the_worker, project, alice, rita, judged):
    client = page_client(rita)
    with TestCase.captureOnCommitCallbacks(execute=False) as queued:
        page = client.get(f"/projects/{project.slug}/quality/").content.decode()
    assert "data-leaderboard-computing" in page and 'data-chart="leaderboard"' not in page and len(queued) == 1
    refresh_leaderboard(project.pk, "consensus")
    ModelLeaderboard.objects.filter(project=project).update(computed_at=timezone.now() - timedelta(minutes=7))
    page = client.get(f"/projects/{project.slug}/quality/").content.decode()
    assert "Computed 7\xa0minutes ago" in page and "data-leaderboard-updating" not in page
    assert 'data-chart="leaderboard"' in page
    rank(prompt_of(project, ["small", "large"]), alice, [[1], [2]])
    with TestCase.captureOnCommitCallbacks(execute=False) as queued:
        page = client.get(f"/projects/{project.slug}/quality/").content.decode()
    assert len(queued) == 1
    assert "Computed 7\xa0minutes ago; rankings changed since" in page and "data-leaderboard-updating" in page
    assert "<script" not in page[page.index('data-quality="leaderboard"'):page.index('data-quality="labelers"')]


def test_a_real_worker_computes_and_stores_it_after_a_202(
        fitted_by_the_worker, celery_worker, project, alice, rita, api):
    for _ in range(3):
        rank(prompt_of(project, ["m1", "m2"]), alice, [[1], [2]])
    rank(prompt_of(project, ["m1", "m2"]), alice, [[2], [1]])
    assert api(rita).get(url_of(project)).status_code == 202
    deadline = time.monotonic() + 60
    while (response := api(rita).get(url_of(project))).status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.2)
    body = response.json()
    assert response.status_code == 200 and body["stale"] is False and body["refreshing"] is False
    rows = {row["model"]: row for row in body["models"]}
    assert (rows["m1"]["wins"], rows["m1"]["losses"]) == (3, 1)
