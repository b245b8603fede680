"""The labeling page and its instructions gate, as HTML (the browser tests drive the JavaScript)."""

import pytest
from django.test import Client

from annotations.instructions import render_markdown
from annotations.models import InstructionAcceptance, Membership
from annotations.projects import set_instructions
from annotations.roles import grant_role

from .factories import make_project, make_user, page_client


def label_url(slug: str = "helpful") -> str:
    return f"/projects/{slug}/label/"


def accept(client: Client, version: int, slug: str = "helpful"):
    return client.post(f"/projects/{slug}/instructions/accept/", {"version": version})


def test_labeling_page_asks_anonymous_users_to_log_in(client, project):
    response = client.get(label_url())
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/projects/helpful/label/")


def test_first_visit_shows_the_instructions_gate(project, alice):
    response = page_client(alice).get(label_url())
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-action="accept-instructions"' in html
    assert "<h1>Rank by helpfulness</h1>" in html
    assert "data-rank-list" not in html


def test_accepting_records_the_version_and_opens_the_task_page(project, alice):
    client = page_client(alice)
    response = accept(client, 1)
    assert response.status_code == 302 and response["Location"] == label_url()
    assert InstructionAcceptance.objects.filter(user=alice, instruction_version__version=1).count() == 1
    html = client.get(label_url()).content.decode()
    assert "data-rank-list" in html and "data-instructions" in html
    assert 'data-action="accept-instructions"' not in html


def test_accepting_twice_stores_one_acceptance(project, alice):
    client = page_client(alice)
    accept(client, 1)
    accept(client, 1)
    assert InstructionAcceptance.objects.filter(user=alice).count() == 1


def test_accepting_needs_the_csrf_token(project, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert accept(client, 1).status_code == 403
    assert not InstructionAcceptance.objects.exists()


def test_accepting_an_unknown_version_is_404(project, alice):
    assert accept(page_client(alice), 7).status_code == 404


def test_new_instructions_version_shows_the_gate_again(project, alice):
    client = page_client(alice)
    accept(client, 1)
    set_instructions(project, "# Rank by helpfulness\n\nNew: flag anything in a foreign language.")
    html = client.get(label_url()).content.decode()
    assert 'data-action="accept-instructions"' in html
    assert "have changed since you last read them" in html
    assert 'name="version" value="2"' in html


def test_accepting_a_stale_version_keeps_the_gate(project, alice):
    client = page_client(alice)
    set_instructions(project, "# Version 2")
    accept(client, 1)  # the labeler had the old gate open while the admin published version 2
    assert 'data-action="accept-instructions"' in client.get(label_url()).content.decode()


def test_project_without_instructions_has_no_gate(db):
    project = make_project("bare", instructions="")
    alice = make_user("alice", "labeler", project)
    html = page_client(alice).get(label_url("bare")).content.decode()
    assert "data-rank-list" in html


def test_non_member_gets_404(project):
    other = make_project("other")
    mallory = make_user("mallory", "labeler", other)
    assert page_client(mallory).get(label_url()).status_code == 404
    assert accept(page_client(mallory), 1).status_code == 404


def test_researcher_of_the_project_gets_403(project, rita):
    assert page_client(rita).get(label_url()).status_code == 403


def test_site_admin_is_not_in_the_labeling_pool_unless_a_labeler_member(project, ada):
    assert page_client(ada).get(label_url()).status_code == 403
    grant_role(ada, "labeler", project)
    assert page_client(ada).get(label_url()).status_code == 200


def test_removed_labeler_gets_404(project, alice):
    Membership.objects.filter(user=alice, project=project).delete()
    assert page_client(alice).get(label_url()).status_code == 404


def test_task_page_carries_the_api_urls_and_tie_setting(db):
    project = make_project("strict", allow_ties=False)
    alice = make_user("alice", "labeler", project)
    client = page_client(alice)
    accept(client, 1, slug="strict")
    html = client.get(label_url("strict")).content.decode()
    assert 'data-next-url="/api/projects/strict/tasks/next/"' in html
    assert 'data-ranking-url="/api/assignments/0/ranking/"' in html
    assert 'data-allow-ties="false"' in html
    assert 'data-action="tie"' not in html


@pytest.mark.parametrize(
    ("markdown", "expected", "forbidden"),
    [
        ("Press <b>F</b>", "Press &lt;b&gt;F&lt;/b&gt;", "<b>"),
        ("<script>alert(1)</script>", "&lt;script&gt;", "<script"),
        ("[x](javascript:alert(1))", "[x](javascript:alert(1))", "href=\"javascript"),
        ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;", "<img"),
    ],
)
def test_instructions_markdown_shows_html_as_text(markdown, expected, forbidden):
    html = render_markdown(markdown)
    assert expected in html
    assert forbidden not in html


def test_instructions_markdown_keeps_formatting():
    html = render_markdown("# Title\n\n- **bold** and *em*\n- [link](https://example.org)\n\n```\ncode\n```")
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html and "<em>em</em>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">link</a>' in html
    assert "<pre><code>code\n</code></pre>" in html


def test_demo_instructions_cover_the_task_judging_ties_and_nonsense():
    from pathlib import Path

    import annotations

    text = (Path(annotations.__file__).parent / "demo" / "instructions.md").read_text(encoding="utf-8").lower()
    assert "from the most helpful to the least helpful" in text
    assert "correct" in text and "informative" in text and "search engine" in text
    assert "tie" in text and "rarely" in text
    assert "nonsensical, confusing or irrelevant" in text and "flag" in text
