"""The signed-in home page: the user's projects with their own progress."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from ..progress import labeler_progress
from ..projects import with_progress
from ..roles import projects_visible_to


@login_required
def home(request):
    projects = list(with_progress(projects_visible_to(request.user)))
    progress = labeler_progress(request.user, projects)
    rows = [(project, progress[project.pk]) for project in projects]
    return render(request, "annotations/home.html", {"rows": rows})
