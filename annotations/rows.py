"""Model instances from plain SQL rows, for the labeling loop's hot path.

`Model.objects.raw()` works out every column's converters again on each query, which costs more
than the query itself for a wide model; here they are worked out once per model and database.
A query selects `columns(Model, "alias")` first, then any extra values, and `instance(Model, row)`
builds the instance from the leading values exactly as the ORM would (converters applied, stored
state set), returning the extras alongside.

On PostgreSQL, execute() runs such a query as a prepared statement of the connection: it is parsed
and planned once per connection instead of on every request (planning was about a quarter of the
database's CPU on the labeling loop). DB_PREPARED_STATEMENTS=false turns that off, for a pooler that
hands a session's statements to other server connections (PgBouncer in transaction mode)."""

import hashlib
import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, connection, models
from django.db.backends.signals import connection_created
from django.dispatch import receiver

M = TypeVar("M", bound=models.Model)


def columns(model: type[models.Model], alias: str) -> str:
    """`alias.col, …` for every concrete field of the model, in the order instance() reads them."""
    return _columns(model, alias, connection.vendor)


@cache
def _columns(model: type[models.Model], alias: str, vendor: str) -> str:
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields)


Converters = tuple[tuple[int, Callable, Any], ...]


@cache
def _converters(model: type[models.Model], vendor: str) -> tuple[tuple[str, ...], Converters]:
    """The model's attribute names, and (position, converter, expression) for the values that need one."""
    fields = model._meta.concrete_fields
    found = []
    for position, field in enumerate(fields):
        expression = field.get_col(model._meta.db_table)
        for converter in connection.ops.get_db_converters(expression) + expression.get_db_converters(connection):
            found.append((position, converter, expression))
    return tuple(field.attname for field in fields), tuple(found)


def instance(model: type[M], row: Sequence) -> tuple[M, Sequence]:
    """The model instance made of the row's leading values (as columns() selects them), and the
    rest of the row."""
    names, converters = _converters(model, connection.vendor)
    values = list(row[: len(names)])
    for position, converter, expression in converters:
        values[position] = converter(values[position], expression, connection)
    return model.from_db(connection.alias, names, values), row[len(names):]


def fetch_instance(model: type[M], sql: str, params: dict) -> tuple[M, Sequence] | tuple[None, None]:
    """The first row of the query as (instance, extra values), or (None, None)."""
    with connection.cursor() as cursor:
        execute(cursor, sql, params)
        row = cursor.fetchone()
    return (None, None) if row is None else instance(model, row)


_NAMED_PARAMETER = re.compile(r"%\((\w+)\)s")


@cache
def _prepared_form(sql: str) -> tuple[str, str, tuple[str, ...]]:
    """The statement's name (from its text, so that two texts never share one), its text with
    `$n` for each distinct `%(name)s`, and the names in `$n` order."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    body = _NAMED_PARAMETER.sub(number, sql)
    name = "labelhub_" + hashlib.sha1(sql.encode(), usedforsecurity=False).hexdigest()[:20]
    return name, body, tuple(names)


# Errors that mean the session's prepared statements are not what this process thinks: a plan
# whose result columns a migration changed, a statement missing or already there.
_STALE_PREPARED = {"0A000", "26000", "42P05"}


def execute(cursor, sql: str, params: dict) -> None:
    """cursor.execute(sql, params) for a query with `%(name)s` parameters; on PostgreSQL as a
    statement prepared once per connection. Parameters the statement's context does not type
    (a value only in a SELECT list) need a cast in the SQL, as `%(project)s::bigint`. The text is
    prepared as it is, so it must not contain `%%` or a `%(name)s` inside a string literal."""
    database = cursor.db  # this thread's connection (django.db.connection is a proxy shared by threads)
    if database.vendor != "postgresql" or not settings.DB_PREPARED_STATEMENTS:
        cursor.execute(sql, params)
        return
    if getattr(database, "labelhub_prepared_stale", False):
        _start_afresh(cursor, database)
    try:
        _execute_prepared(cursor, database, sql, params)
    except DatabaseError as error:
        if getattr(error.__cause__, "pgcode", None) not in _STALE_PREPARED:
            raise
        if database.in_atomic_block:  # the caller's transaction failed with it: start afresh next time
            database.labelhub_prepared_stale = True
            raise
        _start_afresh(cursor, database)  # outside a transaction: try once more
        _execute_prepared(cursor, database, sql, params)


def _start_afresh(cursor, database) -> None:
    cursor.execute("DEALLOCATE ALL")
    database.labelhub_prepared = set()
    database.labelhub_prepared_stale = False


def _execute_prepared(cursor, database, sql: str, params: dict) -> None:
    name, body, names = _prepared_form(sql)
    prepared = getattr(database, "labelhub_prepared", None)
    if prepared is None:  # a connection opened before this module was imported
        prepared = database.labelhub_prepared = set()
    if name not in prepared:
        cursor.execute(f"PREPARE {name} AS {body}")
        prepared.add(name)
    if names:
        cursor.execute(f"EXECUTE {name}({', '.join(['%s'] * len(names))})", [params[n] for n in names])
    else:
        cursor.execute(f"EXECUTE {name}")


@receiver(connection_created)
def _forget_prepared_statements(sender, connection, **kwargs) -> None:
    """A new database session has none of the old one's prepared statements."""
    connection.labelhub_prepared = set()
    connection.labelhub_prepared_stale = False
