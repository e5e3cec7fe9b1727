"""Build interviews through the real services (as tests.helpers does for episodes)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from interviews import services
from interviews.models import ReturnInterview
from missing.cases import services as core
from missing.models import Child, MissingEpisode, User
from tests.helpers import report_missing


def returned_episode(
    *,
    ffd: User,
    manager: User,
    child: Child | None = None,
    returned_at: datetime,
    reviewed: bool = True,
) -> MissingEpisode:
    """Reported missing three hours before `returned_at`, reviewed, then back."""
    episode = report_missing(
        actor=ffd,
        now=returned_at - timedelta(hours=2),
        child=child,
        last_seen_at=returned_at - timedelta(hours=3),
    )
    if reviewed:
        core.episode_record_decision(
            core.DecisionData(risk="medium", rationale="Known pattern."),
            actor=manager,
            episode_id=episode.pk,
            now=returned_at - timedelta(hours=1),
        )
    return core.episode_record_return(
        core.ReturnData(
            returned_at=returned_at,
            found_place="Friend's flat",
            found_by="Police",
            prevention_interview_done=True,
        ),
        actor=ffd,
        episode_id=episode.pk,
        now=returned_at,
    )


def open_interview(
    *, manager: User, episodes: list[MissingEpisode], now: datetime
) -> ReturnInterview:
    return services.interview_create(
        services.CreateData(
            child_id=episodes[0].child_id, episode_ids=tuple([e.pk for e in episodes])
        ),
        actor=manager,
        now=now,
    )


def assign(
    interview: ReturnInterview,
    *,
    manager: User,
    interviewer: User,
    now: datetime,
    planned_at: datetime | None = None,
    planned_place: str = "",
    exception_reason: str = "",
) -> ReturnInterview:
    interview.refresh_from_db()
    return services.interview_assign(
        services.AssignData(
            interviewer_id=interviewer.pk,
            exception_reason=exception_reason,
            planned_at=planned_at,
            planned_place=planned_place or ("At school" if planned_at else ""),
        ),
        actor=manager,
        interview_id=interview.pk,
        now=now,
        expected_version=interview.version,
    )


HELD_RECORD: dict[str, Any] = {
    "outcome": "held",
    "held_place": "Café on the high street",
    "present": "The child and the interviewer",
    "seen_alone": True,
    "account_where": "A friend's flat in town",
    "account_who_with": "Two older boys",
    "account_travel": "Bus",
    "account_how_found": "Police stopped them at the station",
    "push_factors": (("push-family-conflict", "Argument with mum about curfew"),),
    "pull_factors": (("pull-adults-offering", "Given vapes and a phone"),),
    "harms": (("harm-criminal-exploitation", "Asked to carry a bag"),),
    "disclosures": "None",
    "consent_to_share": True,
    "shared_with": "Social worker; police missing person coordinator",
    "wishes_and_feelings": "Wants to stay at home; wants to see her dad more",
    "safety_plan": "Curfew agreed; trusted adult's number in her phone",
    "referrals": "Youth service; exploitation team",
}


def record_held(
    interview: ReturnInterview, *, actor: User, held_at: datetime, now: datetime, **extra: Any
) -> ReturnInterview:
    interview.refresh_from_db()
    result = services.interview_record_update(
        services.RecordData(changes={**HELD_RECORD, "held_at": held_at, **extra}),
        actor=actor,
        interview_id=interview.pk,
        expected_version=interview.version,
        now=now,
    )
    return result.interview


def complete(interview: ReturnInterview, *, actor: User, now: datetime) -> ReturnInterview:
    interview.refresh_from_db()
    return services.interview_complete(
        services.CompleteData(),
        actor=actor,
        interview_id=interview.pk,
        expected_version=interview.version,
        now=now,
    )
