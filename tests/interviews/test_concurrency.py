"""Racing writers on one interview, on PostgreSQL (SQLite serialises writers anyway): the row
lock and the version decide, and nothing is lost or done twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from interviews.models import InterviewStatus, ReturnInterview
from missing.models import EpisodeEvent, User
from tests.factories import ChildFactory
from tests.helpers import login
from tests.interviews.helpers import assign, open_interview, record_held, returned_episode
from tests.missing.test_api_concurrency import race

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL row locks and real concurrency"
    ),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def interview(ffd, manager, interviewer) -> ReturnInterview:
    now = timezone.now()
    episode = returned_episode(
        ffd=ffd, manager=manager, child=ChildFactory(), returned_at=now - timedelta(hours=4)
    )
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    return record_held(interview, actor=interviewer, held_at=now - timedelta(hours=1), now=now)


def test_ten_racing_edits_of_one_answer_one_wins_the_rest_see_the_difference(
    interview, interviewer
):
    user_id, version = interviewer.pk, interview.version
    writers = iter(range(10))  # next() on it is atomic under the GIL

    def edit(client):
        n = writers
        login(client, User.objects.get(pk=user_id))
        return client.patch(
            f"/api/interviews/{interview.pk}/record/",
            {
                "version": version,
                "present": f"Writer {next(n)}",
                "base": {"present": interview.present},
            },
            format="json",
        )

    assert Counter(race(10, edit)) == {200: 1, 409: 9}
    assert ReturnInterview.objects.get().version == version + 1


def test_ten_racing_completions_move_the_episode_once(interview, interviewer):
    user_id, version = interviewer.pk, interview.version

    def complete(client):
        login(client, User.objects.get(pk=user_id))
        return client.post(
            f"/api/interviews/{interview.pk}/complete/", {"version": version}, format="json"
        )

    assert Counter(race(10, complete)) == {200: 1, 409: 9}
    assert ReturnInterview.objects.get().status == InterviewStatus.COMPLETED
    assert EpisodeEvent.objects.filter(action="record_interview_outcome").count() == 1
