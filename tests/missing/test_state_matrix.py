"""Every state × every transition × every role: allowed, refused for the role (403), or refused
for the state or its conditions (409). The expectations are written out here, independently of
the transition declarations, so a change to either shows up."""

from __future__ import annotations

from datetime import timedelta

import pytest

from missing import services
from missing.errors import Conflict, NotAllowed
from missing.models import EpisodeEvent, EpisodeState, MissingEpisode
from tests.factories import grade
from tests.helpers import episode_in_state

S = EpisodeState
ROLES = ["ffd", "manager", "head_of_service", "interviewer", "admin", "police_system"]

# transition -> (roles that may run it, states it runs from, state it leads to or None = same)
RULES = {
    "record_return": (
        {"ffd", "manager", "head_of_service", "police_system"},
        {S.MISSING},
        S.RETURNED,
    ),
    "review": ({"manager", "head_of_service"}, {S.MISSING, S.RETURNED}, None),
    "regrade": (
        {"ffd", "manager", "head_of_service", "police_system"},
        {S.MISSING, S.RETURNED},
        None,
    ),
    "sign_off": ({"manager", "head_of_service"}, {S.RETURNED}, S.CLOSED),
    "cancel": ({"manager", "head_of_service"}, {S.MISSING, S.RETURNED}, S.CANCELLED),
}

# (label, state, reviewed?) — a returned episode never reviewed cannot be signed off.
STARTS = [
    ("missing", S.MISSING, True),
    ("missing_unreviewed", S.MISSING, False),
    ("returned", S.RETURNED, True),
    ("returned_unreviewed", S.RETURNED, False),
    ("closed", S.CLOSED, True),
    ("cancelled", S.CANCELLED, True),
]


def run(transition: str, *, actor, episode: MissingEpisode, now):
    if transition == "record_return":
        return services.episode_record_return(
            actor=actor,
            episode_id=episode.pk,
            returned_at=now - timedelta(minutes=5),
            found_place="Home",
            found_by="Police",
            prevention_interview_done=None,
            now=now,
        )
    if transition == "review":
        return services.episode_record_decision(
            actor=actor,
            episode_id=episode.pk,
            now=now,
            data=services.DecisionData(risk="high", rationale="Escalating pattern."),
        )
    if transition == "regrade":
        return services.episode_regrade(
            actor=actor, episode_id=episode.pk, grade=grade("high"), now=now
        )
    if transition == "sign_off":
        return services.episode_sign_off(actor=actor, episode_id=episode.pk, note="OK", now=now)
    if transition == "cancel":
        return services.episode_cancel(
            actor=actor, episode_id=episode.pk, reason="Logged twice", now=now
        )
    raise AssertionError(transition)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("label", "state", "reviewed"), STARTS, ids=[s[0] for s in STARTS])
@pytest.mark.parametrize("transition", sorted(RULES))
def test_transition_matrix(
    transition, label, state, reviewed, role, users_by_role, ffd, manager, now
):
    episode = episode_in_state(state, ffd=ffd, manager=manager, now=now, reviewed=reviewed)
    roles, sources, target = RULES[transition]
    before_events = EpisodeEvent.objects.filter(episode=episode).count()
    actor = users_by_role[role]

    if role not in roles:
        expected: type[Exception] | None = NotAllowed
    elif state not in sources or (transition == "sign_off" and not reviewed):
        expected = Conflict
    else:
        expected = None

    if expected is not None:
        with pytest.raises(expected):
            run(transition, actor=actor, episode=episode, now=now)
        episode.refresh_from_db()
        assert episode.state == state
        assert EpisodeEvent.objects.filter(episode=episode).count() == before_events
        return

    run(transition, actor=actor, episode=episode, now=now)
    episode.refresh_from_db()
    assert episode.state == (target or state)
    event = EpisodeEvent.objects.filter(episode=episode).latest("pk")
    assert (event.action, event.from_state, event.to_state, event.actor_id) == (
        transition,
        state,
        target or state,
        actor.pk,
    )
