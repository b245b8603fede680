"""Model instances read from plain SQL rows (the labeling loop's hot path) equal the ORM's."""

from django.contrib.auth import get_user_model
from django.utils import timezone

from annotations.assignment import next_assignment
from annotations.models import Assignment
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

    sql = f"SELECT {columns(Assignment, 'a')}, 'extra' FROM {Assignment._meta.db_table} AS a WHERE a.id = %s"  # noqa: S608
    read, extra = fetch_instance(Assignment, sql, [task.pk])
    assert field_values(read) == field_values(Assignment.objects.get(pk=task.pk))
    assert isinstance(read.shown_order, list) and read.reserved_until.tzinfo is not None
    assert list(extra) == ["extra"]
    assert not read._state.adding

    User = get_user_model()
    user, _ = fetch_instance(User, f"SELECT {columns(User, 'u')} FROM {User._meta.db_table} AS u WHERE u.id = %s",  # noqa: S608
                             [labeler.pk])
    assert field_values(user) == field_values(User.objects.get(pk=labeler.pk))


def test_no_row_gives_none(db):
    assert fetch_instance(Assignment, f"SELECT {columns(Assignment, 'a')} FROM {Assignment._meta.db_table} AS a "  # noqa: S608
                          "WHERE a.id = %s", [-1]) == (None, None)
