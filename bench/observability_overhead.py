"""What the request middleware (labelhub/observability.py) adds to each request: its own time per
request (CPU time), measured in-process around a view that does nothing, in four set-ups (each in a fresh
process, since the settings and prometheus-client's mode are read at start):

    .venv/bin/python bench/observability_overhead.py [--requests 20000]

off: request id only (always on); metrics: + the latency histogram; metrics+json: + a JSON log line
per request (written to /dev/null); multiprocess: metrics+json with PROMETHEUS_MULTIPROC_DIR (what
labelhub.serve runs with several workers). No database or broker is touched.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, logging, sys, time
import django
django.setup()
from django.conf import settings
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import resolve
from labelhub.observability import RequestMiddleware

if settings.LOG_REQUESTS:
    handler = logging.FileHandler("/dev/null")
    from labelhub.observability import JsonFormatter
    handler.setFormatter(JsonFormatter())
    logging.getLogger("labelhub.request").handlers = [handler]
    logging.getLogger("labelhub.request").propagate = False

request = RequestFactory().get("/api/projects/helpful/tasks/next/", HTTP_X_REQUEST_ID="bench-1")
match = resolve("/api/projects/helpful/tasks/next/")

def view(req):
    req.resolver_match = match
    return HttpResponse(b"{}")

n = int(sys.argv[1])
middleware = RequestMiddleware(view)
bare = view
for _ in range(2000):
    middleware(request)
best = {}
for name, call in (("bare", bare), ("middleware", middleware)):
    runs = []
    for _ in range(5):
        started = time.process_time()  # CPU time: less disturbed by other processes on a shared machine
        for _ in range(n):
            call(request)
        runs.append((time.process_time() - started) / n)
    best[name] = min(runs)
print(json.dumps({"added_us": (best["middleware"] - best["bare"]) * 1e6}))
"""

SETUPS = {
    "off": {"METRICS_ENABLED": "false", "LOG_FORMAT": "text", "LOG_REQUESTS": "false"},
    "metrics": {"METRICS_ENABLED": "true", "LOG_FORMAT": "text", "LOG_REQUESTS": "false"},
    "metrics+json": {"METRICS_ENABLED": "true", "LOG_FORMAT": "json"},
    "multiprocess": {"METRICS_ENABLED": "true", "LOG_FORMAT": "json", "PROMETHEUS_MULTIPROC_DIR": ""},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    print(f"{'set-up':<14} CPU added per request (µs, best of 5 × {args.requests})")
    for name, extra in SETUPS.items():
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, **extra, "DJANGO_SETTINGS_MODULE": "labelhub.settings", "LABELHUB_VAR_DIR": tmp}
            if "PROMETHEUS_MULTIPROC_DIR" in extra:
                env["PROMETHEUS_MULTIPROC_DIR"] = tmp
            else:
                env.pop("PROMETHEUS_MULTIPROC_DIR", None)
            out = subprocess.run([sys.executable, "-c", CHILD, str(args.requests)], cwd=ROOT, env=env,
                                 capture_output=True, text=True, check=True).stdout
            print(f"{name:<14} {json.loads(out.splitlines()[-1])['added_us']:8.1f}")


if __name__ == "__main__":
    main()
