"""`POST /api/auth/token/` (a token for a username and password) and `DELETE /api/auth/token/` (revoke
the caller's token), and the token authentication that makes tokens expire.

Logins are throttled by django-axes (settings: AXES_*): after 10 failed attempts for one username from
one address, that pair is refused with 429 until the window passes, without the password being checked.
Tokens expire LABELHUB_TOKEN_TTL_HOURS after they were issued: an expired token is deleted when it is
next used (401 saying so), and asking again issues a new one."""

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, parsers, serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from .authentication import EXPIRED, is_expired, token_expiry
from .docs import FIELD_ERRORS_SCHEMA, ErrorOut, detail_example
from .parsers import BoundedJSONParser

TokenIn = inline_serializer("TokenIn", {
    "username": serializers.CharField(),
    "password": serializers.CharField(style={"input_type": "password"}),
})
TokenOut = inline_serializer("TokenOut", {
    "token": serializers.CharField(help_text='Send it as the header "Authorization: Token <token>".'),
    "expires": serializers.DateTimeField(help_text="When the token stops working; ask for a new one then."),
})

LOCKED_OUT = ("Too many failed login attempts for this username from this address: try again in "
              "{minutes} minutes.")
def lockout_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


class ObtainToken(ObtainAuthToken):
    parser_classes = (parsers.FormParser, parsers.MultiPartParser, BoundedJSONParser)

    def get_permissions(self):
        # Anyone may ask for a token; only its holder may revoke it.
        return [IsAuthenticated()] if self.request.method == "DELETE" else [AllowAny()]

    @extend_schema(
        tags=["auth"],
        summary="Exchange a username and password for an API token",
        description="The same token for a user until it expires (`expires`, LABELHUB_TOKEN_TTL_HOURS after it "
                    "was issued), then a new one. Scripts send `Authorization: Token <token>`; the browser uses "
                    "its session instead. After 10 failed attempts for one username from one address within "
                    "15 minutes, further attempts answer 429 until the window passes.",
        request=TokenIn,
        responses={
            200: TokenOut,
            400: OpenApiResponse(FIELD_ERRORS_SCHEMA, description="Wrong credentials."),
            429: OpenApiResponse(ErrorOut, description="Locked out after too many failed attempts."),
        },
        examples=[
            OpenApiExample("Credentials", value={"username": "ada", "password": "correct horse battery"},
                           request_only=True),
            OpenApiExample("Token", response_only=True, status_codes=["200"],
                           value={"token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b",
                                  "expires": "2026-01-31T12:00:00Z"}),
            OpenApiExample("Wrong password", response_only=True, status_codes=["400"],
                           value={"non_field_errors": ["Unable to log in with provided credentials."]}),
            detail_example("Locked out", LOCKED_OUT.format(minutes=15), "429"),
        ],
    )
    def post(self, request, *args, **kwargs):
        # Refused before the password is checked once the pair is locked out: the attempts after the
        # tenth failure (the tenth itself is answered as the failure it is).
        username = request.data.get("username") if hasattr(request.data, "get") else None
        if isinstance(username, str) and AxesProxyHandler.is_locked(request, {"username": username}):
            return Response({"detail": LOCKED_OUT.format(minutes=lockout_minutes())},
                            status=status.HTTP_429_TOO_MANY_REQUESTS)
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            raise exceptions.ValidationError(serializer.errors)
        user = serializer.validated_data["user"]
        token, _ = Token.objects.get_or_create(user=user)
        if is_expired(token):
            token.delete()
            token = Token.objects.create(user=user)
        return Response({"token": token.key, "expires": token_expiry(token)})

    @extend_schema(
        tags=["auth"],
        summary="Revoke the caller's API token",
        description="The token stops working at once; the next `POST /api/auth/token/` issues a new one.",
        request=None,
        responses={204: None, 401: OpenApiResponse(ErrorOut, description="Not signed in, or the token has expired.")},
        examples=[detail_example("Expired", EXPIRED, "401")],
    )
    def delete(self, request, *args, **kwargs):
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


obtain_token = ObtainToken.as_view()
