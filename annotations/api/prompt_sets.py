"""Prompt-set upload: the same importer as `manage.py import_prompts`, answered when it has finished."""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from ..prompt_sets import PromptSetRejected, import_prompt_set
from .permissions import project_for, require_admin

# Room for the multipart envelope around a file of exactly the limit.
MULTIPART_OVERHEAD = 64 * 1024


class PromptSetUpload(serializers.Serializer):
    file = serializers.FileField()


def too_large_message() -> str:
    limit = settings.LABELHUB_MAX_UPLOAD_BYTES
    return f"the file is larger than the upload limit of {limit / 1024 / 1024:g} MB ({limit} bytes)"


def rejection_body(exc: PromptSetRejected) -> dict:
    return {"errors": [problem.as_dict() for problem in exc.errors], "total_errors": exc.total_errors,
            "prompt_set": exc.prompt_set.pk}


class PromptSetCreate(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": PromptSetUpload},
        responses={201: dict, 400: OpenApiResponse(description='{"errors": [...], "total_errors": n}'),
                   413: OpenApiResponse(description="file larger than LABELHUB_MAX_UPLOAD_BYTES")},
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
