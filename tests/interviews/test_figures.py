"""Per-episode figures. One interview covering several episodes of a child counts for each of
them, each against its own return: offered, accepted, held, held within 72 hours. No double
counting (one row per episode), no hiding (every returned episode counts, interview or not)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interviews import figures, selectors, services
from missing.cases.clocks import london_date
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
            services.AttemptData(at=at, method="letter", outcome=outcome, offered=offered),
            actor=interviewer,
            interview_id=shared.pk,
            now=at,
        )
    second = returned_episode(ffd=ffd, manager=manager, child=alex, returned_at=now - 10 * H)
    shared.refresh_from_db()
    services.interview_add_episode(
        services.AddEpisodeData(episode_id=second.pk),
        actor=manager,
        interview_id=shared.pk,
        now=now - 9 * H,
    )
    services.interview_attempt_record(
        services.AttemptData(
            at=now - 8 * H,
            method="phone",
            outcome="arranged",
            planned_at=now - 2 * H,
            planned_place="School",
        ),
        actor=interviewer,
        interview_id=shared.pk,
        now=now - 8 * H,
    )
    record_held(shared, actor=interviewer, held_at=now - 2 * H, now=now)
    complete(shared, actor=interviewer, now=now)

    # Child B: refuses.
    blake = returned_episode(ffd=ffd, manager=manager, returned_at=now - 20 * H)
    refused = open_interview(manager=manager, episodes=[blake], now=now - 19 * H)
    services.interview_attempt_record(
        services.AttemptData(at=now - 18 * H, method="phone", outcome="child_refused"),
        actor=manager,
        interview_id=refused.pk,
        now=now - 18 * H,
    )
    refused.refresh_from_db()
    services.interview_record_update(
        services.RecordData(
            changes={
                "outcome": "child_refused",
                "not_held_reason": "Did not want to talk",
                "carers_account": "Mum says she was at her boyfriend's",
            }
        ),
        actor=manager,
        interview_id=refused.pk,
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
    from missing.cases import services as core

    mistake = returned_episode(ffd=ffd, manager=manager, returned_at=now - 7 * H)
    core.episode_cancel(
        core.CancelData(reason="Logged twice"), actor=manager, episode_id=mistake.pk, now=now
    )
    return {"first": first, "second": second, "blake": blake, "casey": casey, "dana": dana}


def _answers(row):
    link = getattr(row, "interview_link", None)
    return (
        link.offered_at if link else None,
        row.answer_offered,
        row.answer_accepted,
        row.answer_refused,
        row.answer_held,
        row.answer_held_within_72h,
    )


def test_each_episode_keeps_its_own_answers(caseload, manager, now):
    rows = {e.pk: e for e in selectors.episode_answers(manager)}
    assert len(rows) == 5

    def answers(name):
        return _answers(rows[caseload[name].pk])

    # One interview, two episodes: both offered, accepted and held; only the second within 72 h
    # of *its* return (the first was back 100 hours before the interview).
    assert answers("first") == (now - 60 * H, True, True, False, True, False)
    assert answers("second") == (now - 8 * H, True, True, False, True, True)
    assert answers("blake") == (now - 18 * H, True, False, True, False, False)
    assert answers("casey") == (None, False, False, False, False, False)
    assert answers("dana") == (now - 3 * H, True, True, False, True, True)
    assert rows[caseload["dana"].pk].answer_independence_exception
    assert not rows[caseload["first"].pk].answer_independence_exception


def test_the_interview_pages_read_the_same_answers(caseload, manager):
    """The interview's own page and API (its covered episodes) give each episode the answers
    the figures count: the same definitions, read from the link's side."""
    by_episode = {e.pk: e for e in selectors.episode_answers(manager)}
    interview = selectors.interview_detail(manager, caseload["first"].interview_link.interview_id)
    links = list(interview.covered.all())
    assert len(links) == 2
    for link in links:
        episode = by_episode[link.episode_id]
        assert [getattr(link, name) for name in figures.answer_expressions()] == [
            getattr(episode, name) for name in figures.answer_expressions()
        ]


def _period(now, hours_back):
    return figures.FigureFilters(
        period_start=london_date(now - hours_back * H), period_end=london_date(now)
    )


def test_figures_count_episodes_not_interviews(caseload, now):
    counted = figures.compute_figures(_period(now, 200), now=now).counts
    assert (
        counted["returns"],
        counted["children_returned"],
        counted["offered"],
        counted["accepted"],
        counted["refused"],
        counted["held"],
        counted["held_within_72h"],
        counted["independence_exceptions"],
        counted["awaiting_outcome"],
        counted["not_held_child_refused"],
    ) == (5, 4, 4, 3, 1, 3, 2, 1, 1, 1)


def test_figures_for_a_period_count_the_episodes_returned_in_it(caseload, now):
    # Only 10 June (London): the second episode of the shared interview and Casey's returned
    # then; the first episode's answers stay with the first episode's period.
    counted = figures.compute_figures(_period(now, 0), now=now).counts
    assert (counted["returns"], counted["held"], counted["held_within_72h"]) == (2, 1, 1)


def test_the_answers_are_one_query(caseload, manager, django_assert_num_queries):
    # The per-episode rows with their answers: one query whatever their number.
    with django_assert_num_queries(1):
        for episode in selectors.episode_answers(manager):
            link = getattr(episode, "interview_link", None)
            _ = (episode.child.reference, link and link.interview.independence)
            _ = episode.answer_held_within_72h
