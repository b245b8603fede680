"""Completion generation: progress (GET) and start (POST) for a project's admins."""

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..generating import generation_status, start_generation
from ..tasks import generate_completions
from .permissions import project_for, require_admin


class GenerationIn(serializers.Serializer):
    n = serializers.IntegerField(min_value=1, max_value=100, required=False, allow_null=True,
                                 help_text="completions per prompt to reach (default: the project's target)")


class GenerationView(APIView):
    @extend_schema(responses=dict)
    def get(self, request, slug: str):
        project = project_for(request, slug)
        require_admin(request, project)
        return Response(generation_status(project))

    @extend_schema(request=GenerationIn, responses={202: dict})
    def post(self, request, slug: str):
        project = project_for(request, slug)
        require_admin(request, project)
        body = GenerationIn(data=request.data)
        body.is_valid(raise_exception=True)
        n = body.validated_data.get("n")
        job = start_generation(project, n)
        transaction.on_commit(lambda: generate_completions.delay(project.pk, n))  # the worker must see the job
        return Response({"id": job.pk, "status": job.status}, status=status.HTTP_202_ACCEPTED)
