"""The statements a police system's `update` notification costs through the API (issue 15).

A live police feed sends an update per incident every few minutes, for every child missing in
a region: its cost is paid all day. Pinned statement by statement, so a change that adds a
round trip (a savepoint, a re-read of the episode, an UPDATE after the INSERT, a query for the
force the token already gave) fails here; bench/README.md says what each one is for.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from missing.cases import services
from missing.models import (
    ApiToken,
    EpisodeEvent,
    MissingEpisode,
    PoliceForce,
    PoliceNotification,
    RiskGrade,
)
from tests.factories import FIXED_NOW
from tests.helpers import report_missing

pytestmark = pytest.mark.django_db

TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT")


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(FIXED_NOW, tick=False):
        yield


def _statement(sql: str) -> str:
    """What a captured statement does: pghistory prefixes each write (and each savepoint) on
    PostgreSQL with `SELECT set_config(…); `, which is not a statement of its own."""
    if sql.startswith("SELECT set_config('pghistory."):
        sql = sql.split("; ", 1)[1]
    words = sql.split()
    head = words[0].upper()
    if head in TRANSACTION_CONTROL:
        return head
    if head == "SELECT" and "pg_advisory_xact_lock" in sql:
        return "LOCK"
    tables = [word.split('"')[1].removeprefix("missing_") for word in words if '"missing_' in word]
    if head == "WITH":  # a data-modifying CTE: the tables it inserts into, in order
        into = [word for before, word in pairwise(words) if before == "INTO"]
        return "INSERT " + " + ".join(t.strip('"').removeprefix("missing_") for t in into)
    if head == "SELECT" and " FOR UPDATE" in sql:
        return f"SELECT {tables[0]} FOR UPDATE"
    return f"{head} {tables[0]}"


def _post(client: APIClient, body: dict[str, Any]) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.post("/api/notifications/", body, format="json")
    return response, [_statement(query["sql"]) for query in captured.captured_queries]


@pytest.fixture
def feed(police_system, ffd, now) -> tuple[APIClient, dict[str, Any]]:
    """A police system's client (its token used a moment ago, as a busy feed's is) and an update
    for a child it reported missing."""
    episode = report_missing(actor=ffd, now=now - timedelta(hours=1))
    client = APIClient()
    raw = services.api_token_create(
        user=police_system, scope=ApiToken.Scope.INTAKE, now=timezone.now()
    )
    ApiToken.objects.filter(user=police_system).update(last_used_at=timezone.now())
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    body = {
        "police_force": "kent",
        "police_reference": episode.police_reference,
        "kind": "update",
        "sequence": 2,
        "circumstances": "Seen near the railway station at 21:40.",
    }
    return client, body


def test_an_update_costs_these_statements(feed):
    client, body = feed

    response, statements = _post(client, body)

    assert response.status_code == 201, response.content
    postgresql = connection.vendor == "postgresql"
    locking = ["LOCK"] if postgresql else []
    # SQLite has no advisory lock: the INSERT keeps its savepoint, for a concurrent retry.
    insert = (
        ["INSERT policenotification"]
        if postgresql
        else ["SAVEPOINT", "INSERT policenotification", "RELEASE"]
    )
    assert statements == [
        "SAVEPOINT",  # the request's transaction (ATOMIC_REQUESTS; the test's is outside it)
        "SELECT apitoken",  # the token with its user and the user's force: no query for the force
        *locking,  # the incident's advisory lock (decision 0045)
        # The incident's episode with its grade, locked (SQLite has no FOR UPDATE), and in the
        # same query whether this notification is stored already (idempotency).
        "SELECT missingepisode FOR UPDATE" if postgresql else "SELECT missingepisode",
        *insert,  # written linked and settled: no UPDATE after it
        # The access log's change row and the timeline event, in one statement on PostgreSQL.
        *(
            ["INSERT accesslog + episodeevent"]
            if postgresql
            else ["INSERT accesslog", "INSERT episodeevent"]
        ),
        "RELEASE",
    ]
    # The same outcome as before the statements were cut: linked, settled, on the timeline.
    episode = MissingEpisode.objects.get(police_reference=body["police_reference"])
    stored = PoliceNotification.objects.get(pk=response.json()["id"])
    assert stored.match_status == PoliceNotification.MatchStatus.MATCHED
    assert stored.outcome_detail == "Added to the timeline."
    assert (stored.episode_id, stored.child_id) == (episode.pk, episode.child_id)
    event = EpisodeEvent.objects.get(episode=episode, action="police_update")
    assert event.reason == body["circumstances"]


def test_a_replay_reads_and_writes_nothing_more(feed):
    client, body = feed
    assert _post(client, body)[0].status_code == 201

    response, statements = _post(client, body)

    assert response.status_code == 200
    postgresql = connection.vendor == "postgresql"
    assert statements == [
        "SAVEPOINT",
        "SELECT apitoken",
        *(["LOCK"] if postgresql else []),
        "SELECT missingepisode FOR UPDATE" if postgresql else "SELECT missingepisode",
        "SELECT policenotification",  # the stored one, by the id the episode's query found
        "RELEASE",
    ]


def test_the_payload_digest_is_as_stored_notifications_were_written_with():
    """A replay is recognised by its digest (`payload_hash`), stored with every notification:
    computing it more cheaply must not change it, or every retry of a stored notification would
    be a 409. The digests below are those the code before issue 15 part 2 gave."""
    force = PoliceForce(pk=7, code="kent", name="Kent Police")
    full = services.NotificationData(
        police_force=force,
        police_reference="KT-2026-0001",
        kind="found",
        sequence=2,
        child_first_name="A",
        child_last_name="B",
        child_date_of_birth=date(2012, 3, 4),
        child_gender="female",
        council_child_id="C1",
        nhs_number="9434765919",
        missing_kind="missing",
        last_seen_at=datetime(2026, 12, 6, 20, 0, tzinfo=UTC),
        last_seen_place="Station",
        reported_at=datetime(2026, 12, 6, 21, 0, tzinfo=UTC),
        risk_grade=RiskGrade(pk=3, code="high", label="High"),
        circumstances="x",
        reported_by="PC 1",
        found_at=datetime(2026, 12, 7, 1, 0, tzinfo=UTC),
        found_place="Home",
        found_by="PC 2",
        prevention_interview_done=True,
        restricted_intelligence="r",
        council="E06000043",
    )
    bare = services.NotificationData(
        police_force=force, police_reference="KT-2026-0001", kind="update"
    )

    assert services._notification_hash(full) == (
        "247640881d387ab027a988f68ef202284582e852b8ee3abc2934831c0c7be045"
    )
    assert services._notification_hash(bare) == (
        "481341cc015964f9a64e4f37eb05ccd3f16780f717d4175f6e25136496d43a44"
    )
