"""Races that could raise a strategy / risk meeting task twice, on PostgreSQL with real threads
(each thread has its own connection; SQLite serialises writers, so nothing races there).

The second test forces the worst interleaving without sleeping: one change has inserted its
task but not committed, and the other change's insert is seen waiting on the unique index
(pg_stat_activity) before the first is let go. The partial unique constraint then refuses the
second insert and the service's savepoint absorbs it: one task, both changes succeed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from missing.cases import services
from missing.models import EpisodeState, MissingEpisode, RepeatMissingRule, RiskMeetingTask
from tests.factories import ChildFactory
from tests.helpers import login, report_missing

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL row locks and real concurrency"
    ),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def run_threads(*targets: Callable[[], Any]) -> list[Any]:
    """Run each target in its own thread (own connection); return results, re-raise errors."""
    results: list[Any] = [None] * len(targets)
    errors: list[BaseException] = []

    def wrap(i: int, target: Callable[[], Any]) -> None:
        try:
            results[i] = target()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrap, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def test_two_returns_of_one_episode_raise_one_task(ffd, manager):
    """The web form and the API record the same return at once, 30 hours after the child was
    last seen: the duration rule fires once; one request wins, the other is a 409."""
    RepeatMissingRule.objects.exclude(code="over-24-hours").update(active=False)
    now = timezone.now()
    episode = report_missing(
        actor=ffd, now=now - timedelta(hours=29), last_seen_at=now - timedelta(hours=30)
    )
    barrier = threading.Barrier(2)

    def post_return(user: Any) -> Callable[[], int]:
        def go() -> int:
            client = APIClient()
            login(client, user)
            barrier.wait(timeout=30)
            return client.post(
                f"/api/episodes/{episode.pk}/return/",
                {"returned_at": (now - timedelta(minutes=5)).isoformat()},
                format="json",
            ).status_code

        return go

    statuses = run_threads(post_return(ffd), post_return(manager))
    assert sorted(statuses) == [200, 409]
    assert RiskMeetingTask.objects.filter(episode=episode).count() == 1
    assert MissingEpisode.objects.get(pk=episode.pk).state == EpisodeState.RETURNED


def test_a_flag_and_a_return_racing_for_one_child_raise_one_task(ffd, manager):
    """Child aged 12, two episodes: the first back, the second still missing. The age rule is
    switched on only now, so neither has a task. A manager flags the first while the FFD
    records the second's return: both changes evaluate the age rule for the same child."""
    RepeatMissingRule.objects.update(active=False)
    now = timezone.now()
    child = ChildFactory(date_of_birth=date(2014, 1, 1))
    first = report_missing(
        actor=ffd, now=now - timedelta(days=2), child=child, last_seen_at=now - timedelta(days=3)
    )
    services.episode_record_return(
        services.ReturnData(
            returned_at=now - timedelta(days=2),
            found_place="Home",
            found_by="Police",
            prevention_interview_done=None,
        ),
        actor=ffd,
        episode_id=first.pk,
        now=now - timedelta(days=2),
    )
    second = report_missing(
        actor=ffd, now=now - timedelta(hours=2), child=child, last_seen_at=now - timedelta(hours=3)
    )
    RepeatMissingRule.objects.filter(code="aged-13-or-under").update(active=True)

    inserted = threading.Event()
    release = threading.Event()

    def flag_first_and_hold_the_commit() -> None:
        with transaction.atomic():
            services.episode_set_flags(
                services.FlagsData(
                    sexual_exploitation=False, criminal_exploitation=False, mental_health=True
                ),
                actor=manager,
                episode_id=first.pk,
                now=now,
            )
            assert RiskMeetingTask.objects.filter(child=child, status="open").count() == 1
            inserted.set()
            assert release.wait(timeout=60)

    def return_second() -> None:
        assert inserted.wait(timeout=60)
        services.episode_record_return(
            services.ReturnData(
                returned_at=now - timedelta(minutes=10),
                found_place="Friend's",
                found_by="Police",
                prevention_interview_done=None,
            ),
            actor=ffd,
            episode_id=second.pk,
            now=now,
        )

    def release_once_the_return_waits_on_the_index() -> None:
        assert inserted.wait(timeout=60)
        probe = connections.create_connection("default")
        try:
            for _ in range(600):  # up to a minute, polling the server, not timing the test
                with probe.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO%%'"
                    )
                    if cursor.fetchone()[0]:
                        break
                threading.Event().wait(0.1)
            else:
                pytest.fail("the second insert never waited on the first")
        finally:
            probe.close()
            release.set()

    run_threads(
        flag_first_and_hold_the_commit, return_second, release_once_the_return_waits_on_the_index
    )

    [task] = RiskMeetingTask.objects.filter(child=child)
    assert task.episode_id == first.pk
    assert MissingEpisode.objects.get(pk=second.pk).state == EpisodeState.RETURNED
    assert MissingEpisode.objects.get(pk=first.pk).flag_mental_health


def test_the_sweep_and_a_return_racing_raise_one_task(ffd):
    RepeatMissingRule.objects.exclude(code="over-24-hours").update(active=False)
    now = timezone.now()
    episodes = [
        report_missing(
            actor=ffd, now=now - timedelta(hours=29), last_seen_at=now - timedelta(hours=30)
        )
        for _ in range(5)
    ]
    barrier = threading.Barrier(1 + len(episodes))

    def sweep() -> int:
        barrier.wait(timeout=30)
        return len(services.repeat_duration_sweep(now=now))

    def returner(episode: MissingEpisode) -> Callable[[], None]:
        def go() -> None:
            barrier.wait(timeout=30)
            services.episode_record_return(
                services.ReturnData(
                    returned_at=now - timedelta(minutes=1),
                    found_place="Home",
                    found_by="Police",
                    prevention_interview_done=None,
                ),
                actor=ffd,
                episode_id=episode.pk,
                now=now,
            )

        return go

    run_threads(sweep, *(returner(e) for e in episodes))
    for episode in episodes:
        assert RiskMeetingTask.objects.filter(episode=episode).count() == 1
