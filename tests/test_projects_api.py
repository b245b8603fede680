from django.test import Client

from annotations.models import Project

from .factories import PASSWORD, make_prompt, make_user


def test_token_login_then_token_authenticated_request(live_server, project, alice):
    client = Client()
    token = client.post("/api/auth/token/", {"username": "alice", "password": PASSWORD}).json()["token"]
    response = client.get("/api/projects/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    assert [p["slug"] for p in response.json()] == ["helpful"]


def test_anonymous_request_is_refused(client, project):
    assert client.get("/api/projects/").status_code in (401, 403)


def test_project_detail_has_progress_counts(api, project, alice, bob):
    project.labelers_per_prompt = 1
    project.save()
    make_prompt(project, 3)
    make_prompt(project, 4)
    task = api(alice).post("/api/projects/helpful/tasks/next/").json()
    ids = [c["id"] for c in task["completions"]]
    api(alice).post(f"/api/assignments/{task['assignment']}/ranking/", {"tiers": [[i] for i in ids]}, format="json")
    body = api(alice).get("/api/projects/helpful/").json()
    assert body["prompts"] == 2
    assert body["completions"] == 7
    assert body["rankings"] == 1
    assert body["prompts_complete"] == 1
    assert body["labelers_per_prompt"] == 1


def test_project_list_has_constant_query_count(api, ada, django_assert_max_num_queries):
    for i in range(6):
        make_prompt(Project.objects.create(slug=f"p{i}", name=f"P{i}"), 3)
    with django_assert_max_num_queries(4):
        assert len(api(ada).get("/api/projects/").json()) == 6


def test_site_admin_creates_project_with_instructions(api, ada):
    response = api(ada).post(
        "/api/projects/",
        {"slug": "harmless", "name": "Harmlessness", "labelers_per_prompt": 5, "allow_ties": False,
         "instructions": "# Be careful"},
        format="json",
    )
    assert response.status_code == 201, response.content
    project = Project.objects.get(slug="harmless")
    assert (project.labelers_per_prompt, project.allow_ties) == (5, False)
    assert project.current_instructions().text == "# Be careful"
    assert response.json()["instructions_version"] == 1


def test_labeler_cannot_create_project(api, alice):
    assert api(alice).post("/api/projects/", {"slug": "x"}, format="json").status_code == 403


def test_duplicate_slug_is_a_clear_400(api, ada, project):
    response = api(ada).post("/api/projects/", {"slug": "helpful"}, format="json")
    assert response.status_code == 400
    assert "already exists" in str(response.json())


def test_non_member_sees_404_not_403(api, project):
    assert api(make_user("mallory")).get("/api/projects/helpful/").status_code == 404


def test_only_admins_delete_projects(api, project, alice, ada):
    make_prompt(project, 3)
    assert api(alice).delete("/api/projects/helpful/").status_code == 403
    assert api(ada).delete("/api/projects/helpful/").status_code == 204
    assert not Project.objects.exists()


def test_project_admin_member_may_delete(api, project):
    owner = make_user("olga", "admin", project)
    assert api(owner).delete("/api/projects/helpful/").status_code == 204


def test_openapi_schema_and_docs_are_served(client, ada):
    client.force_login(ada)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/projects/{slug}/tasks/next/" in schema.content
    assert client.get("/api/docs/").status_code == 200
