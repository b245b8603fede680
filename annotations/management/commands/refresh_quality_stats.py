import time

from django.core.management.base import BaseCommand, CommandError

from annotations.models import Project
from annotations.quality_store import refresh_project_stats


class Command(BaseCommand):
    help = ("Recompute the stored quality figures (per prompt and per ranking) from the rankings, for one "
            "project or all: after rankings were written by other means than submit and revise.")

    def add_arguments(self, parser):
        parser.add_argument("--project", help="project slug; without it every project")

    def handle(self, project, **options):
        projects = Project.objects.order_by("pk")
        if project:
            projects = projects.filter(slug=project)
            if not projects.exists():
                raise CommandError(f"no project with slug {project!r}")
        for slug, project_id in projects.values_list("slug", "pk"):
            started = time.perf_counter()
            rankings = refresh_project_stats(project_id)
            self.stdout.write(f"{slug}: {rankings} rankings in {time.perf_counter() - started:.1f} s")
