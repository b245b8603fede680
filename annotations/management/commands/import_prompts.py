from django.core.management.base import BaseCommand, CommandError

from annotations.models import Project
from annotations.prompt_sets import PromptSetRejected, import_prompt_set


class Command(BaseCommand):
    help = "Import a prompt-set file (.jsonl, .csv or .parquet) into a project, all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the prompt-set file")
        parser.add_argument("--project", required=True, help="the project's slug")

    def handle(self, file: str, project: str, **options):
        try:
            target = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"no project with slug {project!r}")
        try:
            prompt_set = import_prompt_set(target, file)
        except FileNotFoundError:
            raise CommandError(f"no such file: {file}")
        except PromptSetRejected as exc:
            raise CommandError(f"{file} was not imported, nothing was stored:\n{exc}")
        self.stdout.write(self.style.SUCCESS(
            f"imported {prompt_set.prompts} prompts and {prompt_set.completions} completions "
            f"into {target.slug!r} (prompt set {prompt_set.pk})"
        ))
