"""The SSDA903 "Missing" table: one row per missing or away episode of a looked-after child that
touches the collection year (1 April to 31 March), checked against the national validator's
rules before a single line is written. See docs/decisions/0030-national-returns.md.

Everything here streams: one `values_list` query read through `.iterator()`, so memory and the
number of queries stay constant however many episodes the year holds. Writing is two passes over
the same query (check, then write), because a return that fails the DfE validator must refuse
whole — nothing written — and a streamed download cannot take back lines it has already sent.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, TextIO

from django.db.models import Case, DateField, Q, QuerySet, When
from django.db.models.functions import TruncDate

from missing.cases.clocks import LONDON, london_midnight
from missing.cases.errors import Conflict, InvalidInput
from missing.models import (
    Council,
    EpisodeState,
    MissingEpisode,
    installation_councils,
    is_regional,
)
from missing.web.spreadsheet import csv_writer

CHUNK_SIZE = 2000

SSDA903_MISSING_HEADER = ["CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"]
# The earliest collection year the command accepts: a typo such as 205 is refused, not run.
EARLIEST_YEAR = 2000


# --------------------------------------------------------------------------------------------
# Dates: the return counts days in England, so every boundary is a Europe/London midnight
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def dfe_date(day: date) -> str:
    """dd/mm/yyyy, the DfE's format for every 903 date. Cached: a year's rows hold a few hundred
    distinct start and end days and one birthday per child, so most rows format nothing."""
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"


def collection_year(year: int) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the collection year 1 April `year` – 31 March `year + 1`."""
    return london_midnight(date(year, 4, 1)), london_midnight(date(year + 1, 4, 1))


def collection_year_label(year: int) -> str:
    return f"{year}-{(year + 1) % 100:02d}"


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One row the national validator would reject: which record, which rule, why."""

    reference: str  # E-12 (an episode) or C-7 (a child): never a name
    rule: str  # the DfE validation rule code, or a local one for what the DfE takes as given
    message: str

    def __str__(self) -> str:
        return f"{self.reference}: rule {self.rule}: {self.message}"


class ReturnRefused(Conflict):
    """The data would fail the national validator: nothing is written (409 on the web)."""

    def __init__(self, what: str, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(
            f"{what} not produced: {len(problems)} record(s) would fail the national "
            "validator. Correct them and run it again; nothing was written."
        )

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]

    def report(self) -> str:
        """The refusal and every failing record, one per line, for a terminal."""
        return "\n".join([self.message, *(f"  {line}" for line in self.lines())])


# --------------------------------------------------------------------------------------------
# The SSDA903 Missing table
# --------------------------------------------------------------------------------------------


def _touching_year(start: datetime, end: datetime) -> Q:
    """Episodes that touch [start, end): started before its end and not over before its first
    day (back on or after it, or not back yet). An episode that started inside the year came
    back after it started, so "back on or after the first day, or not back" covers it too: one
    range on returned_at (plus IS NULL), which the partial index episode_la_returned_idx
    (looked-after, not cancelled) answers without reading the rest of history."""
    return Q(last_seen_at__lt=end) & (Q(returned_at__gte=start) | Q(returned_at__isnull=True))


_RAW_FIELDS = (
    "pk",
    "child_id",
    "child__council_child_id",
    "child__date_of_birth",
    "kind",
    "start_day",
    "end_day",
)


def council_filter(council_id: int | None) -> Q:
    """The episodes one council returns (a regional installation, decision 0067): those it is
    responsible for (`figures_council`, as the figures count them). None: every episode (a
    single-council installation, or the command run without --council)."""
    return Q() if council_id is None else Q(figures_council_id=council_id)


def council_for_command(code: str) -> int | None:
    """The council a command's `--council` names (its ONS code): required on a regional
    installation, where a return is one council's; on a single-council installation blank (or
    its own code) means the whole installation, as before. Raises InvalidInput naming
    `council` for a code this installation does not serve."""
    code = code.strip()
    councils = installation_councils()
    if not is_regional():
        if code and code.upper() not in {c.upper() for c in councils}:
            raise InvalidInput(
                "The council is not valid.",
                field_errors={"council": [f"This installation does not serve {code}."]},
            )
        return None
    if not code:
        raise InvalidInput(
            "The council is required.",
            field_errors={
                "council": [
                    "A regional installation returns one council at a time: give its ONS "
                    f"code, one of {', '.join(councils)}."
                ]
            },
        )
    served = next((c for c in councils if c.upper() == code.upper()), None)
    council = Council.objects.filter(ons_code=served).first() if served else None
    if council is None:
        raise InvalidInput(
            "The council is not valid.",
            field_errors={
                "council": [f"{code} is not one of this installation's: {', '.join(councils)}."]
            },
        )
    return council.pk


def ssda903_missing_query(
    year: int, council_id: int | None = None
) -> QuerySet[MissingEpisode, tuple[Any, ...]]:
    """The year's looked-after, non-cancelled episodes as tuples, ordered by CHILD then start.
    Looked after is the episode's own snapshot: the status the child had when it began. With
    `council_id`, only that council's (`council_filter`)."""
    start, end = collection_year(year)
    return (
        MissingEpisode.objects.filter(
            _touching_year(start, end), council_filter(council_id), looked_after=True
        )
        .exclude(state=EpisodeState.CANCELLED)
        # London dates in the database, not a time-zone conversion per row in Python. The end
        # is blank when the child was back only after 31 March (or is not back): DfE rule 571
        # rejects an end after the collection year; next year's return ends the episode.
        .annotate(
            start_day=TruncDate("last_seen_at", tzinfo=LONDON),
            end_day=Case(
                When(returned_at__lt=end, then=TruncDate("returned_at", tzinfo=LONDON)),
                default=None,
                output_field=DateField(),
            ),
        )
        .order_by("child__council_child_id", "child_id", "last_seen_at", "pk")
        .values_list(*_RAW_FIELDS)
    )


def _episodes(year: int, council_id: int | None = None) -> Iterator[tuple[Any, ...]]:
    return ssda903_missing_query(year, council_id).iterator(chunk_size=CHUNK_SIZE)


def _row(raw: tuple[Any, ...]) -> list[str]:
    _, _, child, dob, kind, start_day, end_day = raw
    return [
        child or "",
        dfe_date(dob) if dob else "",
        kind,
        dfe_date(start_day),
        dfe_date(end_day) if end_day is not None else "",
    ]


def ssda903_missing_rows(year: int, council_id: int | None = None) -> Iterator[list[str]]:
    """The rows (without the header) of the Missing table for collection year `year`, streamed.
    Unchecked: `write_ssda903_missing` and `ssda903_missing_csv` check them first."""
    for raw in _episodes(year, council_id):
        yield _row(raw)


class _Checker:
    """The DfE validator's rules for the Missing table, applied row by row as the rows stream.

    Rules (DfE "Children looked after return: validation rules"; codes as the DfE numbers them):
    CHILD and DOB present (the Header table links on them); 565 the code is M or A (the start
    is always given, so 565/566/1004 hold by construction); 586 the start after the date of
    birth; 567 the end not before the start; 570/571 the dates inside the year (an open episode
    carried over keeps its earlier start); 574 no new episode while the child's previous one is
    open, and no overlap. The state is one child's, because rows arrive child by child.
    """

    def __init__(self, year: int) -> None:
        _, self.end = collection_year(year)
        self.first_day, self.last_day = date(year, 4, 1), date(year + 1, 3, 31)
        self.child_id: int | None = None
        self.open_before: str | None = None  # an earlier episode of the child open at year end
        self.latest_end: date | None = None  # the latest end among the child's earlier ones

    def check(self, raw: tuple[Any, ...]) -> list[Problem]:
        pk, child_id, council_id, dob, kind, start, end = raw
        ref = f"E-{pk}"
        if child_id != self.child_id:
            self.child_id, self.open_before, self.latest_end = child_id, None, None
        problems = []
        if not (council_id or "").strip():
            problems.append(Problem(ref, "CHILD", f"child C-{child_id} has no council child id"))
        if dob is None:
            problems.append(Problem(ref, "DOB", f"child C-{child_id} has no date of birth"))
        elif start <= dob:
            problems.append(
                Problem(ref, "586", "the episode starts on or before the date of birth")
            )
        if kind not in (MissingEpisode.Kind.MISSING, MissingEpisode.Kind.AWAY):
            problems.append(Problem(ref, "565", "MISSING must be M or A"))
        if end is not None and end < start:
            problems.append(Problem(ref, "567", "the episode ends before it starts"))
        if start > self.last_day:
            problems.append(Problem(ref, "570", "the episode starts after 31 March"))
        if end is not None and end < self.first_day:
            problems.append(Problem(ref, "571", "the episode ends before 1 April"))
        if self.open_before is not None:
            problems.append(
                Problem(ref, "574", f"it starts while {self.open_before} is still open")
            )
        elif self.latest_end is not None and start < self.latest_end:
            problems.append(Problem(ref, "574", "it overlaps an earlier episode of the child"))
        if end is None:
            self.open_before = self.open_before or ref
        elif self.latest_end is None or end > self.latest_end:
            self.latest_end = end
        return problems


SSDA903_WHAT = "The SSDA903 Missing table"


def ssda903_missing_count(year: int, council_id: int | None = None) -> int:
    """How many rows the year's table has (one COUNT on the same indexed query): what the access
    log records for a download."""
    return ssda903_missing_query(year, council_id).count()


def ssda903_missing_problems(year: int, council_id: int | None = None) -> list[Problem]:
    """Every row of the year's table the DfE validator would reject, in one streamed pass."""
    checker = _Checker(year)
    return [problem for raw in _episodes(year, council_id) for problem in checker.check(raw)]


def _checked_rows(year: int, council_id: int | None = None) -> Iterator[list[str]]:
    """The rows, checked again as they are written: a record changed since the check pass that
    now breaks a rule stops the output (the command then leaves no file) rather than slip by."""
    checker = _Checker(year)
    for raw in _episodes(year, council_id):
        if problems := checker.check(raw):
            raise ReturnRefused(SSDA903_WHAT, problems)
        yield _row(raw)


def csv_lines(header: list[str], rows: Iterable[list[str]]) -> Iterator[str]:
    """CSV text line by line (RFC 4180: CRLF, quoting only where needed), for streaming. Every
    cell is neutralised against formula injection (missing.web.spreadsheet)."""

    class _Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv_writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(row)


def ssda903_missing_csv(year: int, council_id: int | None = None) -> Iterator[str]:
    """The checked table as CSV lines. Checks eagerly, before returning: raises ReturnRefused
    listing every failing episode, so a caller (a download) has sent nothing when it refuses."""
    problems = ssda903_missing_problems(year, council_id)
    if problems:
        raise ReturnRefused(SSDA903_WHAT, problems)
    return csv_lines(SSDA903_MISSING_HEADER, _checked_rows(year, council_id))


def write_lines(lines: Iterable[str], out: IO[str]) -> int:
    """Write `lines` to `out`; the number of data rows written (the header excluded)."""
    count = -1
    for line in lines:
        out.write(line)
        count += 1
    return max(count, 0)


def write_ssda903_missing(year: int, out: TextIO, council_id: int | None = None) -> int:
    """Check, then write the year's table to `out`. Raises ReturnRefused (nothing written)."""
    return write_lines(ssda903_missing_csv(year, council_id), out)


def write_to_path(lines: Iterable[str], path: Path) -> int:
    """Write to a temporary file beside `path`, then rename it into place: a reader never sees
    half a return, and a failure part-way (the database gone) leaves no file at all."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, or removed on failure)
        "w", encoding="utf-8", newline="", dir=path.parent, prefix=f".{path.name}.", delete=False
    )
    try:
        with handle:
            count = write_lines(lines, handle)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return count


def parse_collection_year(text: str, *, today: date) -> int:
    """The collection year named by `text` ("2025" for 1 April 2025 – 31 March 2026). Raises
    InvalidInput naming `year` for anything else, or a year that has not begun on `today`."""
    example = f"e.g. {today.year - 1} for 1 April {today.year - 1} to 31 March {today.year}"
    value = text.strip()
    if not (value.isascii() and value.isdigit() and len(value) == 4):
        raise InvalidInput(
            "The collection year is not valid.",
            field_errors={"year": [f"Enter the year the collection year starts, {example}."]},
        )
    year = int(value)
    if year < EARLIEST_YEAR or date(year, 4, 1) > today:
        raise InvalidInput(
            "The collection year is not valid.",
            field_errors={
                "year": [
                    f"Enter a collection year from {EARLIEST_YEAR} that has already begun, "
                    f"{example}."
                ]
            },
        )
    return year


def emit(lines: Iterable[str], out: str, stdout: Any) -> int:
    """Send checked CSV lines to `out`: "-" for `stdout` (a Django OutputWrapper), else a path
    written atomically. The number of data rows."""
    if out == "-":
        count = -1
        for line in lines:
            stdout.write(line, ending="")
            count += 1
        return max(count, 0)
    return write_to_path(lines, Path(out))


def output_path_problem(out: str) -> str | None:
    """Why `--out` cannot be written, checked before any work is done; None when it can."""
    if out == "-":
        return None
    path = Path(out)
    if path.is_dir():
        return f"--out {out} is a directory; give a file name."
    if not path.parent.is_dir():
        return f"--out {out}: the folder {path.parent} does not exist."
    return None
