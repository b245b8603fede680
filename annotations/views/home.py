"""The signed-in home page: the user's projects with their own progress."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import render
from django.utils import timezone

from ..models import Ranking
from ..projects import with_progress
from ..roles import projects_visible_to


@login_required
def home(request):
    projects = list(with_progress(projects_visible_to(request.user)))
    start_of_day = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    mine = dict(
        (row["project"], row)
        for row in Ranking.objects.filter(labeler=request.user, project__in=projects)
        .values("project")
        .annotate(total=Count("pk"), today=Count("pk", filter=Q(submitted_at__gte=start_of_day)))
    )
    for project in projects:
        row = mine.get(project.pk, {})
        project.my_total = row.get("total", 0)
        project.my_today = row.get("today", 0)
        project.remaining = max(project.n_prompts * project.labelers_per_prompt - project.n_rankings, 0)
    return render(request, "annotations/home.html", {"projects": projects})
