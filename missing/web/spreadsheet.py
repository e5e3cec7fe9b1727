"""Every CSV the system writes goes through here, so no cell reaches a spreadsheet as a formula.

A cell whose text starts with `=`, `+`, `-`, `@`, a tab or a carriage return is taken by Excel,
LibreOffice and Google Sheets for a formula (`=HYPERLINK(...)` sends data away when clicked,
`=cmd|...` ran commands in older Excel): OWASP "CSV injection". Such text gets a leading
apostrophe, which spreadsheets show as typed and never evaluate. A plain number (`-3`, `+44`,
`-1.5`) is left alone: it cannot be a formula, and a return's figures must stay numbers.

`csv_writer(out)` is `csv.writer(out)` with every cell neutralised; `neutralise(value)` is the
one rule, for writers that are not CSV (the figures' XLSX writes text as text already).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def neutralise(value: Any) -> Any:
    """`value`, or for formula-like text the same text behind an apostrophe. Non-text values
    (numbers, None) pass unchanged: the csv module writes them as plain digits."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        if _PLAIN_NUMBER.fullmatch(value):
            return value
        return "'" + value
    return value


class _Writable(Protocol):
    def write(self, s: str, /) -> Any: ...


class SafeCsvWriter:
    """`csv.writer` whose every cell passes `neutralise` first."""

    def __init__(self, out: _Writable, **fmtparams: Any) -> None:
        self._writer = csv.writer(out, **fmtparams)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(out: _Writable, **fmtparams: Any) -> SafeCsvWriter:
    """The only CSV writer the application uses (tests/test_architecture.py keeps it so)."""
    return SafeCsvWriter(out, **fmtparams)
