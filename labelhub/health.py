"""Health, readiness and metrics endpoints, for load balancers, orchestrators and Prometheus.

- GET /healthz: 200 while the process serves requests; touches nothing else (liveness).
- GET /readyz: 200 when the database and the broker both answer, else 503 naming what failed
  (readiness: take this server out of rotation, do not restart it). Each check gives up within
  about a second, so the probe never hangs.
- GET /metrics: Prometheus text when METRICS_ENABLED=true (404 otherwise); with METRICS_TOKEN set it
  needs `Authorization: Bearer <token>` (401 without it, 403 with another).

No authentication classes: no session lookup, no CSRF, no user query; permissions are explicit.
"""

import hmac
import time

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import Http404, HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from labelhub import metrics

DATABASE_TIMEOUT_MS = 1000


def check_database() -> str | None:
    """None when the database answers `SELECT 1` within a second, else why not. (Connecting gives up
    after DB_CONNECT_TIMEOUT seconds, settings.py.)"""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = %s", [DATABASE_TIMEOUT_MS])  # this transaction only
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        connection.close_if_unusable_or_obsolete()  # a dead connection is not kept for the next request
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def check_broker() -> str | None:
    """None when Celery's broker accepts a connection within about a second, else why not."""
    try:
        with metrics.broker_connection() as broker:
            broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                                     timeout=metrics.BROKER_TIMEOUT_SECONDS)
            broker.default_channel  # noqa: B018 - Redis: opening the channel is the round trip
    except Exception as exc:  # every transport raises its own errors
        return str(exc) or type(exc).__name__
    return None


class Probe(APIView):
    authentication_classes: list = []  # no session, no CSRF, no user lookup
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]


@extend_schema(exclude=True)
class Healthz(Probe):
    def get(self, request):
        return Response({"status": "ok"})


@extend_schema(exclude=True)
class Readyz(Probe):
    def get(self, request):
        started = time.perf_counter()
        failures = {name: why for name, why in (("database", check_database()), ("broker", check_broker())) if why}
        body = {
            "status": "unavailable" if failures else "ok",
            "checks": {name: failures.get(name, "ok") for name in ("database", "broker")},
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        }
        return Response(body, status=503 if failures else 200)


class HasMetricsToken(BasePermission):
    """With METRICS_TOKEN set, the scrape must send it as a bearer token (compared in constant time)."""

    def has_permission(self, request, view) -> bool:
        expected = settings.METRICS_TOKEN
        if not expected:
            return True
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise AuthenticationFailed("send Authorization: Bearer <METRICS_TOKEN>")
        if not hmac.compare_digest(given.strip().encode(), expected.encode()):
            raise PermissionDenied("wrong metrics token")
        return True


@extend_schema(exclude=True)
class Metrics(Probe):
    permission_classes = [HasMetricsToken]

    def initial(self, request, *args, **kwargs):
        if not settings.METRICS_ENABLED:  # before the token check: a disabled endpoint does not exist
            raise Http404
        super().initial(request, *args, **kwargs)

    def get_authenticate_header(self, request) -> str:
        return 'Bearer realm="metrics"'  # makes a missing token a 401, as RFC 6750 says

    def get(self, request):
        body, content_type = metrics.render()
        return HttpResponse(body, content_type=content_type)
