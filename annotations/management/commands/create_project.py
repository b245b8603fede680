from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotations.models import Project
from annotations.projects import create_project


class Command(BaseCommand):
    help = "Create a labeling project."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="")
        parser.add_argument("--labelers-per-prompt", type=int, default=3)
        parser.add_argument("--instructions", help="a Markdown file with the labeling instructions")
        parser.add_argument("--criterion", default="helpfulness")
        ties = parser.add_mutually_exclusive_group()
        ties.add_argument("--allow-ties", dest="allow_ties", action="store_true", default=True)
        ties.add_argument("--no-ties", dest="allow_ties", action="store_false")

    def handle(self, slug, name, labelers_per_prompt, instructions, criterion, allow_ties, **options):
        if Project.objects.filter(slug=slug).exists():
            raise CommandError(f"a project with slug {slug!r} already exists")
        if labelers_per_prompt < 1:
            raise CommandError("--labelers-per-prompt must be at least 1")
        text = ""
        if instructions:
            path = Path(instructions)
            if not path.is_file():
                raise CommandError(f"{instructions}: no such file")
            text = path.read_text(encoding="utf-8")
        project = create_project(
            slug,
            name=name,
            labelers_per_prompt=labelers_per_prompt,
            allow_ties=allow_ties,
            instructions=text,
            criterion=criterion,
        )
        self.stdout.write(f"created project {project.slug}")
