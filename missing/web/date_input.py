"""The GOV.UK date input (Day, Month, Year boxes) and the same plus a 24-hour time box, for
every date and date-time a web form takes (decision 0055).

Native `type="date"` / `datetime-local` inputs took seven tab stops, showed mm/dd/yyyy and let a
six-digit year through; these are plain text boxes the server reads. The parsing is pure
functions returning either the value or a `Problem` that says which boxes are wrong, so the
error message, the boxes marked in error and the error summary's link all come from one place.

The time typed is Europe/London wall-clock time. At the spring change (01:00–01:59 on the last
Sunday of March) that time did not exist: a form error. At the autumn change (01:00–01:59 on the
last Sunday of October) it happened twice: the person adds "BST" (the first) or "GMT" (the
second) in the time box, and is asked to when they did not.

A form or a query string may still send the single ISO value under the field's own name
(`period_start=2026-04-01`, `held_at=2026-04-01T14:30`): the figures' drill-down and download
links, the API's query parameters and drafts saved before the change use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from missing.api.input_limits import YEAR_MAX, YEAR_MIN, year_range_text
from missing.cases.clocks import LONDON

DATE_PARTS = ("day", "month", "year")
DATETIME_PARTS = (*DATE_PARTS, "time")

_PART_LABELS = {"day": "Day", "month": "Month", "year": "Year", "time": "Time"}
_PART_WIDTHS = {"day": 2, "month": 2, "year": 4, "time": 5}
_NUMBERS = {
    "day": re.compile(r"\d{1,2}"),
    "month": re.compile(r"\d{1,2}"),
    "year": re.compile(r"\d+"),
}
# 14:30, 14.30, 1430, 9:05, optionally followed by the zone at an autumn clock change.
_TIME = re.compile(r"(\d{1,2})[:.]?(\d{2})(?:\s*(BST|GMT))?", re.IGNORECASE)
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_ISO_DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?")
DATE_EXAMPLE = "For example, 27 3 2026."
DATETIME_EXAMPLE = "For example, 27 3 2026 and 14:30 (24-hour clock)."


@dataclass(frozen=True)
class Problem:
    """What is wrong with the boxes typed: the message, and the boxes to mark in error."""

    message: str
    parts: tuple[str, ...]


def _joined(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def parse_date(label: str, day: str, month: str, year: str) -> date | Problem | None:
    """The date in the three boxes; None when all are blank."""
    typed = {"day": day.strip(), "month": month.strip(), "year": year.strip()}
    missing = [part for part, text in typed.items() if not text]
    if len(missing) == 3:
        return None
    if missing:
        return Problem(f"{label} must include a {_joined(missing)}", tuple(missing))
    not_numbers = tuple(part for part, text in typed.items() if not _NUMBERS[part].fullmatch(text))
    if not_numbers:
        return Problem(f"{label} must be a real date", not_numbers)
    if len(typed["year"]) != 4:
        return Problem(f"{label}: year must be 4 numbers", ("year",))
    d, m, y = int(typed["day"]), int(typed["month"]), int(typed["year"])
    if not YEAR_MIN <= y <= YEAR_MAX:
        return Problem(f"{label} must be in a year {year_range_text()}", ("year",))
    if not 1 <= m <= 12:
        return Problem(f"{label} must be a real date", ("month",))
    try:
        return date(y, m, d)
    except ValueError:  # 31 February, day 0, day 32
        return Problem(f"{label} must be a real date", ("day",))


def parse_time(label: str, text: str) -> tuple[time, str] | Problem | None:
    """The 24-hour time typed, and the zone given with it ("BST", "GMT" or ""); None if blank."""
    text = text.strip()
    if not text:
        return None
    match = _TIME.fullmatch(text)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        return Problem(f"{label} must be a real time, for example 14:30", ("time",))
    return time(int(match[1]), int(match[2])), (match[3] or "").upper()


def _spoken(moment: datetime) -> str:
    return f"{moment:%H:%M} on {moment.day} {moment:%B %Y}"


def london_to_utc(label: str, day: date, at: time, zone: str) -> datetime | Problem:
    """The instant a London wall-clock time names. A time that did not happen (spring) is a
    Problem; one that happened twice (autumn) needs `zone` ("BST" first, "GMT" second)."""
    first = datetime.combine(day, at, tzinfo=LONDON)
    second = first.replace(fold=1)
    spoken = _spoken(first)
    if first.utcoffset() != second.utcoffset():
        if first.astimezone(UTC).astimezone(LONDON).replace(tzinfo=None) != first.replace(
            tzinfo=None
        ):
            return Problem(
                f"{label}: {spoken} did not happen in the UK (the clocks went forward from "
                "01:00 to 02:00). Enter a time before 01:00 or from 02:00",
                ("time",),
            )
        if not zone:
            return Problem(
                f"{label}: {spoken} happened twice (the clocks went back at 02:00). Add BST for "
                f"the first or GMT for the second, for example {at:%H:%M} BST",
                ("time",),
            )
        chosen = first if zone == "BST" else second
        return chosen.astimezone(UTC)
    if zone and first.tzname() != zone:
        return Problem(f"{label}: {spoken} was {first.tzname()}, not {zone}", ("time",))
    return first.astimezone(UTC)


def parse_datetime(
    label: str, day: str, month: str, year: str, at: str
) -> datetime | Problem | None:
    """The UTC instant the four boxes name in London time; None when all are blank."""
    if not any(text.strip() for text in (day, month, year, at)):
        return None
    missing = [
        p for p, text in zip(DATE_PARTS, (day, month, year), strict=True) if not text.strip()
    ]
    if len(missing) == 3:
        return Problem(f"{label} must include a date", DATE_PARTS)
    if not at.strip():
        missing.append("time")
    if missing:
        return Problem(f"{label} must include a {_joined(missing)}", tuple(missing))
    # Every box is filled, so neither parse answers None.
    on = parse_date(label, day, month, year)
    if not isinstance(on, date):
        return on
    clock = parse_time(label, at)
    if not isinstance(clock, tuple):
        return clock
    return london_to_utc(label, on, *clock)


# --------------------------------------------------------------------------------------------
# Widgets
# --------------------------------------------------------------------------------------------


def _from_iso(raw: str, parts: tuple[str, ...]) -> list[str]:
    """A single ISO value sent under the field's own name, split into the boxes."""
    pattern = _ISO_DATETIME if "time" in parts else _ISO_DATE
    match = pattern.fullmatch(raw.strip())
    if match is None:
        return [raw, raw, raw, *([raw] if "time" in parts else [])]  # "must be a real date"
    year, month, day = match[1], match[2], match[3]
    boxes = [str(int(day)), str(int(month)), year]
    return [*boxes, match[4]] if "time" in parts else boxes


class GovukDateWidget(forms.Widget):
    """Day, Month and Year boxes named `<name>_day`, `<name>_month`, `<name>_year`. Drawn by
    templates/includes/date_input.html (from `DateBoundField.boxes`), not by itself."""

    parts: tuple[str, ...] = DATE_PARTS
    use_fieldset = True

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        names = [f"{name}_{part}" for part in self.parts]
        if not any(n in data for n in names) and data.get(name):
            return _from_iso(str(data.get(name)), self.parts)
        return [str(data.get(n) or "") for n in names]

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in data and not any(f"{name}_{part}" in data for part in self.parts)

    def decompress(self, value: Any) -> list[str]:
        """The boxes for a stored value (a date, or an ISO string from `initial`)."""
        if isinstance(value, str):
            return _from_iso(value, self.parts) if value else ["" for _ in self.parts]
        if value is None:
            return ["" for _ in self.parts]
        return [str(value.day), str(value.month), f"{value.year:04d}"]


class GovukDateTimeWidget(GovukDateWidget):
    """The date boxes plus `<name>_time`, one 24-hour "HH:MM" box (a time is one thing to
    type; two boxes would add a tab stop and split 14:30 in the middle)."""

    parts = DATETIME_PARTS

    def decompress(self, value: Any) -> list[str]:
        if not isinstance(value, datetime):
            return super().decompress(value)
        local = timezone.localtime(value, LONDON)
        at = f"{local:%H:%M}"
        if local.utcoffset() != local.replace(fold=1 - local.fold).utcoffset():
            at += f" {local.tzname()}"  # an autumn hour that happened twice: say which
        return [*super().decompress(local), at]


# --------------------------------------------------------------------------------------------
# Fields
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """One box of a date input, as the template draws it."""

    part: str
    name: str
    id: str
    label: str
    value: str
    width: int
    error: bool


class DateBoundField(forms.BoundField):
    def boxes(self) -> list[Box]:
        widget: GovukDateWidget = self.field.widget
        if self.form.is_bound:
            values = widget.value_from_datadict(self.form.data, self.form.files, self.html_name)
        else:
            values = widget.decompress(self.value())
        wrong = self.wrong_parts()
        return [
            Box(
                part=part,
                name=f"{self.html_name}_{part}",
                id=f"{self.auto_id}_{part}",
                label=_PART_LABELS[part],
                value=value,
                width=_PART_WIDTHS[part],
                error=part in wrong,
            )
            for part, value in zip(widget.parts, values, strict=True)
        ]

    def wrong_parts(self) -> tuple[str, ...]:
        """The boxes to mark in error: those the typed value's problem names, or all of them
        when the error came from elsewhere (a rule of the service, a required date)."""
        if not self.errors:
            return ()
        field: GovukDateField = self.field  # type: ignore[assignment]
        widget: GovukDateWidget = field.widget  # type: ignore[assignment]
        raw = widget.value_from_datadict(self.form.data, self.form.files, self.html_name)
        problem = field.parse(raw)
        return problem.parts if isinstance(problem, Problem) else widget.parts

    def first_box_id(self) -> str:
        """Where the error summary links: the first box in error."""
        wrong = self.wrong_parts() or self.field.widget.parts
        return f"{self.auto_id}_{wrong[0]}"


class GovukDateField(forms.Field):
    """A date typed in Day, Month and Year boxes. `error_messages["required"]` is the message
    when every box is blank; every other message names the field by `called` (its label
    unless the label reads badly in a sentence, like "From")."""

    widget = GovukDateWidget
    default_error_messages = {"required": "Enter the date"}
    example = DATE_EXAMPLE

    def __init__(
        self, *, called: str = "", help_text: str = "", example: str = "", **kwargs: Any
    ) -> None:
        # The hint always shows the order of the boxes (and the clock), after any other hint.
        hint = f"{help_text} {example or self.example}".strip()
        super().__init__(help_text=hint, **kwargs)
        self.called = called or str(self.label)

    def parse(self, value: list[str]) -> Any:
        return parse_date(self.called, *value)

    def get_bound_field(self, form: forms.BaseForm, field_name: str) -> forms.BoundField:
        return DateBoundField(form, self, field_name)

    def to_python(self, value: Any) -> Any:
        if not isinstance(value, list):
            return value  # already a value (a form's `initial`)
        result = self.parse(value)
        if isinstance(result, Problem):
            raise ValidationError(result.message, code="invalid")
        return result

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(data) != self.to_python(initial)
        except ValidationError:
            return True


class GovukDateTimeField(GovukDateField):
    """A date and a 24-hour time typed in London time; cleaned to an aware UTC datetime."""

    widget = GovukDateTimeWidget
    default_error_messages = {"required": "Enter the date and time"}
    example = DATETIME_EXAMPLE

    def parse(self, value: list[str]) -> Any:
        return parse_datetime(self.called, *value)
