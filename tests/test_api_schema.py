"""The API docs teach: every operation of the OpenAPI schema has a summary or description, an
example, a typed success answer and a typed body where it takes one; the ranking body's tiers are
lists of lists of integers; and drf-spectacular validates the schema without a warning. A new
endpoint without docs fails here."""

import pytest
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator

AREAS = {"auth", "projects", "prompt sets", "generation", "labeling", "quality", "exports", "instructions", "team"}
METHODS = ("get", "post", "put", "patch", "delete")
BODY_METHODS = ("post", "put", "patch")
# Operations that take no body on purpose (the action is in the URL).
NO_BODY = {("post", "/api/projects/{slug}/tasks/next/"), ("post", "/api/assignments/{assignment_id}/skip/")}


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def resolve(schema: dict, node: dict) -> dict:
    if "$ref" in node:
        return schema["components"]["schemas"][node["$ref"].split("/")[-1]]
    return node


def is_typed(schema: dict, node: dict) -> bool:
    """A schema that says what is in it: properties, typed items, typed values, or a scalar type."""
    node = resolve(schema, node)
    if "oneOf" in node or "allOf" in node:
        return all(is_typed(schema, part) for part in node.get("oneOf", []) + node.get("allOf", []))
    kind = node.get("type")
    if kind == "array":
        return is_typed(schema, node.get("items", {}))
    if kind == "object":
        values = node.get("additionalProperties")
        return bool(node.get("properties")) or (isinstance(values, dict) and is_typed(schema, values))
    return kind in ("string", "integer", "number", "boolean")


def has_example(operation: dict) -> bool:
    bodies = [operation.get("requestBody", {})] + list(operation.get("responses", {}).values())
    return any(media.get("examples") or media.get("example")
               for body in bodies for media in body.get("content", {}).values())


def test_there_are_operations_to_check(schema):
    assert len(list(operations(schema))) >= 25


def test_every_operation_has_a_summary_or_description(schema):
    missing = [f"{m.upper()} {p}" for m, p, op in operations(schema)
               if not (op.get("summary") or op.get("description"))]
    assert missing == []


def test_every_operation_has_an_example(schema):
    missing = [f"{m.upper()} {p}" for m, p, op in operations(schema) if not has_example(op)]
    assert missing == []


def test_every_operation_has_a_tag_for_its_area(schema):
    # spectacular's default tag is the first path segment ("projects" for /api/projects/{slug}/tasks/next/),
    # which says nothing about the area: only the projects' own endpoints are tagged "projects".
    wrong = [f"{m.upper()} {p}: {op.get('tags')}" for m, p, op in operations(schema)
             if len(op.get("tags", [])) != 1 or op["tags"][0] not in AREAS
             or (op["tags"] == ["projects"] and p not in ("/api/projects/", "/api/projects/{slug}/"))]
    assert wrong == []


def test_every_success_answer_is_typed(schema):
    untyped = []
    for method, path, op in operations(schema):
        successes = {code: answer for code, answer in op["responses"].items() if code.startswith("2")}
        if not successes:
            untyped.append(f"{method.upper()} {path}: no 2xx answer")
        for code, answer in successes.items():
            content = answer.get("content", {})
            if code == "204":
                if content:
                    untyped.append(f"{method.upper()} {path} 204 has a body")
                continue
            if "application/zip" in content:  # the export download: a file
                assert content["application/zip"]["schema"] == {"type": "string", "format": "binary"}
                continue
            media = content.get("application/json")
            if media is None or not is_typed(schema, media["schema"]):
                untyped.append(f"{method.upper()} {path} {code}")
    assert untyped == []


def test_every_error_answer_is_described_and_typed(schema):
    bad = []
    for method, path, op in operations(schema):
        for code, answer in op["responses"].items():
            if code.startswith(("4", "5")):
                media = answer.get("content", {}).get("application/json")
                if not answer.get("description") or media is None or not is_typed(schema, media["schema"]):
                    bad.append(f"{method.upper()} {path} {code}")
    assert bad == []


def test_every_body_taking_operation_has_a_typed_body(schema):
    missing = []
    for method, path, op in operations(schema):
        if method not in BODY_METHODS or (method, path) in NO_BODY:
            continue
        content = op.get("requestBody", {}).get("content", {})
        media = content.get("application/json") or content.get("multipart/form-data")
        if media is None or not is_typed(schema, media["schema"]):
            missing.append(f"{method.upper()} {path}")
    assert missing == []


def test_path_parameters_are_typed_and_described(schema):
    bad = []
    for method, path, op in operations(schema):
        for parameter in op.get("parameters", []):
            if parameter["in"] == "path" and not (parameter["schema"].get("type") and parameter.get("description")):
                bad.append(f"{method.upper()} {path} {parameter['name']}")
    assert bad == []


def test_the_ranking_body_is_tiers_of_integer_ids_and_a_list_of_flagged_ids(schema):
    operation = schema["paths"]["/api/assignments/{assignment_id}/ranking/"]["post"]
    body = resolve(schema, operation["requestBody"]["content"]["application/json"]["schema"])
    assert body["properties"]["tiers"]["type"] == "array"
    assert body["properties"]["tiers"]["items"] == {"type": "array", "items": {"type": "integer"}}
    assert body["properties"]["flagged"]["type"] == "array"
    assert body["properties"]["flagged"]["items"] == {"type": "integer"}
    # Not required by the schema: a thumbs project takes "thumbs" instead (the server says which is missing).
    assert body["properties"]["thumbs"]["type"] == "object"
    example = next(iter(operation["requestBody"]["content"]["application/json"]["examples"].values()))["value"]
    assert example["tiers"] == [[102], [101], [103]]  # the lecture's 2, 1, 3


def test_the_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    # --fail-on-warn turns every warning or error of the generator into a failure (SystemExit).
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/assignments/{assignment_id}/ranking/" in out.read_text()


@pytest.mark.django_db
def test_the_schema_is_served_as_json_to_a_signed_in_user(project, alice):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(alice)
    answer = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert answer.status_code == 200
    assert "/api/projects/{slug}/tasks/next/" in answer.json()["paths"]


def test_an_undocumented_endpoint_would_fail_these_checks():
    from django.urls import path
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class Undocumented(APIView):
        def get(self, request, slug: str):
            return Response({"anything": 1})

        def post(self, request, slug: str):
            return Response({"anything": 1})

    bare = SchemaGenerator(patterns=[path("api/projects/<slug:slug>/bare/", Undocumented.as_view())]).get_schema(
        request=None, public=True)
    (_, _, get), (_, _, post) = sorted(operations(bare), key=lambda row: row[0])
    assert not has_example(get) and not (get.get("summary") or get.get("description"))
    answer = get["responses"]["200"].get("content", {}).get("application/json", {"schema": {}})
    assert not is_typed(bare, answer["schema"])
    assert "requestBody" not in post
