"""Completion generation: progress (GET) and start (POST) for a project's admins."""

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..generating import fail_generation, generation_status, start_generation
from ..publishing import send_after_commit
from ..tasks import generate_completions
from .docs import BAD_REQUEST, FORBIDDEN, NOT_FOUND, SLUG, UNAVAILABLE
from .permissions import project_for, require_admin


class GenerationIn(serializers.Serializer):
    n = serializers.IntegerField(min_value=1, max_value=100, required=False, allow_null=True,
                                 help_text="completions per prompt to reach (default: the project's target)")


class GenerationJobOut(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text="queued, running, done or failed.")
    total = serializers.IntegerField(help_text="Completions to generate.")
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    progress = serializers.FloatField(help_text="(done + failed) / total, 0 to 1.")
    error = serializers.CharField(allow_blank=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    repeats = inline_serializer("GenerationRepeats", {
        "asked_again": serializers.IntegerField(help_text="Completions asked again because they repeated another."),
        "kept": serializers.IntegerField(help_text="Repeats kept after the bounded retries."),
    })


class FailedPromptOut(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_blank=True)
    text = serializers.CharField(help_text="The first 200 characters.")
    completions = serializers.IntegerField()
    error = serializers.CharField()
    attempts = serializers.IntegerField()


GenerationStatusOut = inline_serializer("GenerationStatusOut", {
    "enabled": serializers.BooleanField(),
    "target_completions": serializers.IntegerField(),
    "prompts_below_target": serializers.IntegerField(),
    "missing_completions": serializers.IntegerField(),
    "prompts_not_ready": serializers.IntegerField(help_text="Prompts with fewer than 2 completions: not rankable."),
    "job": GenerationJobOut(allow_null=True, help_text="The latest job; null before the first."),
    "failed_prompts_total": serializers.IntegerField(),
    "failed_prompts": FailedPromptOut(many=True, help_text="The first 50 prompts whose generation failed."),
})

GenerationStartedOut = inline_serializer("GenerationStartedOut", {
    "id": serializers.IntegerField(help_text="The job; follow it with GET generation/."),
    "status": serializers.CharField(),
})


@extend_schema(tags=["generation"], parameters=[SLUG])
class GenerationView(APIView):
    @extend_schema(
        summary="Generation progress: the latest job, what is missing, failed prompts (project admins)",
        responses={200: GenerationStatusOut, 403: FORBIDDEN, 404: NOT_FOUND},
        examples=[OpenApiExample("Running", response_only=True, value={
            "enabled": True, "target_completions": 3, "prompts_below_target": 12, "missing_completions": 20,
            "prompts_not_ready": 4,
            "job": {"id": 3, "status": "running", "total": 120, "done": 100, "failed": 0, "progress": 0.8333,
                    "error": "", "started_at": "2026-12-02T07:31:02Z", "finished_at": None,
                    "repeats": {"asked_again": 2, "kept": 0}},
            "failed_prompts_total": 0, "failed_prompts": []})],
    )
    def get(self, request, slug: str):
        project = project_for(request, slug)
        require_admin(request, project)
        return Response(generation_status(project))

    @extend_schema(
        summary="Start generating the missing completions (project admins)",
        description="The worker asks the project's OpenAI-compatible server for completions until each prompt "
                    "has `n` (default: the project's target). Poll GET to follow it. While a job is queued or "
                    "running, this returns that job (202, its id) instead of starting another. 503 when the job queue "
                    "cannot be reached (the job is then marked failed).",
        request=GenerationIn,
        responses={202: GenerationStartedOut, 400: BAD_REQUEST, 403: FORBIDDEN,
                   404: NOT_FOUND, 503: UNAVAILABLE},
        examples=[OpenApiExample("Three per prompt", value={"n": 3}, request_only=True),
                  OpenApiExample("Queued", value={"id": 3, "status": "queued"}, response_only=True,
                                 status_codes=["202"])],
    )
    def post(self, request, slug: str):
        project = project_for(request, slug)
        require_admin(request, project)
        body = GenerationIn(data=request.data)
        body.is_valid(raise_exception=True)
        n = body.validated_data.get("n")
        job, created = start_generation(project, n)
        if not created:  # already queued or running: that job, not a second run of it
            return Response({"id": job.pk, "status": job.status}, status=status.HTTP_202_ACCEPTED)
        send_after_commit(generate_completions, kwargs={"project_id": project.pk, "n": n, "job_id": job.pk},
                          on_unreachable=lambda message: fail_generation(job.pk, message))
        return Response({"id": job.pk, "status": job.status}, status=status.HTTP_202_ACCEPTED)
