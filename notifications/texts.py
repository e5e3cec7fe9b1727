"""Every SMS body and reply the system writes, in one place. (Named `texts`, not `messages`,
so it is never mistaken for `django.contrib.messages`.)

SMS is not a secure channel: a text carries the kind of alert, the episode reference, how
overdue, and a link, and nothing about the child. The functions here take numbers and times
only, never an episode or a child object, so no name, date of birth, address or police detail
can reach a text by accident (tests/notifications/test_texts.py checks every template).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from notifications.models import Trigger

# What each trigger says. {elapsed}: time since the clock; {remaining}: time until it.
ALERT_TEXT: dict[str, str] = {
    Trigger.REVIEW_OVERDUE: "manager review overdue by {elapsed}",
    Trigger.STILL_MISSING: "still missing after {elapsed}",
    Trigger.INTERVIEW_NOT_ARRANGED: "return interview not arranged {elapsed} after return",
    Trigger.INTERVIEW_DUE_SOON: "return interview due in {remaining}, not yet held",
    Trigger.INTERVIEW_OVERDUE: "return interview overdue by {elapsed}",
}


def duration_text(delta: timedelta) -> str:
    """'25m', '3h', '2d 4h': short enough for a text, whole units rounded down."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d {hours % 24}h"


def episode_link(episode_id: int) -> str:
    """The short link in a text, built from the configured public address (PUBLIC_BASE_URL)."""
    return settings.PUBLIC_BASE_URL + reverse("notifications:episode_short_link", args=[episode_id])


def escalation_text(
    *, trigger: str, episode_id: int, clock_at: datetime, level: int, now: datetime
) -> str:
    """The text for one escalation at one level, e.g.
    `MISSING E-4821: return interview overdue by 3h. Reply ACK 4821. https://…/e/4821`."""
    alert = ALERT_TEXT[trigger].format(
        elapsed=duration_text(now - clock_at), remaining=duration_text(clock_at - now)
    )
    head = f"MISSING E-{episode_id}"
    if level > 1:
        head += " ESCALATED"
        alert += ", not acknowledged"
    return f"{head}: {alert}. Reply ACK {episode_id}. {episode_link(episode_id)}"


def misuse_text(*, alert_id: int, username: str, count: int, window_start: datetime) -> str:
    """The text to heads of service about one person's reading of records, e.g.
    `ACCESS ALERT 12: jsmith opened 50 children's records 10:00-11:00. https://…`. Staff
    username, a count and a time: nothing about any child."""
    local = timezone.localtime(window_start)
    end = local + timedelta(hours=1)
    link = settings.PUBLIC_BASE_URL + reverse("misuse_alert_detail", args=[alert_id])
    return (
        f"ACCESS ALERT {alert_id}: {username} opened {count} children's records "
        f"{local:%H:%M}-{end:%H:%M}. {link}"
    )


def ack_reply(episode_id: int, count: int) -> str:
    """The TwiML answer to an accepted `ACK <n>`."""
    noun = "alert" if count == 1 else "alerts"
    return f"Acknowledged E-{episode_id}: {count} {noun} stopped. Thank you."


def council_alert_text(*, episode_id: int, level: int, on_installation: bool) -> str:
    """The text to another council's out-of-hours phone about a high-risk out-of-area episode
    (decision 0070), e.g. `MISSING E-4821 HIGH RISK: a child placed out of area, shared with
    your council. …`. The episode number only: nothing about the child."""
    head = f"MISSING E-{episode_id} HIGH RISK"
    if level > 1:
        head = f"REMINDER {head}, not acknowledged"
    if on_installation:
        # The council signs in here: the episode is on its board, acknowledged on its page.
        return (
            f"{head}: a child placed out of area, shared with your council. "
            f"Acknowledge on the episode page: {episode_link(episode_id)}"
        )
    phone = f" or call {settings.COUNCIL_FFD_PHONE}" if settings.COUNCIL_FFD_PHONE else ""
    return (
        f"{head}: a child placed out of area ({settings.COUNCIL_NAME}). Details in the email to "
        f"your out-of-hours address{phone}. Reply ACK {episode_id} to acknowledge."
    )
