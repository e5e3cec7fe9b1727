"""The statutory and local clocks, each one pure function of its start.

Deadlines are computed in UTC on aware datetimes: adding a timedelta to a UTC datetime counts
elapsed hours, so a clocks-change weekend neither shortens nor lengthens the 72 hours
(adding 72 h to a Europe/London wall-clock time would be off by one hour across a change).
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Where calendar days are counted (periods, collection years, birthdays, "within D days").
LONDON = ZoneInfo("Europe/London")

# DfE statutory guidance (2014), para. on return interviews: "within 72 hours of return".
INTERVIEW_WINDOW = timedelta(hours=72)

# A clock shows amber once less than this share of its window is left.
AMBER_SHARE = 0.25


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("deadlines need an aware datetime")
    return moment.astimezone(UTC)


def interview_due_at(returned_at: datetime) -> datetime:
    """The return-home interview is due 72 elapsed hours after the child's return."""
    return _utc(returned_at) + INTERVIEW_WINDOW


def review_due_at(received_at: datetime, review_within: timedelta) -> datetime:
    """A manager must review a notification within the time its police risk grade sets."""
    return _utc(received_at) + review_within


def london_date(moment: datetime) -> date:
    """The Europe/London calendar day an instant falls on."""
    return moment.astimezone(LONDON).date()


def london_midnight(day: date) -> datetime:
    """The UTC instant a Europe/London calendar day begins (23:00 UTC the evening before, in
    summer time)."""
    return datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)


def rag(*, due_at: datetime | None, window: timedelta, now: datetime) -> str:
    """Red when overdue, amber when under a quarter of the window is left, else green."""
    if due_at is None:
        return "grey"
    left = due_at - now
    if left <= timedelta(0):
        return "red"
    if left <= window * AMBER_SHARE:
        return "amber"
    return "green"
