"""One child, one record, every notification kept: real concurrent intake on PostgreSQL from two
forces at once (issue 10). Each thread has its own connection; a Barrier releases them together."""

from __future__ import annotations

from collections import Counter
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
    MissingEpisode,
    PoliceNotification,
    Role,
    User,
)
from tests.factories import UserFactory, force
from tests.missing.test_api_concurrency import race

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL locks and real concurrency"
    ),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

Status = PoliceNotification.MatchStatus


def two_forces_tokens() -> list[str]:
    now = timezone.now()
    tokens = []
    for code in ("kent", "metropolitan"):
        system = UserFactory(
            username=f"{code}-system", role=Role.POLICE_SYSTEM, police_force=force(code)
        )
        tokens.append(
            (code, services.api_token_create(user=system, scope=ApiToken.Scope.INTAKE, now=now))
        )
    return tokens


def ten_reports(*, council_child_id: str) -> tuple[list[int], list[dict[str, Any]]]:
    tokens = two_forces_tokens()
    now = timezone.now()
    bodies = []
    for n in range(10):
        code, _ = tokens[n % 2]
        bodies.append(
            {
                "police_force": code,
                "police_reference": f"{code.upper()}-{n}",
                "kind": "reported_missing",
                "child_first_name": "Robin",
                "child_last_name": "Samename",
                "child_date_of_birth": "2011-09-09",
                "council_child_id": council_child_id,
                "last_seen_at": (now - timedelta(hours=3)).isoformat(),
                "reported_at": (now - timedelta(hours=2)).isoformat(),
                "risk_grade": "high",
            }
        )
    queue = list(range(10))
    lock = __import__("threading").Lock()

    def post(client: APIClient) -> Any:
        with lock:
            n = queue.pop()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[n % 2][1]}")
        return client.post("/api/notifications/", bodies[n], format="json")

    return race(10, post), bodies


def test_ten_reports_of_one_new_child_with_a_council_id_make_one_child():
    statuses, _ = ten_reports(council_child_id="CC-SAME-1")

    assert Counter(statuses) == {201: 10}
    assert Child.objects.count() == 1
    assert PoliceNotification.objects.count() == 10
    episode = MissingEpisode.objects.get()
    assert EpisodeEvent.objects.filter(action="opened").count() == 1
    statuses_kept = Counter(PoliceNotification.objects.values_list("match_status", flat=True))
    # The first opened the episode; the other nine are kept on it for FFD to confirm.
    assert statuses_kept == {Status.MATCHED: 1, Status.NEEDS_REVIEW: 9}
    assert set(PoliceNotification.objects.values_list("episode_id", flat=True)) == {episode.pk}
    assert EpisodeEvent.objects.filter(episode=episode, action="police_discrepancy").count() == 9


def test_ten_reports_of_one_new_child_without_a_council_id_make_one_child():
    statuses, _ = ten_reports(council_child_id="")

    assert Counter(statuses) == {201: 10}
    assert Child.objects.count() == 1
    assert MissingEpisode.objects.count() == 1
    assert PoliceNotification.objects.count() == 10
    kept = Counter(PoliceNotification.objects.values_list("match_status", flat=True))
    # The first created the child; the rest saw it and were held for FFD to confirm the child.
    assert kept == {Status.MATCHED: 1, Status.AWAITING_MATCH: 9}


def test_a_found_racing_its_own_report_is_applied_whichever_lands_first():
    (_, kent), _ = two_forces_tokens()
    now = timezone.now()
    report = {
        "police_force": "kent",
        "police_reference": "KENT-RACE",
        "kind": "reported_missing",
        "child_first_name": "Alex",
        "child_last_name": "Racing",
        "council_child_id": "CC-RACE-9",
        "last_seen_at": (now - timedelta(hours=6)).isoformat(),
        "reported_at": (now - timedelta(hours=5)).isoformat(),
        "risk_grade": "medium",
    }
    found = {
        "police_force": "kent",
        "police_reference": "KENT-RACE",
        "kind": "found",
        "found_at": (now - timedelta(hours=1)).isoformat(),
        "found_place": "Park",
    }
    bodies = [report, found]
    lock = __import__("threading").Lock()

    def post(client: APIClient) -> Any:
        with lock:
            body = bodies.pop()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {kent}")
        return client.post("/api/notifications/", body, format="json")

    assert Counter(race(2, post)) == {201: 2}
    episode = MissingEpisode.objects.get()
    assert episode.state == "returned"
    assert episode.found_place == "Park"
    assert set(PoliceNotification.objects.values_list("match_status", flat=True)) == {
        Status.MATCHED
    }


def test_a_report_waiting_on_a_child_being_merged_goes_to_the_kept_record():
    """FFD merges child B into child A while a police report about B waits for B's row lock: the
    report opens its episode on A (the merge's record says where B went), never a 500."""
    import threading
    import time

    from django.db import transaction

    from missing.cases.merge import MergeData, child_merge
    from tests.factories import ChildFactory

    (_, kent), _ = two_forces_tokens()
    ffd = UserFactory(role=Role.FFD)
    keep = ChildFactory(council_child_id=None, last_name="Keeper")
    remove = ChildFactory(
        council_child_id="CC-MERGING", last_name="Keeper", date_of_birth=keep.date_of_birth
    )
    now = timezone.now()
    locked = threading.Event()
    outcome: dict[str, Any] = {}

    def merge_slowly() -> None:
        try:
            with transaction.atomic():
                Child.objects.select_for_update().get(pk=remove.pk)
                locked.set()
                time.sleep(1.5)  # the report arrives and waits for this lock
                child_merge(
                    MergeData(remove_id=remove.pk, reason="Same child"),
                    actor=User.objects.get(pk=ffd.pk),
                    keep_id=keep.pk,
                    now=timezone.now(),
                )
        except BaseException as exc:
            outcome["merge_error"] = exc
        finally:
            connection.close()

    def report() -> None:
        try:
            locked.wait(10)
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {kent}")
            outcome["response"] = client.post(
                "/api/notifications/",
                {
                    "police_force": "kent",
                    "police_reference": "KENT-MERGING",
                    "kind": "reported_missing",
                    "child_first_name": "Jo",
                    "child_last_name": "Keeper",
                    "council_child_id": "CC-MERGING",
                    "last_seen_at": (now - timedelta(hours=3)).isoformat(),
                    "reported_at": (now - timedelta(hours=2)).isoformat(),
                    "risk_grade": "medium",
                },
                format="json",
            )
        except BaseException as exc:
            outcome["report_error"] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=merge_slowly), threading.Thread(target=report)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert "merge_error" not in outcome, outcome
    assert "report_error" not in outcome, outcome
    assert outcome["response"].status_code == 201, outcome["response"].content
    episode = MissingEpisode.objects.get(police_reference="KENT-MERGING")
    assert episode.child_id == keep.pk
    assert not Child.objects.filter(pk=remove.pk).exists()
