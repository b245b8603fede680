"""Export jobs: start one (202), follow its status and progress, download the zip of its bundle.
Researchers and admins of the project only: labelers get 403, non-members 404."""

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    OpenApiTypes,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from ..deletion import delete_export
from ..export.job import TooManyExports, fail_export, start_export, zip_name
from ..export.options import FORMATS, KINDS, MARGINS, MODES, ExportOptions, ExportOptionsError
from ..models import Export
from ..publishing import send_after_commit
from ..ranking import FLAGGED_OPTIONS, TIES_OPTIONS
from ..roles import projects_visible_to
from ..storage import download_response
from ..tasks import export_pairs_task
from .docs import (
    BAD_REQUEST,
    EXPORT_ID,
    FORBIDDEN,
    NOT_FOUND,
    SLUG,
    TOO_MANY,
    UNAVAILABLE,
    ErrorOut,
    detail_example,
)
from .permissions import project_for, require_admin, require_exporter


class ExportIn(serializers.Serializer):
    kind = serializers.ChoiceField(KINDS, default="preference", help_text="preference: pairs (chosen, rejected); "
                                   "kto: one row per judged completion (prompt, completion, label)")
    format = serializers.ChoiceField(FORMATS, default="jsonl")
    mode = serializers.ChoiceField(MODES, default="labeler")
    flagged = serializers.ChoiceField(FLAGGED_OPTIONS, default="drop")
    ties = serializers.ChoiceField(TIES_OPTIONS, default="drop")
    exclude_labelers_below = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
    test_fraction = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
    margin = serializers.ChoiceField(MARGINS, required=False, allow_null=True)
    complete_only = serializers.BooleanField(default=False)
    seed = serializers.IntegerField(default=0)

    def validate(self, data):
        try:
            data["options"] = ExportOptions.from_dict(data)
        except ExportOptionsError as exc:
            raise serializers.ValidationError({exc.option: [exc.message]})
        return data


class SplitCounts(serializers.Serializer):
    pairs = serializers.IntegerField()
    prompts = serializers.IntegerField()
    rankings = serializers.IntegerField()


class ExportCountsDoc(serializers.Serializer):
    pairs = serializers.IntegerField()
    prompts = serializers.IntegerField()
    rankings = serializers.IntegerField()
    labelers_excluded = serializers.IntegerField()
    identical_pairs_dropped = serializers.IntegerField(help_text="Pairs of identical texts, never exported.")
    splits = serializers.DictField(child=SplitCounts(), help_text="Per split: train, and test when asked for.")


# The JSON columns, described for the docs; they render exactly as the model's JSON does.
@extend_schema_field(ExportCountsDoc(help_text="Filled in when the export is done; {} before."))
class CountsField(serializers.JSONField):
    pass


@extend_schema_field(ExportIn(help_text="The options the export was made with."))
class ParamsField(serializers.JSONField):
    pass


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"},
                      "description": "SHA-256 of the bundle and of each file in it."})
class Sha256Field(serializers.JSONField):
    pass


class ExportOut(serializers.ModelSerializer):
    counts = CountsField(read_only=True)
    params = ParamsField(read_only=True)
    sha256 = Sha256Field(read_only=True)
    project = serializers.CharField(source="project.slug")
    requested_by = serializers.CharField(source="requested_by.username", default=None)
    created = serializers.DateTimeField(source="created_at")
    download = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = ["id", "project", "status", "progress", "counts", "params", "sha256", "error", "requested_by",
                  "created", "started_at", "finished_at", "download"]

    def get_download(self, export: Export) -> str | None:
        return f"/api/exports/{export.pk}/download/" if export.status == Export.Status.DONE else None


ExportStartedOut = inline_serializer("ExportStartedOut", {
    "id": serializers.IntegerField(help_text="Poll GET /api/exports/{id}/ with it."),
    "status": serializers.CharField(help_text="queued, then running, done or failed."),
})

EXPORT_DONE_EXAMPLE = {  # as the README's walkthrough got it
    "id": 2, "project": "helpful", "status": "done", "progress": 1.0,
    "counts": {"pairs": 9, "splits": {"train": {"pairs": 9, "prompts": 2, "rankings": 4}}, "prompts": 2,
               "rankings": 4, "labelers_excluded": 0, "identical_pairs_dropped": 0},
    "params": {"mode": "labeler", "seed": 0, "ties": "drop", "format": "jsonl", "margin": None, "flagged": "drop",
               "complete_only": False, "test_fraction": None, "exclude_labelers_below": None},
    "sha256": {"bundle": "8f37b3e4…", "README.md": "f33b6403…", "pairs.jsonl": "2c4bc415…",
               "rankings.jsonl": "c4f6ebb1…"},
    "error": "", "requested_by": "ada", "created": "2026-12-02T07:32:13.426867Z",
    "started_at": "2026-12-02T07:32:13.431745Z", "finished_at": "2026-12-02T07:32:13.507917Z",
    "download": "/api/exports/2/download/",
}


def export_for(request, export_id: int) -> Export:
    """The export, if the user may see its project (404 otherwise) and export from it (403)."""
    export = (
        Export.objects.select_related("project", "requested_by")
        .filter(pk=export_id, project__in=projects_visible_to(request.user))
        .first()
    )
    if export is None:
        raise NotFound("Not found.")
    require_exporter(request, export.project)
    return export


@extend_schema(tags=["exports"], parameters=[SLUG])
class ProjectExports(APIView):
    @extend_schema(
        summary="The project's exports, newest first (researchers and admins)",
        responses={200: ExportOut(many=True), 403: FORBIDDEN, 404: NOT_FOUND},
        examples=[OpenApiExample("One finished export", value=[EXPORT_DONE_EXAMPLE], response_only=True)],
    )
    def get(self, request, slug: str):
        project = project_for(request, slug)
        require_exporter(request, project)
        exports = Export.objects.filter(project=project).select_related("project", "requested_by")
        return Response(ExportOut(exports, many=True).data)

    @extend_schema(
        summary="Start an export of pairwise preferences (researchers and admins)",
        description="The bundle is built by the worker: poll `GET /api/exports/{id}/` until `status` is `done`, "
                    "then download the zip. Unknown or contradictory options answer 400 naming the option. "
                    "An identical export (same options) still queued or running is returned (202, its id) instead of "
                    "a new one; past the project's cap of active exports, 429; with the job queue unreachable, "
                    "503 (the export is marked failed).",
        request=ExportIn,
        responses={202: ExportStartedOut, 400: BAD_REQUEST, 403: FORBIDDEN,
                   404: NOT_FOUND, 429: TOO_MANY, 503: UNAVAILABLE},
        examples=[
            OpenApiExample("JSONL with a test split", request_only=True,
                           value={"format": "jsonl", "mode": "labeler", "flagged": "drop", "ties": "drop",
                                  "test_fraction": 0.1, "seed": 0}),
            OpenApiExample("Queued", value={"id": 2, "status": "queued"}, response_only=True, status_codes=["202"]),
            OpenApiExample("A bad option", value={"format": ['"xml" is not a valid choice.']}, response_only=True,
                           status_codes=["400"]),
        ],
    )
    def post(self, request, slug: str):
        project = project_for(request, slug)
        require_exporter(request, project)
        body = ExportIn(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            export, created = start_export(project, request.user, body.validated_data["options"])
        except TooManyExports as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_429_TOO_MANY_REQUESTS)
        if not created:
            return Response({"id": export.pk, "status": export.status}, status=status.HTTP_202_ACCEPTED)
        send_after_commit(export_pairs_task, kwargs={"export_id": export.pk},
                          on_unreachable=lambda message: fail_export(export.pk, message))
        return Response({"id": export.pk, "status": export.status}, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["exports"], parameters=[EXPORT_ID])
class ExportDetail(APIView):
    @extend_schema(
        summary="An export's status, progress (0–1) and counts",
        description="`download` is set once `status` is `done`; `error` says why when it is `failed`.",
        responses={200: ExportOut, 403: FORBIDDEN, 404: NOT_FOUND},
        examples=[OpenApiExample("Done", value=EXPORT_DONE_EXAMPLE, response_only=True)],
    )
    def get(self, request, export_id: int):
        return Response(ExportOut(export_for(request, export_id)).data)

    @extend_schema(
        summary="Delete an export and its files (project admins)",
        description="Any status: a running export's worker finds its row gone and stores nothing. "
                    "The files are removed once the deletion is committed.",
        responses={204: OpenApiResponse(description="Deleted, with its files."), 403: FORBIDDEN, 404: NOT_FOUND},
    )
    def delete(self, request, export_id: int):
        export = export_for(request, export_id)
        require_admin(request, export.project)
        delete_export(export)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["exports"], parameters=[EXPORT_ID])
class ExportDownload(APIView):
    @extend_schema(
        summary="Download a finished export's bundle as a zip",
        description="The zip holds the pairs (train/test), rankings.jsonl, the manifest and the dataset card. "
                    "Load the JSONL with `datasets.load_dataset(\"json\", data_files=...)`.",
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The bundle."),
            302: OpenApiResponse(description="With object storage (STORAGE_URL): the bundle's signed URL, "
                                             "valid LABELHUB_DOWNLOAD_URL_SECONDS (default 300)."),
            403: FORBIDDEN, 404: NOT_FOUND,
            409: OpenApiResponse(ErrorOut, description="The export is not done yet (queued, running or failed)."),
            410: OpenApiResponse(ErrorOut, description="The export's files were deleted from the server."),
        },
        examples=[detail_example("Not done yet", "the export is running, not done", "409"),
                  detail_example("Files gone", "the export's files are gone", "410")],
    )
    def get(self, request, export_id: int):
        export = export_for(request, export_id)
        if export.status != Export.Status.DONE:
            return Response({"detail": f"the export is {export.status}, not done"}, status=status.HTTP_409_CONFLICT)
        response = download_response(export.files["bundle"], zip_name(export), "application/zip")
        if response is None:
            return Response({"detail": "the export's files are gone"}, status=status.HTTP_410_GONE)
        return response
