"""The escalations read the episode's own interview facts (kept by the core, written through
its services by this app): arranging stops "not arranged", holding (or recording why not)
stops "not held" and "overdue", and the interviewer told is the one assigned."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interviews import services
from missing.models import MissingEpisode
from notifications import selectors as escalations
from notifications.models import Escalation
from notifications.services import escalation_sweep
from tests.factories import ChildFactory
from tests.interviews.helpers import assign, complete, open_interview, record_held, returned_episode

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


def watched(rule, now):
    qs = MissingEpisode.objects.all()
    return set(rule(qs, now).values_list("pk", flat=True))


def test_arranging_and_holding_clear_the_interview_alerts(ffd, manager, interviewer, now):
    episode = returned_episode(
        ffd=ffd, manager=manager, child=ChildFactory(), returned_at=now - 5 * H
    )
    not_arranged, not_held = (
        escalations.episodes_interview_not_arranged,
        escalations.episodes_interview_not_held,
    )
    assert watched(not_arranged, now) == watched(not_held, now) == {episode.pk}

    interview = open_interview(manager=manager, episodes=[episode], now=now)
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    assert watched(not_arranged, now) == {episode.pk}  # assigned, but no time agreed yet
    assert escalations.episode_interviewers(episode) == [interviewer]

    assign(interview, manager=manager, interviewer=interviewer, now=now, planned_at=now + H)
    assert watched(not_arranged, now) == set()
    assert watched(not_held, now) == {episode.pk}

    record_held(interview, actor=interviewer, held_at=now - H, now=now)
    assert watched(not_held, now) == {episode.pk}  # a draft is not a held interview
    complete(interview, actor=interviewer, now=now)
    assert watched(not_held, now) == set()


def test_withdrawing_the_arrangement_makes_it_not_arranged_again(ffd, manager, interviewer, now):
    episode = returned_episode(
        ffd=ffd, manager=manager, child=ChildFactory(), returned_at=now - 5 * H
    )
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    assign(interview, manager=manager, interviewer=interviewer, now=now, planned_at=now + H)
    interview.refresh_from_db()
    services.interview_unassign(
        services.UnassignData(reason="Interviewer off sick"),
        actor=manager,
        interview_id=interview.pk,
        now=now,
        expected_version=interview.version,
    )
    assert watched(escalations.episodes_interview_not_arranged, now) == {episode.pk}
    assert escalations.episode_interviewers(MissingEpisode.objects.get()) == []


def test_the_sweep_resolves_the_not_arranged_escalation_once_arranged(
    ffd, manager, interviewer, now
):
    returned = now - 30 * H
    episode = returned_episode(ffd=ffd, manager=manager, child=ChildFactory(), returned_at=returned)
    escalation_sweep(now=returned + 24 * H)
    raised = Escalation.objects.get(episode=episode, rule__code="interview-not-arranged-24h")
    assert raised.state == Escalation.State.OPEN

    interview = open_interview(manager=manager, episodes=[episode], now=now)
    assign(interview, manager=manager, interviewer=interviewer, now=now, planned_at=now + H)
    escalation_sweep(now=now)
    raised.refresh_from_db()
    assert raised.state == Escalation.State.RESOLVED


def test_a_recorded_refusal_stops_the_overdue_alert(ffd, manager, now):
    episode = returned_episode(
        ffd=ffd, manager=manager, child=ChildFactory(), returned_at=now - 80 * H
    )
    assert watched(escalations.episodes_interview_not_held, now) == {episode.pk}
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    services.interview_record_update(
        services.RecordData(
            changes={"outcome": "not_held_decision", "not_held_reason": "In hospital"}
        ),
        actor=manager,
        interview_id=interview.pk,
        expected_version=interview.version,
        now=now,
    )
    complete(interview, actor=manager, now=now)
    assert watched(escalations.episodes_interview_not_held, now) == set()
