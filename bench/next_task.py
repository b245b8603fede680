"""Benchmark: `POST /api/projects/{slug}/tasks/next/` with 100,000 prompts in the project, on
PostgreSQL, through the production web server (issue 5 target: at most 5 SQL queries and under 20 ms median).

    .venv/bin/python bench/next_task.py [--prompts 100000] [--requests 2000] [--workers N]
        [--database-url postgres://postgres@127.0.0.1:5432/lh_quality_bench]

The project gets P prompts × 4 completions and 500 labelers with API tokens. One client sends
`next` requests one after another, each from the next labeler in turn, and after each answer
submits the ranking (not timed), so every timed `next` claims a new prompt, and the queue fills up
the way it does in use (prompts closest to complete first). The SQL statements of one `next` are
counted in-process (Django's test client on the same database, same code path), since the server's
workers keep no query log; BEGIN and COMMIT count (each is a round trip).
"""

import argparse
import statistics
import time

from labeling_setup import (
    DEFAULT_URL,
    SLUG,
    add_overlap_arguments,
    build_project,
    ensure_database,
    percentile,
    setup_django,
    web_server,
)


def count_queries(tokens: list[str], samples: int = 50) -> list[int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    counts = []
    client = Client()
    for token in tokens[:samples]:
        with CaptureQueriesContext(connection) as captured:
            response = client.post(f"/api/projects/{SLUG}/tasks/next/", HTTP_AUTHORIZATION=f"Token {token}")
        assert response.status_code == 200, response.status_code
        counts.append(len(captured))
        task = response.json()
        client.post(f"/api/assignments/{task['assignment']}/ranking/",
                    {"tiers": [[c["id"]] for c in task["completions"]], "flagged": []},
                    content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--labelers", type=int, default=500)
    parser.add_argument("--workers", type=int, help="default: the deployed setting")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    add_overlap_arguments(parser)
    args = parser.parse_args()

    ensure_database(args.database_url)
    setup_django(args.database_url)
    import logging

    import httpx
    from django.db import connection

    logging.getLogger("httpx").setLevel(logging.WARNING)

    started = time.perf_counter()
    tokens = build_project(args.prompts, args.labelers, max_labelers_per_prompt=args.max_labelers,
                           agreement_target=args.agreement_target)
    print(f"set-up: {args.prompts} prompts × 4 completions, {args.labelers} labelers "
          f"in {time.perf_counter() - started:.1f} s")
    queries = count_queries(tokens)
    print(f"SQL statements per `next` (in-process, token auth, new claim): median {statistics.median(queries):g}, "
          f"max {max(queries)}")

    latencies = []
    with (
        web_server(args.database_url, workers=args.workers) as (base, _),
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        for i in range(args.requests + 100):
            headers = {"Authorization": f"Token {tokens[(i + 50) % len(tokens)]}"}
            before = time.perf_counter()
            response = http.post(f"/api/projects/{SLUG}/tasks/next/", headers=headers)
            elapsed = time.perf_counter() - before
            if response.status_code != 200:
                raise SystemExit(f"next answered {response.status_code}: {response.text[:200]}")
            task = response.json()
            http.post(f"/api/assignments/{task['assignment']}/ranking/", headers=headers,
                      json={"tiers": [[c["id"]] for c in task["completions"]], "flagged": []})
            if i == 99:
                # Fresh statistics, as autovacuum's analyze gives a table that grew from empty
                # (it runs after 50 inserts); without them the planner scans all assignments.
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE annotations_assignment")
            if i >= 100:  # the first 100 warm the workers up
                latencies.append(elapsed * 1000)
    server = f"{args.workers} workers" if args.workers else "deployed settings"
    print(f"`next` through granian ({server}), {len(latencies)} requests, one client: "
          f"median {statistics.median(latencies):.2f} ms, p90 {percentile(latencies, 0.9):.2f} ms, "
          f"p99 {percentile(latencies, 0.99):.2f} ms")


if __name__ == "__main__":
    main()
