"""API tokens expire LABELHUB_TOKEN_TTL_HOURS after they were issued (401 with a clear message) and
`DELETE /api/auth/token/` revokes the caller's token."""

from datetime import timedelta

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from .factories import PASSWORD, make_user

pytestmark = pytest.mark.usefixtures("fast_passwords")  # these tests log in dozens of times


@pytest.fixture
def alice(db):
    return make_user("alice")


def issue(username: str = "alice") -> dict:
    response = APIClient().post("/api/auth/token/", {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200
    return response.json()


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_token_answer_says_when_it_expires(alice, settings):
    settings.LABELHUB_TOKEN_TTL_HOURS = 24
    body = issue()
    token = Token.objects.get(key=body["token"])
    assert body["expires"].startswith((token.created + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M"))
    assert with_token(body["token"]).get("/api/projects/").status_code == 200


def test_expired_token_is_refused_with_a_clear_401_and_a_new_one_is_issued(alice, settings):
    key = issue()["token"]
    Token.objects.filter(key=key).update(created=Token.objects.get(key=key).created - timedelta(
        hours=settings.LABELHUB_TOKEN_TTL_HOURS, seconds=1))
    response = with_token(key).get("/api/projects/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Token expired: request a new one with POST /api/auth/token/."}
    fresh = issue()["token"]
    assert fresh != key
    assert with_token(fresh).get("/api/projects/").status_code == 200


def test_asking_again_for_an_expired_token_replaces_it(alice, settings):
    key = issue()["token"]
    Token.objects.filter(key=key).update(created=Token.objects.get(key=key).created - timedelta(days=400))
    assert issue()["token"] != key
    assert Token.objects.filter(user=alice).count() == 1


def test_delete_revokes_the_callers_token(alice):
    key = issue()["token"]
    make_user("bob")
    bobs = issue("bob")["token"]
    assert with_token(key).delete("/api/auth/token/").status_code == 204
    assert with_token(key).get("/api/projects/").status_code == 401
    assert with_token(bobs).get("/api/projects/").status_code == 200  # only the caller's
    assert issue()["token"] != key


def test_delete_needs_a_signed_in_caller(db):
    assert APIClient().delete("/api/auth/token/").status_code == 401
