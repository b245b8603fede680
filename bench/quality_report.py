"""Benchmark: annotations.quality.quality_report (the quality page and GET /api/projects/{slug}/agreement/)
of a project with P prompts x 4 completions x 3 labelers on PostgreSQL (100,000 prompts: 300,000
rankings), and labeler_agreement (the labeler scores behind `export_pairs --exclude-labelers-below`).

    .venv/bin/python bench/quality_report.py [--prompts 10000,100000] [--chars 40]
        [--database-url postgres://postgres@127.0.0.1:5432/lh_qr_bench] [--keep] [--repeat 1]

The projects are built with bench/export_pairs.py's builder (bulk_create in batches; rankings are
random permutations by the same 3 labelers, no ties, no flags), then the tables are vacuumed and
analyzed. With --keep a project already built at a size is reused. Each measurement runs in a fresh
subprocess so that its peak RSS (VmHWM) is that of the measuring process alone (Django set up and
the project loaded before the clock starts; numpy and krippendorff are imported inside the clock,
as on a first request).

Target: quality_report under 5 s and under 300 MB peak RSS at 100,000 prompts on two cores.
"""

import argparse
import json
import time

from export_pairs import LABELERS, ensure_database, ensure_project, peak_rss_mb, settle_tables  # bench/ on sys.path
from labeling_setup import child_result, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lh_qr_bench"


def measure(kind: str, slug: str) -> dict:
    """Runs in the child process: one call, timed, with its peak RSS."""
    from annotations.models import Project
    from annotations.quality import labeler_agreement, quality_report

    project = Project.objects.get(slug=slug)
    rss_before = peak_rss_mb()
    cpu_started = time.process_time()
    started = time.perf_counter()
    if kind == "report":
        report = quality_report(project)
        summary = {"rankings": report.rankings, "pairwise_agreement": report.pairwise_agreement,
                   "kendalls_w": report.kendalls_w, "krippendorff_alpha": report.krippendorff_alpha,
                   "labelers": [(row.rankings, row.score and tuple(row.score)) for row in report.labelers]}
    else:
        scores = labeler_agreement(project)
        summary = {"labelers": sorted(tuple(score) for score in scores.values())}
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return {"kind": kind, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak_rss_mb(),
            "rss_before_mb": rss_before, "summary": summary}


def run_child(database_url: str, kind: str, slug: str) -> dict:
    return child_result(__file__, ["--database-url", database_url, "--child", kind, "--slug", slug])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", default="10000,100000", help="comma-separated project sizes")
    parser.add_argument("--chars", type=int, default=40, help="characters per completion (not read by the report)")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="reuse projects already built at these sizes")
    parser.add_argument("--repeat", type=int, default=1, help="measurements per size (the best is reported)")
    parser.add_argument("--summary", action="store_true", help="print the figures computed (to compare versions)")
    parser.add_argument("--child", choices=["report", "scores"], help=argparse.SUPPRESS)
    parser.add_argument("--slug", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        setup_django(args.database_url)
        print(json.dumps(measure(args.child, args.slug)))
        return

    ensure_database(args.database_url)
    setup_django(args.database_url)
    sizes = [int(s) for s in args.prompts.split(",")]
    print(f"quality_report bench: {sizes} prompts x 4 completions x {LABELERS} labelers, "
          f"database {args.database_url}", flush=True)
    largest = None
    for prompts in sizes:
        slug = f"bench-qr-{prompts}"
        if ensure_project(slug, prompts, args.chars, reuse=args.keep):
            settle_tables()
        for kind in ("report", "scores"):
            runs = [run_child(args.database_url, kind, slug) for _ in range(args.repeat)]
            best = min(runs, key=lambda run: run["seconds"])
            label = "quality_report    " if kind == "report" else "labeler_agreement"
            print(f"  {prompts:>7} prompts: {label} {best['seconds']:.2f}s wall, CPU {best['cpu_seconds']:.2f}s, "
                  f"peak RSS {best['peak_rss_mb']:.0f} MB (before the call {best['rss_before_mb']:.0f} MB)",
                  flush=True)
            if args.summary:
                print(f"    {json.dumps(best['summary'])}", flush=True)
            if kind == "report":
                largest = (prompts, best)
    prompts, best = largest
    print("targets:")
    print(f"  quality_report < 5 s at {prompts} prompts: {best['seconds']:.2f}s "
          f"{'OK' if best['seconds'] < 5 else 'MISSED'}")
    print(f"  peak RSS < 300 MB: {best['peak_rss_mb']:.0f} MB {'OK' if best['peak_rss_mb'] < 300 else 'MISSED'}")


if __name__ == "__main__":
    main()
