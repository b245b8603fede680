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


class ProjectInstructions(APIView):
    @extend_schema(responses=InstructionVersionOut(many=True), summary="Every instructions version, newest first")
    def get(self, request, slug: str):
        project = project_for(request, slug)
        return Response(InstructionVersionOut(version_history(project), many=True).data)

    @extend_schema(
        request=InstructionsIn, responses={201: PublishedOut},
        summary="Publish a new version (project admins); labelers read it before their next task",
        examples=[OpenApiExample("New version", value={"text": "# Rank by helpfulness\n\nFlag anything off-topic."},
                                 request_only=True)],
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


class InstructionsPreview(APIView):
    @extend_schema(request=InstructionsIn, responses=PreviewOut, summary="Render Markdown as labelers will see it")
    def post(self, request, slug: str):
        project = project_for(request, slug)
        require_admin(request, project)
        body = InstructionsIn(data=request.data)
        body.is_valid(raise_exception=True)
        return Response({"html": render_markdown(body.validated_data["text"].replace("\r\n", "\n"))})
