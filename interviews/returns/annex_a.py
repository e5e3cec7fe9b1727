"""Ofsted's inspection data, Annex A, List 8 (children in care): the four missing-episode
columns per child, keyed by the council's child id so the data team can join them to the rest
of List 8 from the care record. It needs the interview answers, so it lives here rather than in
the core. See docs/decisions/0030-national-returns.md for the choices the template leaves open.

One streamed query, ordered child by child; memory holds one child's counts.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet

from interviews.returns.ssda903 import (
    CHUNK_SIZE,
    Problem,
    ReturnRefused,
    council_filter,
    csv_lines,
)
from missing.api.input_limits import year_in_range, year_range_text
from missing.cases.clocks import london_midnight
from missing.cases.errors import InvalidInput
from missing.models import EpisodeState, MissingEpisode

# The headings as Ofsted's Annex A template (List 8) spells them; the template and the
# regional LIIA tools match columns on these words. Source in docs/decisions/0030.
ANNEX_A_LIST_8_HEADER = [
    "Child Unique ID",
    "Number of Episodes the Child has been 'Missing' from their Placement in the last 12 months",
    "Number of Episodes the Child has been 'Absent' from their Placement in the last 12 months",
    "Was the child offered a Return Interview after their last missing episode (Y/N)?",
    "Did the child accept a Return Interview after their last missing episode (Y/N)?",
]


ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


ANNEX_A_WHAT = "Annex A List 8 (the missing columns)"


@dataclass(frozen=True)
class Window:
    """The 12 months ending on the as-of date, as UTC instants [start, end)."""

    as_of: date
    start: datetime
    end: datetime


def window(as_of: date) -> Window:
    """From the day after the same date a year before, to the end of `as_of` (London days):
    as of 31 March 2026 that is 1 April 2025 – 31 March 2026. A 29 February as-of date starts
    on 1 March of the year before."""
    day_after = as_of + timedelta(days=1)
    try:
        first = day_after.replace(year=day_after.year - 1)
    except ValueError:  # day_after is 29 February: a year before has none
        first = date(day_after.year - 1, 3, 1)
    return Window(as_of, london_midnight(first), london_midnight(day_after))


def parse_as_of(text: str, *, today: date) -> date:
    """The as-of date in `text` (YYYY-MM-DD), not after `today`. InvalidInput names `as_of`."""
    value: date | None = None
    if ISO_DATE.fullmatch(text.strip()):
        try:
            value = date.fromisoformat(text.strip())
        except ValueError:  # 2026-02-30
            value = None
    if value is None:
        raise InvalidInput(
            "The as-of date is not valid.",
            field_errors={"as_of": ["Enter a real date as YYYY-MM-DD, e.g. 2026-03-31."]},
        )
    if value > today:
        raise InvalidInput(
            "The as-of date is not valid.",
            field_errors={"as_of": ["The as-of date cannot be in the future."]},
        )
    if not year_in_range(value):
        # The 12 months before 1 January of year 1 are not a date Python can name.
        raise InvalidInput(
            "The as-of date is not valid.",
            field_errors={"as_of": [f"The as-of date must be in a year {year_range_text()}."]},
        )
    return value


def _episodes_in(w: Window, council_id: int | None = None) -> QuerySet[MissingEpisode]:
    """Looked-after (at the episode's start), non-cancelled episodes that began in the window;
    with `council_id`, only that council's (`council_filter`, by the responsible council)."""
    return MissingEpisode.objects.filter(
        council_filter(council_id),
        looked_after=True,
        last_seen_at__gte=w.start,
        last_seen_at__lt=w.end,
    ).exclude(state=EpisodeState.CANCELLED)


def annex_a_missing_problems(as_of: date, council_id: int | None = None) -> list[Problem]:
    """Children in the list with no council child id: List 8 joins on it (one query)."""
    no_id = (
        _episodes_in(window(as_of), council_id)
        .filter(Q(child__council_child_id__isnull=True) | Q(child__council_child_id=""))
        .order_by("child_id")
        .values_list("child_id", flat=True)
        .distinct()
    )
    return [_no_id(child_id) for child_id in no_id]


def annex_a_missing_count(as_of: date, council_id: int | None = None) -> int:
    """How many children the list has (one COUNT): what the access log records for a
    download."""
    return _episodes_in(window(as_of), council_id).order_by().values("child_id").distinct().count()


def _no_id(child_id: int) -> Problem:
    return Problem(f"C-{child_id}", "Child Unique ID", "no council child id")


def _yes_no(value: bool) -> str:
    return "Y" if value else "N"


def _children(as_of: date, council_id: int | None = None) -> Iterator[tuple[int, list[str]]]:
    """(child id, row) for each child in care missing or away in the 12 months, streamed.

    'Missing' counts code M episodes, 'Absent' code A (away from placement without
    authorisation). Offered / accepted read the child's last M episode in the window: Y when the
    interview was offered by the end of the as-of date (and, for accepted, the child accepted
    it); N when not, including when no interview is recorded yet or the child is still missing;
    blank when the child had no M episode in the window (only A)."""
    w = window(as_of)
    raws = (
        _episodes_in(w, council_id)
        .order_by("child__council_child_id", "child_id", "last_seen_at", "pk")
        .values_list(
            "child_id",
            "child__council_child_id",
            "kind",
            "interview_link__offered_at",
            "interview_link__accepted",
        )
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for child_id, episodes in itertools.groupby(raws, key=lambda raw: raw[0]):
        missing = absent = 0
        last_missing: tuple[Any, ...] | None = None
        child_ref = ""
        for raw in episodes:
            child_ref = raw[1] or ""
            if raw[2] == MissingEpisode.Kind.MISSING:
                missing += 1
                last_missing = raw
            else:
                absent += 1
        offered = accepted = ""
        if last_missing is not None:
            offered_at, took_it = last_missing[3], last_missing[4]
            was_offered = offered_at is not None and offered_at < w.end
            offered = _yes_no(was_offered)
            accepted = _yes_no(was_offered and took_it is True)
        yield child_id, [child_ref, str(missing), str(absent), offered, accepted]


def annex_a_missing_csv(as_of: date, council_id: int | None = None) -> Iterator[str]:
    """The checked list as CSV lines; raises ReturnRefused (nothing sent) before the first."""
    problems = annex_a_missing_problems(as_of, council_id)
    if problems:
        raise ReturnRefused(ANNEX_A_WHAT, problems)
    return csv_lines(ANNEX_A_LIST_8_HEADER, _checked_rows(as_of, council_id))


def _checked_rows(as_of: date, council_id: int | None = None) -> Iterator[list[str]]:
    """The rows, checked again as they are written (a child's id removed since the check)."""
    for child_id, row in _children(as_of, council_id):
        if not row[0].strip():
            raise ReturnRefused(ANNEX_A_WHAT, [_no_id(child_id)])
        yield row
