from django.core.management.base import BaseCommand, CommandError

from annotations.models import Project
from annotations.recount import recount


class Command(BaseCommand):
    help = ("Recompute the prompts' denormalised counters (completions, rankings, reservations, agreement) "
            "from the rows and fix the wrong ones; prints what it fixed.")

    def add_arguments(self, parser):
        parser.add_argument("--project", help="only this project's slug (default: every project)")
        parser.add_argument("--check", action="store_true",
                            help="change nothing; exit status 1 when a counter is wrong")

    def handle(self, project: str | None, check: bool, **options):
        project_id = None
        if project is not None:
            project_id = Project.objects.filter(slug=project).values_list("pk", flat=True).first()
            if project_id is None:
                raise CommandError(f"no project with slug {project!r}")
        report = recount(project_id, fix=not check)
        verb = "wrong" if check else "fixed"
        for name, rows in report.fixed.items():
            for prompt_id, (stored, value) in sorted(rows.items()):
                self.stdout.write(f"prompt {prompt_id}: {name} {verb}: {stored} → {value}")
        summary = ", ".join(f"{name} {len(rows)}" for name, rows in report.fixed.items())
        self.stdout.write(f"{report.prompts} prompts checked; {verb}: {summary}")
        if check and report.total_fixed:
            raise CommandError(f"{report.total_fixed} counters are wrong; run `manage.py recount` to fix them")
