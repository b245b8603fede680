"""Projects: list, create (site admins), detail with settings and progress counts, change settings
and delete (the project's admins)."""

from django.db.models import OuterRef, Subquery
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..deletion import delete_project
from ..models import InstructionVersion
from ..projects import create_project, update_project, with_progress
from ..roles import projects_visible_to
from .docs import BAD_REQUEST, FORBIDDEN, NOT_FOUND, SLUG
from .permissions import IsStaffOrReadOnly, project_for, require_admin
from .serializers import ProjectIn, ProjectOut, ProjectSettingsIn


def _with_counts(queryset):
    latest = InstructionVersion.objects.filter(project=OuterRef("pk")).order_by("-version").values("version")[:1]
    return with_progress(queryset).annotate(instructions_version=Subquery(latest))


def _project_out(request, project) -> dict:
    return ProjectOut(_with_counts(projects_visible_to(request.user)).get(pk=project.pk)).data


PROJECT_EXAMPLE = {
    "slug": "helpful", "name": "Helpfulness", "criterion": "helpfulness", "labelers_per_prompt": 3,
    "max_labelers_per_prompt": 5, "agreement_target": 0.6, "allow_ties": True, "reservation_minutes": 30,
    "generation_enabled": True, "target_completions": 3,
    "llm_base_url": "http://127.0.0.1:8001/v1", "llm_model": "qwen2.5-7b", "llm_api_key_env": "OPENAI_API_KEY",
    "temperature": 1.0, "top_p": 1.0, "max_tokens": 512, "system_prompt": "", "generation_concurrency": 16,
    "prompts": 40, "completions": 120, "rankings": 57, "prompts_complete": 15, "instructions_version": 1,
    "created_at": "2026-12-01T09:00:00Z",
}


@extend_schema(tags=["projects"])
class ProjectList(APIView):
    permission_classes = [IsStaffOrReadOnly]

    @extend_schema(responses={200: ProjectOut(many=True)}, summary="Your projects, with settings and progress counts",
                   examples=[OpenApiExample("One project", value=[PROJECT_EXAMPLE], response_only=True)])
    def get(self, request):
        projects = _with_counts(projects_visible_to(request.user))
        return Response(ProjectOut(projects, many=True).data)

    @extend_schema(request=ProjectIn, responses={201: ProjectOut, 400: BAD_REQUEST, 403: OpenApiResponse(
        FORBIDDEN.response, description="Only site admins create projects.")},
        summary="Create a project (site admins); the creator becomes its admin", examples=[OpenApiExample(
        "A project with generation", request_only=True,
        value={"slug": "helpful", "name": "Helpfulness", "labelers_per_prompt": 3, "allow_ties": True,
               "instructions": "# Rank by helpfulness", "generation_enabled": True, "llm_model": "qwen2.5-7b",
               "llm_base_url": "http://127.0.0.1:8001/v1", "llm_api_key_env": "OPENAI_API_KEY"}),
        OpenApiExample("Created", value=PROJECT_EXAMPLE, response_only=True, status_codes=["201"]),
        OpenApiExample("A slug taken", value={"slug": ["a project with the slug “helpful” already exists"]},
                       response_only=True, status_codes=["400"])])
    def post(self, request):
        body = ProjectIn(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        project = create_project(created_by=request.user, **body.validated_data)
        return Response(_project_out(request, project), status=status.HTTP_201_CREATED)


@extend_schema(tags=["projects"], parameters=[SLUG])
class ProjectDetail(APIView):
    @extend_schema(responses={200: ProjectOut, 404: NOT_FOUND}, summary="A project's settings and progress counts",
                   examples=[OpenApiExample("Helpfulness", value=PROJECT_EXAMPLE, response_only=True)])
    def get(self, request, slug: str):
        project = project_for(request, slug)
        return Response(_project_out(request, project))

    @extend_schema(request=ProjectSettingsIn, responses={200: ProjectOut, 400: BAD_REQUEST, 403: FORBIDDEN,
                                                         404: NOT_FOUND},
                   summary="Change some settings (project admins); only the fields sent change",
                   examples=[OpenApiExample("Adaptive overlap: up to 5 labelers below 0.6 agreement",
                                            request_only=True,
                                            value={"max_labelers_per_prompt": 5, "agreement_target": 0.6}),
                             OpenApiExample("Five labelers per prompt, no ties", request_only=True,
                                            value={"labelers_per_prompt": 5, "allow_ties": False, "temperature": 0.7}),
                             OpenApiExample("Changed", response_only=True, status_codes=["200"],
                                            value={**PROJECT_EXAMPLE, "labelers_per_prompt": 5, "allow_ties": False}),
                             OpenApiExample("Out of range", response_only=True, status_codes=["400"],
                                            value={"temperature": ["temperature must be from 0 to 2"]})])
    def patch(self, request, slug: str):
        project = project_for(request, slug)
        require_admin(request, project)
        body = ProjectSettingsIn(project, data=request.data, partial=True, context={"request": request})
        body.is_valid(raise_exception=True)
        update_project(project, body.validated_data)
        return Response(_project_out(request, project))

    @extend_schema(responses={204: OpenApiResponse(description="Deleted, with its prompts, rankings and exports; "
                                                           "its uploaded and export files are removed after."),
                              403: FORBIDDEN, 404: NOT_FOUND},
                   summary="Delete a project and everything in it (project admins)")
    def delete(self, request, slug: str):
        project = project_for(request, slug)
        require_admin(request, project)
        delete_project(project)
        return Response(status=status.HTTP_204_NO_CONTENT)
