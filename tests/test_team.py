"""The team: members and roles on the page and over the API, adding, changing a role, removing a
member (their reservations back to the pool at once, their rankings kept), the last admin kept."""

import html
import threading

import pytest
from django.db import connection

from annotations.assignment import next_assignment
from annotations.models import Assignment, Membership, Prompt, Ranking
from annotations.team import LastAdmin, add_member, members, remove_member

from .export_builders import rank
from .factories import make_prompt, make_user, page_client

TEAM = "/projects/helpful/team/"
MEMBERS = "/api/projects/helpful/members/"


def roles_of(project, user) -> set[str]:
    return set(Membership.objects.filter(project=project, user=user).values_list("role", flat=True))


# ---- permissions -------------------------------------------------------------------------------

@pytest.mark.parametrize("who, status", [("pam", 200), ("ada", 200), ("rita", 403), ("alice", 403),
                                         ("outsider", 404)])
def test_team_page_permissions_per_role(project, pam, ada, rita, alice, who, status):
    users = {"pam": pam, "ada": ada, "rita": rita, "alice": alice, "outsider": make_user("olga")}
    assert page_client(users[who]).get(TEAM).status_code == status


@pytest.mark.parametrize("path", ["members/", "remove/", "role/", "invites/"])
@pytest.mark.parametrize("who, status", [("rita", 403), ("alice", 403), ("outsider", 404)])
def test_team_actions_are_for_admins_only(project, pam, rita, alice, path, who, status):
    users = {"rita": rita, "alice": alice, "outsider": make_user("olga")}
    response = page_client(users[who]).post(TEAM + path, {"username": "pam", "role": "labeler",
                                                         "add-username": "olga", "add-role": "admin",
                                                         "invite-role": "admin"})
    assert response.status_code == status
    assert roles_of(project, pam) == {"admin"}
    assert not project.invites.exists()


@pytest.mark.parametrize("who, read, write", [("pam", 200, 201), ("rita", 403, 403), ("alice", 403, 403),
                                              ("outsider", 404, 404), (None, 401, 401)])
def test_members_api_permissions_per_role(project, api, pam, rita, alice, who, read, write):
    users = {"pam": pam, "rita": rita, "alice": alice, "outsider": make_user("olga"), None: None}
    make_user("newbie")
    client = api(users[who])
    assert client.get(MEMBERS).status_code == read
    assert client.post(MEMBERS, {"username": "newbie", "role": "labeler"}, format="json").status_code == write
    assert client.post("/api/projects/helpful/invites/", {"role": "labeler"}, format="json").status_code == write
    delete = client.delete(MEMBERS + "alice/").status_code
    assert delete == (204 if who == "pam" else write)


# ---- listing and adding ------------------------------------------------------------------------

def test_page_lists_members_with_all_their_roles(project, pam, rita, alice):
    add_member(project, "rita", "labeler")
    page = page_client(pam).get(TEAM).content.decode()
    row = page[page.index('<tr data-member="rita">'):]
    assert '<span class="role">researcher</span><span class="role">labeler</span>' in row[:400]
    assert page.count(">Remove</button>") == 3


def test_api_lists_one_row_per_role(project, api, pam, rita, alice):
    add_member(project, "rita", "labeler")
    assert api(pam).get(MEMBERS).json() == [
        {"username": "alice", "role": "labeler"}, {"username": "pam", "role": "admin"},
        {"username": "rita", "role": "researcher"}, {"username": "rita", "role": "labeler"}]


def test_admin_adds_an_existing_user_with_a_role(project, pam):
    newbie = make_user("newbie")
    response = page_client(pam).post(TEAM + "members/", {"add-username": "newbie", "add-role": "researcher"})
    assert response.status_code == 302
    assert roles_of(project, newbie) == {"researcher"}


@pytest.mark.parametrize("username, role, message", [
    ("nobody", "labeler", "There is no user named “nobody”"),
    ("alice", "labeler", "alice is already a labeler of this project."),
    ("", "labeler", "This field is required."),
    ("alice", "boss", "Select a valid choice. boss is not one of the available choices."),
])
def test_adding_a_member_with_bad_input_reshows_the_form_with_the_reason(project, pam, alice, username, role,
                                                                         message):
    response = page_client(pam).post(TEAM + "members/", {"add-username": username, "add-role": role})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert roles_of(project, alice) == {"labeler"}


def test_api_adds_a_member(project, api, pam):
    newbie = make_user("newbie")
    response = api(pam).post(MEMBERS, {"username": "newbie", "role": "labeler"}, format="json")
    assert response.status_code == 201 and response.json() == {"username": "newbie", "role": "labeler"}
    assert roles_of(project, newbie) == {"labeler"}


@pytest.mark.parametrize("body, field", [
    ({"username": "nobody", "role": "labeler"}, "username"),
    ({"username": "alice", "role": "labeler"}, "username"),
    ({"username": "alice", "role": "boss"}, "role"),
    ({"role": "labeler"}, "username"),
])
def test_api_add_member_bad_input_is_a_400_naming_the_field(project, api, pam, alice, body, field):
    response = api(pam).post(MEMBERS, body, format="json")
    assert response.status_code == 400
    assert field in response.json()


# ---- changing a role ---------------------------------------------------------------------------

def test_changing_a_role_makes_it_the_only_one_and_releases_reservations(project, pam, alice):
    prompt = make_prompt(project, 3)
    held = next_assignment(project, alice)
    response = page_client(pam).post(TEAM + "role/", {"username": "alice", "role": "researcher"})
    assert response.status_code == 302
    assert roles_of(project, alice) == {"researcher"}
    prompt.refresh_from_db()
    assert prompt.num_reserved == 0
    assert Assignment.objects.get(pk=held.pk).status == Assignment.Status.EXPIRED


def test_api_changes_a_role(project, api, pam, alice, rita):
    response = api(pam).put(MEMBERS + "alice/", {"role": "researcher"}, format="json")
    assert response.status_code == 200 and response.json() == [{"username": "alice", "role": "researcher"}]
    assert roles_of(project, alice) == {"researcher"}
    assert api(pam).put(MEMBERS + "alice/", {"role": "boss"}, format="json").json().keys() == {"role"}
    assert api(pam).put(MEMBERS + "pam/", {"role": "labeler"}, format="json").status_code == 409
    assert api(rita).put(MEMBERS + "alice/", {"role": "admin"}, format="json").status_code == 403
    assert api(pam).put(MEMBERS + "nobody/", {"role": "admin"}, format="json").status_code == 404
    assert roles_of(project, pam) == {"admin"} and roles_of(project, alice) == {"researcher"}


def test_the_only_admin_cannot_demote_themself(project, pam):
    client = page_client(pam)
    response = client.post(TEAM + "role/", {"username": "pam", "role": "labeler"}, follow=True)
    assert "pam is the project's only admin" in html.unescape(response.content.decode())
    assert roles_of(project, pam) == {"admin"}


# ---- removing ----------------------------------------------------------------------------------

def test_removing_a_labeler_releases_their_reservation_and_keeps_their_rankings(project, pam, alice, api):
    ranked = make_prompt(project, 3)
    ranking = rank(ranked, alice, [[1], [2], [3]])
    open_prompt = make_prompt(project, 3)
    held = next_assignment(project, alice)
    assert held.prompt_id == open_prompt.pk
    assert Prompt.objects.get(pk=open_prompt.pk).num_reserved == 1

    response = page_client(pam).post(TEAM + "remove/", {"username": "alice"}, follow=True)
    assert "alice was removed from the project; their rankings stay. 1 reserved task went back" in (
        response.content.decode())
    assert roles_of(project, alice) == set()
    assert Prompt.objects.get(pk=open_prompt.pk).num_reserved == 0
    assert not Assignment.objects.filter(labeler=alice, status=Assignment.Status.RESERVED).exists()
    assert Ranking.objects.filter(pk=ranking.pk).exists()
    # Gone from the project: its pages and its tasks answer 404.
    assert page_client(alice).get("/projects/helpful/label/").status_code == 404
    assert api(alice).post("/api/projects/helpful/tasks/next/").status_code == 404


def test_removing_takes_away_every_role(project, pam, rita):
    add_member(project, "rita", "labeler")
    assert remove_member(project, rita) == 0
    assert roles_of(project, rita) == set()


def test_api_removes_a_member(project, api, pam, alice):
    assert api(pam).delete(MEMBERS + "alice/").status_code == 204
    assert roles_of(project, alice) == set()
    assert api(pam).delete(MEMBERS + "alice/").status_code == 404


def test_removing_the_last_admin_is_refused(project, api, pam, alice):
    response = page_client(pam).post(TEAM + "remove/", {"username": "pam"}, follow=True)
    assert "pam is the project's only admin" in html.unescape(response.content.decode())
    response = api(pam).delete(MEMBERS + "pam/")
    assert response.status_code == 409 and "only admin" in response.json()["username"][0]
    assert roles_of(project, pam) == {"admin"}


def test_an_admin_may_leave_when_another_admin_remains(project, api, pam):
    make_user("quinn", "admin", project)
    assert api(pam).delete(MEMBERS + "pam/").status_code == 204
    assert roles_of(project, pam) == set()


@pytest.mark.django_db(transaction=True)
def test_two_admins_removing_each_other_at_once_leave_one_admin():
    from .factories import make_project

    project = make_project("helpful")
    pam, quinn = make_user("pam", "admin", project), make_user("quinn", "admin", project)
    barrier = threading.Barrier(2)
    outcomes = []

    def remove(user):
        try:
            barrier.wait()
            remove_member(project, user)
            outcomes.append("removed")
        except LastAdmin:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=remove, args=(user,)) for user in (pam, quinn)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "removed"]
    assert Membership.objects.filter(project=project, role="admin").count() == 1


# ---- query counts ------------------------------------------------------------------------------

def test_team_page_and_api_make_a_fixed_number_of_queries(project, pam, api, django_assert_max_num_queries):
    for i in range(50):
        user = make_user(f"member{i:02}")
        Membership.objects.create(project=project, user=user, role="labeler")
        if i % 5 == 0:
            Membership.objects.create(project=project, user=user, role="researcher")
    client = page_client(pam)
    with django_assert_max_num_queries(8):
        page = client.get(TEAM).content.decode()
    assert page.count("<tr data-member=") == 51
    assert len(members(project)) == 51
    api_client = api(pam)
    with django_assert_max_num_queries(4):
        assert len(api_client.get(MEMBERS).json()) == 61
