"""Instructions with history: the page and the API publish version n+1, never edit a published
version, count rankings per version, show diffs as text, and send labelers back to the gate."""

import pytest
from django.test import Client

from annotations.instructions import render_markdown, version_history
from annotations.models import InstructionVersion, Ranking
from annotations.projects import set_instructions
from annotations.textdiff import diff_lines

from .export_builders import rank
from .factories import make_project, make_prompt, make_user, page_client

PAGE = "/projects/helpful/instructions/"
API = "/api/projects/helpful/instructions/"
PREVIEW = "/api/projects/helpful/instructions/preview/"


def versions(project) -> list[tuple[int, str]]:
    return list(InstructionVersion.objects.filter(project=project).order_by("version").values_list("version", "text"))


# ---- the page ----------------------------------------------------------------------------------

@pytest.mark.parametrize("who, status", [("pam", 200), ("rita", 200), ("alice", 403), ("outsider", 404),
                                         ("ada", 200)])
def test_instructions_page_permissions_per_role(project, pam, rita, alice, ada, who, status):
    users = {"pam": pam, "rita": rita, "alice": alice, "ada": ada, "outsider": make_user("olga")}
    assert page_client(users[who]).get(PAGE).status_code == status


def test_anonymous_users_are_sent_to_log_in(client, project):
    response = client.get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_researchers_read_the_history_without_the_publish_form(project, rita):
    html = page_client(rita).get(PAGE).content.decode()
    assert "Version 1" in html
    assert "New version" not in html and ">Publish</button>" not in html and "data-instructions-form" not in html
    assert page_client(rita).post(PAGE, {"text": "# Hijack"}).status_code == 403
    assert versions(project) == [(1, "# Rank by helpfulness\n\nBest first.")]


def test_publishing_creates_version_two_and_keeps_version_one(project, pam):
    client = page_client(pam)
    response = client.post(PAGE, {"text": "# Rank by helpfulness\r\n\r\nBest first. Flag Klingon."})
    assert response.status_code == 302 and response["Location"] == PAGE
    assert versions(project) == [(1, "# Rank by helpfulness\n\nBest first."),
                                 (2, "# Rank by helpfulness\n\nBest first. Flag Klingon.")]
    html = client.get(PAGE).content.decode()
    assert "Published version 2" in html
    assert html.index('data-version="2"') < html.index('data-version="1"')  # newest first


@pytest.mark.parametrize("text", ["", "   \r\n  "])
def test_publishing_empty_text_is_refused_with_a_message(project, pam, text):
    response = page_client(pam).post(PAGE, {"text": text})
    assert response.status_code == 400
    assert "The instructions cannot be empty" in response.content.decode()
    assert len(versions(project)) == 1


def test_publishing_the_same_text_again_is_refused(project, pam):
    response = page_client(pam).post(PAGE, {"text": "# Rank by helpfulness\r\n\r\nBest first."})
    assert response.status_code == 400
    assert "same as version 1" in response.content.decode()
    assert len(versions(project)) == 1


def test_the_page_form_needs_the_csrf_token(project, pam):
    client = Client(enforce_csrf_checks=True)
    client.force_login(pam)
    assert client.post(PAGE, {"text": "# v2"}).status_code == 403
    assert len(versions(project)) == 1


def test_diff_and_text_are_shown_as_text_never_html(project, pam):
    set_instructions(project, "# Rank by helpfulness\n\nBest first.\n<script>alert(1)</script>")
    html = page_client(pam).get(PAGE).content.decode()
    assert "<script>alert(1)</script>" not in html
    added = '<li class="diff-added"><span class="visually-hidden">added: </span>'
    assert added + "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_preview_on_the_page_is_the_labelers_rendering(project, pam):
    html = page_client(pam).get(PAGE).content.decode()
    assert render_markdown("# Rank by helpfulness\n\nBest first.") in html
    assert '<script type="module" src="/static/labelhub/instructions.js">' in html


def test_rankings_are_counted_per_version(project, pam, alice, bob):
    first, second, third = (make_prompt(project, 3) for _ in range(3))
    rank(first, alice, [[1], [2], [3]])
    rank(first, bob, [[1], [2], [3]])
    set_instructions(project, "# v2")
    ranking = rank(second, alice, [[1], [2], [3]])
    Ranking.objects.filter(pk=ranking.pk).update(instruction_version=2)
    rank(third, alice, [[1], [2], [3]])  # made under version 1 (the builder records version 1)
    assert [(row.version, row.rankings) for row in version_history(project)] == [(2, 1), (1, 3)]
    html = page_client(pam).get(PAGE).content.decode()
    assert "<span data-rankings>1 ranking</span>" in html and "<span data-rankings>3 rankings</span>" in html


def test_diff_marks_added_and_removed_lines():
    lines = diff_lines("intro\nold rule\nend", "intro\nnew rule\nend")
    assert [(line.kind, line.text) for line in lines] == [
        ("same", "intro"), ("removed", "old rule"), ("added", "new rule"), ("same", "end")]


def test_labelers_meet_the_gate_again_after_a_version_is_published_on_the_page(project, pam, alice):
    labeler = page_client(alice)
    labeler.post("/projects/helpful/instructions/accept/", {"version": 1})
    assert 'data-action="accept-instructions"' not in labeler.get("/projects/helpful/label/").content.decode()
    page_client(pam).post(PAGE, {"text": "# Rank by helpfulness\n\nNew rule: flag Klingon."})
    html = labeler.get("/projects/helpful/label/").content.decode()
    assert 'data-action="accept-instructions"' in html
    assert "now version 2" in html and "New rule: flag Klingon." in html


def test_instructions_page_makes_a_fixed_number_of_queries(project, pam, django_assert_max_num_queries):
    for i in range(2, 21):
        set_instructions(project, f"# Version {i}\n\nRule {i}.")
    client = page_client(pam)
    with django_assert_max_num_queries(8):
        response = client.get(PAGE)
    assert response.content.decode().count('class="card version"') == 20


# ---- the API -----------------------------------------------------------------------------------

def test_api_lists_versions_newest_first_with_rankings(project, api, pam, alice):
    rank(make_prompt(project, 3), alice, [[1], [2], [3]])
    set_instructions(project, "# v2")
    body = api(pam).get(API).json()
    assert [(row["version"], row["text"], row["rankings"]) for row in body] == [
        (2, "# v2", 0), (1, "# Rank by helpfulness\n\nBest first.", 1)]
    assert set(body[0]) == {"version", "text", "created", "rankings"}


@pytest.mark.parametrize("who, get_status, post_status", [
    ("pam", 200, 201), ("rita", 200, 403), ("alice", 200, 403), ("outsider", 404, 404), (None, 401, 401)])
def test_api_permissions_per_role(project, api, pam, rita, alice, who, get_status, post_status):
    users = {"pam": pam, "rita": rita, "alice": alice, "outsider": make_user("olga"), None: None}
    client = api(users[who])
    assert client.get(API).status_code == get_status
    assert client.post(API, {"text": "# v2"}, format="json").status_code == post_status
    assert client.post(PREVIEW, {"text": "# v2"}, format="json").status_code == (
        200 if who == "pam" else post_status)


def test_api_publish_answers_the_new_version(project, api, pam):
    response = api(pam).post(API, {"text": "# v2"}, format="json")
    assert response.status_code == 201 and response.json() == {"version": 2}
    assert versions(project)[-1] == (2, "# v2")


@pytest.mark.parametrize("body", [{"text": ""}, {"text": "  \n"}, {}, {"text": "x" * 50_001}])
def test_api_refuses_empty_or_missing_text_naming_the_field(project, api, pam, body):
    response = api(pam).post(API, body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["text"]
    assert len(versions(project)) == 1


def test_api_refuses_the_current_text(project, api, pam):
    response = api(pam).post(API, {"text": "# Rank by helpfulness\n\nBest first."}, format="json")
    assert response.status_code == 400 and "same as version 1" in response.json()["text"][0]


def test_preview_renders_like_the_labelers_page_and_sanitizes(project, api, pam):
    text = "# Title\n\n<img src=x onerror=alert(1)> [x](javascript:alert(1)) **bold**"
    response = api(pam).post(PREVIEW, {"text": text}, format="json")
    assert response.status_code == 200
    html = response.json()["html"]
    assert html == render_markdown(text)
    assert "<strong>bold</strong>" in html and "onerror" not in html.replace("&lt;img src=x onerror", "")
    assert 'href="javascript' not in html and "<img" not in html


def test_api_list_makes_a_fixed_number_of_queries(project, api, pam, django_assert_max_num_queries):
    for i in range(2, 21):
        set_instructions(project, f"# Version {i}")
    client = api(pam)
    with django_assert_max_num_queries(6):
        assert len(client.get(API).json()) == 20


def test_a_project_without_instructions_lists_nothing_and_publishes_version_one(db, api):
    project = make_project("bare", instructions="")
    admin = make_user("pam", "admin", project)
    assert api(admin).get("/api/projects/bare/instructions/").json() == []
    assert api(admin).post("/api/projects/bare/instructions/", {"text": "# v1"}, format="json").json() == {
        "version": 1}


def test_instructions_page_queries_do_not_grow_with_a_1000_prompt_project(project, pam, alice,
                                                                          django_assert_max_num_queries):
    from datetime import timedelta

    from django.utils import timezone

    from annotations.models import Assignment, Prompt

    prompts = Prompt.objects.bulk_create(Prompt(project=project, text=f"p{i}", num_completions=2) for i in range(1000))
    later = timezone.now() + timedelta(minutes=30)
    assignments = Assignment.objects.bulk_create(
        Assignment(project=project, prompt=p, labeler=alice, status=Assignment.Status.SUBMITTED, reserved_until=later)
        for p in prompts)
    Ranking.objects.bulk_create(
        Ranking(assignment=a, project=project, prompt=a.prompt, labeler=alice, tiers=[[1], [2]],
                instruction_version=1 + (i % 2)) for i, a in enumerate(assignments))
    set_instructions(project, "# v2")
    client = page_client(pam)
    with django_assert_max_num_queries(8):
        page = client.get(PAGE).content.decode()
    assert page.count("<span data-rankings>500 rankings</span>") == 2
