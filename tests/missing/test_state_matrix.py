"""Every state × every transition × every role: allowed, refused for the role (403), or refused
for the state or its conditions (409). The expectations are written out here, independently of
the transition declarations, so a change to either shows up."""

from __future__ import annotations

from datetime import timedelta

import pytest

from missing.cases import services
from missing.cases.errors import Conflict, NotAllowed
from missing.models import EpisodeEvent, EpisodeState, MissingEpisode
from tests.factories import grade
from tests.helpers import episode_in_state

S = EpisodeState
ROLES = ["ffd", "manager", "head_of_service", "interviewer", "admin", "police_system"]
OPEN = {S.MISSING, S.RETURNED, S.INTERVIEW_ARRANGED, S.AWAITING_SIGN_OFF}
PENDING = {S.RETURNED, S.INTERVIEW_ARRANGED}

# transition -> (roles that may run it, states it runs from, state it leads to or None = same)
RULES = {
    "record_return": (
        {"ffd", "manager", "head_of_service", "police_system"},
        {S.MISSING},
        S.RETURNED,
    ),
    "review": ({"manager", "head_of_service"}, OPEN, None),
    "regrade": ({"ffd", "manager", "head_of_service", "police_system"}, OPEN, None),
    # Arrangers by default are managers and heads of service (settings.INTERVIEW_ARRANGER_ROLES);
    # the interviewer agrees a time for an episode granted to them.
    "arrange_interview": (
        {"manager", "head_of_service", "interviewer"},
        PENDING,
        S.INTERVIEW_ARRANGED,
    ),
    "withdraw_arrangement": ({"manager", "head_of_service"}, {S.INTERVIEW_ARRANGED}, S.RETURNED),
    "record_interview_outcome": (
        {"manager", "head_of_service", "interviewer"},
        PENDING,
        S.AWAITING_SIGN_OFF,
    ),
    "sign_off": ({"manager", "head_of_service"}, {S.AWAITING_SIGN_OFF}, S.CLOSED),
    "cancel": ({"manager", "head_of_service"}, OPEN, S.CANCELLED),
}

# (label, state, reviewed?) — an episode never reviewed cannot be signed off.
STARTS = [
    ("missing", S.MISSING, True),
    ("missing_unreviewed", S.MISSING, False),
    ("returned", S.RETURNED, True),
    ("returned_unreviewed", S.RETURNED, False),
    ("interview_arranged", S.INTERVIEW_ARRANGED, True),
    ("awaiting_sign_off", S.AWAITING_SIGN_OFF, True),
    ("awaiting_sign_off_unreviewed", S.AWAITING_SIGN_OFF, False),
    ("closed", S.CLOSED, True),
    ("cancelled", S.CANCELLED, True),
]


def run(transition: str, *, actor, episode: MissingEpisode, now):
    if transition == "record_return":
        return services.episode_record_return(
            services.ReturnData(
                returned_at=now - timedelta(minutes=5),
                found_place="Home",
                found_by="Police",
                prevention_interview_done=None,
            ),
            actor=actor,
            episode_id=episode.pk,
            now=now,
        )
    if transition == "review":
        return services.episode_record_decision(
            services.DecisionData(risk="high", rationale="Escalating pattern."),
            actor=actor,
            episode_id=episode.pk,
            now=now,
        )
    if transition == "regrade":
        return services.episode_regrade(
            services.RegradeData(grade=grade("high")), actor=actor, episode_id=episode.pk, now=now
        )
    if transition == "arrange_interview":
        return services.episode_arrange_interview(
            actor=actor, episode_id=episode.pk, note="Tomorrow 4pm", now=now
        )
    if transition == "withdraw_arrangement":
        return services.episode_withdraw_arrangement(
            actor=actor, episode_id=episode.pk, reason="Interviewer off sick", now=now
        )
    if transition == "record_interview_outcome":
        return services.episode_record_interview_outcome(
            services.OutcomeData(outcome="held", held_at=now - timedelta(minutes=10), note=""),
            actor=actor,
            episode_id=episode.pk,
            now=now,
        )
    if transition == "sign_off":
        return services.episode_sign_off(
            services.SignOffData(note="OK"), actor=actor, episode_id=episode.pk, now=now
        )
    if transition == "cancel":
        return services.episode_cancel(
            services.CancelData(reason="Logged twice"), actor=actor, episode_id=episode.pk, now=now
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
    actor = users_by_role[role]
    if role == "interviewer":
        # Assigned to this episode, so the role and the state decide (not the assignment).
        services.access_grant(episode=episode, user=actor, now=now)
    before_events = EpisodeEvent.objects.filter(episode=episode).count()

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


@pytest.mark.parametrize("transition", ["arrange_interview", "record_interview_outcome"])
def test_an_interviewer_acts_only_on_episodes_assigned_to_them(
    transition, interviewer, other_interviewer, ffd, manager, now
):
    episode = episode_in_state(
        S.RETURNED, ffd=ffd, manager=manager, now=now, interviewer=interviewer
    )
    with pytest.raises(NotAllowed, match="not assigned to you"):
        run(transition, actor=other_interviewer, episode=episode, now=now)
    services.access_revoke(episode=episode, user=interviewer, now=now)
    with pytest.raises(NotAllowed):
        run(transition, actor=interviewer, episode=episode, now=now)
    assert MissingEpisode.objects.get(pk=episode.pk).state == S.RETURNED


def test_only_a_manager_may_decide_not_to_hold_the_interview(interviewer, ffd, manager, now):
    from missing.cases.errors import InvalidInput

    episode = episode_in_state(
        S.RETURNED, ffd=ffd, manager=manager, now=now, interviewer=interviewer
    )
    with pytest.raises(InvalidInput) as refused:
        services.episode_record_interview_outcome(
            services.OutcomeData(outcome="not_held_decision", held_at=None, note=""),
            actor=interviewer,
            episode_id=episode.pk,
            now=now,
        )
    assert "outcome" in refused.value.field_errors
    services.episode_record_interview_outcome(
        services.OutcomeData(
            outcome="not_held_decision",
            held_at=None,
            note="Child in hospital; social worker visiting.",
        ),
        actor=manager,
        episode_id=episode.pk,
        now=now,
    )
    episode.refresh_from_db()
    assert (episode.state, episode.interview_outcome, episode.interview_held_at) == (
        S.AWAITING_SIGN_OFF,
        "not_held_decision",
        None,
    )


@pytest.mark.parametrize(
    ("held_at", "field_message"),
    [
        (None, "Enter when the interview was held."),
        (timedelta(hours=1), "cannot be in the future"),
        (-timedelta(hours=2), "before the child's return"),
    ],
)
def test_an_interview_time_is_checked_against_the_return_and_the_clock(
    held_at, field_message, ffd, manager, now
):
    from missing.cases.errors import InvalidInput

    episode = episode_in_state(S.RETURNED, ffd=ffd, manager=manager, now=now)
    with pytest.raises(InvalidInput) as refused:
        services.episode_record_interview_outcome(
            services.OutcomeData(
                outcome="held", held_at=None if held_at is None else now + held_at, note=""
            ),
            actor=manager,
            episode_id=episode.pk,
            now=now,
        )
    assert field_message in refused.value.field_errors["held_at"][0]
    assert MissingEpisode.objects.get(pk=episode.pk).state == S.RETURNED


@pytest.mark.parametrize("end", ["sign_off", "cancel"])
def test_closing_or_cancelling_ends_the_interviewers_access(end, interviewer, ffd, manager, now):
    state = S.AWAITING_SIGN_OFF if end == "sign_off" else S.INTERVIEW_ARRANGED
    episode = episode_in_state(state, ffd=ffd, manager=manager, now=now, interviewer=interviewer)
    assert MissingEpisode.objects.visible_to(interviewer).filter(pk=episode.pk).exists()
    run(end, actor=manager, episode=episode, now=now)
    assert not MissingEpisode.objects.visible_to(interviewer).filter(pk=episode.pk).exists()
