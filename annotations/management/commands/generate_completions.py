from django.core.management.base import BaseCommand, CommandError

from annotations.generating import run_generation
from annotations.models import GenerationJob, Project


class Command(BaseCommand):
    help = "Generate the missing completions of a project's prompts now, in this process (no worker needed)."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="the project's slug")
        parser.add_argument("--n", type=int, help="completions per prompt to reach (default: the project's target)")

    def handle(self, project: str, n: int | None, **options):
        try:
            target = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"no project with slug {project!r}")
        if n is not None and not 1 <= n <= 100:
            raise CommandError("--n must be between 1 and 100")
        job = run_generation(target.pk, n=n)
        if job.status == GenerationJob.Status.FAILED:
            raise CommandError(f"generation failed: {job.error}")
        self.stdout.write(f"generated {job.done} completions, {job.failed} failed (of {job.total} missing)")
        if job.failed:
            raise CommandError(f"{job.failed} completions could not be generated; the prompts are marked with "
                               "the error, run the command again to retry them")
