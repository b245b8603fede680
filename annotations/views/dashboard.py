"""A project's dashboard, for its admins and researchers: progress, each labeler's rankings today
and in total, and the links to the project's other pages. Admins also upload prompt sets and start
generation here. A fixed number of queries whatever the project's size."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ..generating import generation_status
from ..models import InstructionVersion, PromptSet
from ..projects import labeler_tallies
from ..quality import labeler_pseudonym
from .project_admin import staff_page_project

# (link text, path under /projects/{slug}/, for admins only). Plain paths, not url names: some of
# these pages live in other modules and the names must not be needed for the dashboard to render.
LINKS = (
    ("Prompts", "prompts/", False),
    ("Team", "team/", True),
    ("Instructions", "instructions/", True),
    ("Settings", "settings/", True),
    ("Quality", "quality/", False),
    ("Exports", "exports/", False),
)


@login_required
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    project, is_admin = staff_page_project(request, slug, progress=True)
    tallies = labeler_tallies(project)
    labelers = [
        {"name": tally.username if is_admin else labeler_pseudonym(project, tally.user_id),
         "done_today": tally.done_today, "done_total": tally.done_total, "member": tally.member}
        for tally in tallies
    ]
    labelers.sort(key=lambda row: (-row["done_total"], row["name"]))
    context = {
        "project": project,
        "is_admin": is_admin,
        "links": [(text, f"/projects/{project.slug}/{path}") for text, path, admin_only in LINKS
                  if is_admin or not admin_only],
        "labelers": labelers,
        "instructions_version": InstructionVersion.objects.filter(project=project)
        .order_by("-version").values_list("version", flat=True).first(),
    }
    if is_admin:
        context.update({
            "prompt_sets": PromptSet.objects.filter(project=project).select_related("uploaded_by")
            .order_by("-created_at")[:20],
            "generation": generation_status(project),
            "max_upload_mb": settings.LABELHUB_MAX_UPLOAD_BYTES / 1024 / 1024,
        })
    return render(request, "annotations/project_admin.html", context)
