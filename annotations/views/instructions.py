"""The instructions page: every version with its rankings count and its diff against the one
before; project admins publish a new version (with a live preview rendered by the server, through
the same sanitizer labelers' pages use). Researchers read it; labelers read the instructions on
their own page."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from ..instructions import MAX_INSTRUCTIONS_CHARS, InstructionsRejected, publish, render_markdown, version_history
from ..models import Membership
from .team import project_for_roles

Role = Membership.Role


class PublishForm(forms.Form):
    # Not `required`, not stripped: `publish` owns the rules (the API applies the same ones).
    text = forms.CharField(
        label="New version", required=False, strip=False,
        widget=forms.Textarea(attrs={"rows": 14, "maxlength": MAX_INSTRUCTIONS_CHARS, "data-instructions-input": ""}),
    )


@login_required
def instructions_page(request: HttpRequest, slug: str) -> HttpResponse:
    project, roles = project_for_roles(request, slug, {Role.ADMIN, Role.RESEARCHER})
    may_publish = Role.ADMIN in roles
    history = version_history(project)
    form = PublishForm(initial={"text": history[0].text if history else ""})
    status = 200
    if request.method == "POST":
        if not may_publish:
            raise PermissionDenied("Only the project's admins may publish instructions.")
        form = PublishForm(request.POST)
        if form.is_valid():
            try:
                version = publish(project, form.cleaned_data["text"])
            except InstructionsRejected as exc:
                form.add_error("text", str(exc))
            else:
                messages.success(request, f"Published version {version.version}. Labelers will be asked to read it "
                                          "before their next task.")
                return redirect("project-instructions", slug=project.slug)
        status = 400
    draft = form["text"].value() or ""
    return render(request, "annotations/instructions.html", {
        "project": project,
        "history": history,
        "may_publish": may_publish,
        "form": form,
        "preview_html": render_markdown(draft),
        "preview_url": reverse("api-instructions-preview", args=[project.slug]),
    }, status=status)
