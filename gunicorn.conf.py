"""gunicorn's settings. gunicorn reads ./gunicorn.conf.py from its working directory, so the
Dockerfile, docker compose and the benchmarks in bench/ all run with these: what is measured is
what is deployed. Command-line options override them.

A request goes to a worker with a free thread. The worker (labelhub/gunicorn_worker.py) is
gunicorn's threaded one, except that it serves one request per connection and takes a new
connection only while one of its threads is free; the others wait in the kernel's queue for
whichever worker frees a thread first. With kept-alive connections a worker keeps every client it
once accepted, busy or not, and on bench/labeling_loop.py that made the request p99 about three
times the median (some workers held twice the clients of others). A labeler's browser opens a new
connection per request, which costs little next to the request (a TLS proxy in front keeps its
own connections to browsers alive).

Threaded workers, not sync ones: the main thread keeps reporting to gunicorn's arbiter while a
thread streams a large export download or reads an upload, so a long transfer is not killed at
`timeout`. Two threads each, and cores + 1 processes: on two cores bench/labeling_loop.py measured
3 × 2 better than 4 × 2, 2 × 4 and 4 or 6 sync workers. Every thread holds its own persistent
database connection, so workers × threads must stay below PostgreSQL's max_connections (100 by
default, shared with the Celery workers): the default number of processes is capped at 8, since
os.cpu_count() sees the host's cores, not a container's share.
"""

import os

bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_WORKERS", str(min((os.cpu_count() or 1) + 1, 8))))
worker_class = "labelhub.gunicorn_worker.BalancedThreadWorker"
threads = int(os.environ.get("WEB_THREADS", "2"))
keepalive = 0  # one request per connection (the worker class insists), so each can go to any worker
