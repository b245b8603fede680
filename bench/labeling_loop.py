"""Benchmark: the whole labeling loop (`next`, then the ranking) at 32 concurrent clients through
the production web server on PostgreSQL (issue 5 target: at least 300 rankings/s with p99 under 100 ms).

    .venv/bin/python bench/labeling_loop.py [--prompts 100000] [--clients 32] [--seconds 20]
        [--workers N] [--threads N] [--client-processes 4] [--server granian|gunicorn] [--options '...']
        [--database-url postgres://postgres@127.0.0.1:5432/lh_quality_bench]

Each client is a thread with its own labeler and a minimal HTTP/1.1 client on a plain socket
(`LeanClient`: the load generator shares the machine's two cores with the server and PostgreSQL,
and http.client's header parsing cost twice as much CPU per request); the clients are spread over
a few processes so that they do not queue for one interpreter lock. Each loops:
`POST /api/projects/{slug}/tasks/next/`, then `POST /api/assignments/{id}/ranking/` with the
completions in the order shown. The first 3 seconds warm up and are not counted. Reported:
rankings per second, the latency of each request kind and of the pair (p50, p99), and the CPU time
that the web server, PostgreSQL and the load generator used per ranking.
"""

import argparse
import http.client
import json
import multiprocessing
import socket
import time
from urllib.parse import urlsplit

import psutil
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

WARM_UP_SECONDS = 3.0


class LeanClient:
    """POST requests over one socket at a time: a new connection when the server closed the last
    one, the same one while kept alive."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.address = (host, port)
        self.head = f"Host: {host}:{port}\r\nAuthorization: Token {token}\r\nContent-Type: application/json\r\n"
        self.sock: socket.socket | None = None

    def post(self, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=30)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(f"POST {path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            data += self._receive()
        head, _, content = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.split(b"\r\n")
        headers = {name.strip(): value for name, _, value in (line.lower().partition(b":") for line in header_lines)}
        if b"content-length" not in headers:  # all this client reads (the servers send it for these answers)
            raise ValueError(f"an answer without Content-Length: {head[:200]!r}")
        length = int(headers[b"content-length"])
        while len(content) < length:
            content += self._receive()
        if headers.get(b"connection", b"").strip() == b"close":
            self.close()
        return int(status_line.split()[1]), content[:length]

    def _receive(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection before answering")
        return chunk

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def client_loop(base: str, token: str, stop_at: float, count_from: float) -> dict:
    """One labeler's loop until stop_at; latencies (ms) of the requests started after count_from."""
    address = urlsplit(base)
    client = LeanClient(address.hostname, address.port, token)
    result: dict = {"next": [], "ranking": [], "loop": [], "errors": []}
    while (started := time.perf_counter()) < stop_at:
        status, data = client.post(f"/api/projects/{SLUG}/tasks/next/")
        got_task = time.perf_counter()
        if status != 200:
            result["errors"].append(f"next {status}")
            break
        task = json.loads(data)
        body = json.dumps({"tiers": [[c["id"]] for c in task["completions"]], "flagged": []}).encode()
        status, data = client.post(f"/api/assignments/{task['assignment']}/ranking/", body)
        done = time.perf_counter()
        if status != 201:
            result["errors"].append(f"ranking {status}: {data[:200]!r}")
            break
        if started >= count_from:
            result["next"].append((got_task - started) * 1000)
            result["ranking"].append((done - got_task) * 1000)
            result["loop"].append((done - started) * 1000)
    client.close()
    return result


def client_process(base: str, tokens: list[str], stop_at: float, count_from: float) -> dict:
    """A process of client threads; returns their latencies merged."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        results = list(pool.map(lambda token: client_loop(base, token, stop_at, count_from), tokens))
    return {kind: [value for result in results for value in result[kind]] for kind in results[0]}


def cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    """CPU seconds (user + system) so far of each process still running, by pid."""
    seconds = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds[process.pid] = times.user + times.system
    return seconds


def process_groups(server: psutil.Process, clients: list[int]) -> dict[str, list[psutil.Process]]:
    """The web server's processes (its master and workers), PostgreSQL's processes and the load
    generator's. Listed again at the end: a threaded worker opens database connections (new
    PostgreSQL processes) while the run goes on."""
    groups: dict[str, list[psutil.Process]] = {"web server": [server, *server.children(recursive=True)],
                                               "PostgreSQL": [], "load generator": []}
    for process in psutil.process_iter(["name"]):
        if (process.info["name"] or "").startswith("postgres"):
            groups["PostgreSQL"].append(process)
        elif process.pid in clients:
            groups["load generator"].append(process)
    return groups


def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds each group used between the two readings (all of it for a process started since)."""
    return {name: sum(seconds - before[name].get(pid, 0.0) for pid, seconds in after[name].items())
            for name in after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, help="default: the deployed setting")
    parser.add_argument("--threads", type=int, help="default: the deployed setting")
    parser.add_argument("--server", choices=["granian", "gunicorn"], default="granian")
    parser.add_argument("--options", default="", help="more gunicorn settings, e.g. '--keep-alive 5'")
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    add_overlap_arguments(parser)
    args = parser.parse_args()

    ensure_database(args.database_url)
    setup_django(args.database_url)
    tokens = build_project(args.prompts, args.clients, max_labelers_per_prompt=args.max_labelers,
                           agreement_target=args.agreement_target)
    results = run_loop(args.database_url, tokens, args.seconds, args.client_processes, args.workers, args.threads,
                       args.server, args.options)
    if results["errors"]:
        print("errors:", results["errors"][:10])
    setup = "deployed settings" if args.workers is None and args.threads is None else \
        f"{args.workers or 'conf'} workers × {args.threads or 'conf'} threads"
    setup += f", {args.options}" if args.options else ""
    print(f"{args.clients} clients in {args.client_processes} processes, {args.server} ({setup}), "
          f"{args.prompts} prompts, "
          f"{args.seconds:g} s measured after {WARM_UP_SECONDS:g} s warm-up")
    print(f"  rankings/s: {results['rankings_per_s']:.1f} ({len(results['loop'])} rankings)")
    for kind in ("next", "ranking", "loop"):
        if results[kind]:
            print(f"  {kind:<8} p50 {results[kind + '_p50']:7.1f} ms   p99 {results[kind + '_p99']:7.1f} ms")
    print(f"  CPU per ranking (next + ranking), over {results['rankings_run']} rankings: " + ", ".join(
        f"{name} {ms:.2f} ms" for name, ms in results["cpu_ms_per_ranking"].items()))


def run_loop(database_url: str, tokens: list[str], seconds: float, client_processes: int = 4,
             workers: int | None = None, threads: int | None = None, server_kind: str = "granian",
             options: str = "") -> dict:
    """One client per token against the production web server on the database (Django set up on it):
    latencies (ms) of each kind, their p50/p99, rankings/s, and CPU ms per ranking of each process group."""
    from django.db import connection

    results: dict = {"next": [], "ranking": [], "loop": [], "errors": [], "all": 0}
    spawn = multiprocessing.get_context("spawn")
    with (
        web_server(database_url, workers, threads, server_kind, options) as (base, server_process),
        spawn.Pool(client_processes) as pool,
    ):
        address = urlsplit(base)  # warm each worker up
        for token in tokens:
            warm = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
            warm.request("POST", f"/api/projects/{SLUG}/tasks/next/", headers={"Authorization": f"Token {token}"})
            warm.getresponse().read()
            warm.close()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM annotations_ranking")
            rankings_before = cursor.fetchone()[0]
        server = psutil.Process(server_process.pid)
        clients = [child.pid for child in pool._pool]  # noqa: SLF001 - to read their CPU time
        cpu_before = {name: cpu_seconds(group) for name, group in process_groups(server, clients).items()}
        now = time.perf_counter()
        count_from, stop_at = now + WARM_UP_SECONDS, now + WARM_UP_SECONDS + seconds
        shares = [tokens[i::client_processes] for i in range(client_processes)]
        running = pool.starmap_async(client_process, [(base, share, stop_at, count_from) for share in shares if share])
        # A second before the measurement the tables hold a history of assignments and rankings:
        # give the planner statistics of it, as autovacuum's analyze does in a project in use. This
        # machine's PostgreSQL runs with autovacuum off, and with the statistics of the empty
        # tables the planner read each labeler's whole history on every claim.
        time.sleep(max(0.0, count_from - 1.0 - time.perf_counter()))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE annotations_assignment, annotations_ranking")
        for part in running.get():
            for kind in ("next", "ranking", "loop", "errors"):
                results[kind].extend(part[kind])
        cpu_after = {name: cpu_seconds(group) for name, group in process_groups(server, clients).items()}
        cpu = cpu_used(cpu_before, cpu_after)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM annotations_ranking")
            rankings_run = cursor.fetchone()[0] - rankings_before  # warm-up included, as the CPU times are
    results["rankings_run"] = rankings_run
    results["rankings_per_s"] = len(results["loop"]) / seconds
    for kind in ("next", "ranking", "loop"):
        if results[kind]:
            results[kind + "_p50"], results[kind + "_p99"] = (percentile(results[kind], 0.5),
                                                              percentile(results[kind], 0.99))
    results["cpu_ms_per_ranking"] = {name: used / max(rankings_run, 1) * 1000 for name, used in cpu.items()}
    return results


if __name__ == "__main__":
    main()
