from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotations.export.bundle import write_bundle
from annotations.export.options import ExportOptions, ExportOptionsError
from annotations.models import Project


def _number(option: str, raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise CommandError(f"{option} must be a number, got {raw!r}")


class Command(BaseCommand):
    help = (
        "Export a project's rankings as pairwise preferences (chosen, rejected) for reward-model training: "
        "the pair file(s), rankings.jsonl, manifest.json and a dataset card, written into --out DIR. "
        "Runs the same code as the Celery export job, without a worker."
    )

    def add_arguments(self, parser):
        # Values are checked by ExportOptions rather than argparse, so that every bad value is a
        # CommandError: a one-line message on standard error and exit status 1.
        parser.add_argument("--project", help="the project's slug (required)")
        parser.add_argument("--out", help="directory to write the bundle into; created if missing (required)")
        parser.add_argument("--kind", default="preference",
                            help="preference (default: chosen/rejected pairs) or kto (one row per judged completion)")
        parser.add_argument("--format", default="jsonl", help="jsonl (default), parquet or csv")
        parser.add_argument("--mode", default="labeler", help="labeler (default: one pair per labeler) or consensus")
        parser.add_argument("--flagged", default="drop", help="drop (default) or rejected (below every ranked one)")
        parser.add_argument("--ties", default="drop", help="drop (default) or include (agreement 0.5)")
        parser.add_argument("--exclude-labelers-below", metavar="AGREEMENT",
                            help="leave out labelers whose agreement with their peers is below this (0..1)")
        parser.add_argument("--test-fraction", metavar="F", help="share of prompts in test.<ext> (0..1)")
        parser.add_argument("--margin", help="add TRL's margin column: agreement or rank-gap")
        parser.add_argument("--complete-only", action="store_true",
                            help="only prompts ranked by all of the project's labelers per prompt")
        parser.add_argument("--seed", default="0", help="seed of the train/test split (default 0)")

    def handle(self, **opts):
        if not opts["project"]:
            raise CommandError("--project SLUG is required")
        if not opts["out"]:
            raise CommandError("--out DIR is required")
        try:
            seed = int(opts["seed"])
        except ValueError:
            raise CommandError(f"--seed must be a whole number, got {opts['seed']!r}")
        try:
            options = ExportOptions(
                kind=opts["kind"],
                format=opts["format"],
                mode=opts["mode"],
                flagged=opts["flagged"],
                ties=opts["ties"],
                exclude_labelers_below=_number("--exclude-labelers-below", opts["exclude_labelers_below"]),
                test_fraction=_number("--test-fraction", opts["test_fraction"]),
                margin=opts["margin"],
                complete_only=opts["complete_only"],
                seed=seed,
            )
        except ExportOptionsError as exc:
            raise CommandError(f"--{exc.option.replace('_', '-')} {exc.message}")
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"no project with slug {opts['project']!r}")
        out = Path(opts["out"])
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out}: exists and is not a directory")
        try:
            bundle = write_bundle(project, options, out)
        except OSError as exc:
            raise CommandError(f"cannot write the export to {out}: {exc}")
        counts = bundle.counts
        self.stdout.write(
            f"exported {counts['pairs']} pairs from {counts['rankings']} rankings of {counts['prompts']} prompts "
            f"into {out}: {', '.join(bundle.files)}"
        )
