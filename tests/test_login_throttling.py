"""Logins are throttled (PRODUCT, "Operations and limits"): after 10 failed attempts for one username
from one address within 15 minutes, the token endpoint answers 429 and the login page shows a
lockout message, until the window passes; other usernames and other addresses are not locked."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from .factories import PASSWORD, make_user

TOKEN = "/api/auth/token/"
LOGIN = "/accounts/login/"
ATTACKER = "203.0.113.7"


pytestmark = pytest.mark.usefixtures("fast_passwords")  # these tests log in dozens of times


@pytest.fixture
def alice(db):
    return make_user("alice")


def token_attempt(username: str, password: str, address: str = ATTACKER):
    return APIClient(REMOTE_ADDR=address).post(TOKEN, {"username": username, "password": password}, format="json")


def page_attempt(username: str, password: str, address: str = ATTACKER):
    return Client(REMOTE_ADDR=address).post(LOGIN, {"username": username, "password": password})


def fail_ten_times(attempt, username: str = "alice") -> list[int]:
    return [attempt(username, f"wrong-{i}").status_code for i in range(10)]


def test_token_endpoint_answers_429_after_ten_failures_even_with_the_right_password(alice):
    assert fail_ten_times(token_attempt) == [400] * 10  # ten failed attempts, each answered as one
    locked = token_attempt("alice", PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed login attempts" in locked.json()["detail"]
    assert "15 minutes" in locked.json()["detail"]


def test_nine_failures_do_not_lock(alice):
    assert [token_attempt("alice", "wrong").status_code for _ in range(9)] == [400] * 9
    assert token_attempt("alice", PASSWORD).status_code == 200


def test_lockout_is_per_username_and_address(alice):
    make_user("bob")
    fail_ten_times(token_attempt)
    assert token_attempt("alice", PASSWORD).status_code == 429
    assert token_attempt("bob", PASSWORD).status_code == 200  # another username, same address
    assert token_attempt("alice", PASSWORD, address="198.51.100.9").status_code == 200  # alice elsewhere


def test_lockout_ends_when_the_window_passes(alice):
    fail_ten_times(token_attempt)
    assert token_attempt("alice", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))
    response = token_attempt("alice", PASSWORD)
    assert response.status_code == 200
    assert response.json()["token"]


def test_login_page_shows_a_lockout_message_after_ten_failures(alice):
    statuses = fail_ten_times(page_attempt)
    assert statuses == [200] * 10  # the form again, with its error: the tenth failure too
    locked = page_attempt("alice", PASSWORD)
    assert locked.status_code == 429
    body = locked.content.decode()
    assert "Too many failed logins" in body
    assert "locked for" in body and "15 minutes" in body
    assert "_auth_user_id" not in locked.wsgi_request.session  # the right password did not log in
    assert page_attempt("bob-not-there", "x").status_code == 200  # another username is not locked
    other_address = page_attempt("alice", PASSWORD, address="198.51.100.9")
    assert other_address.status_code == 302


def test_token_and_page_attempts_count_together(alice):
    for i in range(5):
        token_attempt("alice", f"wrong-{i}")
    for i in range(5):
        page_attempt("alice", f"wrong-{i}")
    assert token_attempt("alice", PASSWORD).status_code == 429


def test_behind_a_proxy_the_forwarded_address_is_the_one_locked(alice, settings):
    settings.LABELHUB_PROXY_HOPS = 1
    proxy = "10.0.0.2"

    def via_proxy(username, password, client_address=ATTACKER):
        # The client may forge the left of the header; the proxy appends the address it saw.
        return APIClient(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"1.2.3.4, {client_address}").post(
            TOKEN, {"username": username, "password": password}, format="json")

    fail_ten_times(via_proxy)
    assert via_proxy("alice", PASSWORD).status_code == 429
    assert via_proxy("alice", PASSWORD, client_address="198.51.100.9").status_code == 200
