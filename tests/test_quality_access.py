"""The quality and per-prompt rankings pages: researchers read them (pseudonyms, no canary form),
labelers get 403, non-members 404; the page says how many more rankings a labeler needs."""

import pytest
from django.test import Client

from annotations.consensus import MISREADER_MIN_RANKINGS
from annotations.models import Project, Prompt
from annotations.quality import labeler_pseudonym

from .export_builders import rank
from .factories import make_prompt, make_user


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def ranked(project, alice, bob):
    prompts = [make_prompt(project, 3) for _ in range(3)]
    for prompt in prompts:
        rank(prompt, alice, [[1], [2], [3]])
        rank(prompt, bob, [[1], [3], [2]])
    return prompts


def get(user, path: str):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(path)


def test_researcher_reads_the_quality_page_without_the_canary_form_or_usernames(project, ranked, rita, alice):
    response = get(rita, "/projects/helpful/quality/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "data-canary-form" not in html and 'name="canary_share"' not in html
    assert labeler_pseudonym(project, alice.pk) in html
    assert ">alice<" not in html


def test_admin_gets_the_canary_form_with_labelled_fields(project, ranked, ada):
    html = get(ada, "/projects/helpful/quality/").content.decode()
    assert "data-canary-form" in html
    assert '<label for="canaries-enabled">' in html and '<label for="canary-share">' in html


def test_researcher_cannot_change_canaries(project, rita):
    client = Client()
    client.force_login(rita)
    response = client.post("/projects/helpful/quality/canaries/", {"canaries_enabled": "on", "canary_share": "0.2"})
    assert response.status_code == 403
    project.refresh_from_db()
    assert not project.canaries_enabled


@pytest.mark.parametrize("path", ["/projects/helpful/quality/", "/projects/helpful/prompts/{id}/"])
def test_quality_pages_per_role(project, ranked, alice, rita, ada, path):
    path = path.format(id=ranked[0].pk)
    assert get(None, path).status_code == 302
    assert get(make_user("mallory"), path).status_code == 404
    assert get(alice, path).status_code == 403
    assert get(rita, path).status_code == 200
    assert get(ada, path).status_code == 200
    assert get(make_user("olga", "admin", project), path).status_code == 200


def test_researcher_sees_pseudonyms_on_the_rankings_page(project, ranked, rita, alice, ada):
    path = f"/projects/helpful/prompts/{ranked[0].pk}/"
    assert ">alice<" not in get(rita, path).content.decode()
    assert labeler_pseudonym(project, alice.pk) in get(rita, path).content.decode()
    assert "alice" in get(ada, path).content.decode()


def test_prompt_of_another_project_is_404(project, ranked, rita):
    other = Project.objects.create(slug="other", name="Other")
    prompt = Prompt.objects.create(project=other, text="x")
    assert get(rita, f"/projects/helpful/prompts/{prompt.pk}/").status_code == 404


def test_page_says_how_many_more_rankings_a_labeler_needs_to_be_judged(project, ranked, ada, alice):
    html = get(ada, "/projects/helpful/quality/").content.decode()
    # alice's 3 rankings are all shared with bob: 3 compared, the rule needs MISREADER_MIN_RANKINGS.
    needed = MISREADER_MIN_RANKINGS - 3
    assert f'data-needs-more="{needed}"' in html
    assert f"needs {needed} more rankings shared with other labelers to be judged" in html


def test_charts_title_both_axes(project, ranked, ada):
    html = get(ada, "/projects/helpful/quality/").content.decode()
    assert "Day (month-day)</text>" in html and ">Rankings</text>" in html
    assert "Pairwise agreement (lower bound of each bin)</text>" in html
