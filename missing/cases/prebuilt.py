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
