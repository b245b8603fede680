"""Schemathesis against the served OpenAPI schema (/api/schema/), as each role: requests built
from the schema hit a live server (the real WSGI stack, the test PostgreSQL), and every answer
must be no 5xx, a documented status code, the documented content type and a body that matches the
documented schema. Bounded: a few examples per operation and role (MAX_EXAMPLES), so the whole
run stays well under two minutes."""

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework.authtoken.models import Token
from schemathesis import checks

from annotations.assignment import next_assignment
from annotations.export.job import create_export, run_export
from annotations.export.options import ExportOptions

from .factories import ROLES, make_prompt, make_role_world

MAX_EXAMPLES = 4
CHECKS = [getattr(checks, name) for name in (
    "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance",
    "response_headers_conformance")]


def build_world() -> dict:
    """The same small project as the permission matrix: rankings, a reservation, a finished export."""
    project, users, _ = make_role_world()
    make_prompt(project, 3, external_id="p2")
    reserved = next_assignment(project, users["labeler"])
    export = create_export(project, users["researcher"], ExportOptions.from_dict({}))
    run_export(export.pk)
    # Path parameters that name real objects, so that cases reach the views' logic, not only 404s.
    real = {"slug": project.slug, "export_id": export.pk, "assignment_id": reserved.pk, "username": "lab"}
    return users, real


@pytest.mark.parametrize("role", ROLES)
def test_every_api_answer_matches_the_schema_and_none_is_a_5xx(role, live_server, settings_fast, record_property):
    users, real = build_world()
    user = users[role]
    headers = {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"} if user else {}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")
    failures, statuses = [], []

    for result in schema.get_all_operations():
        operation = result.ok()

        names = {parameter.name for parameter in operation.path_parameters}
        strategy = operation.as_strategy()
        if names:  # half of the cases on real objects, half on whatever the schema allows
            fixed = operation.as_strategy(path_parameters={name: real[name] for name in names})
            strategy = strategy | fixed

        @given(case=strategy)
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def run(case):
            response = case.call(base_url=live_server.url, headers=headers)
            statuses.append(response.status_code)
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except BaseException as exc:  # every failure in one list, not the first one only
                failures.append("\n".join(f"{operation.label} as {role}: {exc}".splitlines()[:14]))

        run()
    server_errors = sum(1 for status in statuses if status >= 500)
    record_property("cases", len(statuses))
    print(f"schemathesis as {role}: {len(statuses)} cases, {server_errors} answers 5xx, "
          f"statuses {dict(sorted(Counter(statuses).items()))}")
    assert server_errors == 0
    if user is not None:  # the cases on real objects reach the views' logic
        assert any(200 <= status < 300 for status in statuses)
    assert not failures, "\n\n".join(failures)


@pytest.fixture
def settings_fast(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
