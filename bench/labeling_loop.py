"""Benchmark: the whole labeling loop (`next`, then the ranking) at 32 concurrent clients through
gunicorn on PostgreSQL (issue 5 target: at least 300 rankings/s with p99 under 100 ms).

    .venv/bin/python bench/labeling_loop.py [--prompts 100000] [--clients 32] [--seconds 20]
        [--workers 4] [--threads 1] [--database-url postgres://postgres@127.0.0.1:5432/lh_quality_bench]

Each client is a thread with its own keep-alive HTTP connection and its own labeler; it loops:
`POST /api/projects/{slug}/tasks/next/`, then `POST /api/assignments/{id}/ranking/` with the
completions in the order shown. The first 3 seconds warm up and are not counted. Reported:
rankings per second, and the latency of each request kind and of the pair (p50, p99).
"""

import argparse
import logging
import threading
import time

from labeling_setup import DEFAULT_URL, SLUG, build_project, ensure_database, gunicorn, percentile, setup_django

WARM_UP_SECONDS = 3.0


def client_loop(base: str, token: str, stop_at: float, count_from: float, results: dict) -> None:
    import httpx

    headers = {"Authorization": f"Token {token}"}
    nexts, rankings, loops = [], [], []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        while (started := time.perf_counter()) < stop_at:
            response = http.post(f"/api/projects/{SLUG}/tasks/next/")
            got_task = time.perf_counter()
            if response.status_code != 200:
                results.setdefault("errors", []).append(f"next {response.status_code}")
                break
            task = response.json()
            ranking = http.post(f"/api/assignments/{task['assignment']}/ranking/",
                                json={"tiers": [[c["id"]] for c in task["completions"]], "flagged": []})
            done = time.perf_counter()
            if ranking.status_code != 201:
                results.setdefault("errors", []).append(f"ranking {ranking.status_code}")
                break
            if started >= count_from:
                nexts.append((got_task - started) * 1000)
                rankings.append((done - got_task) * 1000)
                loops.append((done - started) * 1000)
    with threading.Lock():
        results.setdefault("next", []).extend(nexts)
        results.setdefault("ranking", []).extend(rankings)
        results.setdefault("loop", []).extend(loops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()

    ensure_database(args.database_url)
    setup_django(args.database_url)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from django.db import connection

    tokens = build_project(args.prompts, args.clients)
    results: dict = {}
    with gunicorn(args.database_url, workers=args.workers, threads=args.threads) as base:
        # Warm each worker up and give the planner statistics for the assignment table, as
        # autovacuum's analyze does once a table has grown from empty.
        import httpx

        with httpx.Client(base_url=base, timeout=30) as http:
            for token in tokens:
                http.post(f"/api/projects/{SLUG}/tasks/next/", headers={"Authorization": f"Token {token}"})
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE annotations_assignment")
        now = time.perf_counter()
        count_from, stop_at = now + WARM_UP_SECONDS, now + WARM_UP_SECONDS + args.seconds
        threads = [threading.Thread(target=client_loop, args=(base, token, stop_at, count_from, results))
                   for token in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if results.get("errors"):
        print("errors:", results["errors"][:10])
    loops = results.get("loop", [])
    print(f"{args.clients} clients, gunicorn {args.workers} workers × {args.threads} threads, "
          f"{args.prompts} prompts, {args.seconds:g} s measured after {WARM_UP_SECONDS:g} s warm-up")
    print(f"  rankings/s: {len(loops) / args.seconds:.1f} ({len(loops)} rankings)")
    for kind in ("next", "ranking", "loop"):
        values = results.get(kind, [])
        if values:
            print(f"  {kind:<8} p50 {percentile(values, 0.5):7.1f} ms   p99 {percentile(values, 0.99):7.1f} ms")


if __name__ == "__main__":
    main()
