"""Prompt-set upload: the same importer as `manage.py import_prompts`, answered when it has finished."""

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from ..prompt_sets import PromptSetRejected, import_prompt_set
from .docs import FORBIDDEN, NOT_FOUND, SLUG, ErrorOut, detail_example
from .permissions import project_for, require_admin

# Room for the multipart envelope around a file of exactly the limit.
MULTIPART_OVERHEAD = 64 * 1024


class PromptSetUpload(serializers.Serializer):
    file = serializers.FileField()


PromptSetOut = inline_serializer("PromptSetOut", {
    "id": serializers.IntegerField(),
    "prompts": serializers.IntegerField(help_text="Prompts imported."),
    "completions": serializers.IntegerField(help_text="Completions imported with them."),
    "status": serializers.CharField(),
    "filename": serializers.CharField(),
})

class ImportProblemOut(serializers.Serializer):
    line = serializers.IntegerField(allow_null=True, required=False,
                                    help_text="The JSONL line (CSV files say `row`); null for the whole file.")
    row = serializers.IntegerField(allow_null=True, required=False, help_text="The CSV row, for CSV files.")
    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()


PromptSetRejectedOut = inline_serializer("PromptSetRejectedOut", {
    "errors": ImportProblemOut(many=True, help_text="The first problems found; nothing was imported."),
    "total_errors": serializers.IntegerField(),
    "prompt_set": serializers.IntegerField(required=False, help_text="The rejected upload, kept for the record."),
})


def too_large_message() -> str:
    limit = settings.LABELHUB_MAX_UPLOAD_BYTES
    return f"the file is larger than the upload limit of {limit / 1024 / 1024:g} MB ({limit} bytes)"


def rejection_body(exc: PromptSetRejected) -> dict:
    return {"errors": [problem.as_dict() for problem in exc.errors], "total_errors": exc.total_errors,
            "prompt_set": exc.prompt_set.pk}


@extend_schema(tags=["prompt sets"], parameters=[SLUG])
class PromptSetCreate(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Upload a prompt set (JSONL or CSV) as the multipart field `file` (project admins)",
        description="All or nothing: a file with any bad line is refused with every problem listed, line by line. "
                    'A JSONL line is `{"id": "p1", "prompt": "...", "completions": ["...", "..."]}` '
                    "(completions optional: generate them).",
        request={"multipart/form-data": PromptSetUpload},
        responses={
            201: PromptSetOut,
            400: OpenApiResponse(PromptSetRejectedOut, description="The file was refused; nothing was imported."),
            403: FORBIDDEN, 404: NOT_FOUND,
            413: OpenApiResponse(ErrorOut, description="The file is larger than LABELHUB_MAX_UPLOAD_BYTES."),
        },
        examples=[
            OpenApiExample("Imported", response_only=True, status_codes=["201"],
                           value={"id": 4, "prompts": 40, "completions": 0, "status": "done",
                                  "filename": "prompts.jsonl"}),
            OpenApiExample("A bad line", response_only=True, status_codes=["400"], value={
                "errors": [{"line": 7, "field": "prompt", "message": "line 7: \"prompt\" is empty"}],
                "total_errors": 1, "prompt_set": 5}),
            detail_example("Too large", "the file is larger than the upload limit of 20 MB (20971520 bytes)", "413"),
        ],
    )
    def post(self, request, slug: str):
        project = project_for(request, slug)
        require_admin(request, project)
        limit = settings.LABELHUB_MAX_UPLOAD_BYTES
        # Refuse an oversized body before reading it; the file size check below catches chunked uploads.
        if int(request.META.get("CONTENT_LENGTH") or 0) > limit + MULTIPART_OVERHEAD:
            return Response({"detail": too_large_message()}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        upload = request.FILES.get("file")
        if upload is None:
            return Response({"errors": [{"line": None, "field": "file", "message": 'send the prompt set as the '
                                         'multipart field "file"'}], "total_errors": 1},
                            status=status.HTTP_400_BAD_REQUEST)
        if upload.size > limit:
            return Response({"detail": too_large_message()}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        try:
            prompt_set = import_prompt_set(project, upload, upload.name, uploaded_by=request.user)
        except PromptSetRejected as exc:
            return Response(rejection_body(exc), status=status.HTTP_400_BAD_REQUEST)
        return Response(
            {"id": prompt_set.pk, "prompts": prompt_set.prompts, "completions": prompt_set.completions,
             "status": prompt_set.status, "filename": prompt_set.filename},
            status=status.HTTP_201_CREATED,
        )
