"""Token authentication with an expiry. Its own module, imported by DRF's settings before any view
exists: it must not import views (annotations/api/auth.py has the token endpoint)."""

from datetime import timedelta

from axes.backends import AxesStandaloneBackend
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_lockout_response
from axes.middleware import AxesMiddleware
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

EXPIRED = "Token expired: request a new one with POST /api/auth/token/."


def token_expiry(token):
    return token.created + timedelta(hours=settings.LABELHUB_TOKEN_TTL_HOURS)


def is_expired(token) -> bool:
    return token_expiry(token) <= timezone.now()


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, refusing (and deleting) a token older than LABELHUB_TOKEN_TTL_HOURS."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if is_expired(token):
            token.delete()
            raise exceptions.AuthenticationFailed(EXPIRED)
        return user, token


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' backend, standing aside when no request is given (the test client's `login()`,
    a shell): every request the site receives reaches `authenticate()` with its request, and those
    are the attempts throttled. Axes itself would raise instead, breaking such callers."""

    def authenticate(self, request=None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def client_address(request) -> str | None:
    """The address logins are throttled by: the connection's, or behind LABELHUB_PROXY_HOPS trusted
    reverse proxies the address the first of them saw (counted from the right of X-Forwarded-For,
    since a client may put anything on its left)."""
    hops = settings.LABELHUB_PROXY_HOPS
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.META.get("REMOTE_ADDR")


class LockoutAfterTheLimitMiddleware(AxesMiddleware):
    """django-axes' middleware (whose docstring invites overriding `__call__`), showing the lockout
    page for the login attempts after the tenth failure rather than for the tenth itself, as the
    token endpoint answers (PRODUCT, "Operations and limits": after 10 failed attempts, further
    attempts are refused). Axes marks the request that reaches the limit as locked out; a login
    that was not locked when it arrived gets its own answer, the form with its error."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        locked_on_arrival = True
        if request.method == "POST" and request.path == settings.LOGIN_URL and settings.AXES_ENABLED:
            username = request.POST.get("username")
            locked_on_arrival = bool(username) and AxesProxyHandler.is_locked(request, {"username": username})
        response = self.get_response(request)
        if settings.AXES_ENABLED and locked_on_arrival and getattr(request, "axes_locked_out", None):
            response = get_lockout_response(request, response, getattr(request, "axes_credentials", None))
        return response
