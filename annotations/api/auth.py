"""`POST /api/auth/token/`: DRF's token view, with its body and answer described for the docs
(DRF's own view carries no OpenAPI description). Behaviour unchanged."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken

from .docs import FIELD_ERRORS_SCHEMA

TokenIn = inline_serializer("TokenIn", {
    "username": serializers.CharField(),
    "password": serializers.CharField(style={"input_type": "password"}),
})
TokenOut = inline_serializer("TokenOut", {
    "token": serializers.CharField(help_text='Send it as the header "Authorization: Token <token>".'),
})


class ObtainToken(ObtainAuthToken):
    @extend_schema(
        tags=["auth"],
        summary="Exchange a username and password for an API token",
        description="The same token every time for a user. Scripts send `Authorization: Token <token>`; "
                    "the browser uses its session instead.",
        request=TokenIn,
        responses={200: TokenOut, 400: OpenApiResponse(FIELD_ERRORS_SCHEMA, description="Wrong credentials.")},
        examples=[
            OpenApiExample("Credentials", value={"username": "ada", "password": "correct horse battery"},
                           request_only=True),
            OpenApiExample("Token", value={"token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"}, response_only=True,
                           status_codes=["200"]),
            OpenApiExample("Wrong password", response_only=True, status_codes=["400"],
                           value={"non_field_errors": ["Unable to log in with provided credentials."]}),
        ],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


obtain_token = ObtainToken.as_view()
