"""Projects: list, create (site admins), detail with progress counts, delete (admins)."""

from django.db.models import OuterRef, Subquery
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import InstructionVersion
from ..projects import create_project, with_progress
from ..roles import projects_visible_to
from .permissions import IsStaffOrReadOnly, project_for, require_admin
from .serializers import ProjectIn, ProjectOut


def _with_counts(queryset):
    latest = InstructionVersion.objects.filter(project=OuterRef("pk")).order_by("-version").values("version")[:1]
    return with_progress(queryset).annotate(instructions_version=Subquery(latest))


class ProjectList(APIView):
    permission_classes = [IsStaffOrReadOnly]

    @extend_schema(responses=ProjectOut(many=True))
    def get(self, request):
        projects = _with_counts(projects_visible_to(request.user))
        return Response(ProjectOut(projects, many=True).data)

    @extend_schema(request=ProjectIn, responses={201: ProjectOut})
    def post(self, request):
        body = ProjectIn(data=request.data)
        body.is_valid(raise_exception=True)
        project = create_project(created_by=request.user, **body.validated_data)
        project = _with_counts(projects_visible_to(request.user)).get(pk=project.pk)
        return Response(ProjectOut(project).data, status=status.HTTP_201_CREATED)


class ProjectDetail(APIView):
    @extend_schema(responses=ProjectOut)
    def get(self, request, slug: str):
        project = project_for(request, slug)
        project = _with_counts(projects_visible_to(request.user)).get(pk=project.pk)
        return Response(ProjectOut(project).data)

    @extend_schema(responses={204: None})
    def delete(self, request, slug: str):
        project = project_for(request, slug)
        require_admin(request, project)
        project.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
