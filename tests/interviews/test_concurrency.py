"""Racing writers on one interview, on PostgreSQL (SQLite serialises writers anyway): the row
lock and the version decide, and nothing is lost or done twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from interviews import services
from interviews.models import InterviewStatus, ReturnInterview
from missing.models import EpisodeEvent, EpisodeState, MissingEpisode, User
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


@pytest.fixture
def completed(interview, interviewer) -> ReturnInterview:
    interview.refresh_from_db()
    return services.interview_complete(
        services.CompleteData(),
        actor=interviewer,
        interview_id=interview.pk,
        expected_version=interview.version,
        now=timezone.now(),
    )


@pytest.mark.parametrize("send_version", [True, False], ids=["same-version", "no-version"])
def test_two_managers_signing_off_at_once_one_wins_the_other_is_a_409(
    completed, manager, head_of_service, send_version
):
    """With the version both sent the loser's is stale; without one, the loser finds the
    interview already signed off once the winner's lock is released. Never a 500, and the
    episodes close once."""
    signers = iter([manager.pk, head_of_service.pk])  # next() on it is atomic under the GIL
    version = completed.version

    def sign_off(client):
        login(client, User.objects.get(pk=next(signers)))
        body = {"strategy_meeting": True, **({"version": version} if send_version else {})}
        return client.post(f"/api/interviews/{completed.pk}/sign-off/", body, format="json")

    assert Counter(race(2, sign_off)) == {200: 1, 409: 1}
    signed = ReturnInterview.objects.get()
    assert (signed.status, signed.version) == (InterviewStatus.SIGNED_OFF, version + 1)
    assert signed.signed_off_by_id in (manager.pk, head_of_service.pk)
    assert EpisodeEvent.objects.filter(action="sign_off").count() == 1
    assert list(MissingEpisode.objects.values_list("state", flat=True)) == [EpisodeState.CLOSED]


def test_the_interviewer_and_a_manager_completing_at_once_one_wins_the_other_is_a_409(
    interview, interviewer, manager
):
    completers = iter([interviewer.pk, manager.pk])
    version = interview.version

    def complete(client):
        login(client, User.objects.get(pk=next(completers)))
        return client.post(
            f"/api/interviews/{interview.pk}/complete/", {"version": version}, format="json"
        )

    assert Counter(race(2, complete)) == {200: 1, 409: 1}
    done = ReturnInterview.objects.get()
    assert (done.status, done.version) == (InterviewStatus.COMPLETED, version + 1)
    assert EpisodeEvent.objects.filter(action="record_interview_outcome").count() == 1
    assert list(MissingEpisode.objects.values_list("state", flat=True)) == [
        EpisodeState.AWAITING_SIGN_OFF
    ]
