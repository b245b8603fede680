"""The labeler's home page: each project with their own progress (done today, in total, remaining)."""

import re
from datetime import timedelta

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotations.assignment import next_assignment, submit_ranking
from annotations.models import Ranking
from annotations.roles import grant_role

from .factories import make_project, make_prompt, make_user


def home_html(user) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def stats(html: str, slug: str) -> dict[str, int]:
    card = html[html.index(f'data-project="{slug}"'):]
    card = card[: card.index("</li>")]
    return {name: int(value) for name, value in re.findall(r'data-stat="([a-z-]+)">(\d+)<', card)}


def rank(project, user) -> Ranking:
    assignment = next_assignment(project, user)
    ids = assignment.shown_order
    ranking, _ = submit_ranking(assignment.pk, user, tiers=[[i] for i in ids], flagged=[], duration_ms=1000)
    return ranking


def test_home_shows_done_today_done_in_total_and_remaining(project, alice):
    for _ in range(4):
        make_prompt(project, 3)
    make_prompt(project, 1)  # one completion: never offered, so not remaining
    yesterday = rank(project, alice)
    Ranking.objects.filter(pk=yesterday.pk).update(submitted_at=timezone.now() - timedelta(days=1))
    rank(project, alice)
    assert stats(home_html(alice), "helpful") == {"done-today": 1, "done-total": 2, "remaining": 2}


def test_remaining_counts_the_held_task_and_not_prompts_ranked_by_all_labelers(db):
    project = make_project("pairs", labelers_per_prompt=1)
    alice = make_user("alice", "labeler", project)
    bob = make_user("bob", "labeler", project)
    make_prompt(project, 3)
    make_prompt(project, 3)
    make_prompt(project, 3)
    rank(project, bob)  # that prompt has its one ranking: nobody else gets it
    assert stats(home_html(alice), "pairs")["remaining"] == 2
    next_assignment(project, alice)  # alice holds one: still hers to do
    assert stats(home_html(alice), "pairs")["remaining"] == 2
    assert stats(home_html(bob), "pairs")["remaining"] == 1  # the other one is reserved by alice


def test_skipped_prompt_is_no_longer_remaining(api, project, alice):
    make_prompt(project, 3)
    make_prompt(project, 3)
    task = api(alice).post("/api/projects/helpful/tasks/next/").json()
    api(alice).post(f"/api/assignments/{task['assignment']}/skip/")
    assert stats(home_html(alice), "helpful")["remaining"] == 1


def test_home_links_labelers_to_the_labeling_page(project, alice):
    assert 'href="/projects/helpful/label/"' in home_html(alice)


def test_researcher_sees_project_counts_and_no_start_button(project, rita):
    html = home_html(rita)
    assert 'data-project="helpful"' in html
    assert "/projects/helpful/label/" not in html


def test_home_query_count_does_not_grow_with_projects(db):
    alice = make_user("alice")

    def queries() -> int:
        client = Client()
        client.force_login(alice)
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/").status_code == 200
        return len(captured)

    first = make_project("one")
    grant_role(alice, "labeler", first)
    make_prompt(first, 3)
    with_one = queries()
    for slug in ("two", "three", "four"):
        other = make_project(slug)
        grant_role(alice, "labeler", other)
        make_prompt(other, 3)
    assert queries() == with_one
