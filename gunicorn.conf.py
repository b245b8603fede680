"""gunicorn's settings. gunicorn reads ./gunicorn.conf.py from its working directory, so the
Dockerfile, docker compose and the benchmarks in bench/ all run with these: what is measured is
what is deployed. Command-line options override them.

Threaded workers keep a labeler's HTTP connection open between requests (a sync worker closes it
after every answer). On two cores bench/labeling_loop.py measured 2 x cores processes as the best
count, and one to four threads each within its noise (more threads: a longer tail, as they share a
process's interpreter lock); two threads each let a long upload or download run without taking a
whole process away from labelers. Every thread holds its own persistent database connection, so
workers x threads must stay below PostgreSQL's max_connections (100 by default, shared with the
Celery workers): the default number of processes is capped at 8, since os.cpu_count() sees the
host's cores, not a container's share.
"""

import os

bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_WORKERS", str(min(2 * (os.cpu_count() or 1), 8))))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "2"))
keepalive = 5  # seconds an idle connection stays open: a labeler's next request reuses it
