import os
import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from annotations.models import Project
from annotations.projects import create_project
from annotations.prompt_sets import import_prompt_set
from annotations.roles import grant_role

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
DEMO_SLUG = "demo"
# Two small projects beside it: conversations ranked, and the same conversations judged by thumbs.
CHAT_SLUG = "demo-chat"
THUMBS_SLUG = "demo-thumbs"


class Command(BaseCommand):
    help = ("Create the demo projects (helpfulness ranking; conversations ranked; conversations judged by thumbs), "
            "their prompts and the demo users, once.")

    def add_arguments(self, parser):
        parser.add_argument(
            "--password", help="password for every demo user (default: $LABELHUB_DEMO_PASSWORD, else random)"
        )

    def handle(self, password, **options):
        if Project.objects.filter(slug=DEMO_SLUG).exists():
            self.stdout.write("the demo is already loaded")
            return
        password = password or os.environ.get("LABELHUB_DEMO_PASSWORD") or secrets.token_urlsafe(9)
        with transaction.atomic():
            project = create_project(
                DEMO_SLUG,
                name="Demo: helpfulness",
                labelers_per_prompt=3,
                allow_ties=True,
                instructions=(DEMO_DIR / "instructions.md").read_text(encoding="utf-8"),
            )
            self._load_prompts(project)
            chat = create_project(CHAT_SLUG, name="Demo: chat replies", labelers_per_prompt=2, allow_ties=True,
                                  instructions="# Rank the assistant's replies\n\nRead the whole conversation, "
                                               "then rank the replies to its last message, best first.")
            thumbs = create_project(THUMBS_SLUG, name="Demo: thumbs", labelers_per_prompt=2, feedback="thumbs",
                                    instructions="# Thumbs up or down\n\nThumbs up for a reply you would be glad "
                                                 "to get; thumbs down otherwise; flag nonsense.")
            for conversational in (chat, thumbs):
                import_prompt_set(conversational, DEMO_DIR / "conversations.jsonl")
            User = get_user_model()
            for username, role, project_for_role in [
                ("admin", "admin", None),
                ("labeler1", "labeler", project),
                ("labeler2", "labeler", project),
                ("labeler3", "labeler", project),
                ("researcher", "researcher", project),
            ]:
                user, _ = User.objects.get_or_create(username=username)
                user.set_password(password)
                user.save()
                grant_role(user, role, project_for_role)
                if project_for_role is not None:
                    for conversational in (chat, thumbs):
                        grant_role(user, role, conversational)
        count = project.prompts.count()
        self.stdout.write(self.style.SUCCESS(f"loaded the demo project {DEMO_SLUG!r} with {count} prompts, and the "
                                             f"conversation projects {CHAT_SLUG!r} and {THUMBS_SLUG!r}"))
        self.stdout.write(f"demo users: admin, labeler1, labeler2, labeler3, researcher; password: {password}")
        self.stdout.write("(the password is printed only this once)")

    def _load_prompts(self, project: Project) -> None:
        # The same importer as the upload page, the API and `import_prompts`.
        import_prompt_set(project, DEMO_DIR / "prompts.jsonl")
