"""Benchmark: slow clients do not hold up others, on the production web server as deployed.

    .venv/bin/python bench/slow_clients.py [--server granian|gunicorn] [--workers 2] [--threads 1] [--options '...']
        [--database-url postgres://postgres@127.0.0.1:5432/lh_infra_bench]

Two timings, each against its target (they were wall-clock assertions in the test suite, which a
loaded machine made flaky; here they are measured and reported):
- silent client: a client connects and never sends its request; 8 GETs of the login page, each on a
  new connection, must still be answered within 3 s in all (a server that parked them behind the
  silent client would wait for its header timeout, 5 s or more);
- lingering client: a client reads its answer but keeps its socket open; the next GET must be
  answered within 1 s (a server that waits for that client's FIN before serving again takes 2 s).
"""

import argparse
import http.client
import re
import socket
import time
from urllib.parse import urlsplit

from labeling_setup import web_server


def get_login_page(host: str, port: int) -> int:
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request("GET", "/accounts/login/")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def read_one_answer(sock: socket.socket) -> None:
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", choices=["granian", "gunicorn"], default="granian")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--options", default="", help="more gunicorn settings, e.g. '--keep-alive 5'")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/lh_infra_bench")
    args = parser.parse_args()

    with web_server(args.database_url, args.workers, args.threads, args.server, args.options) as (base, _):
        address = urlsplit(base)
        host, port = address.hostname, address.port
        deadline = time.monotonic() + 30
        while True:
            try:
                get_login_page(host, port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)

        with socket.create_connection((host, port)):  # connected, request never sent
            time.sleep(0.5)
            started = time.monotonic()
            statuses = [get_login_page(host, port) for _ in range(8)]
            silent = time.monotonic() - started
        assert statuses == [200] * 8, statuses

        with socket.create_connection((host, port), timeout=5) as lingering:
            lingering.sendall(f"GET /accounts/login/ HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            read_one_answer(lingering)  # and the socket stays open
            started = time.monotonic()
            status = get_login_page(host, port)
            linger = time.monotonic() - started
        assert status == 200

    print(f"{args.server}, {args.workers} workers × {args.threads} threads {args.options}".rstrip())
    print(f"  silent client: 8 requests in {silent:.2f} s (target < 3 s) {'ok' if silent < 3 else 'SLOW'}")
    print(f"  lingering client: next request in {linger:.2f} s (target < 1 s) {'ok' if linger < 1 else 'SLOW'}")


if __name__ == "__main__":
    main()
