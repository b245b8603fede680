"""Model instances from plain SQL rows, for the labeling loop's hot path.

`Model.objects.raw()` works out every column's converters again on each query, which costs more
than the query itself for a wide model; here they are worked out once per model and database.
A query selects `columns(Model, "alias")` first, then any extra values, and `instance(Model, row)`
builds the instance from the leading values exactly as the ORM would (converters applied, stored
state set), returning the extras alongside."""

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, TypeVar

from django.db import connection, models

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


def fetch_instance(model: type[M], sql: str, params: Sequence | dict) -> tuple[M, Sequence] | tuple[None, None]:
    """The first row of the query as (instance, extra values), or (None, None)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return (None, None) if row is None else instance(model, row)
