"""Request ids, JSON logs and job events: what an operator reads when something goes wrong.

- Every request gets an id: the caller's `X-Request-ID` when it is a sane token, else a new one. It is
  answered in the `X-Request-ID` header, carried by every log line written while the request runs,
  and travels with any Celery task the request enqueues (a message header set on publish, read back
  when the task starts), so the task's log lines carry it too.
- With LOG_FORMAT=json every log line is one JSON object (JsonFormatter), and RequestMiddleware
  writes one line per request (method, path, route, status, duration_ms, request_id, user_id) and
  the Celery signals below one per job event (task, task_id, job ids, state, duration_ms).
- With METRICS_ENABLED the middleware also times each request into the latency histogram
  (labelhub/metrics.py).

Standard library logging with a small formatter rather than structlog or python-json-logger: the
formatter is twenty lines, and Django's, Celery's and the libraries' loggers all go through it
without wrapping or a second configuration.
"""

import contextvars
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime

from celery import signals
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

REQUEST_ID_HEADER = "X-Request-ID"
TASK_HEADER = "labelhub_request_id"  # our Celery message header; a task's request has it as an attribute
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # a caller's id is echoed into headers and logs: keep it plain

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("labelhub_request_id", default=None)

request_logger = logging.getLogger("labelhub.request")
job_logger = logging.getLogger("labelhub.job")


def current_request_id() -> str | None:
    """The id of the request (or of the request that enqueued the task) running in this context."""
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(header: str | None) -> str:
    """The caller's id when it is a plain token (a load balancer's, a client's), else a fresh one."""
    if header and _SANE_ID.match(header):
        return header
    return new_request_id()


# ---------------------------------------------------------------------------------------------------------
# JSON log lines

# The attributes every LogRecord has: anything else on a record came from `extra=` and is a field.
_RECORD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the record's `extra` fields, the
    current request id, and the traceback of an exception as a string."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((key, value) for key, value in vars(record).items() if key not in _RECORD_ATTRS)
        line.setdefault("request_id", current_request_id())
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


# ---------------------------------------------------------------------------------------------------------
# Requests


def _user_id(request: HttpRequest) -> int | None:
    """The signed-in user's id if the view already looked the user up: never a query of our own."""
    user = getattr(request, "user", None)
    if isinstance(user, SimpleLazyObject) and user._wrapped is empty:
        return None
    return user.pk if user is not None and user.is_authenticated else None


def route_of(request: HttpRequest) -> str:
    """The URL pattern's name (`api-next-task`), bounded in number unlike paths; `unmatched` for a 404
    that matched no pattern."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or match.route or "unnamed"


class RequestMiddleware:
    """First in MIDDLEWARE, so it sees every request and its final answer, and times all of it."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.log_requests = getattr(settings, "LOG_REQUESTS", False)
        self.metrics = getattr(settings, "METRICS_ENABLED", False)
        if self.metrics:
            from labelhub import metrics

            self.observe = metrics.observe_request

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        token = _request_id.set(request_id)
        request.request_id = request_id
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            elapsed = time.perf_counter() - started
            route = route_of(request)
            if self.metrics:
                self.observe(route, request.method, response.status_code, elapsed)
            if self.log_requests:
                user_id = _user_id(request)
                request_logger.info(
                    "%s %s %s", request.method, request.path, response.status_code,
                    extra={"method": request.method, "path": request.path, "route": route,
                           "status": response.status_code, "duration_ms": round(elapsed * 1000, 1),
                           "user_id": user_id},
                )
            return response
        finally:
            _request_id.reset(token)


# ---------------------------------------------------------------------------------------------------------
# Celery: the request id travels with the message; one log line when a job starts and one when it ends.

EXPORT_TASK = "annotations.tasks.export_pairs_task"  # its bundle's size is recorded once it succeeds
_task_started: dict[str, tuple[float, contextvars.Token]] = {}


@signals.before_task_publish.connect
def _add_request_id_header(headers: dict | None = None, **_) -> None:
    request_id = current_request_id()
    if headers is not None and request_id:
        headers[TASK_HEADER] = request_id


def _job_ids(task, args, kwargs) -> dict:
    """The task's arguments by name (export_id=12, project_id=3): the ids of the job it works on."""
    import inspect

    try:
        bound = inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {}))
    except (TypeError, ValueError):
        return {}
    return {name: value for name, value in bound.arguments.items() if isinstance(value, int | str | None)}


@signals.task_prerun.connect
def _task_started_log(task_id: str | None = None, task=None, args=None, kwargs=None, **_) -> None:
    # A task run by a worker reads the id from its message; one run eagerly keeps the caller's.
    request_id = getattr(task.request, TASK_HEADER, None) or current_request_id() or new_request_id()
    token = _request_id.set(request_id)
    _task_started[task_id] = (time.perf_counter(), token)
    job_logger.info("%s started", task.name, extra={
        "event": "task_started", "task": task.name, "task_id": task_id, "state": "STARTED",
        **_job_ids(task, args, kwargs),
    })


@signals.task_postrun.connect
def _task_finished_log(task_id: str | None = None, task=None, args=None, kwargs=None, retval=None,
                       state: str | None = None, **_) -> None:
    started, token = _task_started.pop(task_id, (None, None))
    fields = {"event": "task_finished", "task": task.name, "task_id": task_id, "state": state,
              **_job_ids(task, args, kwargs)}
    if started is not None:
        fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    if isinstance(retval, dict) and "job" in retval:  # generate_completions answers its GenerationJob's id
        fields["job_id"] = retval["job"]
    job_logger.info("%s %s", task.name, (state or "").lower(), extra=fields)
    if state == "SUCCESS" and task.name == EXPORT_TASK and isinstance(fields.get("export_id"), int):
        try:
            from labelhub.metrics import record_export_bytes

            record_export_bytes(fields["export_id"])
        except Exception:  # a metric must never fail the job
            job_logger.exception("could not record the size of export %s", fields["export_id"])
    if token is not None:
        try:
            _request_id.reset(token)
        except ValueError:  # set in another context (a pool that runs prerun and postrun apart)
            _request_id.set(None)
