"""Home: Start and own progress for labeler members, Open for admins and researchers, every project
with Open for site admins (who are not labelers of every project), New project for site admins."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from annotations.roles import grant_role

from .factories import make_project, make_user


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def card(user, slug: str) -> str:
    client = Client()
    client.force_login(user)
    html = client.get("/").content.decode()
    if f'data-project="{slug}"' not in html:
        return ""
    part = html[html.index(f'data-project="{slug}"'):]
    return part[: part.index("</li>")]


def actions(user, slug: str) -> list[str]:
    return re.findall(r'data-action="(start|open)"', card(user, slug))


def test_labeler_gets_start_and_their_progress_and_no_open(project, alice):
    assert actions(alice, "helpful") == ["start"]
    assert 'data-stat="done-today"' in card(alice, "helpful")


def test_researcher_and_project_admin_get_open_to_the_dashboard(project, rita):
    olga = make_user("olga", "admin", project)
    for user in (rita, olga):
        assert actions(user, "helpful") == ["open"]
        assert 'href="/projects/helpful/"' in card(user, "helpful")


def test_labeler_who_is_also_researcher_gets_both(project, alice):
    grant_role(alice, "researcher", project)
    assert actions(alice, "helpful") == ["start", "open"]


def test_site_admin_sees_every_project_with_open_and_no_start_unless_a_labeler_member(project, ada):
    make_project("other")
    assert actions(ada, "helpful") == ["open"] and actions(ada, "other") == ["open"]
    assert "Done today" not in card(ada, "helpful")  # not counted as a labeler
    grant_role(ada, "labeler", project)
    assert actions(ada, "helpful") == ["start", "open"]


def test_new_project_link_for_site_admins_only(project, ada, alice):
    def html(user):
        client = Client()
        client.force_login(user)
        return client.get("/").content.decode()

    assert 'href="/projects/new/"' in html(ada)
    assert 'href="/projects/new/"' not in html(alice)


def test_non_member_does_not_see_the_project(project):
    assert card(make_user("mallory"), "helpful") == ""


def test_home_query_count_does_not_grow_with_projects_and_roles(db):
    rita = make_user("rita")

    def queries() -> int:
        client = Client()
        client.force_login(rita)
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/").status_code == 200
        return len(captured)

    grant_role(rita, "researcher", make_project("one"))
    with_one = queries()
    for slug in ("two", "three", "four"):
        project = make_project(slug)
        grant_role(rita, "researcher", project)
        grant_role(rita, "labeler", project)
    assert queries() == with_one
