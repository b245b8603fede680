"""The permission matrix: every route of the URL conf × every method it answers × every role,
with the status each must get, in ONE table (MATRIX). The routes are walked from labelhub.urls,
so a new route, or a new method of an API view, without a row fails
`test_every_route_and_method_has_a_row`; a changed permission fails
`test_every_cell_answers_its_expected_status`.

Adding a row: the key is the route as the URL conf writes it and the method; the value gives the
status for each role, in the order of ROLES. URL parameters come from `url_kwargs` (override
per row in ARGS); a body, when the allowed roles need a valid one to succeed, goes in BODIES.
Methods: an API view's handlers (get, post, put, patch, delete); a function view is tried with
GET and POST (both need a row); Django's class views with their handlers.

Each cell runs inside a savepoint that is rolled back, so every request meets the same data (an
admin's DELETE does not remove the project for the next cell), and no file is removed (that
happens after commit). Django's admin (`admin/...`, Django's own staff check on every page) is
represented by its index and the user list rather than one row per model page."""

import re
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from annotations.assignment import next_assignment
from annotations.export.job import create_export, run_export
from annotations.export.options import ExportOptions
from annotations.models import Assignment
from annotations.team import create_invite

from .factories import PASSWORD, ROLES, make_prompt, make_role_world, make_user

# Routes left to Django's admin (see the module docstring); their two rows below still run.
COVERED_ELSEWHERE = ("admin/",)
API_METHODS = ("get", "post", "put", "patch", "delete")

# (route, method): (anonymous, labeler, other_labeler, researcher, project_admin, site_admin)
# "labeler" is a labeler of `helpful` who owns the assignments below; "other_labeler" labels only
# another project; "project_admin" is an admin member (not staff); "site_admin" is staff, in no team.
MATRIX: dict[tuple[str, str], tuple[int, int, int, int, int, int]] = {
    # --- pages ---------------------------------------------------------------------------------
    ("", "GET"): (302, 200, 200, 200, 200, 200),
    ("", "POST"): (302, 200, 200, 200, 200, 200),
    ("projects/new/", "GET"): (302, 403, 403, 403, 403, 200),
    ("projects/new/", "POST"): (302, 403, 403, 403, 403, 302),
    ("projects/<slug:slug>/", "GET"): (302, 403, 404, 200, 200, 200),
    ("projects/<slug:slug>/", "POST"): (302, 403, 404, 200, 200, 200),
    ("projects/<slug:slug>/settings/", "GET"): (302, 403, 404, 403, 200, 200),
    ("projects/<slug:slug>/settings/", "POST"): (302, 403, 404, 403, 302, 302),
    ("projects/<slug:slug>/prompt-sets/", "GET"): (302, 405, 405, 405, 405, 405),
    ("projects/<slug:slug>/prompt-sets/", "POST"): (302, 403, 404, 403, 302, 302),
    ("projects/<slug:slug>/generate/", "GET"): (302, 405, 405, 405, 405, 405),
    ("projects/<slug:slug>/generate/", "POST"): (302, 403, 404, 403, 302, 302),
    ("projects/<slug:slug>/label/", "GET"): (302, 200, 404, 403, 403, 403),
    ("projects/<slug:slug>/label/", "POST"): (302, 200, 404, 403, 403, 403),
    ("projects/<slug:slug>/exports/", "GET"): (302, 403, 404, 200, 200, 200),
    ("projects/<slug:slug>/exports/", "POST"): (302, 403, 404, 302, 302, 302),
    ("projects/<slug:slug>/exports/<int:export_id>/delete/", "GET"): (302, 405, 405, 405, 405, 405),
    ("projects/<slug:slug>/exports/<int:export_id>/delete/", "POST"): (302, 403, 404, 403, 302, 302),
    ("projects/<slug:slug>/quality/", "GET"): (302, 403, 404, 200, 200, 200),
    ("projects/<slug:slug>/quality/", "POST"): (302, 403, 404, 200, 200, 200),
    ("projects/<slug:slug>/quality/prompts/<int:prompt_id>/", "GET"): (302, 403, 404, 301, 301, 301),
    ("projects/<slug:slug>/quality/prompts/<int:prompt_id>/", "POST"): (302, 403, 404, 301, 301, 301),
    ("projects/<slug:slug>/prompts/", "GET"): (302, 403, 404, 200, 200, 200),
    ("projects/<slug:slug>/prompts/", "POST"): (302, 403, 404, 200, 200, 200),
    ("projects/<slug:slug>/prompts/<int:prompt_id>/", "GET"): (302, 403, 404, 200, 200, 200),
    ("projects/<slug:slug>/prompts/<int:prompt_id>/", "POST"): (302, 403, 404, 200, 200, 200),
    ("projects/<slug:slug>/quality/canaries/", "GET"): (302, 405, 405, 405, 405, 405),
    ("projects/<slug:slug>/quality/canaries/", "POST"): (302, 403, 404, 403, 302, 302),
    ("projects/<slug:slug>/instructions/accept/", "GET"): (302, 405, 405, 405, 405, 405),
    ("projects/<slug:slug>/instructions/accept/", "POST"): (302, 302, 404, 403, 403, 403),
    ("projects/<slug:slug>/instructions/", "GET"): (302, 403, 404, 200, 200, 200),
    ("projects/<slug:slug>/instructions/", "POST"): (302, 403, 404, 403, 302, 302),
    ("projects/<slug:slug>/team/", "GET"): (302, 403, 404, 403, 200, 200),
    ("projects/<slug:slug>/team/", "POST"): (302, 403, 404, 403, 200, 200),
    ("projects/<slug:slug>/team/members/", "GET"): (302, 405, 405, 405, 405, 405),
    ("projects/<slug:slug>/team/members/", "POST"): (302, 403, 404, 403, 302, 302),
    ("projects/<slug:slug>/team/remove/", "GET"): (302, 405, 405, 405, 405, 405),
    ("projects/<slug:slug>/team/remove/", "POST"): (302, 403, 404, 403, 302, 302),
    ("projects/<slug:slug>/team/role/", "GET"): (302, 405, 405, 405, 405, 405),
    ("projects/<slug:slug>/team/role/", "POST"): (302, 403, 404, 403, 302, 302),
    ("projects/<slug:slug>/team/invites/", "GET"): (302, 405, 405, 405, 405, 405),
    ("projects/<slug:slug>/team/invites/", "POST"): (302, 403, 404, 403, 200, 200),
    # An invite link is for anyone holding it; signed in, POST joins with the invite's role.
    ("invite/<str:token>/", "GET"): (200, 200, 200, 200, 200, 200),
    ("invite/<str:token>/", "POST"): (302, 302, 302, 302, 302, 302),
    # --- Django's auth pages -------------------------------------------------------------------
    ("accounts/login/", "GET"): (200, 200, 200, 200, 200, 200),
    ("accounts/login/", "POST"): (302, 302, 302, 302, 302, 302),
    ("accounts/login/", "PUT"): (200, 200, 200, 200, 200, 200),  # FormView: PUT is POST without a parsed body
    ("accounts/logout/", "GET"): (405, 405, 405, 405, 405, 405),
    ("accounts/logout/", "POST"): (302, 302, 302, 302, 302, 302),
    ("accounts/password_change/", "GET"): (302, 200, 200, 200, 200, 200),
    ("accounts/password_change/", "POST"): (302, 200, 200, 200, 200, 200),
    ("accounts/password_change/", "PUT"): (302, 200, 200, 200, 200, 200),
    ("accounts/password_change/done/", "GET"): (302, 200, 200, 200, 200, 200),
    ("accounts/password_reset/", "GET"): (200, 200, 200, 200, 200, 200),
    ("accounts/password_reset/", "POST"): (302, 302, 302, 302, 302, 302),
    ("accounts/password_reset/", "PUT"): (200, 200, 200, 200, 200, 200),
    ("accounts/password_reset/done/", "GET"): (200, 200, 200, 200, 200, 200),
    ("accounts/reset/<uidb64>/<token>/", "GET"): (200, 200, 200, 200, 200, 200),
    ("accounts/reset/<uidb64>/<token>/", "POST"): (200, 200, 200, 200, 200, 200),
    ("accounts/reset/<uidb64>/<token>/", "PUT"): (200, 200, 200, 200, 200, 200),
    ("accounts/reset/done/", "GET"): (200, 200, 200, 200, 200, 200),
    # --- Django's admin: staff only ------------------------------------------------------------
    ("admin/", "GET"): (302, 302, 302, 302, 302, 200),
    ("admin/auth/user/", "GET"): (302, 302, 302, 302, 302, 200),
    # --- the API -------------------------------------------------------------------------------
    ("api/auth/token/", "POST"): (200, 200, 200, 200, 200, 200),  # the body's credentials decide
    ("api/auth/token/", "DELETE"): (401, 204, 204, 204, 204, 204),  # revokes the caller's own token
    # 200: the export the world runs stored the consensus leaderboard (202 "computing" before any).
    ("api/projects/<slug:slug>/leaderboard/", "GET"): (401, 403, 404, 200, 200, 200),
    # --- operations: probes for load balancers, metrics off unless METRICS_ENABLED -------------
    ("healthz", "GET"): (200, 200, 200, 200, 200, 200),
    ("readyz", "GET"): (200, 200, 200, 200, 200, 200),
    ("metrics", "GET"): (404, 404, 404, 404, 404, 404),
    ("api/schema/", "GET"): (200, 200, 200, 200, 200, 200),
    ("api/docs/", "GET"): (200, 200, 200, 200, 200, 200),
    ("api/projects/", "GET"): (401, 200, 200, 200, 200, 200),
    ("api/projects/", "POST"): (401, 403, 403, 403, 403, 201),
    ("api/projects/<slug:slug>/", "GET"): (401, 200, 404, 200, 200, 200),
    ("api/projects/<slug:slug>/", "PATCH"): (401, 403, 404, 403, 200, 200),
    ("api/projects/<slug:slug>/", "DELETE"): (401, 403, 404, 403, 204, 204),
    ("api/projects/<slug:slug>/prompt-sets/", "POST"): (401, 403, 404, 403, 201, 201),
    ("api/projects/<slug:slug>/generation/", "GET"): (401, 403, 404, 403, 200, 200),
    ("api/projects/<slug:slug>/generation/", "POST"): (401, 403, 404, 403, 202, 202),
    ("api/projects/<slug:slug>/tasks/next/", "POST"): (401, 200, 404, 403, 403, 403),
    ("api/projects/<slug:slug>/my-rankings/", "GET"): (401, 200, 404, 403, 403, 403),
    ("api/assignments/<int:assignment_id>/ranking/", "GET"): (401, 200, 404, 404, 404, 404),
    ("api/assignments/<int:assignment_id>/ranking/", "POST"): (401, 201, 404, 404, 404, 404),
    ("api/assignments/<int:assignment_id>/ranking/", "PUT"): (401, 200, 404, 404, 404, 404),
    ("api/assignments/<int:assignment_id>/skip/", "POST"): (401, 200, 404, 404, 404, 404),
    ("api/projects/<slug:slug>/exports/", "GET"): (401, 403, 404, 200, 200, 200),
    ("api/projects/<slug:slug>/exports/", "POST"): (401, 403, 404, 202, 202, 202),
    ("api/projects/<slug:slug>/agreement/", "GET"): (401, 403, 404, 200, 200, 200),
    ("api/projects/<slug:slug>/instructions/", "GET"): (401, 200, 404, 200, 200, 200),
    ("api/projects/<slug:slug>/instructions/", "POST"): (401, 403, 404, 403, 201, 201),
    ("api/projects/<slug:slug>/instructions/preview/", "POST"): (401, 403, 404, 403, 200, 200),
    ("api/projects/<slug:slug>/members/", "GET"): (401, 403, 404, 403, 200, 200),
    ("api/projects/<slug:slug>/members/", "POST"): (401, 403, 404, 403, 201, 201),
    ("api/projects/<slug:slug>/members/<str:username>/", "PUT"): (401, 403, 404, 403, 200, 200),
    ("api/projects/<slug:slug>/members/<str:username>/", "DELETE"): (401, 403, 404, 403, 204, 204),
    ("api/projects/<slug:slug>/invites/", "POST"): (401, 403, 404, 403, 201, 201),
    ("api/exports/<int:export_id>/", "GET"): (401, 403, 404, 200, 200, 200),
    ("api/exports/<int:export_id>/", "DELETE"): (401, 403, 404, 403, 204, 204),
    ("api/exports/<int:export_id>/download/", "GET"): (401, 403, 404, 200, 200, 200),
}

JSONL = b'{"id": "new-1", "prompt": "A new prompt", "completions": ["one", "two"]}\n'
EXPORT_FORM = {"format": "jsonl", "mode": "labeler", "flagged": "drop", "ties": "drop", "seed": "0"}

# Bodies that let the allowed roles succeed (a callable when each request needs a fresh one).
BODIES = {
    ("projects/new/", "POST"): lambda w: {"name": "Brand new", "slug": "brand-new", "criterion": "helpfulness",
                                          "labelers_per_prompt": "3", "allow_ties": "on", "instructions": "Rank."},
    ("projects/<slug:slug>/settings/", "POST"): lambda w: w.settings_form,
    ("projects/<slug:slug>/prompt-sets/", "POST"): lambda w: {"file": SimpleUploadedFile("new.jsonl", JSONL)},
    ("projects/<slug:slug>/exports/", "POST"): lambda w: EXPORT_FORM,
    ("projects/<slug:slug>/quality/canaries/", "POST"): lambda w: {"canaries_enabled": "", "canary_share": "0.1"},
    ("projects/<slug:slug>/instructions/accept/", "POST"): lambda w: {"version": "1"},
    ("projects/<slug:slug>/instructions/", "POST"): lambda w: {"text": "# Version two"},
    ("projects/<slug:slug>/team/members/", "POST"): lambda w: {"add-username": "newbie", "add-role": "labeler"},
    ("projects/<slug:slug>/team/remove/", "POST"): lambda w: {"username": "lab"},
    ("projects/<slug:slug>/team/role/", "POST"): lambda w: {"username": "lab", "role": "researcher"},
    ("projects/<slug:slug>/team/invites/", "POST"): lambda w: {"invite-role": "labeler"},
    ("invite/<str:token>/", "POST"): lambda w: {"username": "joiner", "password1": "A-long-pass-phrase-9",
                                                "password2": "A-long-pass-phrase-9"},
    ("accounts/login/", "POST"): lambda w: {"username": "newbie", "password": PASSWORD},
    ("accounts/password_reset/", "POST"): lambda w: {"email": "nobody@example.com"},
    ("api/auth/token/", "POST"): lambda w: {"username": "newbie", "password": PASSWORD},
    ("api/projects/", "POST"): lambda w: {"slug": "brand-new", "name": "Brand new"},
    ("api/projects/<slug:slug>/", "PATCH"): lambda w: {"name": "Renamed"},
    ("api/projects/<slug:slug>/prompt-sets/", "POST"): lambda w: {"file": SimpleUploadedFile("new.jsonl", JSONL)},
    ("api/projects/<slug:slug>/generation/", "POST"): lambda w: {},
    ("api/assignments/<int:assignment_id>/ranking/", "POST"): lambda w: w.ranking_body(w.reserved),
    ("api/assignments/<int:assignment_id>/ranking/", "PUT"): lambda w: w.ranking_body(w.submitted),
    ("api/projects/<slug:slug>/exports/", "POST"): lambda w: {"format": "jsonl"},
    ("api/projects/<slug:slug>/instructions/", "POST"): lambda w: {"text": "# Version two"},
    ("api/projects/<slug:slug>/instructions/preview/", "POST"): lambda w: {"text": "**bold**"},
    ("api/projects/<slug:slug>/members/", "POST"): lambda w: {"username": "newbie", "role": "labeler"},
    ("api/projects/<slug:slug>/members/<str:username>/", "PUT"): lambda w: {"role": "researcher"},
    ("api/projects/<slug:slug>/invites/", "POST"): lambda w: {"role": "labeler"},
}
# URL parameters other than the defaults of `url_kwargs`.
ARGS = {
    ("api/assignments/<int:assignment_id>/ranking/", "GET"): lambda w: {"assignment_id": w.submitted.pk},
    ("api/assignments/<int:assignment_id>/ranking/", "PUT"): lambda w: {"assignment_id": w.submitted.pk},
}


@dataclass
class World:
    users: dict
    sessions: dict
    project: object
    prompt: object
    export: object
    submitted: Assignment
    reserved: Assignment
    invite_token: str
    settings_form: dict

    def ranking_body(self, assignment: Assignment) -> dict:
        ids = assignment.shown_order
        return {"tiers": [[ids[0]], [ids[1]], [ids[2]]], "flagged": [], "duration_ms": 1000}

    def url_kwargs(self, route: str, method: str) -> dict:
        defaults = {"slug": self.project.slug, "export_id": self.export.pk, "prompt_id": self.prompt.pk,
                    "assignment_id": self.reserved.pk, "username": "lab", "token": self.invite_token,
                    "uidb64": "MQ"}
        override = ARGS.get((route, method))
        return {**defaults, **(override(self) if override else {})}


def walk(patterns, prefix: str = ""):
    """Every (route, view) of the URL conf, the route as written (e.g. "api/exports/<int:export_id>/")."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def methods_of(view) -> list[str]:
    view_class = getattr(view, "view_class", None)
    if view_class is None:
        return ["GET", "POST"]  # a function view: both must have a row, whatever it does with them
    return [m.upper() for m in API_METHODS if hasattr(view_class, m)]


def routes(patterns=None) -> dict[tuple[str, str], object]:
    patterns = get_resolver().url_patterns if patterns is None else patterns
    return {(route, method): view for route, view in walk(patterns)
            for method in methods_of(view) if not route.startswith(COVERED_ELSEWHERE)}


def build_url(route: str, kwargs: dict) -> str:
    def value(match: re.Match) -> str:
        return str(kwargs[match.group("name")])

    return "/" + re.sub(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>", value, route)


@pytest.fixture
def world(db, settings) -> World:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    project, users, first = make_role_world()
    lab = users["labeler"]
    make_user("newbie")
    second = make_prompt(project, 3, external_id="p2")
    # The labeler's open reservation (as tasks/next makes it), and the assignment they submitted.
    reserved = next_assignment(project, lab)
    assert reserved is not None and reserved.prompt_id == second.pk
    export = create_export(project, users["researcher"], ExportOptions.from_dict({}))
    assert run_export(export.pk)
    _, token = create_invite(project, "labeler")
    settings_form = {"name": "Renamed", "criterion": "helpfulness", "labelers_per_prompt": "3",
                     "max_labelers_per_prompt": "3", "agreement_target": "0.75", "allow_ties": "on",
                     "reservation_minutes": "30", "feedback": "ranking", "target_completions": "4",
                     "temperature": "1.0", "top_p": "1.0", "max_tokens": "512", "generation_concurrency": "16"}
    sessions = {role: Client() for role in ROLES}
    for role, user in users.items():
        if user is not None:
            sessions[role].force_login(user)
    return World(users, sessions, project, first, export, Assignment.objects.get(labeler=lab, prompt=first), reserved,
                 token, settings_form)


class Rollback(Exception):
    pass


def answer(world: World, role: str, route: str, method: str) -> int:
    client = Client()
    client.cookies = SimpleCookie(world.sessions[role].cookies)  # signed in once, per role; a fresh jar per cell
    url = build_url(route, world.url_kwargs(route, method))
    body = BODIES.get((route, method))
    data = body(world) if body else {}
    is_api = route.startswith("api/")
    multipart = any(isinstance(v, SimpleUploadedFile) for v in data.values())
    kwargs = {} if multipart or not is_api else {"content_type": "application/json"}
    if method in ("PUT", "PATCH", "DELETE") and not is_api:
        data, kwargs = urlencode(data), {"content_type": "application/x-www-form-urlencoded"}
    status = None
    try:
        with transaction.atomic():
            status = getattr(client, method.lower())(url, data, **kwargs).status_code
            raise Rollback
    except Rollback:
        pass
    return status


def test_every_route_and_method_has_a_row():
    missing = sorted(set(routes()) - set(MATRIX))
    assert missing == [], f"routes without a row in MATRIX (add one per method): {missing}"


def test_every_row_is_a_route_of_the_url_conf():
    known = set(routes()) | {key for key in MATRIX if key[0].startswith(COVERED_ELSEWHERE)}
    assert sorted(set(MATRIX) - known) == []
    admin_routes = {route for route, _ in walk(get_resolver().url_patterns) if route.startswith("admin/")}
    assert {route for route, _ in MATRIX if route.startswith("admin/")} <= admin_routes


def test_a_new_route_without_a_row_would_fail():
    from django.urls import include, path
    from rest_framework.views import APIView

    class BrandNew(APIView):
        def get(self, request):
            return None

        def delete(self, request):
            return None

    extra = path("api/", include([path("brand-new/", BrandNew.as_view())]))
    missing = set(routes([*get_resolver().url_patterns, extra])) - set(MATRIX)
    assert missing == {("api/brand-new/", "GET"), ("api/brand-new/", "DELETE")}


def test_every_cell_answers_its_expected_status(world):
    wrong = []
    cells = 0
    for (route, method), expected in MATRIX.items():
        for role, status in zip(ROLES, expected, strict=True):
            got = answer(world, role, route, method)
            cells += 1
            if got != status:
                wrong.append(f"{method} {route} as {role}: {got}, expected {status}")
    assert cells == len(MATRIX) * len(ROLES)
    print(f"permission matrix: {len(MATRIX)} rows × {len(ROLES)} roles = {cells} cells")
    assert wrong == []
