"""The labeler's bench: the labeling page and its instructions gate.

The page itself is a shell: its modules (static/labelhub/rank.js) fetch each task from the API
(`tasks/next`), submit rankings to it and reopen the labeler's recent rankings for revision
(`my-rankings`, `GET`/`PUT` of a ranking), so the page never reloads between tasks. The gate is
server-side: until the labeler has confirmed the project's current instructions, the page shows
them instead."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from ..instructions import accept, current_with_acceptance, render_markdown
from ..models import InstructionAcceptance, InstructionVersion, Project
from ..roles import labeling_project


def labelable_project(request: HttpRequest, slug: str) -> Project:
    """The project, if the user may label it (roles.labeling_project: 404 to non-members, 403 to
    members and site admins who are not its labelers)."""
    return labeling_project(request.user, slug)


@login_required
def label_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = labelable_project(request, slug)
    instructions = current_with_acceptance(request.user, project)
    if instructions is not None and not instructions.accepted:
        read_before = InstructionAcceptance.objects.filter(
            user=request.user, instruction_version__project=project
        ).exists()
        return render(
            request,
            "annotations/instructions_gate.html",
            {
                "project": project,
                "instructions": instructions,
                "instructions_html": render_markdown(instructions.text),
                "changed": read_before,
            },
        )
    thumbs = project.feedback == Project.Feedback.THUMBS
    return render(
        request,
        "annotations/label_thumbs.html" if thumbs else "annotations/label.html",
        {
            "project": project,
            "instructions": instructions,
            "instructions_html": render_markdown(instructions.text) if instructions else "",
            "next_url": reverse("api-next-task", args=[project.slug]),
            # The API's per-assignment URLs, with 0 standing for the assignment id (the page fills it in).
            "ranking_url": reverse("api-ranking", args=[0]),
            "skip_url": reverse("api-skip", args=[0]),
            "my_rankings_url": reverse("api-my-rankings", args=[project.slug]),
        },
    )


@login_required
@require_POST
def accept_instructions(request: HttpRequest, slug: str) -> HttpResponse:
    """Record that the labeler read the version they were shown, then back to the page (which
    shows the gate again if the instructions changed in the meantime)."""
    project = labelable_project(request, slug)
    try:
        accept(request.user, project, int(request.POST.get("version", "")))
    except (ValueError, InstructionVersion.DoesNotExist):
        raise Http404("No such instructions version.")
    return redirect("label", slug=project.slug)
