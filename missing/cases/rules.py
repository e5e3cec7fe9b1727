"""Repeat-missing rules: does a rule fire for an episode, and why (reads only).

Local protocol (domain: "Repeat missing") sets the triggers for a strategy or risk-management
meeting; `RepeatMissingRule` rows hold them. This module answers, for one rule and one episode,
"does it fire, and in which words": the reason names references and numbers, never a child's
name, because it is shown on the board, in the timeline and through the API. The writes
(raising the task, its timeline event) are `missing.cases.services`'.

Calendar questions (a birthday, "within 90 days") are answered in Europe/London dates, as a
council counts them; durations are elapsed time in UTC (a clocks-change night is not an hour
shorter).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Max

from missing.cases.clocks import london_date, london_midnight
from missing.models import (
    EXPLOITATION_FLAGS,
    EpisodeState,
    MissingEpisode,
    RepeatMissingRule,
    RiskMeetingTask,
)

logger = logging.getLogger(__name__)

Kind = RepeatMissingRule.Kind


def hours_text(delta: timedelta) -> str:
    """'26 h 5 min', '24 h': elapsed hours and minutes, for a reason a manager reads."""
    minutes = int(delta.total_seconds() // 60)
    hours, mins = divmod(minutes, 60)
    return f"{hours} h {mins} min" if mins else f"{hours} h"


def reason_if_fires(rule: RepeatMissingRule, episode: MissingEpisode, *, now: datetime) -> str:
    """Why `rule` calls for a meeting about `episode`'s child, or "" when it does not fire.

    `now` matters only while the child is still missing (a duration rule fires on an open
    episode too). A rule whose parameters an administrator saved wrong (outside the admin's
    checks) is skipped and logged by its code, so a bad row never blocks a return."""
    if episode.state == EpisodeState.CANCELLED:
        return ""
    if rule.parameter_errors():
        logger.warning("repeat-missing rule %s has invalid parameters; skipped", rule.code)
        return ""
    check = _CHECKS[Kind(rule.kind)]
    facts = check(rule, episode, now)
    return f"{rule.label}: {facts}" if facts else ""


def _episodes_in_window(rule: RepeatMissingRule, episode: MissingEpisode, now: datetime) -> str:
    """N episodes, the new one counted and cancelled ones not, starting within D days: from the
    start of the London day D days before this episode's London start date. A meeting held
    (task done) since starts the count again: the next meeting needs N more episodes."""
    needed, days = rule.parameters["episodes"], rule.parameters["days"]
    window_start = london_midnight(london_date(episode.last_seen_at) - timedelta(days=days))
    in_window = list(
        MissingEpisode.objects.filter(
            child_id=episode.child_id,
            last_seen_at__gte=window_start,
            last_seen_at__lte=episode.last_seen_at,
        )
        .exclude(state=EpisodeState.CANCELLED)
        .order_by("last_seen_at", "pk")
        .values_list("pk", "last_seen_at")
    )
    if len(in_window) < needed:
        return ""  # the usual answer, in one query on episode_child_time_idx
    last_meeting = RiskMeetingTask.objects.filter(
        child_id=episode.child_id, rule=rule, status=RiskMeetingTask.Status.DONE
    ).aggregate(at=Max("completed_at"))["at"]
    if last_meeting is not None:
        in_window = [(pk, at) for pk, at in in_window if at > last_meeting]
    if len(in_window) < needed:
        return ""
    refs = ", ".join(f"E-{pk}" for pk, _ in in_window)
    return (
        f"child {episode.child.reference} has had {len(in_window)} episodes in {days} days "
        f"({refs})."
    )


def _duration_over(rule: RepeatMissingRule, episode: MissingEpisode, now: datetime) -> str:
    """Missing longer than H hours: strictly longer (exactly H hours does not fire)."""
    limit = timedelta(hours=rule.parameters["hours"])
    missing_for = (episode.returned_at or now) - episode.last_seen_at
    if missing_for <= limit:
        return ""
    if episode.returned_at is None:
        return f"{episode.reference} has been missing for {hours_text(missing_for)} so far."
    return f"{episode.reference} was missing for {hours_text(missing_for)}."


def _age_at_most(rule: RepeatMissingRule, episode: MissingEpisode, now: datetime) -> str:
    """The child's age on the London date the episode began (last seen), Y or under."""
    age = episode.child.age_on(london_date(episode.last_seen_at))
    if age is None or age > rule.parameters["age"]:
        return ""
    return f"child {episode.child.reference} was {age} when {episode.reference} began."


def _exploitation_flag(rule: RepeatMissingRule, episode: MissingEpisode, now: datetime) -> str:
    flagged = [
        label
        for key, (field, label) in EXPLOITATION_FLAGS.items()
        if key in rule.parameters["flags"] and getattr(episode, field)
    ]
    if not flagged:
        return ""
    return f"{episode.reference} is flagged for {' and '.join(flagged)}."


_CHECKS = {
    Kind.EPISODES_IN_WINDOW: _episodes_in_window,
    Kind.DURATION_OVER: _duration_over,
    Kind.AGE_AT_MOST: _age_at_most,
    Kind.EXPLOITATION_FLAG: _exploitation_flag,
}
