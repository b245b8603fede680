"""API token authentication (`Authorization: Token <key>`), as DRF's, with the user read by one
plain query (rows.py): every request of the labeling loop authenticates, and building DRF's
`select_related` query costs more than running it."""

from django.contrib.auth import get_user_model
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from ..rows import columns, fetch_instance


def user_for_token(key: str):
    """The user who owns the API token `key`, or None."""
    User = get_user_model()
    sql = (
        f"SELECT {columns(User, 'u')} FROM {User._meta.db_table} AS u "  # noqa: S608 - names from the models
        f"JOIN {Token._meta.db_table} AS t ON t.user_id = u.id WHERE t.key = %(key)s"
    )
    return fetch_instance(User, sql, {"key": key})[0]


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key: str):
        user = user_for_token(key)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return user, Token(key=key, user=user)
