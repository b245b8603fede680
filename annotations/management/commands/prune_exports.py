from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotations.deletion import prune_exports


class Command(BaseCommand):
    help = ("Delete finished exports older than the retention period (LABELHUB_EXPORT_RETENTION_DAYS, "
            "0 = keep all) with their files, and files no export or project refers to any more.")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None,
                            help="retention in days (default: LABELHUB_EXPORT_RETENTION_DAYS)")
        parser.add_argument("--dry-run", action="store_true", help="list the exports that would go; delete nothing")

    def handle(self, days: int | None, dry_run: bool, **options):
        days = settings.LABELHUB_EXPORT_RETENTION_DAYS if days is None else days
        if days < 0:
            raise CommandError("--days must be 0 (keep all) or more")
        report = prune_exports(days, dry_run=dry_run)
        would = "would delete" if dry_run else "deleted"
        ids = ", ".join(map(str, report.exports)) or "none"
        kept = "" if days else " (retention off: no export is old enough)"
        self.stdout.write(f"{would} {len(report.exports)} exports older than {days} days: {ids}{kept}")
        if report.orphans:
            self.stdout.write(f"removed files of deleted exports or projects: {', '.join(report.orphans)}")
