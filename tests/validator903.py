"""An independent reading of the DfE validator's rules for the SSDA903 Missing table, applied
to the CSV text alone as the DfE applies them (rules 565, 566, 567, 570, 571, 574, 586, 1004,
1005; see docs/decisions/0030). Written from the rules' descriptions, not from our checker, so
the export is tested against the rules rather than against itself."""

from __future__ import annotations

import csv
import itertools
from datetime import date, datetime


def _date(text: str) -> date | None:
    try:
        return datetime.strptime(text, "%d/%m/%Y").date()  # noqa: DTZ007 (a calendar date)
    except ValueError:
        return None


def failures(lines: list[str], *, year: int) -> set[tuple[int, str]]:
    """(data row number from 0, rule) for every rule a row breaks."""
    rows = list(csv.DictReader(lines))
    first, last = date(year, 4, 1), date(year + 1, 3, 31)
    found: set[tuple[int, str]] = set()
    for i, row in enumerate(rows):
        start, end, dob = _date(row["MIS_START"]), _date(row["MIS_END"]), _date(row["DOB"])
        if start is None:
            found.add((i, "1004"))
        if row["MIS_END"] and end is None:
            found.add((i, "1005"))
        if row["MIS_START"] and row["MISSING"] not in ("M", "A"):
            found.add((i, "565"))
        if row["MIS_END"] and not row["MISSING"]:
            found.add((i, "566"))
        if start and end and end < start:
            found.add((i, "567"))
        if start and start > last:
            found.add((i, "570"))
        if end and (end < first or end > last):
            found.add((i, "571"))
        if start and dob and start <= dob:
            found.add((i, "586"))
    # 574: sorted by child, then end (an open episode's end taken as its start), then start;
    # a row fails when the child's previous row is open, or ended after this one started.
    order = sorted(
        (i for i, r in enumerate(rows) if _date(r["MIS_START"])),
        key=lambda i: (
            rows[i]["CHILD"],
            _date(rows[i]["MIS_END"]) or _date(rows[i]["MIS_START"]),
            _date(rows[i]["MIS_START"]),
        ),
    )
    for before, after in itertools.pairwise(order):
        if rows[before]["CHILD"] != rows[after]["CHILD"]:
            continue
        previous_end = _date(rows[before]["MIS_END"])
        if previous_end is None or _date(rows[after]["MIS_START"]) < previous_end:
            found.add((after, "574"))
    return found
