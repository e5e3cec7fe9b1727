"""The demo year (`load_demo_history`, ssd.demo): loaded once, through the importer and the
services; both national returns of the year pass the DfE validator's rules and say something;
the figures page counts the year; the clocks-change weekend is there."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from interviews.models import InterviewFactor, InterviewMention
from interviews.returns import annex_a, ssda903
from missing.cases import clocks
from missing.models import (
    EpisodeState,
    InterviewOutcome,
    MissingEpisode,
    RiskMeetingTask,
    User,
)
from ssd import demo
from tests import validator903
from tests.helpers import login

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def collection_years(today):
    """The SSDA903 collection years (1 April to 31 March) the year ending today touches."""
    first = today - timedelta(days=364)
    return sorted({day.year if day.month >= 4 else day.year - 1 for day in (first, today)})


def test_the_demo_year_makes_both_returns_valid_and_the_figures_non_zero(settings, client):
    settings.DEBUG = True
    run("load_demo_data")
    output = run("load_demo_history")
    today = clocks.london_date(timezone.now())

    assert re.search(r"in \d+\.\d s\.", output)  # the time is printed
    children = demo.CHILDREN + 2
    assert f"{children} children" in output
    # Every episode as the system makes it: none left half-way but the latest few.
    states = set(
        MissingEpisode.objects.filter(child__council_child_id__startswith="DEMO-Y").values_list(
            "state", flat=True
        )
    )
    assert EpisodeState.CLOSED in states
    assert RiskMeetingTask.objects.exists()  # repeat runners fire the rules
    assert InterviewFactor.objects.filter(factor__kind="push").exists()
    assert InterviewFactor.objects.filter(factor__kind="harm").exists()
    assert InterviewMention.objects.exists()
    outcomes = set(MissingEpisode.objects.values_list("interview_outcome", flat=True))
    assert {InterviewOutcome.HELD, InterviewOutcome.CHILD_REFUSED} <= outcomes

    # SSDA903 Missing: the exports' own pre-check and the validator's rules, on every
    # collection year the demo year touches.
    for year in collection_years(today):
        assert ssda903.ssda903_missing_problems(year) == []
        lines = list(ssda903.ssda903_missing_csv(year))
        assert validator903.failures(lines, year=year) == set()
        assert len(lines) > 20, year  # looked-after children's episodes
        assert all(line.startswith("DEMO-Y") for line in lines[1:])

    # Annex A List 8 as of today: no refusals, and real offered / accepted answers.
    assert annex_a.annex_a_missing_problems(today) == []
    rows = [line.rstrip("\r\n").split(",") for line in list(annex_a.annex_a_missing_csv(today))[1:]]
    assert len(rows) > 50
    assert all(row[0].startswith("DEMO-Y") for row in rows)
    assert {row[3] for row in rows} >= {"Y", "N"}
    assert {row[4] for row in rows} >= {"Y", "N"}

    # The clocks-change weekend: back on the Saturday night, interviewed 71 and 73 hours later.
    saturday = demo.clocks_change_saturday(today)
    weekend = MissingEpisode.objects.filter(child__last_name="Clockley").order_by(
        "interview_held_at"
    )
    assert [clocks.london_date(e.returned_at) for e in weekend] == [saturday, saturday]
    assert [(e.interview_held_at - e.returned_at) / timedelta(hours=1) for e in weekend] == [
        71,
        73,
    ]

    # The figures page for the year: non-zero numbers a manager could judge.
    login(client, demo_user("manager"))
    page = client.get(
        reverse("interviews:figures"),
        {"period_start": (today - timedelta(days=364)).isoformat(), "period_end": today},
    ).content.decode()
    for key in ("episodes", "returns", "offered", "held", "held_within_72h", "repeat_children"):
        assert shown(page, key) > 0, key

    # Once: a second run changes nothing.
    count = MissingEpisode.objects.count()
    assert "already loaded" in run("load_demo_history")
    assert MissingEpisode.objects.count() == count


def test_it_refuses_without_the_demo_staff_or_with_debug_off(settings):
    settings.DEBUG = True
    with pytest.raises(CommandError, match="load_demo_data"):
        run("load_demo_history")
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        run("load_demo_history")
    assert not MissingEpisode.objects.exists()


def demo_user(username):
    return User.objects.get(username=username)


def shown(page: str, key: str) -> int:
    row = page[page.index(f'id="figure-{key}"') :]
    row = row[: row.index("</tr>")]
    match = re.search(r'href="[^"]+">([\d,]+)<', row)
    assert match, key
    return int(match.group(1).replace(",", ""))
