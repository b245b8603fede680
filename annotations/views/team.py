"""The team page (project admins): members and their roles, add a member, change a role, remove
a member, create an invite link. Services in annotations/team.py do the work."""

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from ..models import Invite, Membership, Project
from ..roles import projects_visible_to, roles_in
from ..team import TeamError, add_member, change_role, create_invite, members, remove_member

Role = Membership.Role


def project_for_roles(request: HttpRequest, slug: str, allowed: set[str]) -> tuple[Project, set[str]]:
    """The project and the user's roles in it: 404 to non-members, 403 to members with none of `allowed`."""
    project = get_object_or_404(projects_visible_to(request.user), slug=slug)
    roles = roles_in(request.user, project)
    if not roles & allowed:
        raise PermissionDenied("Your role in this project does not open this page.")
    return project, roles


class PlainLabels:
    """Labels without Django's trailing colon: pages are found by their exact visible labels."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class AddMemberForm(PlainLabels, forms.Form):
    username = forms.CharField(label="Username", max_length=150)
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.LABELER)


class InviteForm(PlainLabels, forms.Form):
    role = forms.ChoiceField(label="Invite as", choices=Role.choices, initial=Role.LABELER)


def _team_page(request: HttpRequest, project: Project, status: int = 200, **context) -> HttpResponse:
    open_invites = (
        Invite.objects.filter(project=project, used_at__isnull=True, expires_at__gt=timezone.now())
        .select_related("created_by").order_by("-created_at")
    )
    context.setdefault("add_form", AddMemberForm(prefix="add"))
    context.setdefault("invite_form", InviteForm(prefix="invite"))
    return render(request, "annotations/team.html", {
        "project": project,
        "members": members(project),
        "roles": Role.choices,
        "open_invites": open_invites,
        **context,
    }, status=status)


@login_required
def team_page(request: HttpRequest, slug: str) -> HttpResponse:
    project, _ = project_for_roles(request, slug, {Role.ADMIN})
    return _team_page(request, project)


@login_required
@require_POST
def add_member_view(request: HttpRequest, slug: str) -> HttpResponse:
    project, _ = project_for_roles(request, slug, {Role.ADMIN})
    form = AddMemberForm(request.POST, prefix="add")
    if form.is_valid():
        try:
            add_member(project, form.cleaned_data["username"], form.cleaned_data["role"])
        except TeamError as exc:
            form.add_error(exc.field, exc.message)
        else:
            messages.success(request, f"{form.cleaned_data['username']} is now a {form.cleaned_data['role']} "
                                      "of this project.")
            return redirect("project-team", slug=project.slug)
    return _team_page(request, project, status=400, add_form=form)


@login_required
@require_POST
def create_invite_view(request: HttpRequest, slug: str) -> HttpResponse:
    project, _ = project_for_roles(request, slug, {Role.ADMIN})
    form = InviteForm(request.POST, prefix="invite")
    if not form.is_valid():
        return _team_page(request, project, status=400, invite_form=form)
    invite, token = create_invite(project, form.cleaned_data["role"], created_by=request.user)
    # Shown in this response only (the token is not stored), so no redirect here.
    return _team_page(request, project, invite=invite,
                      invite_url=request.build_absolute_uri(reverse("invite", args=[token])))


@login_required
@require_POST
def remove_member_view(request: HttpRequest, slug: str) -> HttpResponse:
    project, _ = project_for_roles(request, slug, {Role.ADMIN})
    user = get_object_or_404(get_user_model().objects.distinct(), username=request.POST.get("username", ""),
                             memberships__project=project)
    try:
        released = remove_member(project, user)
    except TeamError as exc:
        messages.error(request, exc.message)
    else:
        freed = f" {released} reserved task{'' if released == 1 else 's'} went back to the pool." if released else ""
        messages.success(request, f"{user.username} was removed from the project; their rankings stay.{freed}")
    return redirect("project-team", slug=project.slug)


@login_required
@require_POST
def change_role_view(request: HttpRequest, slug: str) -> HttpResponse:
    project, _ = project_for_roles(request, slug, {Role.ADMIN})
    user = get_object_or_404(get_user_model().objects.distinct(), username=request.POST.get("username", ""),
                             memberships__project=project)
    try:
        change_role(project, user, request.POST.get("role", ""))
    except TeamError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{user.username} is now a {request.POST['role']} of this project (only).")
    return redirect("project-team", slug=project.slug)
