"""Plain-SQL INSERT, UPDATE and SELECT for the statements on every chat turn's critical path.

The ORM's ``create()`` and ``update()`` compile their statement afresh on each call, which
costs several times what SQLite then spends running it (``bench/engine.py``). These
helpers build each statement's text once per model and column set, and adapt every value
with the field's own ``pre_save``/``get_db_prep_save``, so a row is stored exactly as the
ORM would store it (and read back as a QuerySet reads it). Like ``bulk_create()`` and
``QuerySet.update()``, they send no model signals. Only identifiers taken from the models'
own metadata are formatted into SQL; every value is a parameter.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from django.db import connections, models, router

M = TypeVar("M", bound=models.Model)


def insert(obj: M, *, using: str | None = None) -> M:
    """INSERT ``obj`` as a new row and return it, with its automatic primary key set.

    Field defaults and ``auto_now_add`` are applied as ``Model.save()`` applies them.
    """
    model = type(obj)
    alias = using or router.db_for_write(model)
    connection = connections[alias]
    meta = model._meta
    auto = meta.auto_field is not None and obj.pk is None
    sql, fields, returning = _insert_statement(model, alias, auto)
    values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if auto:
            obj.pk = cursor.fetchone()[0] if returning else cursor.lastrowid
    obj._state.adding = False
    obj._state.db = alias
    return obj


def update(model: type[models.Model], pk: Any, *, using: str | None = None, returning: tuple[str, ...] = (),
           **changes: Any) -> Any:
    """``UPDATE model SET <changes> WHERE pk = <pk>``: the number of rows changed (0 or 1), or
    with ``returning`` the named columns of the changed row as the database returns them
    (``None`` if no row changed): one statement where a read would take a second.

    ``changes`` name concrete fields (``run_id`` or ``run`` for a foreign key, given as the
    key's value) and hold plain values: expressions such as ``F()`` belong in the ORM.
    """
    alias = using or router.db_for_write(model)
    connection = connections[alias]
    sql, fields = _update_statement(model, alias, tuple(changes), returning)
    values = []
    for field, value in zip(fields, changes.values(), strict=True):
        if hasattr(value, "resolve_expression"):
            raise TypeError(f"rows.update() takes plain values; {field.name}={value!r} is an expression")
        values.append(field.get_db_prep_save(value, connection))
    values.append(model._meta.pk.get_db_prep_save(pk, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.fetchone() if returning else cursor.rowcount


def fetch(model: type[M], *, order_by: str | None = None, using: str | None = None, **equals: Any) -> list[M]:
    """The rows whose columns equal ``equals`` (``conversation_id=…``), ordered by one column.

    Through ``Manager.raw()``, so values come back converted exactly as a QuerySet's do.
    """
    alias = using or router.db_for_read(model)
    connection = connections[alias]
    sql, fields = _select_statement(model, alias, tuple(equals), order_by)
    params = [field.get_db_prep_value(value, connection) for field, value in zip(fields, equals.values(),
                                                                                strict=True)]
    return list(model._default_manager.using(alias).raw(sql, params))


@cache
def _select_statement(model: type[models.Model], alias: str, names: tuple[str, ...],
                      order_by: str | None) -> tuple[str, list[models.Field[Any, Any]]]:
    quote = connections[alias].ops.quote_name
    meta = model._meta
    fields = [_column(meta, name) for name in names]
    columns = ", ".join(quote(f.column) for f in meta.concrete_fields)
    where = " AND ".join(f"{quote(f.column)} = %s" for f in fields) or "1 = 1"
    sql = f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {where}"  # noqa: S608
    if order_by:
        sql += f" ORDER BY {quote(_column(meta, order_by).column)}"
    return sql, fields


def _column(meta: Any, name: str) -> models.Field[Any, Any]:
    field = meta.get_field(name)
    if not getattr(field, "concrete", False) or field.many_to_many or field.one_to_many:
        raise ValueError(f"{meta.label}.{name} is not a column")
    return field


@cache
def _insert_statement(model: type[models.Model], alias: str,
                      auto: bool) -> tuple[str, list[models.Field[Any, Any]], bool]:
    connection = connections[alias]
    quote = connection.ops.quote_name
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not (auto and f is meta.auto_field)]
    returning = auto and connection.features.can_return_columns_from_insert
    sql = (f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
           f"VALUES ({', '.join(['%s'] * len(fields))})")
    if returning:
        sql += f" RETURNING {quote(meta.pk.column)}"
    return sql, fields, returning


@cache
def _update_statement(model: type[models.Model], alias: str, names: tuple[str, ...],
                      returning: tuple[str, ...]) -> tuple[str, list[models.Field[Any, Any]]]:
    connection = connections[alias]
    quote = connection.ops.quote_name
    meta = model._meta
    fields = [_column(meta, name) for name in names]
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
    if returning:  # SQLite (3.35+) and PostgreSQL, the databases Toolgate runs on
        sql += " RETURNING " + ", ".join(quote(_column(meta, name).column) for name in returning)
    return sql, fields
