"""The signed-in home page: each project the user is in. Labeler members get Start and their own
progress; admins and researchers an "Open" link to the dashboard. Site admins see every project
with Open, and Start only where they are labeler members (they are not in every labeling pool)."""

from collections import defaultdict

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ..models import Membership
from ..progress import labeler_progress
from ..projects import with_progress
from ..roles import projects_visible_to

Role = Membership.Role


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    projects = list(with_progress(projects_visible_to(user)))
    progress = labeler_progress(user, projects)
    roles: dict[int, set[str]] = defaultdict(set)
    memberships = Membership.objects.filter(user=user, project__in=projects)
    for project_id, role in memberships.values_list("project_id", "role"):
        roles[project_id].add(role)
    rows = [
        {
            "project": project,
            "mine": progress[project.pk],
            "labels": Role.LABELER in roles[project.pk],
            "opens": user.is_staff or bool(roles[project.pk] & {Role.ADMIN, Role.RESEARCHER}),
            "roles": sorted(roles[project.pk]) or (["site admin"] if user.is_staff else []),
        }
        for project in projects
    ]
    return render(request, "annotations/home.html", {"rows": rows, "can_create": user.is_staff})
