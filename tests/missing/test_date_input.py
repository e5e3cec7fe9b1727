"""The GOV.UK date input and date-time input (missing.web.date_input): what is read from the boxes,
what each wrong entry says and which box it marks, London time at both clock changes, and
every form that takes a date using it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django import forms
from django.conf import settings
from django.test import Client
from django.urls import reverse

from interviews.figures_views import FiguresForm
from interviews.forms import AssignForm, AttemptForm, RecordForm
from interviews.returns.views import AsOfForm
from missing.models import MissingEpisode, PoliceNotification, User
from missing.web.date_input import (
    GovukDateTimeWidget,
    GovukDateWidget,
    Problem,
    parse_date,
    parse_datetime,
    parse_time,
)
from missing.web.forms import (
    DecisionForm,
    LegalStatusPeriodChangeForm,
    LegalStatusPeriodForm,
    NotificationForm,
    ReturnForm,
    _LegalStatusPeriodFields,
)
from missing.web.philomena_forms import PhilomenaForm
from tests.helpers import date_boxes, login
from tests.missing.test_views import notification_post

# --------------------------------------------------------------------------------------------
# Reading the boxes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("boxes", "message", "parts"),
    [
        (("1", "2", "202609"), "Date of birth: year must be 4 numbers", ("year",)),
        (("1", "2", "26"), "Date of birth: year must be 4 numbers", ("year",)),
        (("31", "2", "2026"), "Date of birth must be a real date", ("day",)),
        (("29", "2", "2025"), "Date of birth must be a real date", ("day",)),
        (("0", "2", "2026"), "Date of birth must be a real date", ("day",)),
        (("1", "13", "2026"), "Date of birth must be a real date", ("month",)),
        (("x", "2", "2026"), "Date of birth must be a real date", ("day",)),
        (("1", "Feb", "2026"), "Date of birth must be a real date", ("month",)),
        (("", "2", "2026"), "Date of birth must include a day", ("day",)),
        (("1", "", "2026"), "Date of birth must include a month", ("month",)),
        (("1", "2", ""), "Date of birth must include a year", ("year",)),
        (("", "", "2026"), "Date of birth must include a day and month", ("day", "month")),
        (("1", "", ""), "Date of birth must include a month and year", ("month", "year")),
        (("1", "2", "1899"), "Date of birth must be in a year between 1900 and 2999", ("year",)),
        (("1", "2", "3000"), "Date of birth must be in a year between 1900 and 2999", ("year",)),
    ],
)
def test_a_wrong_date_says_what_is_wrong_and_marks_that_box(boxes, message, parts):
    assert parse_date("Date of birth", *boxes) == Problem(message, parts)


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        (("1", "2", "2026"), date(2026, 2, 1)),
        (("01", "02", "2026"), date(2026, 2, 1)),
        ((" 29 ", "2", "2024"), date(2024, 2, 29)),
        (("31", "12", "2999"), date(2999, 12, 31)),
        (("1", "1", "1900"), date(1900, 1, 1)),
        (("", "", ""), None),
        ((" ", "", "  "), None),
    ],
)
def test_a_real_date_is_read(boxes, expected):
    assert parse_date("Date", *boxes) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14:30", (time(14, 30), "")),
        ("9:05", (time(9, 5), "")),
        ("09.05", (time(9, 5), "")),
        ("1430", (time(14, 30), "")),
        ("00:00", (time(0, 0), "")),
        ("23:59", (time(23, 59), "")),
        ("01:30 bst", (time(1, 30), "BST")),
        ("0130GMT", (time(1, 30), "GMT")),
        ("", None),
    ],
)
def test_a_24_hour_time_is_read(text, expected):
    assert parse_time("Returned", text) == expected


@pytest.mark.parametrize("text", ["24:00", "12:60", "2pm", "14", "14:3", "noon", "14:30 CET"])
def test_a_time_that_is_not_one_is_refused_on_the_time_box(text):
    assert parse_time("Returned", text) == Problem(
        "Returned must be a real time, for example 14:30", ("time",)
    )


def test_a_date_time_needs_every_box():
    assert parse_datetime("Returned", "", "", "", "") is None
    assert parse_datetime("Returned", "10", "6", "2026", "") == Problem(
        "Returned must include a time", ("time",)
    )
    assert parse_datetime("Returned", "", "", "", "14:30") == Problem(
        "Returned must include a date", ("day", "month", "year")
    )
    assert parse_datetime("Returned", "10", "", "2026", "") == Problem(
        "Returned must include a month and time", ("month", "time")
    )
    assert parse_datetime("Returned", "10", "6", "202609", "14:30") == Problem(
        "Returned: year must be 4 numbers", ("year",)
    )


def test_london_summer_and_winter_time_become_utc():
    assert parse_datetime("Returned", "10", "6", "2026", "14:30") == datetime(
        2026, 6, 10, 13, 30, tzinfo=UTC
    )
    assert parse_datetime("Returned", "10", "1", "2026", "14:30") == datetime(
        2026, 1, 10, 14, 30, tzinfo=UTC
    )
    assert parse_datetime("Returned", "10", "6", "2026", "14:30 GMT") == Problem(
        "Returned: 14:30 on 10 June 2026 was BST, not GMT", ("time",)
    )


# The clocks go forward at 01:00 GMT on 29 March 2026 and back at 02:00 BST on 25 October 2026.


@pytest.mark.parametrize("at", ["01:00", "01:30", "01:59"])
def test_a_time_the_spring_change_skipped_is_a_form_error(at):
    problem = parse_datetime("Last seen", "29", "3", "2026", at)
    assert isinstance(problem, Problem)
    assert problem.parts == ("time",)
    assert f"Last seen: {at} on 29 March 2026 did not happen in the UK" in problem.message
    assert "Enter a time before 01:00 or from 02:00" in problem.message


def test_the_spring_change_either_side():
    assert parse_datetime("Last seen", "29", "3", "2026", "00:59") == datetime(
        2026, 3, 29, 0, 59, tzinfo=UTC
    )
    assert parse_datetime("Last seen", "29", "3", "2026", "02:00") == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC
    )


@pytest.mark.parametrize("at", ["01:00", "01:30", "01:59"])
def test_a_time_the_autumn_change_doubled_asks_which(at):
    assert parse_datetime("Last seen", "25", "10", "2026", at) == Problem(
        f"Last seen: {at} on 25 October 2026 happened twice (the clocks went back at 02:00). "
        f"Add BST for the first or GMT for the second, for example {at} BST",
        ("time",),
    )


def test_the_autumn_change_bst_or_gmt_and_either_side():
    assert parse_datetime("Last seen", "25", "10", "2026", "01:30 BST") == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
    assert parse_datetime("Last seen", "25", "10", "2026", "01:30 GMT") == datetime(
        2026, 10, 25, 1, 30, tzinfo=UTC
    )
    assert parse_datetime("Last seen", "25", "10", "2026", "00:59") == datetime(
        2026, 10, 24, 23, 59, tzinfo=UTC
    )
    assert parse_datetime("Last seen", "25", "10", "2026", "02:00") == datetime(
        2026, 10, 25, 2, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("instant", "boxes"),
    [
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), ["25", "10", "2026", "01:30 BST"]),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), ["25", "10", "2026", "01:30 GMT"]),
        (datetime(2026, 6, 10, 13, 5, tzinfo=UTC), ["10", "6", "2026", "14:05"]),
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), ["31", "12", "2026", "23:59"]),
    ],
)
def test_a_stored_time_is_shown_in_london_and_reads_back_the_same(instant, boxes):
    assert GovukDateTimeWidget().decompress(instant) == boxes
    assert parse_datetime("When", *boxes) == instant


def test_a_single_iso_value_still_reads_for_links_and_the_api():
    date_widget, when_widget = GovukDateWidget(), GovukDateTimeWidget()
    assert date_widget.value_from_datadict({"d": "2026-04-01"}, {}, "d") == ["1", "4", "2026"]
    assert when_widget.value_from_datadict({"w": "2026-04-01T14:30"}, {}, "w") == [
        "1",
        "4",
        "2026",
        "14:30",
    ]
    # The boxes win when both are sent; a value that is not ISO is "not a real date".
    assert date_widget.value_from_datadict(
        {"d": "2026-04-01", "d_day": "2", "d_month": "4", "d_year": "2026"}, {}, "d"
    ) == ["2", "4", "2026"]
    assert isinstance(
        parse_date("D", *date_widget.value_from_datadict({"d": "x"}, {}, "d")), Problem
    )


# --------------------------------------------------------------------------------------------
# Every form with a date: the boxes work, a wrong box is named
# --------------------------------------------------------------------------------------------

SUMMER = datetime(2026, 6, 9, 13, 30, tzinfo=UTC)  # 14:30 in London

# (form, field, makes the form from data): every date and date-time field of every web form.
FORMS: list[tuple[str, str, Callable[[dict[str, Any]], forms.Form]]] = [
    ("notification", "child_date_of_birth", NotificationForm),
    ("notification", "last_seen_at", NotificationForm),
    ("notification", "reported_at", NotificationForm),
    ("notification", "found_at", NotificationForm),
    ("decision", "next_review_at", DecisionForm),
    ("return", "returned_at", ReturnForm),
    ("legal status", "start_date", LegalStatusPeriodForm),
    ("legal status", "end_date", LegalStatusPeriodForm),
    ("legal status change", "start_date", LegalStatusPeriodChangeForm),
    ("legal status change", "end_date", LegalStatusPeriodChangeForm),
    # The two forms' shared fields (a base class, found by the check below like any form).
    ("legal status fields", "start_date", _LegalStatusPeriodFields),
    ("legal status fields", "end_date", _LegalStatusPeriodFields),
    ("philomena", "photo_taken_on", PhilomenaForm),
    ("figures", "period_start", FiguresForm),
    ("figures", "period_end", FiguresForm),
    ("annex a", "as_of", lambda data: AsOfForm(data, today=date(2026, 6, 10))),
    ("assign", "planned_at", AssignForm),
    ("attempt", "at", AttemptForm),
    ("attempt", "planned_at", AttemptForm),
    ("record", "held_at", lambda data: RecordForm(data, factors=[], picked={})),
]


def _expected(form: forms.Form, name: str) -> date | datetime:
    is_datetime = "time" in form.fields[name].widget.parts
    return SUMMER if is_datetime else SUMMER.date()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("form_name", "field", "make"), FORMS, ids=[f"{f}-{n}" for f, n, _ in FORMS]
)
def test_each_form_reads_its_date_boxes(form_name, field, make):
    value = _expected(make({}), field)
    form = make(date_boxes(field, value))
    form.is_valid()
    assert field not in form.errors, form.errors.get(field)
    assert form.cleaned_data[field] == value


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("form_name", "field", "make"), FORMS, ids=[f"{f}-{n}" for f, n, _ in FORMS]
)
def test_each_form_names_the_wrong_box(form_name, field, make):
    boxes = {**date_boxes(field, _expected(make({}), field)), f"{field}_year": "202609"}
    form = make(boxes)
    assert not form.is_valid()
    (message,) = form.errors[field]
    assert message.endswith(": year must be 4 numbers")
    bound = form[field]
    assert [box.part for box in bound.boxes() if box.error] == ["year"]
    assert any(item.href == f"#id_{field}_year" for item in form.error_items())


def test_every_form_with_a_date_is_listed_here():
    """A new date field on a form gets the two tests above."""
    from missing.web.date_input import GovukDateField
    from tests.missing.test_hostile_input import _api_views, _subclasses

    _api_views()
    found = {
        (cls.__name__, name)
        for cls in _subclasses(forms.BaseForm)
        if cls.__module__.startswith(("missing", "interviews", "notifications", "ssd"))
        for name, field in cls.base_fields.items()
        if isinstance(field, GovukDateField)
    }
    listed = {(type(make({})).__name__, name) for _, name, make in FORMS}
    assert found == listed


def test_no_template_draws_a_native_date_picker():
    roots = [Path(settings.BASE_DIR)]
    native = re.compile(r"""type=["']?(date|datetime-local|time)\b""")
    offenders = [
        str(path)
        for root in roots
        for path in root.rglob("*.html")
        if ".venv" not in path.parts
        and "node_modules" not in path.parts
        and "static_build" not in path.parts
        and native.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


# --------------------------------------------------------------------------------------------
# Through the page: the notification form
# --------------------------------------------------------------------------------------------


def _boxes_post(**overrides: Any) -> dict[str, Any]:
    data = notification_post()
    for name in ("child_date_of_birth", "last_seen_at", "reported_at", "found_at"):
        data.pop(name)
    data.update(date_boxes("child_date_of_birth", date(2012, 5, 1)))
    data.update(date_boxes("last_seen_at", datetime(2026, 6, 10, 9, 30, tzinfo=UTC)))
    data.update(date_boxes("reported_at", datetime(2026, 6, 10, 10, 0, tzinfo=UTC)))
    data.update(overrides)
    return data


@pytest.fixture
def ffd_client(client: Client, ffd: User, now: datetime) -> Any:
    with time_machine.travel(now, tick=False):
        login(client, ffd)
        yield client


def test_the_notification_form_takes_the_boxes(ffd_client):
    response = ffd_client.post(reverse("notification_new"), _boxes_post())
    assert response.status_code == 302
    episode = MissingEpisode.objects.get()
    assert episode.last_seen_at == datetime(2026, 6, 10, 9, 30, tzinfo=UTC)
    assert episode.child.date_of_birth == date(2012, 5, 1)
    payload = PoliceNotification.objects.get().raw_payload
    assert payload["last_seen_at"] == "2026-06-10T10:30:00+01:00"  # as typed, London time


def test_the_notification_form_marks_only_the_wrong_box(ffd_client):
    response = ffd_client.post(
        reverse("notification_new"), _boxes_post(child_date_of_birth_year="202609")
    )
    assert response.status_code == 400
    assert not MissingEpisode.objects.exists()
    page = response.content.decode()
    assert "Date of birth: year must be 4 numbers" in page
    assert 'href="#id_child_date_of_birth_year"' in page
    boxes = re.findall(r'<input class="([^"]*)" id="id_child_date_of_birth_(\w+)"', page)
    assert [(part, "govuk-input--error" in css) for css, part in boxes] == [
        ("day", False),
        ("month", False),
        ("year", True),
    ]
    # What was typed is shown back as typed.
    assert (
        'id="id_child_date_of_birth_year" name="child_date_of_birth_year" type="text" value="202609"'
        in page
    )
    described = 'aria-describedby="id_child_date_of_birth-hint id_child_date_of_birth-error"'
    assert f'role="group" {described}' in page
    assert "For example, 27 3 2012." in page


def test_the_notification_form_at_the_spring_change(ffd_client):
    response = ffd_client.post(
        reverse("notification_new"),
        _boxes_post(
            last_seen_at_day="29",
            last_seen_at_month="3",
            last_seen_at_year="2026",
            last_seen_at_time="01:30",
        ),
    )
    assert response.status_code == 400
    assert "01:30 on 29 March 2026 did not happen in the UK" in response.content.decode()
    assert 'href="#id_last_seen_at_time"' in response.content.decode()
    assert not PoliceNotification.objects.exists()


def test_the_notification_form_at_the_autumn_change(ffd_client):
    autumn = {"last_seen_at_day": "26", "last_seen_at_month": "10", "last_seen_at_year": "2025"}
    asked = ffd_client.post(
        reverse("notification_new"), _boxes_post(**autumn, last_seen_at_time="01:30")
    )
    assert asked.status_code == 400
    assert "happened twice" in asked.content.decode()
    assert not PoliceNotification.objects.exists()

    second = ffd_client.post(
        reverse("notification_new"), _boxes_post(**autumn, last_seen_at_time="01:30 GMT")
    )
    assert second.status_code == 302
    assert MissingEpisode.objects.get().last_seen_at == datetime(2025, 10, 26, 1, 30, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# The tablet's autosave: the boxes go in, come back as the page posts them, and merge
# --------------------------------------------------------------------------------------------


HOUR = timedelta(hours=1)


@pytest.fixture
def tablet_interview(ffd, manager, interviewer, now):
    from tests.interviews.helpers import assign, open_interview, returned_episode

    with time_machine.travel(now, tick=False):
        episode = returned_episode(ffd=ffd, manager=manager, returned_at=now - 5 * HOUR)
        interview = open_interview(manager=manager, episodes=[episode], now=now)
        yield assign(interview, manager=manager, interviewer=interviewer, now=now)


def test_the_autosave_takes_the_boxes_and_answers_with_them(
    client, interviewer, tablet_interview, now
):
    from tests.interviews.test_views import record_post

    with time_machine.travel(now, tick=False):
        login(client, interviewer)
        url = reverse("interviews:record_autosave", args=[tablet_interview.pk])
        held = now - HOUR  # 12:00 in London
        data = record_post(tablet_interview)
        data.pop("held_at")
        first = client.post(url, {**data, **date_boxes("held_at", held)})
        assert first.status_code == 200, first.content
        pairs = first.json()["pairs"]
        assert [pair for pair in pairs if pair[0].startswith("held_at")] == [
            ["held_at_day", "10"],
            ["held_at_month", "6"],
            ["held_at_year", "2026"],
            ["held_at_time", "12:00"],
        ]
        tablet_interview.refresh_from_db()
        assert tablet_interview.held_at == held

        # A second edit from those answers (its `base`) changes the time box only: merged.
        later = {**data, **date_boxes("held_at", held + HOUR / 2)}
        later["version"] = tablet_interview.version
        second = client.post(url, {**later, "base": json.dumps(pairs)})
        assert second.status_code == 200, second.content
        tablet_interview.refresh_from_db()
        assert tablet_interview.held_at == held + HOUR / 2
