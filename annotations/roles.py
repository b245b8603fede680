"""Who may do what. Site-wide admins are staff; everyone else acts through a project Membership.

The three roles are also Django groups carrying model permissions, so that the Django admin and
any future view can use the standard permission machinery."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models import QuerySet

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


def can_label(user, project: Project) -> bool:
    return Role.LABELER in roles_in(user, project) or (user.is_authenticated and user.is_staff)


def projects_visible_to(user) -> QuerySet[Project]:
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def users_with_role(project: Project, role: str) -> QuerySet:
    return get_user_model().objects.filter(memberships__project=project, memberships__role=role)
