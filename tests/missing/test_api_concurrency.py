"""Real races through the API, on PostgreSQL (SQLite ignores row locks and serialises writers).

Each thread has its own APIClient and so its own database connection; a Barrier releases them
together so the requests overlap inside the services, not one after another.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from missing.cases import services
from missing.models import (
    ApiToken,
    Child,
    EpisodeEvent,
    EpisodeState,
    MissingEpisode,
    PoliceNotification,
    User,
)
from tests.helpers import episode_in_state, login

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL row locks and real concurrency"
    ),
    # serialized_rollback: a transactional test flushes every table afterwards, the seeded risk
    # grades and forces included; this puts them back for the next test.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def race(count: int, request: Callable[[APIClient], Any]) -> list[int]:
    """Run `request` in `count` threads released at once; return the status codes."""
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        client = APIClient()
        try:
            barrier.wait(timeout=30)
            response = request(client)
            with lock:
                statuses.append(response.status_code)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(statuses) == count
    return statuses


def test_fifty_identical_intake_posts_create_one_notification_and_one_episode(police_system):
    raw = services.api_token_create(
        user=police_system, scope=ApiToken.Scope.INTAKE, now=timezone.now()
    )
    now = timezone.now()
    body = {
        "police_force": "kent",
        "police_reference": "KNT-RACE-1",
        "kind": "reported_missing",
        "child_first_name": "Robin",
        "child_last_name": "Racer",
        "child_date_of_birth": "2011-09-09",
        "council_child_id": "CC-RACE-1",
        "last_seen_at": (now - timedelta(hours=3)).isoformat(),
        "reported_at": (now - timedelta(hours=2)).isoformat(),
        "risk_grade": "high",
        "circumstances": "Left the children's home at night.",
    }

    def post(client: APIClient) -> Any:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client.post("/api/notifications/", body, format="json")

    statuses = race(50, post)

    assert Counter(statuses) == {201: 1, 200: 49}
    assert PoliceNotification.objects.count() == 1
    assert MissingEpisode.objects.count() == 1
    assert Child.objects.count() == 1
    assert EpisodeEvent.objects.filter(action="opened").count() == 1


def test_twenty_racing_sign_offs_one_wins_the_rest_conflict(ffd, manager, now):
    episode = episode_in_state(EpisodeState.AWAITING_SIGN_OFF, ffd=ffd, manager=manager, now=now)
    manager_id = manager.pk

    def sign_off(client: APIClient) -> Any:
        # Each thread loads its own user: a model instance is not shared across connections.
        login(client, User.objects.get(pk=manager_id))
        return client.post(
            f"/api/episodes/{episode.pk}/sign-off/",
            {"note": "Interview held.", "version": episode.version},
            format="json",
        )

    statuses = race(20, sign_off)

    assert Counter(statuses) == {200: 1, 409: 19}
    episode.refresh_from_db()
    assert episode.state == EpisodeState.CLOSED
    # opened 1, review 2, return 3, interview arranged 4, held 5, sign-off 6
    assert episode.version == 6
    assert EpisodeEvent.objects.filter(episode=episode, action="sign_off").count() == 1


def test_twenty_racing_cancels_without_a_version_one_wins(ffd, manager, now):
    episode = episode_in_state(EpisodeState.MISSING, ffd=ffd, manager=manager, now=now)
    manager_id = manager.pk

    def cancel(client: APIClient) -> Any:
        login(client, User.objects.get(pk=manager_id))
        # No version: the row lock and the state check alone must stop the 19 late ones.
        return client.post(
            f"/api/episodes/{episode.pk}/cancel/", {"reason": "Logged twice."}, format="json"
        )

    statuses = race(20, cancel)

    assert Counter(statuses) == {200: 1, 409: 19}
    assert EpisodeEvent.objects.filter(episode=episode, action="cancel").count() == 1
