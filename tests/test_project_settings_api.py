"""PATCH /api/projects/{slug}/ and the settings in POST and GET: who may, and what is refused."""

import pytest

from annotations.models import Membership, Project

from .factories import make_user

SETTINGS = {
    "name": "Harmlessness", "criterion": "harmlessness", "labelers_per_prompt": 5, "allow_ties": False,
    "reservation_minutes": 45, "generation_enabled": True, "target_completions": 6,
    "llm_base_url": "http://127.0.0.1:8001/v1", "llm_model": "qwen2.5-7b", "llm_api_key_env": "VLLM_API_KEY",
    "temperature": 0.7, "top_p": 0.9, "max_tokens": 300, "system_prompt": "Be brief.", "generation_concurrency": 4,
}


@pytest.fixture
def olga(project):
    return make_user("olga", "admin", project)


def test_project_admin_patches_every_setting(api, project, olga):
    response = api(olga).patch("/api/projects/helpful/", SETTINGS, format="json")
    assert response.status_code == 200, response.content
    project.refresh_from_db()
    for field, value in SETTINGS.items():
        assert getattr(project, field) == value, field
        assert response.json()[field] == value, field


def test_patch_changes_only_what_it_names(api, project, olga):
    response = api(olga).patch("/api/projects/helpful/", {"labelers_per_prompt": 2}, format="json")
    assert response.status_code == 200
    project.refresh_from_db()
    assert (project.labelers_per_prompt, project.name, project.allow_ties) == (2, "Helpfulness", True)


def test_patch_answers_400_with_errors_per_field_and_changes_nothing(api, project, olga):
    body = {"labelers_per_prompt": 0, "llm_api_key_env": "sk-live-123", "temperature": "hot", "name": "Renamed"}
    response = api(olga).patch("/api/projects/helpful/", body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"labelers_per_prompt", "llm_api_key_env", "temperature"}  # all at once
    project.refresh_from_db()
    assert (project.labelers_per_prompt, project.name) == (3, "Helpfulness")


def test_patch_rules_name_the_field(api, project, olga):
    response = api(olga).patch("/api/projects/helpful/", {"labelers_per_prompt": 0, "llm_api_key_env": "sk-1"},
                               format="json")
    assert response.status_code == 400
    assert response.json()["labelers_per_prompt"] == ["Labelers per prompt must be from 1 to 50; got 0."]
    assert "never the key itself" in response.json()["llm_api_key_env"][0]


def test_a_project_admin_may_not_name_a_server_secret_as_the_key_variable(api, project, olga, ada):
    assert api(olga).patch("/api/projects/helpful/", {"llm_api_key_env": "SECRET_KEY"},
                           format="json").status_code == 400
    assert api(ada).patch("/api/projects/helpful/", {"llm_api_key_env": "LABELHUB_TEST_LLM_KEY"},
                          format="json").status_code == 200


def test_patch_refuses_fields_that_are_not_settings(api, project, olga):
    response = api(olga).patch("/api/projects/helpful/", {"slug": "other", "pseudonym_salt": "x"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"slug", "pseudonym_salt"}
    assert Project.objects.filter(slug="helpful").exists()


def test_turning_generation_on_without_any_model_is_refused(api, project, olga, settings):
    settings.LLM_MODEL = ""
    response = api(olga).patch("/api/projects/helpful/", {"generation_enabled": True}, format="json")
    assert response.status_code == 400
    assert "Model is required" in response.json()["llm_model"][0]


@pytest.mark.parametrize(("who", "expected"), [
    ("anonymous", (401, 403)), ("stranger", (404,)), ("labeler", (403,)), ("researcher", (403,)),
    ("project admin", (200,)), ("site admin", (200,)),
])
def test_patch_permissions_per_role(api, project, who, expected):
    user = {
        "anonymous": lambda: None,
        "stranger": lambda: make_user("mallory"),
        "labeler": lambda: make_user("alice", "labeler", project),
        "researcher": lambda: make_user("rita", "researcher", project),
        "project admin": lambda: make_user("olga", "admin", project),
        "site admin": lambda: make_user("ada", "admin"),
    }[who]()
    response = api(user).patch("/api/projects/helpful/", {"criterion": "honesty"}, format="json")
    assert response.status_code in expected
    project.refresh_from_db()
    assert (project.criterion == "honesty") == (expected == (200,))


def test_get_returns_the_settings_and_the_counts(api, project, alice):
    body = api(alice).get("/api/projects/helpful/").json()
    assert set(SETTINGS) <= set(body)
    assert {"prompts", "completions", "rankings", "prompts_complete", "slug"} <= set(body)
    assert body["reservation_minutes"] == 30 and body["llm_api_key_env"] == ""


def test_post_takes_the_same_settings(api, ada):
    response = api(ada).post("/api/projects/", {"slug": "harmless", "instructions": "# Careful", **SETTINGS},
                             format="json")
    assert response.status_code == 201, response.content
    project = Project.objects.get(slug="harmless")
    assert (project.target_completions, project.llm_model, project.reservation_minutes) == (6, "qwen2.5-7b", 45)
    assert response.json()["instructions_version"] == 1


def test_post_validates_settings_and_slug_with_field_errors(api, ada):
    response = api(ada).post("/api/projects/", {"slug": "new", "top_p": 0, "max_tokens": -5}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"slug", "top_p", "max_tokens"}
    assert not Project.objects.exists()


def test_post_with_a_blank_name_uses_the_slug(api, ada):
    assert api(ada).post("/api/projects/", {"slug": "plain", "name": ""}, format="json").status_code == 201
    assert Project.objects.get(slug="plain").name == "plain"
    assert not Membership.objects.filter(project__slug="plain").exists()  # the API keeps its behaviour
