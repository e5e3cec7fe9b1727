"""The return interview's state machine: every state × every transition × every role.

Two levels, each with its expectations written out here independently of the declarations in
interviews/models.py, so a change to either shows up:

- the declarations themselves (source, target, permission), on unsaved rows;
- each transition as the services run it: allowed (the interview moves and every covered
  episode moves in step, the version goes up by one), refused for the role (403) or refused for
  the state (409), or refused for the input (400); a refusal changes nothing, on the interview
  or its episodes.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django_fsm import can_proceed

from interviews import services
from interviews.models import InterviewStatus, ReturnInterview
from missing.cases import transitions
from missing.cases.errors import Conflict, InvalidInput, NotAllowed
from missing.models import EpisodeState, MissingEpisode
from tests.factories import ChildFactory
from tests.interviews.helpers import (
    assign,
    complete,
    open_interview,
    record_held,
    returned_episode,
)

I = InterviewStatus  # noqa: E741
EDITABLE = {I.TO_ARRANGE, I.ARRANGED}
ROLES = ["ffd", "manager", "head_of_service", "interviewer", "other_interviewer", "admin"]

# transition -> (roles that may run it, states it runs from, the state it leads to). "interviewer"
# means the interview's own interviewer; another interviewer may never run any of them.
RULES: dict[str, tuple[set[str], set[str], str]] = {
    "arrange": ({"manager", "head_of_service", "interviewer"}, EDITABLE, I.ARRANGED),
    "withdraw": ({"manager", "head_of_service"}, {I.ARRANGED}, I.TO_ARRANGE),
    "complete": ({"manager", "head_of_service", "interviewer"}, EDITABLE, I.COMPLETED),
    "sign_off": ({"manager", "head_of_service"}, {I.COMPLETED}, I.SIGNED_OFF),
}

# Where every covered episode stands while the interview is in each state: the coupling.
EPISODE_STATE = {
    I.TO_ARRANGE: EpisodeState.RETURNED,
    I.ARRANGED: EpisodeState.INTERVIEW_ARRANGED,
    I.COMPLETED: EpisodeState.AWAITING_SIGN_OFF,
    I.SIGNED_OFF: EpisodeState.CLOSED,
}


def test_every_transition_is_declared_as_written_here():
    declared: dict[str, tuple[set[str], str]] = {}
    for t in ReturnInterview().get_all_status_transitions():
        sources, _ = declared.setdefault(t.name, (set(), str(t.target)))
        sources.add(str(t.source))
    assert declared == {
        name: ({str(s) for s in sources}, str(target))
        for name, (_, sources, target) in RULES.items()
    }


@pytest.mark.parametrize("state", list(I))
@pytest.mark.parametrize("transition", sorted(RULES))
def test_declared_sources(transition, state):
    # Conditions left out: they are pure checks on the row, covered through the services below.
    row = ReturnInterview(status=state)
    assert can_proceed(getattr(row, transition), check_conditions=False) == (
        state in RULES[transition][1]
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("transition", sorted(RULES))
def test_declared_permissions(transition, role, users_by_role, interviewer):
    row = ReturnInterview(interviewer=interviewer)
    actor = users_by_role[role]
    assert transitions.role_may(getattr(row, transition), actor) == (role in RULES[transition][0])


def test_the_status_cannot_be_set_by_hand(manager, ffd, now):
    episode = returned_episode(ffd=ffd, manager=manager, returned_at=now - timedelta(hours=4))
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    with pytest.raises(AttributeError, match="Direct status modification is not allowed"):
        interview.status = InterviewStatus.SIGNED_OFF


# --- through the services -------------------------------------------------------------------

# (label, state, interviewer assigned?)
STARTS = [
    ("to_arrange", I.TO_ARRANGE, True),
    ("to_arrange_unassigned", I.TO_ARRANGE, False),
    ("arranged", I.ARRANGED, True),
    ("completed", I.COMPLETED, True),
    ("signed_off", I.SIGNED_OFF, True),
]


def interview_in(state, *, assigned, ffd, manager, interviewer, now):
    """An interview covering two returned episodes of one child, in `state`; while editable its
    record is filled in as held, so only the state, the role and the assignment decide."""
    child = ChildFactory()
    episodes = [
        returned_episode(
            ffd=ffd, manager=manager, child=child, returned_at=now - timedelta(hours=h)
        )
        for h in (30, 6)
    ]
    interview = open_interview(manager=manager, episodes=episodes, now=now)
    if assigned:
        planned = now + timedelta(hours=2) if state != I.TO_ARRANGE else None
        interview = assign(
            interview, manager=manager, interviewer=interviewer, now=now, planned_at=planned
        )
    interview = record_held(interview, actor=manager, held_at=now - timedelta(hours=1), now=now)
    if state in (I.COMPLETED, I.SIGNED_OFF):
        interview = complete(interview, actor=interviewer, now=now)
    if state == I.SIGNED_OFF:
        interview = services.interview_sign_off(
            services.SignOffData(no_follow_up_reason="Known to the exploitation team."),
            actor=manager,
            interview_id=interview.pk,
            now=now,
        )
    interview.refresh_from_db()
    assert interview.status == state
    return interview


def run(transition, *, actor, interview, now):
    """Each transition as the application runs it (the same services the web and API call)."""
    if transition == "arrange":
        return services.interview_attempt_record(
            services.AttemptData(
                at=now - timedelta(minutes=30),
                method="phone",
                outcome="arranged",
                planned_at=now + timedelta(hours=3),
                planned_place="At home",
            ),
            actor=actor,
            interview_id=interview.pk,
            now=now,
        )
    if transition == "withdraw":
        return services.interview_unassign(
            services.UnassignData(reason="Interviewer off sick"),
            actor=actor,
            interview_id=interview.pk,
            now=now,
        )
    if transition == "complete":
        return services.interview_complete(
            services.CompleteData(),
            actor=actor,
            interview_id=interview.pk,
            expected_version=interview.version,
            now=now,
        )
    if transition == "sign_off":
        return services.interview_sign_off(
            services.SignOffData(strategy_meeting=True),
            actor=actor,
            interview_id=interview.pk,
            expected_version=interview.version,
            now=now,
        )
    raise AssertionError(transition)


def expected_outcome(transition, label, state, role):
    roles, sources, target = RULES[transition]
    if role not in roles:
        return NotAllowed
    if role == "interviewer" and label in ("to_arrange_unassigned", "signed_off"):
        # Not (or no longer: sign-off revokes the grant) this interview's interviewer.
        return NotAllowed
    if transition == "withdraw" and label == "to_arrange_unassigned":
        return Conflict  # nobody to take off
    if transition == "withdraw" and state == I.TO_ARRANGE:
        return I.TO_ARRANGE  # the interviewer comes off; nothing was arranged to withdraw
    if state not in sources:
        return Conflict
    if label == "to_arrange_unassigned":
        return InvalidInput  # arranging or completing needs the interviewer first (a field error)
    return target


def episode_states(interview):
    return list(
        MissingEpisode.objects.filter(interview_link__interview=interview)
        .order_by("pk")
        .values_list("state", flat=True)
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("label", "state", "assigned"), STARTS, ids=[s[0] for s in STARTS])
@pytest.mark.parametrize("transition", sorted(RULES))
def test_transition_matrix(
    transition, label, state, assigned, role, users_by_role, ffd, manager, interviewer, now
):
    interview = interview_in(
        state, assigned=assigned, ffd=ffd, manager=manager, interviewer=interviewer, now=now
    )
    before = (interview.status, interview.version, episode_states(interview))
    assert before[2] == [EPISODE_STATE[state]] * 2
    expected = expected_outcome(transition, label, state, role)

    if isinstance(expected, type):
        with pytest.raises(expected):
            run(transition, actor=users_by_role[role], interview=interview, now=now)
        interview.refresh_from_db()
        assert (interview.status, interview.version, episode_states(interview)) == before
        return

    run(transition, actor=users_by_role[role], interview=interview, now=now)
    interview.refresh_from_db()
    assert interview.status == expected
    assert interview.version == before[1] + 1
    assert episode_states(interview) == [EPISODE_STATE[expected]] * 2
