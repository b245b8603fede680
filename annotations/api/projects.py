"""Projects: list, create (site admins), detail with settings and progress counts, change settings
and delete (the project's admins)."""

from django.db.models import OuterRef, Subquery
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import InstructionVersion
from ..projects import create_project, update_project, with_progress
from ..roles import projects_visible_to
from .permissions import IsStaffOrReadOnly, project_for, require_admin
from .serializers import ProjectIn, ProjectOut, ProjectSettingsIn


def _with_counts(queryset):
    latest = InstructionVersion.objects.filter(project=OuterRef("pk")).order_by("-version").values("version")[:1]
    return with_progress(queryset).annotate(instructions_version=Subquery(latest))


def _project_out(request, project) -> dict:
    return ProjectOut(_with_counts(projects_visible_to(request.user)).get(pk=project.pk)).data


class ProjectList(APIView):
    permission_classes = [IsStaffOrReadOnly]

    @extend_schema(responses=ProjectOut(many=True))
    def get(self, request):
        projects = _with_counts(projects_visible_to(request.user))
        return Response(ProjectOut(projects, many=True).data)

    @extend_schema(request=ProjectIn, responses={201: ProjectOut}, examples=[OpenApiExample(
        "A project with generation", request_only=True,
        value={"slug": "helpful", "name": "Helpfulness", "labelers_per_prompt": 3, "allow_ties": True,
               "instructions": "# Rank by helpfulness", "generation_enabled": True, "llm_model": "qwen2.5-7b",
               "llm_base_url": "http://127.0.0.1:8001/v1", "llm_api_key_env": "OPENAI_API_KEY"})])
    def post(self, request):
        body = ProjectIn(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        project = create_project(created_by=request.user, **body.validated_data)
        return Response(_project_out(request, project), status=status.HTTP_201_CREATED)


class ProjectDetail(APIView):
    @extend_schema(responses=ProjectOut)
    def get(self, request, slug: str):
        project = project_for(request, slug)
        return Response(_project_out(request, project))

    @extend_schema(request=ProjectSettingsIn, responses={200: ProjectOut}, examples=[OpenApiExample(
        "Five labelers per prompt, no ties", request_only=True,
        value={"labelers_per_prompt": 5, "allow_ties": False, "temperature": 0.7})])
    def patch(self, request, slug: str):
        project = project_for(request, slug)
        require_admin(request, project)
        body = ProjectSettingsIn(project, data=request.data, partial=True, context={"request": request})
        body.is_valid(raise_exception=True)
        update_project(project, body.validated_data)
        return Response(_project_out(request, project))

    @extend_schema(responses={204: None})
    def delete(self, request, slug: str):
        project = project_for(request, slug)
        require_admin(request, project)
        project.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
