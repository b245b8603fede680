"""Instructions over the API: the version history, publishing a new version, and the preview the
instructions page shows while an admin writes (rendered by the same sanitizer as labelers' pages).

Who: every member may read the history (labelers read the instructions anyway, and the rankings
counts are the project's progress, which members already see); only project admins publish or
preview."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from ..instructions import MAX_INSTRUCTIONS_CHARS, InstructionsRejected, publish, render_markdown, version_history
from .docs import BAD_REQUEST, FORBIDDEN, NOT_FOUND, SLUG
from .permissions import project_for, require_admin


class InstructionVersionOut(serializers.Serializer):
    version = serializers.IntegerField()
    text = serializers.CharField()
    created = serializers.DateTimeField(source="created_at")
    rankings = serializers.IntegerField(help_text="Rankings made under this version (their latest revision).")


class InstructionsIn(serializers.Serializer):
    # Blank passes here so that `publish` gives its own message (one rule for the page and the API).
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=MAX_INSTRUCTIONS_CHARS)


class PublishedOut(serializers.Serializer):
    version = serializers.IntegerField()


class PreviewOut(serializers.Serializer):
    html = serializers.CharField(help_text="Sanitized HTML, exactly as labelers will see it.")


@extend_schema(tags=["instructions"], parameters=[SLUG])
class ProjectInstructions(APIView):
    @extend_schema(
        responses={200: InstructionVersionOut(many=True), 404: NOT_FOUND},
        summary="Every instructions version, newest first (any member)",
        examples=[OpenApiExample("Two versions", response_only=True, value=[
            {"version": 2, "text": "# Rank by helpfulness\n\nFlag anything off-topic.",
             "created": "2026-12-02T07:35:00Z", "rankings": 3},
            {"version": 1, "text": "# Rank by helpfulness", "created": "2026-12-01T09:00:00Z", "rankings": 57},
        ])],
    )
    def get(self, request, slug: str):
        project = project_for(request, slug)
        return Response(InstructionVersionOut(version_history(project), many=True).data)

    @extend_schema(
        request=InstructionsIn, responses={201: PublishedOut, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Publish a new version (project admins); labelers read it before their next task",
        description="Versions are never edited: publishing makes version n+1. Empty text answers 400.",
        examples=[OpenApiExample("New version", value={"text": "# Rank by helpfulness\n\nFlag anything off-topic."},
                                 request_only=True),
                  OpenApiExample("Published", value={"version": 2}, response_only=True, status_codes=["201"])],
    )
    def post(self, request, slug: str):
        project = project_for(request, slug)
        require_admin(request, project)
        body = InstructionsIn(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            version = publish(project, body.validated_data["text"])
        except InstructionsRejected as exc:
            raise ValidationError({"text": [str(exc)]})
        return Response(PublishedOut(version).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["instructions"], parameters=[SLUG])
class InstructionsPreview(APIView):
    @extend_schema(
        request=InstructionsIn, responses={200: PreviewOut, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Render Markdown as labelers will see it (project admins)",
        examples=[OpenApiExample("Markdown", value={"text": "**Flag** off-topic answers"}, request_only=True),
                  OpenApiExample("Sanitized HTML", value={"html": "<p><strong>Flag</strong> off-topic answers</p>"},
                                 response_only=True)],
    )
    def post(self, request, slug: str):
        project = project_for(request, slug)
        require_admin(request, project)
        body = InstructionsIn(data=request.data)
        body.is_valid(raise_exception=True)
        return Response({"html": render_markdown(body.validated_data["text"].replace("\r\n", "\n"))})
