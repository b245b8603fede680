"""Who may do what. Site-wide admins are staff; everyone else acts through a project Membership.

The three roles are also Django groups carrying model permissions, so that the Django admin and
any future view can use the standard permission machinery."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404

from . import labeling_sql
from .models import Membership, Project

Role = Membership.Role

# Model permissions each role's group carries (codename in the annotations app).
GROUP_PERMISSIONS: dict[str, list[str]] = {
    Role.LABELER: ["view_project", "view_prompt", "view_completion", "add_ranking", "view_ranking"],
    Role.RESEARCHER: ["view_project", "view_prompt", "view_completion", "view_ranking", "add_export", "view_export"],
    Role.ADMIN: [
        f"{action}_{model}"
        for model in ("project", "promptset", "prompt", "completion", "membership", "instructionversion",
                      "assignment", "ranking", "export", "generationjob")
        for action in ("add", "change", "delete", "view")
    ],
}


def ensure_role_groups() -> dict[str, Group]:
    """Create (or update) the labeler, researcher and admin groups with their permissions."""
    groups = {}
    for role, codenames in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(Permission.objects.filter(content_type__app_label="annotations", codename__in=codenames))
        groups[role] = group
    return groups


def grant_role(user, role: str, project: Project | None = None) -> None:
    """Give `user` a role: in `project`, or site-wide (admins become staff) when no project is given."""
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}")
    groups = ensure_role_groups()
    user.groups.add(groups[role])
    if project is not None:
        Membership.objects.get_or_create(user=user, project=project, role=role)
    elif role == Role.ADMIN and not user.is_staff:
        user.is_staff = True
        user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])


def roles_in(user, project: Project) -> set[str]:
    if not user.is_authenticated:
        return set()
    if user.is_staff:
        return set(Role.values)
    return set(Membership.objects.filter(user=user, project=project).values_list("role", flat=True))


def is_project_admin(user, project: Project) -> bool:
    return Role.ADMIN in roles_in(user, project)


def can_export(user, project: Project) -> bool:
    return bool(roles_in(user, project) & {Role.RESEARCHER, Role.ADMIN})


# --- Who labels: one rule for the labeling page, the API and the claim -------------------------
# A user labels a project only while they hold a labeler Membership in it. Site admins (staff) see
# every project but are not in its labeling pool unless they are its labeler members; a labeler
# removed from the team (membership deleted) can no longer take, rank, skip or revise anything.
# labeling_sql.MAY_LABEL states the same rule for the labeling loop's SQL.


def labeler_membership(user, project: "Project | int | OuterRef") -> Exists:
    """The rule as a query expression: `user` holds a labeler membership in `project` (an
    instance, an id, or an OuterRef such as OuterRef("project_id") inside another queryset)."""
    return Exists(Membership.objects.filter(user_id=user.pk, project=project, role=Role.LABELER))


def may_label(user, project: Project) -> bool:
    """The rule for one project (one query)."""
    if not user.is_authenticated:
        return False
    return Membership.objects.filter(user=user, project=project, role=Role.LABELER).exists()


def labeling_projects(user, project_ids: list[int]) -> set[int]:
    """The ids among `project_ids` that `user` may label (one query)."""
    return set(Project.objects.filter(pk__in=project_ids).filter(labeler_membership(user, OuterRef("pk")))
               .values_list("pk", flat=True))


def labeling_project(user, slug: str) -> Project:
    """The project `user` is about to label, with `instructions_version` (the current one) set, in
    one query (labeling_sql.py). Raises Http404 to those who may not see it (non-members, removed
    labelers) and PermissionDenied (403) to those who see it but may not label (researchers,
    admins, staff)."""
    found = labeling_sql.labeling_project(user.pk, slug)
    if found is not None:
        return found
    # Not a labeler of it (rare): 403 to those who see the project, 404 to everyone else.
    if projects_visible_to(user).filter(slug=slug).exists():
        raise PermissionDenied("Only the project's labelers may label.")
    raise Http404("No such project.")


def projects_visible_to(user) -> QuerySet[Project]:
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def users_with_role(project: Project, role: str) -> QuerySet:
    return get_user_model().objects.filter(memberships__project=project, memberships__role=role)
