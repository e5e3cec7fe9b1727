"""The first review's due time is kept once the review is done (review_due_at moves on), so the
figures can say whether it was on time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from missing.cases import services
from missing.models import MissingEpisode
from tests.factories import grade
from tests.helpers import report_missing

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


def decide(episode, manager, at):
    services.episode_record_decision(
        services.DecisionData(risk="medium", rationale="Known pattern."),
        actor=manager,
        episode_id=episode.pk,
        now=at,
    )
    return MissingEpisode.objects.get(pk=episode.pk)


def test_the_first_review_keeps_its_due_time_and_later_ones_do_not_move_it(ffd, manager, now):
    episode = report_missing(actor=ffd, now=now)  # medium: due 4 hours after notification
    assert episode.first_review_due_at is None
    first = decide(episode, manager, now + 5 * H)  # late
    assert first.first_reviewed_at == now + 5 * H
    assert first.first_review_due_at == now + 4 * H
    assert first.review_due_at != first.first_review_due_at  # the next review moved on
    second = decide(episode, manager, now + 6 * H)
    assert (second.first_reviewed_at, second.first_review_due_at) == (now + 5 * H, now + 4 * H)


def test_a_regrade_before_the_first_review_sets_the_target(ffd, manager, now):
    episode = report_missing(actor=ffd, now=now)
    services.episode_regrade(
        services.RegradeData(grade=grade("high")), actor=ffd, episode_id=episode.pk, now=now + H
    )
    reviewed = decide(episode, manager, now + 90 * timedelta(minutes=1))
    # High: due an hour after the regrade, sooner than the medium grade's 4 hours.
    assert reviewed.first_review_due_at == now + 2 * H
    assert reviewed.first_reviewed_at <= reviewed.first_review_due_at
