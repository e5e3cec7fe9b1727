"""The 72-hour clock and the review clock count elapsed hours, across the clock changes too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from missing.cases import clocks, services
from missing.models import MissingEpisode
from tests.helpers import report_missing

LONDON = ZoneInfo("Europe/London")


def test_interview_due_is_72_elapsed_hours():
    returned = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
    assert clocks.interview_due_at(returned) == datetime(2026, 6, 4, 9, 30, tzinfo=UTC)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="aware"):
        clocks.interview_due_at(datetime(2026, 6, 1, 9, 30))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("returned_local", "due_local"),
    [
        # Clocks go forward at 01:00 GMT on Sunday 29 March 2026: 72 elapsed hours from Saturday
        # noon GMT end at 13:00 BST on Tuesday, not 12:00 (which would be only 71 hours).
        (datetime(2026, 3, 28, 12, 0, tzinfo=LONDON), datetime(2026, 3, 31, 13, 0, tzinfo=LONDON)),
        # Clocks go back at 02:00 BST on Sunday 25 October 2026: 72 hours from Saturday noon BST
        # end at 11:00 GMT on Tuesday, not 12:00 (which would be 73 hours).
        (
            datetime(2026, 10, 24, 12, 0, tzinfo=LONDON),
            datetime(2026, 10, 27, 11, 0, tzinfo=LONDON),
        ),
    ],
    ids=["march-spring-forward", "october-fall-back"],
)
def test_interview_clock_across_clock_changes(returned_local, due_local, ffd, manager):
    """Through the real service: the stored due time is exactly 72 elapsed hours on."""
    with time_machine.travel(returned_local - timedelta(hours=4), tick=False):
        episode = report_missing(
            actor=ffd,
            now=returned_local - timedelta(hours=4),
            last_seen_at=returned_local - timedelta(hours=10),
        )
    record_at = returned_local + timedelta(minutes=30)
    services.episode_record_return(
        services.ReturnData(
            returned_at=returned_local,
            found_place="Home",
            found_by="Police",
            prevention_interview_done=True,
        ),
        actor=ffd,
        episode_id=episode.pk,
        now=record_at,
    )
    episode = MissingEpisode.objects.get(pk=episode.pk)
    assert episode.interview_due_at == due_local
    assert episode.interview_due_at - episode.returned_at == timedelta(hours=72)
    assert episode.interview_due_at.astimezone(LONDON).hour == due_local.hour


def test_review_clock_across_spring_forward(ffd):
    """A low-grade notification at 23:30 GMT on the Saturday is due for review 24 elapsed hours on."""
    received = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
    episode = report_missing(actor=ffd, now=received, grade_code="low")
    assert episode.review_due_at == received + timedelta(hours=24)
    assert episode.review_due_at.astimezone(LONDON).hour == 0  # 00:30 BST on Monday


@pytest.mark.parametrize(
    ("left", "expected"),
    [
        (timedelta(hours=-1), "red"),
        (timedelta(0), "red"),
        (timedelta(hours=18), "amber"),
        (timedelta(hours=18, seconds=1), "green"),
    ],
)
def test_rag(left, expected):
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert clocks.rag(due_at=now + left, window=clocks.INTERVIEW_WINDOW, now=now) == expected
