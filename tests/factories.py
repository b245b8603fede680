"""Small builders for test data. Named actors: alice the labeler, rita the researcher, ada the admin."""

import itertools

from django.contrib.auth import get_user_model

from annotations.models import Completion, Project, Prompt
from annotations.projects import create_project
from annotations.roles import grant_role

PASSWORD = "correct-horse-battery"
_counter = itertools.count(1)


def make_user(username: str, role: str | None = None, project: Project | None = None, password: str = PASSWORD):
    user = get_user_model().objects.create_user(username=username, password=password)
    if role:
        grant_role(user, role, project)
    return user


def make_project(slug: str | None = None, **options) -> Project:
    slug = slug or f"project-{next(_counter)}"
    options.setdefault("instructions", "# Rank by helpfulness\n\nBest first.")
    return create_project(slug, **options)


def make_prompt(project: Project, completions: int | list[str] = 3, external_id: str | None = None,
                text: str | None = None, messages: list[dict] | None = None) -> Prompt:
    n = next(_counter)
    if isinstance(completions, int):
        completions = [f"completion {i} of prompt {n}" for i in range(1, completions + 1)]
    texts = completions
    prompt = Prompt.objects.create(
        project=project, external_id=external_id, num_completions=len(texts), messages=messages,
        text=messages[-1]["content"] if messages else (text or f"prompt {n}"),
    )
    Completion.objects.bulk_create(
        Completion(prompt=prompt, position=i, text=t) for i, t in enumerate(texts, start=1)
    )
    return prompt


def completion_ids(prompt: Prompt) -> list[int]:
    return list(prompt.completions.order_by("position").values_list("pk", flat=True))


def page_client(user=None):
    """A browser-like test client, signed in as `user` (anonymous when None)."""
    from django.test import Client

    client = Client()
    if user is not None:
        client.force_login(user)
    return client


ROLES = ("anonymous", "labeler", "other_labeler", "researcher", "project_admin", "site_admin")


def make_role_world() -> tuple[Project, dict, Prompt]:
    """The small project the permission matrix and the schema checks run against: "helpful" and an
    "other" project, one user per role in ROLES (None for anonymous), and a first prompt ranked by
    the labeler and a peer. Returns (project, users by role, that prompt)."""
    from .export_builders import rank  # export_builders imports this module

    project = make_project("helpful", name="Helpfulness")
    other = make_project("other")
    lab = make_user("lab", "labeler", project)
    peer = make_user("peer", "labeler", project)
    users = {
        "anonymous": None,
        "labeler": lab,
        "other_labeler": make_user("olga", "labeler", other),
        "researcher": make_user("rita", "researcher", project),
        "project_admin": make_user("pam", "admin", project),
        "site_admin": make_user("ada", "admin"),
    }
    first = make_prompt(project, 3, external_id="p1")
    rank(first, lab, [[2], [1], [3]])
    rank(first, peer, [[1], [2], [3]])
    return project, users, first
