"""Shared pieces of the API's OpenAPI description: the error bodies (typed, so that a client knows
what a 400, 403, 404 or 409 carries) and the worked example used across the labeling endpoints
(the lecture's: three completions ranked 2, 1, 3). Only documentation: no view behaviour lives here."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorOut = inline_serializer("ErrorOut", {
    "detail": serializers.CharField(help_text="What went wrong, in words a person can act on."),
})

# DRF's validation errors: each offending field maps to its messages, and every message names the field.
FIELD_ERRORS_SCHEMA = {
    "type": "object",
    "description": 'Field errors: {"field": ["message naming the field", ...]}.',
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}


def detail_example(name: str, detail: str, status_code: str) -> OpenApiExample:
    return OpenApiExample(name, value={"detail": detail}, response_only=True, status_codes=[status_code])


BAD_REQUEST = OpenApiResponse(FIELD_ERRORS_SCHEMA, description="The body breaks a rule; each field's messages.")
FORBIDDEN = OpenApiResponse(ErrorOut, description="A member of the project without the role this needs.",
                            examples=[detail_example("Wrong role", "Only the project's admins may do this.", "403")])
NOT_FOUND = OpenApiResponse(ErrorOut, description="No such object, or not yours to see (non-members get 404, "
                                                  "so a project's existence is not revealed).",
                            examples=[detail_example("Not found", "Not found.", "404")])
UNAVAILABLE = OpenApiResponse(ErrorOut, description="The job queue cannot be reached: nothing was started "
                                                    "(a job row, if any, is marked failed). Try again later.",
                              examples=[detail_example("Queue down", "the job queue (Redis) cannot be reached: the "
                                                       "job was not started; try again in a minute", "503")])
TOO_MANY = OpenApiResponse(ErrorOut, description="The project has its maximum of exports queued or running.")

SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH, description="The project's slug, e.g. `helpful`.")
ASSIGNMENT_ID = OpenApiParameter("assignment_id", int, OpenApiParameter.PATH,
                                 description="The assignment id that `tasks/next/` answered.")
EXPORT_ID = OpenApiParameter("export_id", int, OpenApiParameter.PATH,
                             description="The export id that starting the export answered.")

# The lecture's example: prompt 7 with completions 101, 102, 103 ranked 2, 1, 3 → tiers [[102], [101], [103]].
PROMPT_EXAMPLE = {"id": 7, "text": "Explain what a reward model is in one paragraph.", "messages": None}
COMPLETIONS_EXAMPLE = [
    {"id": 101, "text": "A reward model scores text; it is trained on human preferences..."},
    {"id": 102, "text": "A reward model is a network trained on pairs that people compared, chosen vs rejected..."},
    {"id": 103, "text": "Reward models are used in games to give points."},
]
RANKING_BODY_EXAMPLE = {"tiers": [[102], [101], [103]], "flagged": [], "duration_ms": 41000}


UNAUTHORIZED = {
    "description": "No valid credentials: send `Authorization: Token <token>` (POST /api/auth/token/) or sign in.",
    # No example here: tests/test_api_schema.py wants each operation's own examples, and this is everyone's.
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
}


def document_unauthorized(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook: every operation that needs a signed-in user also
    documents its 401, so that a client (and schemathesis) knows what an anonymous call gets."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            security = operation.get("security", [{}])
            if isinstance(operation, dict) and {} not in security:
                operation["responses"].setdefault("401", UNAUTHORIZED)
    return result
