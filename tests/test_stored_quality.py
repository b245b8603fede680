"""A large project's quality report is computed by a background task and stored: the agreement API
and the quality page serve the stored one at once, with its age, and queue a refresh (once) when it
is missing, the rankings changed, or it is too old. A small project's is computed in the request.
The staleness rules themselves (annotations/stored_results.py) are pinned at the end."""

import json
import random
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import TestCase
from django.utils import timezone

from annotations.api.quality import agreement_payload
from annotations.models import Ranking, StoredQualityReport
from annotations.quality import quality_report
from annotations.stored_quality import refresh_quality_report, report_as_json, report_from_json
from annotations.stored_results import is_stale, refresh_stamp
from annotations.tasks import refresh_quality_report_task

from .factories import make_project, make_prompt, make_user, page_client
from .test_quality_stored import crowd_with_misreader_of, label_randomly


@pytest.fixture(autouse=True)
def no_late_commit_margin(settings):
    """Rankings stored by these tests are committed at once (the margin has its own test below)."""
    settings.STORED_RESULTS_LATE_COMMIT_SECONDS = 0


@pytest.fixture
def computed_by_the_worker(settings):
    """As for a project above QUALITY_INLINE_MAX_RANKINGS: the report is computed by the task."""
    settings.QUALITY_INLINE_MAX_RANKINGS = 0


@pytest.fixture
def crowd(project):
    """Four careful labelers and one who inverts the order, 12 prompts of 4 completions ranked by all."""
    return crowd_with_misreader_of(project, prompts=12, seed=11)


def url_of(project) -> str:
    return f"/api/projects/{project.slug}/agreement/"


def test_a_report_survives_its_json_unchanged(project, crowd):
    report = quality_report(project)
    assert report.possible_misreaders and report.rankings_per_day and report.agreement_counts
    stored = json.loads(json.dumps(report_as_json(report)))  # what a JSONField gives back
    assert report_from_json(stored) == report


def test_a_small_project_is_computed_in_the_request_and_always_current(project, crowd, rita, api):
    before = api(rita).get(url_of(project)).json()
    assert before["computed_at"] is None and before["stale"] is False
    careful, _ = crowd
    make_prompt(project, 3)
    label_randomly(project, careful[:2], random.Random(1))  # two more rankings, no worker runs
    after = api(rita).get(url_of(project)).json()
    assert after["overall"]["rankings"] == before["overall"]["rankings"] + 2
    assert not StoredQualityReport.objects.filter(project=project).exists()


def test_before_the_first_computation_the_api_answers_202_and_queues_one_refresh(
        computed_by_the_worker, project, crowd, rita, pam, api):
    with TestCase.captureOnCommitCallbacks(execute=False) as queued:
        first = api(rita).get(url_of(project))
        second = api(pam).get(url_of(project))  # a refresh is queued already: not a second one
    assert first.status_code == second.status_code == 202
    assert first.json() == {"status": "computing"} and len(queued) == 1
    refresh_quality_report_task(project.pk)
    response = api(rita).get(url_of(project))
    body = response.json()
    assert response.status_code == 200 and body["stale"] is False and body["refreshing"] is False
    assert body["computed_at"]
    expected = json.loads(json.dumps(agreement_payload(quality_report(project), with_usernames=False)))
    assert {key: body[key] for key in ("overall", "labelers")} == expected


def test_a_stored_report_is_served_as_stored_without_recomputing(
        computed_by_the_worker, project, crowd, rita, api, django_assert_max_num_queries):
    refresh_quality_report(project.pk)
    row = StoredQualityReport.objects.get(project=project)
    row.result["labelers"][0]["rankings"] = 12345  # no computation gives it: the answer must be the stored one
    row.save(update_fields=["result"])
    # the project, the membership (twice: may read, may see usernames), the stored row, the latest
    # ranking: nothing that reads the prompts or counts the rankings
    with django_assert_max_num_queries(5), TestCase.captureOnCommitCallbacks(execute=False) as queued:
        response = api(rita).get(url_of(project))
    assert response.status_code == 200 and not queued
    assert 12345 in [labeler["rankings"] for labeler in response.json()["labelers"]]


def test_a_new_ranking_makes_it_stale_and_queues_a_refresh_once(computed_by_the_worker, project, crowd, rita, api):
    refresh_quality_report(project.pk)
    before = api(rita).get(url_of(project)).json()["overall"]["rankings"]
    careful, _ = crowd
    make_prompt(project, 3)
    label_randomly(project, careful[:1], random.Random(2))
    with TestCase.captureOnCommitCallbacks(execute=False) as queued:
        answers = [api(rita).get(url_of(project)).json() for _ in range(3)]
    assert len(queued) == 1
    for body in answers:  # the previous figures, meanwhile, marked stale
        assert body["stale"] is True and body["refreshing"] is True and body["overall"]["rankings"] == before
    refresh_quality_report_task(project.pk)
    body = api(rita).get(url_of(project)).json()
    assert body["stale"] is False and body["refreshing"] is False and body["overall"]["rankings"] == before + 1


def test_an_old_report_is_refreshed_even_without_new_rankings(computed_by_the_worker, settings, project, crowd):
    refresh_quality_report(project.pk)
    row = StoredQualityReport.objects.get(project=project)
    limit = timedelta(seconds=settings.QUALITY_REPORT_MAX_AGE_SECONDS)
    assert not is_stale(row, project.pk, limit)
    row.computed_at = timezone.now() - limit - timedelta(seconds=1)
    assert is_stale(row, project.pk, limit)  # prompts imported or reserved since change its progress figures


def test_quality_page_shows_the_age_and_the_computing_state(computed_by_the_worker, project, crowd, rita):
    client = page_client(rita)
    with TestCase.captureOnCommitCallbacks(execute=False) as queued:
        page = client.get(f"/projects/{project.slug}/quality/").content.decode()
    assert "data-quality-computing" in page and 'data-quality="labelers"' not in page and len(queued) >= 1
    refresh_quality_report(project.pk)
    StoredQualityReport.objects.filter(project=project).update(computed_at=timezone.now() - timedelta(minutes=3))
    page = client.get(f"/projects/{project.slug}/quality/").content.decode()
    assert "Figures computed 3\xa0minutes ago" in page and 'data-quality="labelers"' in page
    assert "data-quality-computing" not in page and "inverter" not in page  # researchers see pseudonyms


def test_a_ranking_committed_during_a_refresh_but_stamped_before_it_makes_the_result_stale(
        settings, project, crowd):
    """The refresh reads the rankings at one moment; a submission whose transaction was still open
    then commits a revised_at from before it. The stamp kept is never later than the margin before
    the refresh, so that ranking (stamped within the margin) still shows the result stale."""
    settings.STORED_RESULTS_LATE_COMMIT_SECONDS = 30
    refresh_quality_report(project.pk)
    row = StoredQualityReport.objects.get(project=project)
    assert is_stale(row, project.pk)  # the last rankings are seconds old: within the margin
    Ranking.objects.filter(project=project).update(revised_at=timezone.now() - timedelta(seconds=60))
    refresh_quality_report(project.pk)
    row = StoredQualityReport.objects.get(project=project)
    assert not is_stale(row, project.pk)  # nothing within the margin: fresh
    late = Ranking.objects.filter(project=project).first()
    Ranking.objects.filter(pk=late.pk).update(revised_at=row.computed_at - timedelta(seconds=5))
    assert is_stale(row, project.pk)  # committed after the refresh read, stamped before it


def test_the_stamp_is_read_before_the_rankings(project, crowd):
    stamp = refresh_stamp(project.pk)
    assert stamp["rankings_count"] == Ranking.objects.filter(project=project).count()
    assert stamp["rankings_revised_at"] <= stamp["computed_at"] and stamp["refreshing_since"] is None


def test_a_real_worker_computes_and_stores_it_after_a_202(computed_by_the_worker, celery_worker, api):
    with transaction.atomic():
        project = make_project("stored-quality", labelers_per_prompt=5)
        rita = make_user("rita-worker", "researcher", project)
        for _ in range(4):
            make_prompt(project, 3)
        labelers = [make_user(f"worker-labeler-{i}", "labeler", project) for i in range(3)]
    label_randomly(project, labelers, random.Random(5))
    assert api(rita).get(url_of(project)).status_code == 202
    deadline = time.monotonic() + 60
    while (response := api(rita).get(url_of(project))).status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.2)
    body = response.json()
    assert response.status_code == 200 and body["refreshing"] is False and body["overall"]["rankings"] == 12
