"""/healthz: open to load balancers, nothing personal, 503 when the database does not answer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError, connection

from missing.cases import services


@pytest.mark.django_db
def test_ok_without_a_heartbeat_yet(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "celery_last_heartbeat": None}


@pytest.mark.django_db
def test_ok_shows_the_last_celery_heartbeat(client, now):
    services.heartbeat_record(name="celery", now=now - timedelta(seconds=30))

    body = client.get("/healthz").json()

    assert body["status"] == "ok"
    assert body["celery_last_heartbeat"] == (now - timedelta(seconds=30)).isoformat()


@pytest.mark.django_db
def test_needs_no_login_and_one_query(client, django_assert_num_queries):
    # The one query: the heartbeat read, which also proves the database answers.
    with django_assert_num_queries(1):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_unavailable_when_the_database_does_not_answer(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


@pytest.mark.django_db
def test_other_errors_are_not_hidden_as_unavailable(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not an outage")

    monkeypatch.setattr(connection, "cursor", broken)
    client.raise_request_exception = True

    with pytest.raises(RuntimeError):
        client.get("/healthz")


@pytest.mark.django_db
def test_refuses_writes(client):
    assert client.post("/healthz").status_code == 405
