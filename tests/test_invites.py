"""Invite links: created by project admins (only the token's hash stored), single use, expiring
after 7 days, useless once their project is removed, and safe against two people using one at once."""

import hashlib
import html
import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.utils import timezone

from annotations.models import Invite, Membership
from annotations.team import InviteInvalid, accept_invite, create_invite

from .factories import PASSWORD, make_project, make_user, page_client

NEW_PASSWORD = "lunar-tractor-melody-42"


def join(client: Client, token: str, username: str = "newbie", password: str = NEW_PASSWORD, again: str | None = None):
    return client.post(f"/invite/{token}/", {"username": username, "password1": password,
                                             "password2": password if again is None else again})


def text_of(response) -> str:
    return html.unescape(response.content.decode())


def test_admin_creates_an_invite_link_on_the_team_page_shown_once(project, pam):
    client = page_client(pam)
    response = client.post("/projects/helpful/team/invites/", {"invite-role": "labeler"})
    assert response.status_code == 200
    page = response.content.decode()
    marker = '<code class="invite-url" data-invite-url>'
    start = page.index(marker) + len(marker)
    url = page[start:page.index("</code>", start)]
    assert url.startswith("http://testserver/invite/")
    token = url.rstrip("/").rsplit("/", 1)[1]
    invite = Invite.objects.get()
    assert invite.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in invite.token_hash and invite.role == "labeler" and invite.created_by == pam
    assert timedelta(days=6, hours=23) < invite.expires_at - timezone.now() <= timedelta(days=7)
    assert token not in client.get("/projects/helpful/team/").content.decode()  # shown once


def test_api_creates_an_invite_with_an_absolute_url(project, api, pam):
    response = api(pam).post("/api/projects/helpful/invites/", {"role": "researcher"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"url", "expires"} and body["url"].startswith("http://testserver/invite/")
    assert Invite.objects.get().role == "researcher"


@pytest.mark.parametrize("body", [{"role": "boss"}, {}])
def test_api_invite_with_a_bad_role_is_a_400_naming_the_field(project, api, pam, body):
    response = api(pam).post("/api/projects/helpful/invites/", body, format="json")
    assert response.status_code == 400 and "role" in response.json()
    assert not Invite.objects.exists()


def test_a_newcomer_joins_with_the_invites_role_and_is_signed_in(project):
    invite, token = create_invite(project, "labeler")
    client = page_client()
    page = client.get(f"/invite/{token}/")
    assert page.status_code == 200 and "Join Helpfulness" in page.content.decode()
    response = join(client, token)
    assert response.status_code == 302 and response["Location"] == "/"
    newbie = get_user_model().objects.get(username="newbie")
    assert newbie.check_password(NEW_PASSWORD)
    assert set(Membership.objects.filter(user=newbie, project=project).values_list("role", flat=True)) == {"labeler"}
    invite.refresh_from_db()
    assert invite.used_by == newbie and invite.used_at is not None
    assert client.get("/projects/helpful/label/").status_code == 200  # signed in, a labeler now


def test_a_signed_in_user_accepts_with_their_account(project):
    other = make_project("other")
    rita = make_user("rita", "researcher", other)
    _, token = create_invite(project, "researcher")
    client = page_client(rita)
    assert "Accept invite" in client.get(f"/invite/{token}/").content.decode()
    assert client.post(f"/invite/{token}/").status_code == 302
    assert Membership.objects.filter(user=rita, project=project, role="researcher").exists()
    assert get_user_model().objects.count() == 1


def test_an_invite_works_once(project):
    _, token = create_invite(project, "labeler")
    join(page_client(), token)
    second = join(page_client(), token, username="sneaky")
    assert second.status_code == 410
    assert "already been used" in text_of(second)
    assert not get_user_model().objects.filter(username="sneaky").exists()
    assert page_client().get(f"/invite/{token}/").status_code == 410


def test_an_expired_invite_says_so(project):
    invite, token = create_invite(project, "labeler")
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = page_client().get(f"/invite/{token}/")
    assert response.status_code == 410 and "expired" in text_of(response)
    assert join(page_client(), token).status_code == 410
    assert not get_user_model().objects.filter(username="newbie").exists()


def test_an_invite_to_a_removed_project_says_so(project):
    _, token = create_invite(project, "labeler")
    project.delete()
    response = page_client().get(f"/invite/{token}/")
    assert response.status_code == 404
    assert "its project may have been removed" in text_of(response)
    assert join(page_client(), token).status_code == 404


def test_a_made_up_token_says_so_without_a_500(db):
    response = page_client().get("/invite/not-a-real-token/")
    assert response.status_code == 404 and "This invite cannot be used" in text_of(response)


@pytest.mark.parametrize("username, password, again, field_message", [
    ("newbie", "short", None, "This password is too short"),
    ("newbie", "password", None, "This password is too common"),
    ("newbie", NEW_PASSWORD, "something-else-entirely", "The two passwords differ."),
    ("pam", NEW_PASSWORD, None, "The username “pam” is taken"),
    ("bad name!", NEW_PASSWORD, None, "Enter a valid username"),
    ("", NEW_PASSWORD, None, "This field is required."),
])
def test_bad_sign_up_input_reshows_the_form_and_keeps_the_invite(project, pam, username, password, again,
                                                                 field_message):
    invite, token = create_invite(project, "labeler")
    response = join(page_client(), token, username=username, password=password, again=again)
    assert response.status_code == 400
    assert field_message in text_of(response)
    invite.refresh_from_db()
    assert invite.used_at is None


def test_an_invite_for_a_role_the_user_has_is_still_used_up(project, alice):
    invite, token = create_invite(project, "labeler")
    accept_invite(token, alice)
    invite.refresh_from_db()
    assert invite.used_by == alice
    with pytest.raises(InviteInvalid):
        accept_invite(token, alice)


@pytest.mark.django_db(transaction=True)
def test_two_people_using_one_invite_at_once_only_one_joins():
    project = make_project("helpful")
    _, token = create_invite(project, "admin")
    first, second = make_user("first"), make_user("second")
    barrier = threading.Barrier(2)
    outcomes = []

    def use(user):
        try:
            barrier.wait()
            accept_invite(token, user)
            outcomes.append("joined")
        except InviteInvalid as exc:
            outcomes.append(exc.reason)
        finally:
            connection.close()

    threads = [threading.Thread(target=use, args=(user,)) for user in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["joined", "used"]
    assert Membership.objects.filter(project=project, role="admin").count() == 1


def test_the_login_link_on_the_invite_page_comes_back_to_it(project):
    _, token = create_invite(project, "labeler")
    page = page_client().get(f"/invite/{token}/").content.decode()
    assert f"/accounts/login/?next=/invite/{token}/" in page
    assert PASSWORD  # the factories' users log in with it; the page must not show any password
