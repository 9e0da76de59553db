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
from django.db.models.constants import OnConflict

M = TypeVar("M", bound=models.Model)


def insert(obj: M, *, using: str | None = None) -> M:
    """INSERT ``obj`` as a new row and return it, with its automatic primary key set.

    Field defaults and ``auto_now_add`` are applied as ``Model.save()`` applies them.
    """
    _insert(obj, using, ignore_conflicts=False)
    return obj


def insert_unless_conflict(obj: models.Model, *, using: str | None = None) -> bool:
    """Like :func:`insert`, but a row that breaks a unique constraint is skipped instead of
    raising ``IntegrityError`` (as with ``bulk_create(ignore_conflicts=True)``): False then."""
    return _insert(obj, using, ignore_conflicts=True)


def _insert(obj: models.Model, using: str | None, *, ignore_conflicts: bool) -> bool:
    model = type(obj)
    alias = using or router.db_for_write(model)
    connection = connections[alias]
    meta = model._meta
    auto = meta.auto_field is not None and obj.pk is None
    sql, fields, returning = _insert_statement(model, alias, auto, ignore_conflicts)
    values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if returning:
            row = cursor.fetchone()
            if row is None:  # skipped (ignore_conflicts)
                return False
            obj.pk = row[0]
        elif cursor.rowcount == 0:  # skipped (ignore_conflicts)
            return False
        elif auto:
            obj.pk = cursor.lastrowid
    obj._state.adding = False
    obj._state.db = alias
    return True


def values(model: type[models.Model], pk: Any, *names: str,
           using: str | None = None) -> tuple[Any, ...] | None:
    """The named columns of one row, as the database returns them (``None`` if no such row)."""
    alias = using or router.db_for_read(model)
    connection = connections[alias]
    sql = _values_statement(model, alias, names)
    with connection.cursor() as cursor:
        cursor.execute(sql, [model._meta.pk.get_db_prep_value(pk, connection)])
        return cursor.fetchone()


def update(model: type[models.Model], pk: Any, *, using: str | None = None, returning: tuple[str, ...] = (),
           where: dict[str, Any] | None = None, **changes: Any) -> Any:
    """``UPDATE model SET <changes> WHERE pk = <pk>``: the number of rows changed (0 or 1), or
    with ``returning`` the named columns of the changed row as the database returns them
    (``None`` if no row changed): one statement where a read would take a second.
    ``where`` adds equality conditions (``{"status": "running"}``): a conditional update.

    ``changes`` name concrete fields (``run_id`` or ``run`` for a foreign key, given as the
    key's value) and hold plain values: expressions such as ``F()`` belong in the ORM.
    """
    alias = using or router.db_for_write(model)
    connection = connections[alias]
    where = where or {}
    sql, fields = _update_statement(model, alias, tuple(changes), returning, tuple(where))
    values = []
    for field, value in zip(fields, [*changes.values(), *where.values()], strict=True):
        if hasattr(value, "resolve_expression"):
            raise TypeError(f"rows.update() takes plain values; {field.name}={value!r} is an expression")
        values.append(field.get_db_prep_save(value, connection))
    values.insert(len(changes), model._meta.pk.get_db_prep_save(pk, connection))
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
def _insert_statement(model: type[models.Model], alias: str, auto: bool,
                      ignore_conflicts: bool) -> tuple[str, list[models.Field[Any, Any]], bool]:
    connection = connections[alias]
    quote = connection.ops.quote_name
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not (auto and f is meta.auto_field)]
    returning = auto and connection.features.can_return_columns_from_insert
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None
    sql = (f"{connection.ops.insert_statement(on_conflict=on_conflict)} {quote(meta.db_table)} "
           f"({', '.join(quote(f.column) for f in fields)}) VALUES ({', '.join(['%s'] * len(fields))})")
    suffix = connection.ops.on_conflict_suffix_sql(fields, on_conflict, None, None)
    if suffix:
        sql += f" {suffix}"
    if returning:
        sql += f" RETURNING {quote(meta.pk.column)}"
    return sql, fields, returning


@cache
def _values_statement(model: type[models.Model], alias: str, names: tuple[str, ...]) -> str:
    quote = connections[alias].ops.quote_name
    meta = model._meta
    columns = ", ".join(quote(_column(meta, name).column) for name in names)
    return f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608


@cache
def _update_statement(model: type[models.Model], alias: str, names: tuple[str, ...],
                      returning: tuple[str, ...], where: tuple[str, ...] = (),
                      ) -> tuple[str, list[models.Field[Any, Any]]]:
    connection = connections[alias]
    quote = connection.ops.quote_name
    meta = model._meta
    fields = [_column(meta, name) for name in names]
    conditions = [_column(meta, name) for name in where]
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
    sql += "".join(f" AND {quote(f.column)} = %s" for f in conditions)
    fields += conditions
    if returning:  # SQLite (3.35+) and PostgreSQL, the databases Toolgate runs on
        sql += " RETURNING " + ", ".join(quote(_column(meta, name).column) for name in returning)
    return sql, fields
