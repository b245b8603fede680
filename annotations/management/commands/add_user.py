import getpass
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotations.models import Membership, Project
from annotations.roles import grant_role


class Command(BaseCommand):
    help = "Create a user (or add a role to an existing one): labeler, researcher or admin."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Membership.Role.values)
        parser.add_argument("--project", help="project slug; without it an admin is site-wide (staff)")
        parser.add_argument("--password", help="otherwise read from standard input (or asked for on a terminal)")
        parser.add_argument("--email", default="")

    def handle(self, username, role, project, password, email, **options):
        project_obj = None
        if project:
            project_obj = Project.objects.filter(slug=project).first()
            if project_obj is None:
                raise CommandError(f"no project with slug {project!r}")
        User = get_user_model()
        existing = User.objects.filter(username=username).first()
        if password is None and existing is None:
            password = self._read_password()
        with transaction.atomic():
            user = existing or User(username=username, email=email)
            if password:
                user.set_password(password)
            user.save()
            grant_role(user, role, project_obj)
        where = f"in project {project}" if project else "site-wide"
        verb = "updated" if existing else "created"
        self.stdout.write(f"{verb} {username}: {role} {where}")

    def _read_password(self) -> str:
        if sys.stdin.isatty():
            first = getpass.getpass("Password: ")
            if first != getpass.getpass("Password (again): "):
                raise CommandError("the passwords do not match")
            return first
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise CommandError("give a password with --password or on standard input")
        return password
