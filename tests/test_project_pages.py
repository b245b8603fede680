"""The project pages of admins and researchers: dashboard, new project, settings, and who may open
them (anonymous → login, non-member 404, labeler 403, researcher read-only, admins)."""

import re

import pytest
from django.test import Client

from annotations.models import Completion, Membership, Project, Prompt

from .export_builders import rank
from .factories import make_prompt, make_user


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


SIX_LINKS = ["Prompts", "Team", "Instructions", "Settings", "Quality", "Exports"]


def client_of(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def links(html: str) -> list[str]:
    nav = html[html.index("data-project-nav"):]
    nav = nav[: nav.index("</nav>")]
    return re.findall(r">([A-Za-z]+)</a>", nav)


class People(dict):
    """One actor per role, made when a test first names it (password hashing is slow)."""

    def __init__(self, project):
        super().__init__(anonymous=None)
        self.makers = {
            "stranger": lambda: make_user("mallory"),
            "labeler": lambda: make_user("alice", "labeler", project),
            "researcher": lambda: make_user("rita", "researcher", project),
            "project admin": lambda: make_user("olga", "admin", project),
            "site admin": lambda: make_user("ada", "admin"),
        }

    def __missing__(self, who: str):
        self[who] = self.makers[who]()
        return self[who]


@pytest.fixture
def people(project):
    return People(project)


def status_of(user, path: str, method: str = "get", data=None) -> int:
    return getattr(client_of(user), method)(path, data or {}).status_code


READ_PAGES = ["/projects/helpful/", "/projects/helpful/quality/"]
ADMIN_PAGES = ["/projects/helpful/settings/"]


@pytest.mark.parametrize("path", READ_PAGES + ADMIN_PAGES)
@pytest.mark.parametrize(("who", "expected"), [
    ("stranger", 404), ("labeler", 403), ("project admin", 200), ("site admin", 200),
])
def test_page_permissions_per_role(people, path, who, expected):
    assert status_of(people[who], path) == expected


@pytest.mark.parametrize("path", [*READ_PAGES, *ADMIN_PAGES, "/projects/new/"])
def test_anonymous_users_are_sent_to_log_in(people, path):
    response = client_of(None).get(path)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_researchers_read_the_dashboard_and_quality_but_not_settings(people):
    assert status_of(people["researcher"], "/projects/helpful/") == 200
    assert status_of(people["researcher"], "/projects/helpful/quality/") == 200
    assert status_of(people["researcher"], "/projects/helpful/settings/") == 403
    assert status_of(people["researcher"], "/projects/helpful/settings/", "post", {"name": "x"}) == 403


# --- Dashboard -----------------------------------------------------------------------------------


def test_admins_see_six_links_researchers_the_read_only_three(people):
    admin_html = client_of(people["project admin"]).get("/projects/helpful/").content.decode()
    assert links(admin_html) == SIX_LINKS
    assert 'href="/projects/helpful/settings/"' in admin_html and 'href="/projects/helpful/team/"' in admin_html
    researcher_html = client_of(people["researcher"]).get("/projects/helpful/").content.decode()
    assert links(researcher_html) == ["Prompts", "Quality", "Exports"]
    assert 'type="file"' in admin_html and 'type="file"' not in researcher_html  # upload: admins only
    assert 'data-action="generate"' not in researcher_html


def test_dashboard_shows_progress_and_each_labelers_done_today_and_total(project, people):
    bob = make_user("bob", "labeler", project)
    prompts = [make_prompt(project, 3) for _ in range(3)]
    for prompt in prompts:
        rank(prompt, people["labeler"], [[1], [2], [3]])
    rank(prompts[0], bob, [[2], [1], [3]])
    html = client_of(people["project admin"]).get("/projects/helpful/").content.decode()
    assert 'data-count="prompts">3<' in html and 'data-count="rankings">4<' in html
    assert 'data-count="completions">9<' in html
    rows = re.findall(r'<tr data-labeler-row><td>(\w+).*?done-today">(\d+)<.*?done-total">(\d+)<', html, re.S)
    assert rows == [("alice", "3", "3"), ("bob", "1", "1")]


def test_researchers_see_labelers_by_pseudonym_only(project, people):
    rank(make_prompt(project, 3), people["labeler"], [[1], [2], [3]])
    html = client_of(people["researcher"]).get("/projects/helpful/").content.decode()
    assert "alice" not in html and "labeler-" in html


def test_project_name_is_shown_as_text(project, people):
    Project.objects.filter(pk=project.pk).update(name="<b>bold</b>")
    html = client_of(people["project admin"]).get("/projects/helpful/").content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html


def bulk_prompts(project, n: int, completions: int = 3) -> list[Prompt]:
    prompts = Prompt.objects.bulk_create(
        Prompt(project=project, text=f"prompt {i}", num_completions=completions) for i in range(n))
    Completion.objects.bulk_create(
        Completion(prompt=prompt, position=p, text=f"c{p}") for prompt in prompts for p in range(1, completions + 1))
    return prompts


def test_dashboard_query_count_is_fixed_on_a_thousand_prompt_project(
        project, people, django_assert_max_num_queries):
    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext
        client = client_of(people["project admin"])
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/projects/helpful/").status_code == 200
        return len(captured)

    prompts = bulk_prompts(project, 10)
    rank(prompts[0], people["labeler"], [[1], [2], [3]])
    small = count()
    labelers = [make_user(f"lab{i}", "labeler", project) for i in range(6)]
    prompts += bulk_prompts(project, 990)
    for i, labeler in enumerate(labelers):
        for prompt in prompts[i * 5: i * 5 + 5]:
            rank(prompt, labeler, [[1], [2], [3]])
    assert count() == small
    client = client_of(people["project admin"])
    with django_assert_max_num_queries(16):
        html = client.get("/projects/helpful/").content.decode()
    assert 'data-count="prompts">1000<' in html and html.count("data-labeler-row") == 7


# --- New project ---------------------------------------------------------------------------------


NEW = {"name": "Harmlessness", "slug": "harmless", "criterion": "harmlessness", "labelers_per_prompt": "5",
       "allow_ties": "on", "instructions": "# Be careful\n\nRank the safest first."}


@pytest.mark.parametrize(("who", "expected"), [
    ("labeler", 403), ("researcher", 403), ("project admin", 403), ("stranger", 403), ("site admin", 200)])
def test_only_site_admins_open_the_new_project_page(people, who, expected):
    assert status_of(people[who], "/projects/new/") == expected
    assert status_of(people[who], "/projects/new/", "post", NEW) == (302 if expected == 200 else 403)


def test_new_project_form_has_the_contract_labels(people):
    html = client_of(people["site admin"]).get("/projects/new/").content.decode()
    for label in ["Name", "Slug", "Criterion", "Labelers per prompt", "Allow ties", "Instructions"]:
        assert re.search(rf"<label for=\"id_\w+\"[^>]*>{label}</label>", html), label
    assert ">Create project</button>" in html


def test_creating_a_project_makes_the_site_admin_its_admin_and_opens_the_dashboard(people):
    response = client_of(people["site admin"]).post("/projects/new/", NEW)
    assert response.status_code == 302 and response["Location"] == "/projects/harmless/"
    project = Project.objects.get(slug="harmless")
    assert (project.name, project.criterion, project.labelers_per_prompt, project.allow_ties) == (
        "Harmlessness", "harmlessness", 5, True)
    assert project.current_instructions().text.startswith("# Be careful")
    assert Membership.objects.filter(project=project, user=people["site admin"], role="admin").exists()


@pytest.mark.parametrize(("change", "field", "fragment"), [
    ({"slug": "helpful"}, "slug", "taken"),
    ({"slug": "bad slug!"}, "slug", "letters, digits"),
    ({"slug": "new"}, "slug", "reserved"),
    ({"labelers_per_prompt": "0"}, "labelers_per_prompt", "Labelers per prompt must be from 1 to 50"),
    ({"labelers_per_prompt": "99"}, "labelers_per_prompt", "Labelers per prompt must be from 1 to 50"),
    ({"labelers_per_prompt": "three"}, "labelers_per_prompt", "whole number"),
    ({"name": ""}, "name", "required"),
])
def test_bad_new_project_input_reshows_the_form_with_the_fields_error(people, change, field, fragment):
    response = client_of(people["site admin"]).post("/projects/new/", {**NEW, **change})
    assert response.status_code == 400
    html = response.content.decode()
    error = re.search(rf'data-field="{field}".*?<p class="error field-error"[^>]*>([^<]*)<', html, re.S)
    assert error and fragment in error.group(1).replace("&#x27;", "'")
    assert 'value="Harmlessness"' in html or field == "name"  # the input is kept
    assert not Project.objects.filter(slug="harmless").exists()


# --- Settings ------------------------------------------------------------------------------------


def settings_form(project, **changes) -> dict:
    values = {
        "name": project.name, "criterion": project.criterion, "labelers_per_prompt": project.labelers_per_prompt,
        "max_labelers_per_prompt": project.max_labelers_per_prompt, "agreement_target": project.agreement_target,
        "reservation_minutes": project.reservation_minutes, "target_completions": project.target_completions,
        "llm_base_url": project.llm_base_url, "llm_model": project.llm_model,
        "llm_api_key_env": project.llm_api_key_env, "temperature": project.temperature, "top_p": project.top_p,
        "max_tokens": project.max_tokens, "system_prompt": project.system_prompt,
        "generation_concurrency": project.generation_concurrency,
    }
    if project.allow_ties:
        values["allow_ties"] = "on"
    values.update(changes)
    return {key: value for key, value in values.items() if value is not None}


def test_settings_page_saves_labeling_and_generation_settings(project, people):
    data = settings_form(project, labelers_per_prompt="4", allow_ties=None, reservation_minutes="10",
                         generation_enabled="on", llm_model="qwen2.5-7b", llm_base_url="http://10.0.0.5:8000/v1",
                         llm_api_key_env="VLLM_API_KEY", temperature="0.3", system_prompt="Be brief.")
    response = client_of(people["project admin"]).post("/projects/helpful/settings/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    project.refresh_from_db()
    assert (project.labelers_per_prompt, project.allow_ties, project.reservation_minutes) == (4, False, 10)
    assert (project.generation_enabled, project.llm_model, project.llm_api_key_env, project.temperature) == (
        True, "qwen2.5-7b", "VLLM_API_KEY", 0.3)
    assert project.system_prompt == "Be brief."


def test_settings_page_has_its_button_and_shows_the_key_variable_name_only(project, people):
    html = client_of(people["project admin"]).get("/projects/helpful/settings/").content.decode()
    assert ">Save settings</button>" in html
    assert 'name="llm_api_key_env"' in html and 'type="password"' not in html


@pytest.mark.parametrize(("change", "field", "fragment"), [
    ({"llm_api_key_env": "sk-proj-abc"}, "llm_api_key_env", "never the key itself"),
    ({"llm_api_key_env": "SECRET_KEY"}, "llm_api_key_env", "_API_KEY"),
    ({"labelers_per_prompt": "0"}, "labelers_per_prompt", "from 1 to 50"),
    ({"top_p": "0"}, "top_p", "Top p must be above 0"),
    ({"temperature": "3"}, "temperature", "Temperature must be from 0 to 2"),
    ({"llm_base_url": "not a url"}, "llm_base_url", "http://"),
    ({"reservation_minutes": "0"}, "reservation_minutes", "Reservation minutes"),
])
def test_bad_settings_are_refused_with_the_fields_message_and_nothing_saved(project, people, change, field, fragment):
    response = client_of(people["project admin"]).post("/projects/helpful/settings/",
                                                       settings_form(project, name="Renamed", **change))
    assert response.status_code == 400
    html = response.content.decode()
    error = re.search(rf'data-field="{field}".*?<p class="error field-error"[^>]*>([^<]*)<', html, re.S)
    assert error and fragment in error.group(1)
    project.refresh_from_db()
    assert project.name == "Helpfulness"


def test_a_stored_key_variable_from_the_command_line_does_not_block_other_changes(project, people):
    Project.objects.filter(pk=project.pk).update(llm_api_key_env="LABELHUB_TEST_LLM_KEY")
    project.refresh_from_db()
    response = client_of(people["project admin"]).post("/projects/helpful/settings/",
                                                       settings_form(project, criterion="honesty"))
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.criterion == "honesty"
