"""Per-episode figures. One interview covering several episodes of a child counts for each of
them, each against its own return: offered, accepted, held, held within 72 hours. No double
counting (one row per episode), no hiding (every returned episode counts, interview or not)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interviews import selectors, services
from tests.factories import ChildFactory, UserFactory
from tests.interviews.helpers import (
    assign,
    complete,
    open_interview,
    record_held,
    returned_episode,
)

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


@pytest.fixture
def caseload(ffd, manager, interviewer, now):
    """Five returned episodes of four children (and one cancelled), with now = T."""
    # Child A: back at T-100h; an interview is opened and offered, she goes missing again,
    # is back at T-10h, and one interview covering both is held at T-2h.
    alex = ChildFactory()
    first = returned_episode(ffd=ffd, manager=manager, child=alex, returned_at=now - 100 * H)
    shared = open_interview(manager=manager, episodes=[first], now=now - 99 * H)
    assign(shared, manager=manager, interviewer=interviewer, now=now - 98 * H)
    for at, outcome, offered in (
        (now - 90 * H, "no_answer", False),
        (now - 60 * H, "no_answer", True),
    ):
        services.interview_attempt_record(
            actor=interviewer,
            interview_id=shared.pk,
            data=services.AttemptData(at=at, method="letter", outcome=outcome, offered=offered),
            now=at,
        )
    second = returned_episode(ffd=ffd, manager=manager, child=alex, returned_at=now - 10 * H)
    shared.refresh_from_db()
    services.interview_add_episode(
        actor=manager, interview_id=shared.pk, episode_id=second.pk, now=now - 9 * H
    )
    services.interview_attempt_record(
        actor=interviewer,
        interview_id=shared.pk,
        data=services.AttemptData(
            at=now - 8 * H,
            method="phone",
            outcome="arranged",
            planned_at=now - 2 * H,
            planned_place="School",
        ),
        now=now - 8 * H,
    )
    record_held(shared, actor=interviewer, held_at=now - 2 * H, now=now)
    complete(shared, actor=interviewer, now=now)

    # Child B: refuses.
    blake = returned_episode(ffd=ffd, manager=manager, returned_at=now - 20 * H)
    refused = open_interview(manager=manager, episodes=[blake], now=now - 19 * H)
    services.interview_attempt_record(
        actor=manager,
        interview_id=refused.pk,
        data=services.AttemptData(at=now - 18 * H, method="phone", outcome="child_refused"),
        now=now - 18 * H,
    )
    refused.refresh_from_db()
    services.interview_record_update(
        actor=manager,
        interview_id=refused.pk,
        changes={
            "outcome": "child_refused",
            "not_held_reason": "Did not want to talk",
            "carers_account": "Mum says she was at her boyfriend's",
        },
        expected_version=refused.version,
        now=now,
    )
    complete(refused, actor=manager, now=now)

    # Child C: back at T-5h, nothing arranged yet.
    casey = returned_episode(ffd=ffd, manager=manager, returned_at=now - 5 * H)

    # Child D: asked for her social worker (the exception), held within 72 hours.
    trusted = UserFactory(role="interviewer")
    dana_child = ChildFactory(social_worker=trusted)
    dana = returned_episode(ffd=ffd, manager=manager, child=dana_child, returned_at=now - 30 * H)
    exception = open_interview(manager=manager, episodes=[dana], now=now - 29 * H)
    assign(
        exception,
        manager=manager,
        interviewer=trusted,
        now=now - 29 * H,
        exception_reason="She asked to talk to her social worker.",
    )
    record_held(exception, actor=trusted, held_at=now - 3 * H, now=now)
    complete(exception, actor=trusted, now=now)

    # A cancelled episode (logged in error) never counts.
    from missing import services as core

    mistake = returned_episode(ffd=ffd, manager=manager, returned_at=now - 7 * H)
    core.episode_cancel(actor=manager, episode_id=mistake.pk, reason="Logged twice", now=now)
    return {"first": first, "second": second, "blake": blake, "casey": casey, "dana": dana}


def test_each_episode_keeps_its_own_answers(caseload, manager, now):
    rows = {e.pk: e for e in selectors.episode_answers(manager)}
    assert len(rows) == 5

    def answers(name):
        link = getattr(rows[caseload[name].pk], "interview_link", None)
        if link is None:
            return None
        return (link.offered_at, link.accepted, link.held, link.held_within_72h)

    # One interview, two episodes: both offered, accepted and held; only the second within 72 h
    # of *its* return (the first was back 100 hours before the interview).
    assert answers("first") == (now - 60 * H, True, True, False)
    assert answers("second") == (now - 8 * H, True, True, True)
    assert answers("blake") == (now - 18 * H, False, False, False)
    assert answers("casey") is None
    assert answers("dana") == (now - 3 * H, True, True, True)


def test_figures_count_episodes_not_interviews(caseload, manager, now):
    figures = selectors.interview_figures(manager, returned_from=now - 200 * H, returned_to=now)
    assert (
        figures.episodes,
        figures.children,
        figures.offered,
        figures.accepted,
        figures.refused,
        figures.held,
        figures.held_within_72h,
        figures.independence_exceptions,
        figures.no_interview_yet,
    ) == (5, 4, 4, 3, 1, 3, 2, 1, 1)
    assert figures.not_held == {"child_refused": 1}


def test_figures_for_a_period_count_the_episodes_returned_in_it(caseload, manager, now):
    # Only the second episode of the shared interview returned in the last day (with Blake's,
    # Casey's): the first episode's answers stay with the first episode's period.
    figures = selectors.interview_figures(manager, returned_from=now - 24 * H, returned_to=now)
    assert (figures.episodes, figures.held, figures.held_within_72h) == (3, 1, 1)


def test_figures_are_one_query_per_part(caseload, manager, now, django_assert_num_queries):
    # 1: the counts (one aggregate over episodes joined to their links and interviews);
    # 2: the not-held reasons.
    with django_assert_num_queries(2):
        selectors.interview_figures(manager, returned_from=now - 200 * H, returned_to=now)
    # The per-episode rows: one query whatever their number.
    with django_assert_num_queries(1):
        for episode in selectors.episode_answers(manager):
            link = getattr(episode, "interview_link", None)
            _ = (episode.child.reference, link and link.interview.independence)


def test_an_interviewer_sees_figures_only_for_their_own_episodes(caseload, interviewer, now):
    figures = selectors.interview_figures(interviewer, returned_from=now - 200 * H, returned_to=now)
    # Their interview is completed, not signed off: they still hold both episodes.
    assert (figures.episodes, figures.held) == (2, 2)
