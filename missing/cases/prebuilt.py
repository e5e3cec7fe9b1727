"""A SELECT the ORM compiles once per database, then runs with new values (issue 15).

The police feed's hot path reads the same two rows per request (the token with its user and
force; the incident's locked episode). Compiling their SQL cost the ORM more than running it
(~0.75 ms of Python against ~0.1 ms in the database). `Prebuilt` compiles the queryset once, with
sentinel values for its arguments, keeps the SQL, which parameters are the arguments, and the
ORM's own recipe for building the instances (the same `from_db`, converters and
`select_related` populators `QuerySet.__iter__` uses), then per call only executes the SQL
through `connection.cursor()` and builds the rows. What comes back is what the queryset would
have given: same columns, same objects, same related caches, same annotations.

Only what is safe to keep is kept: SQL text, parameter slots, field names and converter
functions; never the connection (the connection is per thread; the current one is used at each
call). A `select_for_update()` queryset is refused outside a transaction, as the ORM refuses it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators  # type: ignore[attr-defined]
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=Model)

# Values no real argument has: the parameters of the compiled SQL that equal one of them are
# that argument's slots. Integers stay inside a 32-bit column's range (Django drops a lookup
# whose value is outside the column's range).
_INT_SENTINEL = 1_987_650_000
_STR_SENTINEL = "\x1fprebuilt-argument-{}\x1f"


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Per parameter: the argument's name, or None for a constant of the query (with its value).
    slots: tuple[tuple[str | None, Any], ...]
    model: type[Model]
    fields: tuple[str, ...]
    start: int
    end: int
    populators: tuple[Any, ...]
    annotations: tuple[tuple[str, int], ...]
    converters: tuple[tuple[int, tuple[Callable[..., Any], ...], Any], ...]
    for_update: bool


class Prebuilt(Generic[M]):
    """`build(**arguments)` returns the queryset; `arguments` names each argument's type
    (`int` or `str`). `Prebuilt(...).first(using, **values)` is `build(**values).first()`
    without compiling: the queryset must be ordered and sliced as `first()` would
    (`.order_by("pk")[:1]`), or sliced on a unique key."""

    def __init__(self, build: Callable[..., QuerySet[M]], **arguments: type) -> None:
        self._build = build
        self._arguments = arguments
        self._compiled: dict[tuple[str, str], _Compiled] = {}
        self._lock = threading.Lock()

    def first(self, using: str = "default", /, **values: Any) -> M | None:
        connection = connections[using]
        compiled = self._compiled.get((using, connection.vendor))
        if compiled is None:
            compiled = self._compile(using)
        if compiled.for_update and connection.get_autocommit():
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        params = [value if name is None else values[name] for name, value in compiled.slots]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        if compiled.converters:
            row = list(row)
            for position, functions, expression in compiled.converters:
                value = row[position]
                for function in functions:
                    value = function(value, expression, connection)
                row[position] = value
        obj = compiled.model.from_db(using, compiled.fields, row[compiled.start : compiled.end])
        for populator in compiled.populators:
            populator.populate(row, obj)
        for name, position in compiled.annotations:
            setattr(obj, name, row[position])
        return obj  # type: ignore[return-value]

    def _compile(self, using: str) -> _Compiled:
        sentinels: dict[str, Any] = {}
        for index, (name, kind) in enumerate(self._arguments.items()):
            if kind is int:
                sentinels[name] = _INT_SENTINEL + index
            elif kind is str:
                sentinels[name] = _STR_SENTINEL.format(index)
            else:
                raise TypeError(f"Prebuilt argument {name}: int or str, not {kind!r}.")
        queryset = self._build(**sentinels)
        connection = connections[using]
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        by_value = {value: name for name, value in sentinels.items()}
        slots = tuple(
            (by_value[param], None) if _hashable(param) and param in by_value else (None, param)
            for param in params
        )
        missing = set(sentinels) - {name for name, _ in slots if name is not None}
        if missing:
            raise ValueError(f"Prebuilt arguments not in the query: {sorted(missing)}.")
        select, klass_info = compiler.select, compiler.klass_info
        if klass_info is None:  # a values() or aggregate queryset: not a model's rows
            raise TypeError("Prebuilt builds model instances: pass a model queryset.")
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        converters = tuple(
            (position, tuple(functions), expression)
            for position, (functions, expression) in compiler.get_converters(
                [column[0] for column in select[: compiler.col_count]]
            ).items()
        )
        compiled = _Compiled(
            sql=sql,
            slots=slots,
            model=klass_info["model"],
            fields=tuple(column[0].target.attname for column in select[start:end]),
            start=start,
            end=end,
            populators=tuple(get_related_populators(klass_info, select, using)),
            annotations=tuple((compiler.annotation_col_map or {}).items()),
            converters=converters,
            for_update=bool(queryset.query.select_for_update)
            and connection.features.has_select_for_update,
        )
        with self._lock:
            self._compiled[(using, connection.vendor)] = compiled
        return compiled


def _hashable(value: Any) -> bool:
    return isinstance(value, int | str)


@dataclass(frozen=True)
class _CompiledInsert:
    sql: str
    fields: tuple[Any, ...]
    returning: tuple[Any, ...]
    returning_params: tuple[Any, ...]
    converters: tuple[tuple[int, tuple[Callable[..., Any], ...], Any], ...]
    last_insert_id: bool


class PrebuiltInsert(Generic[M]):
    """`PrebuiltInsert(Model).create(**fields)` is `Model.objects.create(**fields)` without
    building and compiling an InsertQuery per call (issue 15): the INSERT's SQL text is compiled
    once per database by the ORM's own compiler; per call only each field's `pre_save` and
    `get_db_prep_save` run (what the compiler runs), then the same `RETURNING` (or
    `last_insert_id`) and converters, and the instance is left as `save()` leaves it.

    For models without save() overrides and without pre_save/post_save receivers: `save()` is
    not called (the constructor refuses a model that overrides it). A value that is an
    expression goes through `save()` as before."""

    def __init__(self, model: type[M]) -> None:
        if model.save is not Model.save or model.save_base is not Model.save_base:
            raise TypeError(f"PrebuiltInsert: {model.__name__} overrides save().")
        meta = model._meta
        if meta.order_with_respect_to is not None or meta.parents:
            raise TypeError(f"PrebuiltInsert: {model.__name__} is not a plain table.")
        self._model = model
        self._compiled: dict[tuple[str, str], _CompiledInsert] = {}
        self._lock = threading.Lock()

    def create(self, using: str = "default", /, **values: Any) -> M:
        obj = self._model(**values)
        obj._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
        connection = connections[using]
        compiled = self._compiled.get((using, connection.vendor))
        if compiled is None:
            if obj.pk is not None:
                raise ValueError("PrebuiltInsert: the primary key is the database's to give.")
            compiled = self._compile(using, obj)
        prepared = [field.pre_save(obj, True) for field in compiled.fields]
        if any(hasattr(value, "resolve_expression") for value in prepared) or obj.pk is not None:
            obj.save(force_insert=True, using=using)  # not the compiled statement's shape
            return obj
        params = [
            field.get_db_prep_save(value, connection=connection)
            for field, value in zip(compiled.fields, prepared, strict=True)
        ]
        meta = self._model._meta
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            if compiled.last_insert_id:
                row: Any = (connection.ops.last_insert_id(cursor, meta.db_table, meta.pk.column),)
            else:
                row = connection.ops.fetch_returned_insert_columns(
                    cursor, compiled.returning_params
                )
        row = list(row)
        for position, functions, expression in compiled.converters:
            value = row[position]
            for function in functions:
                value = function(value, expression, connection)
            row[position] = value
        for value, field in zip(row, compiled.returning, strict=True):
            setattr(obj, field.attname, value)
        obj._state.db = using
        obj._state.adding = False
        return obj

    def _compile(self, using: str, obj: M) -> _CompiledInsert:
        from django.db.models import AutoField
        from django.db.models.sql import InsertQuery

        connection = connections[using]
        meta = self._model._meta
        # Model._save_table's INSERT for a row without its primary key.
        fields = tuple(
            f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field
        )
        if any(hasattr(field, "get_placeholder") for field in fields):
            raise TypeError("PrebuiltInsert: a field with its own placeholder.")
        returning = tuple(meta.db_returning_fields)
        query = InsertQuery(self._model)
        query.insert_values(fields, [obj])
        compiler = query.get_compiler(using=using)
        compiler.returning_fields = list(returning)
        statements = compiler.as_sql()
        if len(statements) != 1 or len(statements[0][1]) != len(fields):
            raise TypeError("PrebuiltInsert: not one placeholder per field.")
        sql = statements[0][0]
        last_insert_id = False
        if not connection.features.can_return_columns_from_insert:
            if not (len(returning) == 1 and isinstance(returning[0], AutoField)):
                raise TypeError("PrebuiltInsert: nothing to return on this database.")
            last_insert_id = True
        cols = [field.get_col(meta.db_table) for field in returning]
        converters = tuple(
            (position, tuple(functions), expression)
            for position, (functions, expression) in compiler.get_converters(cols).items()
        )
        compiled = _CompiledInsert(
            sql=sql,
            fields=fields,
            returning=returning,
            returning_params=tuple(getattr(compiler, "returning_params", ())),
            converters=converters,
            last_insert_id=last_insert_id,
        )
        with self._lock:
            self._compiled[(using, connection.vendor)] = compiled
        return compiled


_INSERT_SQL: dict[tuple[type[Model], str, str], tuple[str, tuple[Any, ...]]] = {}


def insert_statement(obj: Model, using: str = "default") -> tuple[str, list[Any]] | None:
    """The INSERT that `save()` would run for the new row `obj` (no RETURNING): its SQL text
    compiled once per model and database, its parameters prepared per call as the compiler
    prepares them (`pre_save`, then `get_db_prep_save`). None when a value is an expression:
    the statement then has another shape (build it with InsertQuery)."""
    from django.db.models.sql import InsertQuery

    connection = connections[using]
    model = type(obj)
    key = (model, using, connection.vendor)
    cached = _INSERT_SQL.get(key)
    meta = model._meta
    if cached is None:
        fields = tuple(
            f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field
        )
    else:
        fields = cached[1]
    prepared = [field.pre_save(obj, True) for field in fields]
    if any(hasattr(value, "resolve_expression") for value in prepared):
        return None
    params = [
        field.get_db_prep_save(value, connection=connection)
        for field, value in zip(fields, prepared, strict=True)
    ]
    if cached is None:
        if any(hasattr(field, "get_placeholder") for field in fields):
            raise TypeError("insert_statement: a field with its own placeholder.")
        query = InsertQuery(model)
        query.insert_values(list(fields), [obj])
        statements = query.get_compiler(using=using).as_sql()
        if len(statements) != 1 or len(statements[0][1]) != len(fields):
            raise TypeError("insert_statement: not one placeholder per field.")
        cached = (statements[0][0], fields)
        _INSERT_SQL[key] = cached
    return cached[0], params
