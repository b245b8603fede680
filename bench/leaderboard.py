"""Benchmark: the Bradley–Terry leaderboard (annotations/leaderboard.py) for 100,000 prompts × 4
models, fit + 200 bootstrap resamples by prompt (issue 15 target: under 2 s and 200 MB).

    .venv/bin/python bench/leaderboard.py [--prompts 100000] [--models 4] [--rankings 3]
        [--bootstrap 200] [--labeler-pairs]
    .venv/bin/python bench/leaderboard.py --database-url postgres://…/lh_lb_bench [--prompts 100000] [--keep]

With --database-url, on a PostgreSQL project of P prompts × 4 completions (models model-0 …
model-3) × 3 rankings built by bench/export_pairs.py's builder (random orders), each measured in a
fresh child process (its own peak RSS, Django set up before the clock; numpy imported inside it),
consensus pairs and labeler pairs:
* the Celery task's work (annotations.stored_leaderboard.refresh_leaderboard: the rankings stamp,
  the streamed query, the fit with 200 bootstrap resamples, the stored row);
* then GET /api/projects/{slug}/leaderboard/ answering that stored result, through DRF's test
  client as a researcher (authentication, permissions, the stored row, the staleness stamp over
  the project's rankings), 20 requests: median and slowest, peak RSS of the serving process.

Each prompt has one completion per model, hidden model strengths decide each pair (Bradley–Terry,
10% ties). By default one record per consensus pair (6 a prompt with 4 models: 600,000 records),
as the Django side feeds them; with --labeler-pairs one record per labeler pair (rankings × 6:
1,800,000 records). The records are streamed through PairTable.add one by one (as rows from the
database would be), then the leaderboard is computed. Peak RSS is the process's maximum resident
set (ru_maxrss), Python and numpy included.
"""

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotations.leaderboard import PairTable  # noqa: E402 - after the path set-up, to run from a checkout


def records(prompts: int, models: int, per_prompt: int, seed: int):
    """(prompt, model_a, model_b, outcome, length_a, length_b), generated in blocks of prompts."""
    rng = np.random.default_rng(seed)
    names = [f"model-{i}" for i in range(models)]
    strength = np.linspace(-0.6, 0.6, models)
    pairs = [(i, j) for i in range(models) for j in range(i + 1, models)]
    block = 10_000
    for start in range(0, prompts, block):
        count = min(block, prompts - start)
        lengths = rng.integers(50, 2000, size=(count, models))
        for i, j in pairs:
            p_a = 1 / (1 + np.exp(strength[j] - strength[i] - 0.0005 * (lengths[:, i] - lengths[:, j])))
            draws = rng.random((count, per_prompt))
            tie = rng.random((count, per_prompt)) < 0.1
            for prompt in range(count):
                for k in range(per_prompt):
                    outcome = "tie" if tie[prompt, k] else "a" if draws[prompt, k] < p_a[prompt] else "b"
                    yield start + prompt, names[i], names[j], outcome, int(lengths[prompt, i]), int(lengths[prompt, j])


def measure_database(kind: str, slug: str) -> dict:
    """In the child process: the refresh task's work timed, with this process's peak RSS."""
    from export_pairs import peak_rss_mb

    from annotations.models import Project
    from annotations.stored_leaderboard import refresh_leaderboard

    project = Project.objects.get(slug=slug)
    before = peak_rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    board = refresh_leaderboard(project.pk, kind)
    return {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu, "rss": peak_rss_mb(),
            "rss_before": before, "models": [(r.model, round(r.score, 1), round(r.ci_low, 1), round(r.ci_high, 1),
                                              r.pairs) for r in board.models]}


def measure_api(kind: str, slug: str, requests: int = 20) -> dict:
    """In the child process: GET …/leaderboard/ on the stored result, as a researcher."""
    from export_pairs import peak_rss_mb
    from rest_framework.test import APIClient

    from annotations.models import Membership, Project

    project = Project.objects.get(slug=slug)
    researcher = Membership.objects.filter(project=project, role="researcher").select_related("user").first().user
    client = APIClient()
    client.force_authenticate(researcher)
    before = peak_rss_mb()
    times, status, stale = [], set(), set()
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(f"/api/projects/{slug}/leaderboard/", {"pairs": kind})
        times.append(time.perf_counter() - started)
        status.add(response.status_code)
        stale.add(response.json().get("stale"))
    times.sort()
    return {"median": times[len(times) // 2], "max": times[-1], "status": sorted(status),
            "stale": sorted(map(str, stale)), "rss": peak_rss_mb(), "rss_before": before}


def database_bench(args) -> None:
    import json

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from export_pairs import ensure_database, ensure_project, settle_tables
    from labeling_setup import child_result, setup_django

    if args.child:
        setup_django(args.database_url)
        if args.child.startswith("api-"):
            print(json.dumps(measure_api(args.child.removeprefix("api-"), args.slug)))
        else:
            print(json.dumps(measure_database(args.child, args.slug)))
        return
    if not args.keep:
        ensure_database(args.database_url)
    setup_django(args.database_url)
    from django.db import connection

    slug = f"bench-lb-{args.prompts}"
    if ensure_project(slug, args.prompts, 40, reuse=args.keep):
        with connection.cursor() as cursor:  # one model per position: every pair is between two models
            cursor.execute("UPDATE annotations_completion c SET model = 'model-' || (c.position - 1) FROM "
                           "annotations_prompt p WHERE p.id = c.prompt_id AND p.project_id = "
                           "(SELECT id FROM annotations_project WHERE slug = %s)", [slug])
        settle_tables()
    from django.contrib.auth import get_user_model

    from annotations.models import Membership, Project

    researcher, _ = get_user_model().objects.get_or_create(username="bench-lb-researcher")
    Membership.objects.get_or_create(project=Project.objects.get(slug=slug), user=researcher,
                                     defaults={"role": "researcher"})
    print(f"Leaderboard on PostgreSQL: {args.prompts} prompts × 4 models × 3 rankings; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    for kind in ("consensus", "labeler"):
        runs = [child_result(__file__, ["--database-url", args.database_url, "--child", kind, "--slug", slug])
                for _ in range(args.repeat)]
        for run in runs:
            print(f"  task, {kind:<9} pairs: {run['seconds']:.2f} s wall, {run['cpu']:.2f} s CPU, peak RSS "
                  f"{run['rss']:.0f} MB (before the call {run['rss_before']:.0f} MB)", flush=True)
        print(f"    {runs[0]['models']}", flush=True)
        api = child_result(__file__, ["--database-url", args.database_url, "--child", f"api-{kind}", "--slug", slug])
        print(f"  GET …/leaderboard/?pairs={kind} (stored): median {api['median'] * 1000:.0f} ms, slowest "
              f"{api['max'] * 1000:.0f} ms of 20; status {api['status']}, stale {api['stale']}; peak RSS of the "
              f"serving process {api['rss']:.0f} MB (Django set up: {api['rss_before']:.0f} MB)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--rankings", type=int, default=3)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--labeler-pairs", action="store_true", help="one record per labeler pair, not consensus")
    parser.add_argument("--database-url", help="measure the refresh task and the API on PostgreSQL")
    parser.add_argument("--keep", action="store_true", help="reuse the project already built at this size")
    parser.add_argument("--repeat", type=int, default=3, help="runs per kind of pairs (database mode)")
    parser.add_argument("--child", choices=["consensus", "labeler", "api-consensus", "api-labeler"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--slug", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.database_url:
        database_bench(args)
        return

    per_prompt = args.rankings if args.labeler_pairs else 1
    started = time.perf_counter()
    table = PairTable().extend(records(args.prompts, args.models, per_prompt, seed=1))
    collected = time.perf_counter() - started
    rss_before_fit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    started, cpu = time.perf_counter(), time.process_time()
    board = table.leaderboard(bootstrap=args.bootstrap, seed=0)
    fitted, fitted_cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    kind = "labeler pairs" if args.labeler_pairs else "consensus pairs"
    print(f"{args.prompts} prompts × {args.models} models, {len(table.arrays()[0])} records ({kind}), "
          f"{args.bootstrap} bootstrap resamples by prompt")
    for row in board.models:
        print(f"  {row.model:<10} {row.score:8.1f}  [{row.ci_low:8.1f}, {row.ci_high:8.1f}]  "
              f"{row.wins}/{row.losses}/{row.ties} of {row.pairs}  longer won {row.longer_won:.3f}")
    print(f"time: collecting the records {collected:.2f} s (Python loop over PairTable.add, not the target), "
          f"fit + bootstrap {fitted:.2f} s wall, {fitted_cpu:.2f} s CPU; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    print(f"peak RSS: {rss_before_fit:.0f} MB after collecting, {peak:.0f} MB after the fit")
    met = fitted < 2 and peak < 200  # wall time: on a loaded machine the CPU time is the fairer figure
    print(f"target (fit + bootstrap under 2 s, peak RSS under 200 MB): {'met' if met else 'NOT MET'}")


if __name__ == "__main__":
    main()
