"""A project's team: members and their roles, adding and removing them, invite links.

A user may hold several roles in one project (one Membership row per role). Removing a member
takes away all of their roles and gives their reservations back to the pool in the same
transaction; their submitted rankings stay. A project never loses its last admin this way.

Invites: only the SHA-256 of the token is stored, so the database alone cannot be used to join;
the link is shown once to the admin who created it. An invite is single-use and expires."""

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from .assignment import release_reservations
from .models import Invite, Membership, Project
from .roles import grant_role

Role = Membership.Role
INVITE_LIFETIME = timedelta(days=7)
# Roles listed in this order everywhere (most powerful first).
ROLE_ORDER = [Role.ADMIN, Role.RESEARCHER, Role.LABELER]


class TeamError(ValueError):
    """A team change that cannot be made; `field` names the input it is about."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


class LastAdmin(TeamError):
    """The change would leave the project without an admin."""


class InviteInvalid(Exception):
    """An invite link that cannot be used; `reason` is "unknown", "used" or "expired"."""

    MESSAGES = {
        "unknown": "This invite link is not valid: it may be mistyped, or its project may have been removed.",
        "used": "This invite link has already been used. Ask the project's admin for a new one.",
        "expired": "This invite link has expired. Ask the project's admin for a new one.",
    }

    def __init__(self, reason: str) -> None:
        super().__init__(self.MESSAGES[reason])
        self.reason = reason
        self.message = self.MESSAGES[reason]


@dataclass
class Member:
    user_id: int
    username: str
    roles: list[str] = field(default_factory=list)


def members(project: Project) -> list[Member]:
    """The project's members, by username, each with their roles (most powerful first). One query."""
    by_user: dict[int, Member] = {}
    rows = (
        Membership.objects.filter(project=project)
        .order_by("user__username")
        .values_list("user_id", "user__username", "role")
    )
    for user_id, username, role in rows:
        by_user.setdefault(user_id, Member(user_id, username)).roles.append(role)
    for member in by_user.values():
        member.roles.sort(key=ROLE_ORDER.index)
    return list(by_user.values())


def validate_role(role: str) -> str:
    if role not in Role.values:
        raise TeamError("role", f"“{role}” is not a role; choose one of {', '.join(Role.values)}.")
    return role


def user_named(username: str):
    try:
        return get_user_model().objects.get(username=username)
    except get_user_model().DoesNotExist:
        raise TeamError("username", f"There is no user named “{username}”. Invite them with a link instead.")


def add_member(project: Project, username: str, role: str) -> Membership:
    """Give an existing user a role in the project."""
    validate_role(role)
    user = user_named(username)
    if Membership.objects.filter(project=project, user=user, role=role).exists():
        raise TeamError("username", f"{username} is already a {role} of this project.")
    grant_role(user, role, project)
    return Membership.objects.get(project=project, user=user, role=role)


def _lock_admins(project: Project) -> set[int]:
    """Lock the project's admin memberships and return the admins' user ids: concurrent removals
    or demotions then run one after the other, so two of them cannot remove the last two admins."""
    return set(
        Membership.objects.select_for_update()
        .filter(project=project, role=Role.ADMIN)
        .values_list("user_id", flat=True)
    )


def _refuse_last_admin(admins: set[int], user, what: str) -> None:
    if admins == {user.pk}:
        raise LastAdmin("username", f"{user.username} is the project's only admin: {what}. "
                                    "Make someone else an admin first.")


def remove_member(project: Project, user) -> int:
    """Take away all of `user`'s roles in the project and release their reservations at once
    (their submitted rankings stay). Returns the number of reservations released."""
    with transaction.atomic():
        admins = _lock_admins(project)
        if not Membership.objects.filter(project=project, user=user).exists():
            raise TeamError("username", f"{user.username} is not a member of this project.")
        _refuse_last_admin(admins, user, "removing them would leave nobody to run it")
        Membership.objects.filter(project=project, user=user).delete()
        return release_reservations(project, user)


def change_role(project: Project, user, role: str) -> None:
    """Make `role` the member's only role in the project. Losing the labeler role releases their
    reservations, as removal does."""
    validate_role(role)
    with transaction.atomic():
        admins = _lock_admins(project)
        current = set(Membership.objects.filter(project=project, user=user).values_list("role", flat=True))
        if not current:
            raise TeamError("username", f"{user.username} is not a member of this project.")
        if role != Role.ADMIN:
            _refuse_last_admin(admins, user, f"making them only a {role} would leave nobody to run it")
        Membership.objects.filter(project=project, user=user).exclude(role=role).delete()
        grant_role(user, role, project)
        if Role.LABELER in current and role != Role.LABELER:
            release_reservations(project, user)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_invite(project: Project, role: str, created_by=None) -> tuple[Invite, str]:
    """A new single-use invite → (invite, token). The token is not stored: show it now or never."""
    validate_role(role)
    token = secrets.token_urlsafe(32)
    invite = Invite.objects.create(
        project=project, role=role, token_hash=hash_token(token), created_by=created_by,
        expires_at=timezone.now() + INVITE_LIFETIME,
    )
    return invite, token


def _usable(invite: Invite | None, now: datetime) -> Invite:
    if invite is None:
        raise InviteInvalid("unknown")
    if invite.used_at is not None:
        raise InviteInvalid("used")
    if invite.expires_at <= now:
        raise InviteInvalid("expired")
    return invite


def invite_for(token: str) -> Invite:
    """The invite a link stands for, if it can still be used (read only: nothing is consumed)."""
    invite = Invite.objects.select_related("project").filter(token_hash=hash_token(token)).first()
    return _usable(invite, timezone.now())


def _consume(token: str, user) -> Invite:
    """Inside a transaction: lock the invite, check it, give `user` its role, mark it used. The
    row lock makes a second, concurrent use wait and then see the invite used."""
    invite = (
        Invite.objects.select_for_update(of=("self",)).select_related("project")
        .filter(token_hash=hash_token(token)).first()
    )
    now = timezone.now()
    _usable(invite, now)
    grant_role(user, invite.role, invite.project)
    invite.used_at, invite.used_by = now, user
    invite.save(update_fields=["used_at", "used_by"])
    return invite


def accept_invite(token: str, user) -> Invite:
    """A signed-in user joins the invite's project with its role."""
    with transaction.atomic():
        return _consume(token, user)


def join_with_invite(token: str, username: str, password: str):
    """A newcomer creates their account and joins with the invite's role → (user, invite).
    The password must already have passed Django's validators (the form checks them)."""
    User = get_user_model()
    with transaction.atomic():
        # The invite is checked (and locked) before the account exists, so a used link creates nobody.
        invite = (
            Invite.objects.select_for_update(of=("self",)).filter(token_hash=hash_token(token)).first()
        )
        _usable(invite, timezone.now())
        if User.objects.filter(username__iexact=username).exists():
            raise TeamError("username", f"The username “{username}” is taken; choose another.")
        try:
            with transaction.atomic():
                user = User.objects.create_user(username=username, password=password)
        except IntegrityError:
            raise TeamError("username", f"The username “{username}” is taken; choose another.")
        return user, _consume(token, user)
