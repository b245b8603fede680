"""Model instances read from plain SQL rows (the labeling loop's hot path) equal the ORM's, and
on PostgreSQL those queries run as statements prepared once per connection."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotations.assignment import next_assignment
from annotations.models import Assignment, Ranking
from annotations.rows import columns, fetch_instance

from .factories import make_project, make_prompt, make_user


def field_values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def test_a_row_with_datetimes_and_json_becomes_the_same_instance_as_the_orm_loads(db):
    project = make_project()
    make_prompt(project, 3)
    labeler = make_user("row-reader")
    get_user_model().objects.filter(pk=labeler.pk).update(last_login=timezone.now())
    task = next_assignment(project, labeler)

    sql = f"SELECT {columns(Assignment, 'a')}, 'extra' FROM {Assignment._meta.db_table} AS a WHERE a.id = %(id)s"  # noqa: S608
    read, extra = fetch_instance(Assignment, sql, {"id": task.pk})
    assert field_values(read) == field_values(Assignment.objects.get(pk=task.pk))
    assert isinstance(read.shown_order, list) and read.reserved_until.tzinfo is not None
    assert list(extra) == ["extra"]
    assert not read._state.adding

    User = get_user_model()
    user, _ = fetch_instance(User, f"SELECT {columns(User, 'u')} FROM {User._meta.db_table} AS u WHERE u.id = %(id)s",  # noqa: S608
                             {"id": labeler.pk})
    assert field_values(user) == field_values(User.objects.get(pk=labeler.pk))


def test_no_row_gives_none(db):
    assert fetch_instance(Assignment, f"SELECT {columns(Assignment, 'a')} FROM {Assignment._meta.db_table} AS a "  # noqa: S608
                          "WHERE a.id = %(id)s", {"id": -1}) == (None, None)


postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")


def _labeling_project(prompts: int):
    """A project of `prompts` prompts × 3 completions, and an API client of one of its labelers."""
    project = make_project()
    for _ in range(prompts):
        make_prompt(project, 3)
    return project, _labeler_client(project)


def _labeler_client(project) -> APIClient:
    token = Token.objects.create(user=make_user("ann", "labeler", project))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def _label_one_prompt(client: APIClient, slug: str) -> int:
    """`next`, then rank its completions in the order shown; the ranking's status code."""
    task = client.post(f"/api/projects/{slug}/tasks/next/").json()
    body = {"tiers": [[c["id"]] for c in task["completions"]], "flagged": []}
    return client.post(f"/api/assignments/{task['assignment']}/ranking/", body, format="json").status_code


def _sent(captured) -> list[str]:
    return [q["sql"].split()[0].upper() for q in captured]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_labeling_loop_prepares_its_statements_once_per_connection():
    project, client = _labeling_project(3)
    connection.close()  # a new session: nothing prepared yet
    with CaptureQueriesContext(connection) as first:
        assert _label_one_prompt(client, project.slug) == 201
    with CaptureQueriesContext(connection) as second:
        assert _label_one_prompt(client, project.slug) == 201
    assert _sent(first).count("PREPARE") >= 5  # token, project, open assignment, claim, submission, store
    assert "PREPARE" not in _sent(second)
    assert _sent(second).count("EXECUTE") >= 6
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'labelhub_%%'")
        assert cursor.fetchone()[0] == _sent(first).count("PREPARE")
    assert Ranking.objects.count() == 2


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_new_database_session_prepares_its_statements_again():
    """The server forgets prepared statements with the session; Django's reconnection must not
    leave the loop executing statements the new session never prepared."""
    project, client = _labeling_project(2)
    assert _label_one_prompt(client, project.slug) == 201
    connection.close()
    with CaptureQueriesContext(connection) as after_reconnect:
        assert _label_one_prompt(client, project.slug) == 201
    assert "PREPARE" in _sent(after_reconnect)


@postgresql_only
@pytest.mark.django_db(transaction=True)
@override_settings(DB_PREPARED_STATEMENTS=False)
def test_prepared_statements_can_be_turned_off_for_a_transaction_pooler():
    project, client = _labeling_project(1)
    with CaptureQueriesContext(connection) as captured:
        assert _label_one_prompt(client, project.slug) == 201
    assert not {"PREPARE", "EXECUTE"} & set(_sent(captured))


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_statements_the_session_lost_or_already_has_are_prepared_afresh():
    project, client = _labeling_project(3)
    assert _label_one_prompt(client, project.slug) == 201
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # gone from the session, still listed by this process
    assert _label_one_prompt(client, project.slug) == 201
    connection.labelhub_prepared = set()  # still in the session, no longer listed
    assert _label_one_prompt(client, project.slug) == 201
    assert Ranking.objects.count() == 3


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_migration_that_changes_a_selected_column_does_not_break_the_prepared_statements():
    """PostgreSQL refuses to run a prepared plan whose result columns changed type."""
    project, client = _labeling_project(2)
    assert _label_one_prompt(client, project.slug) == 201
    table = get_user_model()._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN first_name TYPE varchar(151)")
    try:
        assert _label_one_prompt(client, project.slug) == 201
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} ALTER COLUMN first_name TYPE varchar(150)")


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_statements_found_stale_inside_a_transaction_are_prepared_afresh_in_the_next_one():
    from django.db import DatabaseError, transaction

    from annotations.assignment import open_assignment

    project = make_project()
    make_prompt(project, 3)
    labeler = make_user("ann", "labeler", project)
    next_assignment(project, labeler)  # prepares open_assignment's statement
    connection.labelhub_prepared = set()  # the session has it, this process no longer lists it
    with pytest.raises(DatabaseError), transaction.atomic():
        open_assignment(project, labeler, timezone.now())  # PREPARE fails: already there
    with transaction.atomic():  # a caller trying again in a new transaction
        assert open_assignment(project, labeler, timezone.now()) is not None
