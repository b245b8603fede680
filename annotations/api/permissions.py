"""Project-scoped permissions. Views fetch the project with `project_for(request, slug)`, which
answers 404 to users who are not members, so a project's existence is not revealed."""

from django.shortcuts import get_object_or_404
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from ..models import Project
from ..roles import can_export, is_project_admin, projects_visible_to


class IsStaffOrReadOnly(BasePermission):
    """Anyone signed in may list; only site-wide admins may create."""

    def has_permission(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return bool(request.user and request.user.is_authenticated)
        return bool(request.user and request.user.is_staff)


def project_for(request, slug: str) -> Project:
    return get_object_or_404(projects_visible_to(request.user), slug=slug)


def require_admin(request, project: Project) -> None:
    if not is_project_admin(request.user, project):
        raise PermissionDenied("Only the project's admins may do this.")


def require_exporter(request, project: Project) -> None:
    if not can_export(request.user, project):
        raise PermissionDenied("Only researchers and admins may export.")
