"""Who may open a project's management pages, and the admin's actions on the dashboard: upload a
prompt set, start generation. (The dashboard itself is views/dashboard.py.)"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from ..generating import fail_generation, start_generation
from ..models import Membership, Project
from ..projects import with_progress
from ..prompt_sets import PromptSetRejected, import_prompt_set
from ..publishing import BrokerUnavailable, send_after_commit
from ..roles import is_project_admin, projects_visible_to, roles_in
from ..tasks import generate_completions


def administered_project(request: HttpRequest, slug: str, progress: bool = False) -> Project:
    """404 to non-members, 403 to members who are not the project's admins. `progress`: with the
    counts of projects.with_progress (they read every prompt and ranking: only for the pages showing them)."""
    projects = projects_visible_to(request.user)
    project = get_object_or_404(with_progress(projects) if progress else projects, slug=slug)
    if not is_project_admin(request.user, project):
        raise PermissionDenied("Only the project's admins may see this page.")
    return project


def staff_page_project(request: HttpRequest, slug: str, progress: bool = False) -> tuple[Project, bool]:
    """For the read-only pages of admins and researchers (dashboard, quality): the project and
    whether the user is its admin. 404 to non-members, 403 to labelers. `progress`: as for
    administered_project."""
    projects = projects_visible_to(request.user)
    project = get_object_or_404(with_progress(projects) if progress else projects, slug=slug)
    roles = roles_in(request.user, project)
    if not roles & {Membership.Role.ADMIN, Membership.Role.RESEARCHER}:
        raise PermissionDenied("Only the project's admins and researchers may see this page.")
    return project, Membership.Role.ADMIN in roles


@login_required
@require_POST
def upload_prompt_set(request: HttpRequest, slug: str) -> HttpResponse:
    project = administered_project(request, slug)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a prompt-set file (.jsonl, .csv or .parquet) first.")
    elif upload.size > settings.LABELHUB_MAX_UPLOAD_BYTES:
        messages.error(request, f"{upload.name} is larger than the upload limit of "
                                f"{settings.LABELHUB_MAX_UPLOAD_BYTES / 1024 / 1024:g} MB.")
    else:
        try:
            prompt_set = import_prompt_set(project, upload, upload.name, uploaded_by=request.user)
        except PromptSetRejected as exc:
            errors = f"{exc.total_errors} error{'' if exc.total_errors == 1 else 's'}"
            messages.error(request, f"{upload.name} was not imported ({errors}, nothing stored); "
                                    "the errors are listed under Prompt sets.")
        else:
            messages.success(request, f"Imported {prompt_set.prompts} prompts and {prompt_set.completions} "
                                      f"completions from {prompt_set.filename}.")
    return redirect("project-admin", slug=project.slug)


@login_required
@require_POST
def generate(request: HttpRequest, slug: str) -> HttpResponse:
    project = administered_project(request, slug)
    job, created = start_generation(project)
    if not created:  # one run at a time: the page shows this one's progress
        messages.info(request, f"Generation job {job.pk} is already {job.status}: its progress is below.")
        return redirect("project-admin", slug=project.slug)
    try:
        send_after_commit(generate_completions, kwargs={"project_id": project.pk, "job_id": job.pk},
                          on_unreachable=lambda message: fail_generation(job.pk, message))
    except BrokerUnavailable as exc:
        return render(request, "annotations/unavailable.html",
                      {"project": project, "what": f"Generation job {job.pk}", "detail": exc.detail}, status=503)
    messages.success(request, f"Generation job {job.pk} queued: completions will appear as they arrive.")
    return redirect("project-admin", slug=project.slug)
