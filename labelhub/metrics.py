"""Prometheus metrics (prometheus-client), served at /metrics when METRICS_ENABLED=true.

Two kinds, chosen by where the truth lives:
- counted in the web process as things happen: request latency by view, rankings submitted, task
  claims (found one / found nothing). The production server runs several processes
  (labelhub/serve.py), so these use prometheus-client's multiprocess mode: serve.py points
  PROMETHEUS_MULTIPROC_DIR at an empty directory before granian starts its workers, each worker
  writes its values to files there, and a scrape of any worker sums them all.
- read at scrape time from the database and the broker, so that they are right whichever process or
  host is scraped and need no worker-side exporter: jobs by kind and state, finished jobs' durations,
  the oldest queued job's age, export bundle bytes, and the length of each Celery queue (the queues
  named in Celery's configuration).
The README lists every metric with its type, labels and meaning.
"""

import logging
import os
from datetime import timedelta

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # e.g. set for every service: a process writes there at once
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

REQUEST_LATENCY = Histogram(
    "labelhub_http_request_duration_seconds",
    "Time from a request's arrival in Django to its answer, by URL pattern name, method and status class.",
    ["view", "method", "status"],
)
RANKINGS_SUBMITTED = Counter("labelhub_rankings_submitted", "Rankings stored (first submissions, not revisions).")
RANKINGS_REVISED = Counter("labelhub_rankings_revised", "Rankings revised by their labeler.")
TASK_CLAIMS = Counter(
    "labelhub_task_claims",
    "Calls of tasks/next by result: assigned (a task was answered) or empty (nothing left for the labeler).",
    ["result"],
)

# Finished jobs' durations (started → finished), in seconds: generation runs last minutes to hours.
JOB_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
BROKER_TIMEOUT_SECONDS = 1.0


HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(view: str, method: str, status: int, seconds: float) -> None:
    method = method if method in HTTP_METHODS else "other"  # a client's made-up method is no new series
    REQUEST_LATENCY.labels(view, method, f"{status // 100}xx").observe(seconds)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def broker_connection(url: str | None = None):
    """A kombu connection to Celery's broker that gives up within about a second."""
    from labelhub.celery import app

    timeout = BROKER_TIMEOUT_SECONDS
    options = {**app.conf.broker_transport_options, "socket_connect_timeout": timeout, "socket_timeout": timeout}
    return app.connection_for_read(url, connect_timeout=timeout, transport_options=options)


def celery_queue_names() -> list[str]:
    """The queues Celery is configured with, not a list of ours: task_queues, the default queue, and
    any queue task_routes names (Celery creates those on first use, maybe not yet in this process)."""
    from labelhub.celery import app

    names = {*app.amqp.queues.keys(), app.conf.task_default_queue}
    routes = app.conf.task_routes or ()
    for table in [routes] if isinstance(routes, dict) else routes:
        if isinstance(table, dict):
            names.update(route["queue"] for route in table.values()
                         if isinstance(route, dict) and isinstance(route.get("queue"), str))
    return sorted(names)


class JobsCollector:
    """Jobs (exports, generation runs) by state, finished jobs' durations, the oldest queued job's age
    and the bytes of export bundles, read from the job rows at scrape time: one small aggregate query
    per job table."""

    def collect(self):
        from django.db import DatabaseError
        from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
        from django.utils import timezone

        from annotations.models import Export, GenerationJob

        jobs = GaugeMetricFamily("labelhub_jobs", "Jobs by kind (export, generation) and state.",
                                 labels=["kind", "state"])
        durations = HistogramMetricFamily(
            "labelhub_job_duration_seconds", "Finished jobs (done or failed) by how long they ran.", labels=["kind"])
        oldest = GaugeMetricFamily("labelhub_job_oldest_queued_seconds",
                                   "Age of the oldest job still queued (0 when none): a stuck queue grows it.",
                                   labels=["kind"])
        now = timezone.now()
        ran = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        try:
            for kind, model in (("export", Export), ("generation", GenerationJob)):
                rows = model.objects.order_by().values_list("status").annotate(n=Count("pk"))
                by_state = dict(rows)
                for state in model.Status.values:
                    jobs.add_metric([kind, state], by_state.get(state, 0))
                finished = model.objects.filter(
                    status__in=[model.Status.DONE, model.Status.FAILED],
                    started_at__isnull=False, finished_at__isnull=False,
                ).annotate(ran=ran)
                figures = finished.aggregate(
                    total=Count("pk"), seconds=Sum("ran"),
                    **{f"le{i}": Count("pk", filter=Q(ran__lte=timedelta(seconds=bound)))
                       for i, bound in enumerate(JOB_DURATION_BUCKETS)},
                )
                buckets = [(str(float(bound)), figures[f"le{i}"]) for i, bound in enumerate(JOB_DURATION_BUCKETS)]
                buckets.append(("+Inf", figures["total"]))
                seconds = figures["seconds"].total_seconds() if figures["seconds"] else 0.0
                durations.add_metric([kind], buckets, seconds)
                first = model.objects.filter(status=model.Status.QUEUED).aggregate(first=Min("created_at"))["first"]
                oldest.add_metric([kind], (now - first).total_seconds() if first else 0.0)
            stored = Export.objects.filter(status=Export.Status.DONE).aggregate(n=Sum("bundle_bytes"))["n"]
        except DatabaseError:
            logger.warning("metrics: the database did not answer; job metrics left out of this scrape")
            return
        yield jobs
        yield durations
        yield oldest
        yield GaugeMetricFamily("labelhub_export_bundle_bytes",
                                "Bytes of the finished exports' bundles (zip) still kept.", value=stored or 0)


class QueueCollector:
    """How many messages wait in each Celery queue, asked of the broker at scrape time (kombu's passive
    queue declaration, which counts a Redis queue's priority lists too)."""

    def collect(self):
        up = GaugeMetricFamily("labelhub_broker_up", "1 when the broker answered this scrape.")
        length = GaugeMetricFamily("labelhub_queue_length", "Messages waiting in a Celery queue.",
                                   labels=["queue"])
        try:
            with broker_connection() as connection:
                channel = connection.default_channel
                for name in celery_queue_names():
                    length.add_metric([name], _queue_length(channel, name))
        except Exception as exc:  # any transport's failure: the scrape still answers
            logger.warning("metrics: the broker did not answer: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield length


def _queue_length(channel, name: str) -> int:
    from amqp.exceptions import ChannelError  # kombu's "no such queue": Redis drops an empty list's key

    try:
        return channel.queue_declare(queue=name, passive=True).message_count
    except ChannelError:
        return 0


def render() -> tuple[bytes, str]:
    """The Prometheus text of one scrape and its content type."""
    scrape = CollectorRegistry()
    scrape.register(JobsCollector())
    scrape.register(QueueCollector())
    if multiprocess_dir():
        counted = CollectorRegistry()
        MultiProcessCollector(counted)
    else:
        counted = REGISTRY  # this process's counters, plus process and Python figures
    return generate_latest(counted) + generate_latest(scrape), CONTENT_TYPE_LATEST


def record_export_bytes(export_id: int) -> None:
    """Store the size of a finished export's bundle on its row (once), for labelhub_export_bundle_bytes.
    Read from the file storage, wherever the bundle was written."""
    from django.core.files.storage import default_storage

    from annotations.models import Export

    export = Export.objects.filter(pk=export_id, status=Export.Status.DONE, bundle_bytes__isnull=True).first()
    if export is None or not export.files.get("bundle"):
        return
    size = default_storage.size(export.files["bundle"])
    Export.objects.filter(pk=export_id, bundle_bytes__isnull=True).update(bundle_bytes=size)
