"""missing.cases.prebuilt: a SELECT compiled once gives what its queryset gives (issue 15)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Subquery
from django.test.utils import CaptureQueriesContext

from missing.cases import services
from missing.cases.prebuilt import Prebuilt, PrebuiltInsert, insert_statement
from missing.models import ApiToken, Council, MissingEpisode, PoliceNotification, User
from tests.helpers import report_missing

pytestmark = pytest.mark.django_db


def _tokens(key_hash: str):
    return (
        ApiToken.objects.select_related("user", "user__police_force")
        .filter(key_hash=key_hash, revoked_at__isnull=True)
        .order_by("pk")[:1]
    )


def _as_dict(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_the_rows_and_related_objects_are_the_querysets(police_system: User, now) -> None:
    services.api_token_create(user=police_system, scope=ApiToken.Scope.INTAKE, now=now)
    stored = ApiToken.objects.get(user=police_system)
    prebuilt = Prebuilt(_tokens, key_hash=str)

    token = prebuilt.first(key_hash=stored.key_hash)
    again = prebuilt.first(key_hash=stored.key_hash)  # the compiled SQL, run a second time
    expected = _tokens(stored.key_hash).first()

    assert token is not None
    assert again is not None
    assert expected is not None
    assert _as_dict(token) == _as_dict(again) == _as_dict(expected)
    # The user and the force came with the token (select_related): no query for either.
    with CaptureQueriesContext(connection) as captured:
        assert _as_dict(token.user) == _as_dict(expected.user)
        assert token.user.police_force.code == "kent"
    assert captured.captured_queries == []
    assert token._state.db == "default"
    assert not token._state.adding
    assert prebuilt.first(key_hash="0" * 64) is None


def test_a_user_without_a_force_has_none(manager: User, now) -> None:
    services.api_token_create(user=manager, scope=ApiToken.Scope.FULL, now=now)
    stored = ApiToken.objects.get(user=manager)

    token = Prebuilt(_tokens, key_hash=str).first(key_hash=stored.key_hash)

    assert token is not None
    assert token.user == manager
    with CaptureQueriesContext(connection) as captured:
        assert token.user.police_force is None
    assert captured.captured_queries == []


def _episodes(force: int, reference: str, kind: str, sequence: int):
    stored = PoliceNotification.objects.filter(
        police_force=force, police_reference=reference, kind=kind, sequence=sequence
    )
    return (
        MissingEpisode.objects.select_for_update(of=("self",))
        .select_related("police_grade")
        .annotate(already=Subquery(stored.values("pk")[:1]))
        .filter(police_force=force, police_reference=reference)
        .order_by("pk")[:1]
    )


def test_an_annotation_and_a_locked_read(ffd: User, now) -> None:
    episode = report_missing(actor=ffd, now=now - timedelta(hours=1))
    prebuilt = Prebuilt(_episodes, force=int, reference=str, kind=str, sequence=int)
    values = {
        "force": episode.police_force_id,
        "reference": episode.police_reference,
        "kind": "reported_missing",
        "sequence": 1,
    }

    with transaction.atomic():
        found = prebuilt.first(**values)
        expected = _episodes(**values).first()
        not_stored = prebuilt.first(**{**values, "kind": "update", "sequence": 9})

    assert found is not None
    assert expected is not None
    assert not_stored is not None
    assert _as_dict(found) == _as_dict(expected)
    assert found.already == expected.already  # type: ignore[attr-defined]
    assert found.already is not None  # type: ignore[attr-defined]
    assert not_stored.already is None  # type: ignore[attr-defined]
    assert found.police_grade == expected.police_grade


def test_an_argument_the_query_does_not_use_is_refused() -> None:
    prebuilt = Prebuilt(lambda key_hash, other: _tokens(key_hash), key_hash=str, other=int)
    with pytest.raises(ValueError, match="other"):
        prebuilt.first(key_hash="x", other=1)


def _notification_fields(police_system: User, now, reference: str) -> dict:
    return dict(
        police_force=police_system.police_force,
        police_reference=reference,
        kind="reported_missing",
        sequence=1,
        received_at=now,
        received_by=police_system,
        child_first_name="Sam",
        last_seen_at=now - timedelta(hours=2),
        raw_payload={"a": [1, "b"]},
        payload_hash="0" * 64,
        match_status=PoliceNotification.MatchStatus.MATCHED,
    )


def test_a_prebuilt_insert_leaves_the_row_and_instance_as_create_does(
    police_system: User, now
) -> None:
    inserter = PrebuiltInsert(PoliceNotification)
    first = inserter.create(**_notification_fields(police_system, now, "PB-1"))
    with CaptureQueriesContext(connection) as captured:
        second = inserter.create(**_notification_fields(police_system, now, "PB-2"))
    assert len(captured.captured_queries) == 1  # the compiled INSERT, nothing else
    expected = PoliceNotification.objects.create(**_notification_fields(police_system, now, "PB-3"))

    for made in (first, second):
        assert made.pk is not None
        assert not made._state.adding
        assert made._state.db == "default"
        stored = PoliceNotification.objects.get(pk=made.pk)
        assert _as_dict(made) == _as_dict(stored)
        ignored = {"id", "police_reference"}
        assert {k: v for k, v in _as_dict(made).items() if k not in ignored} == {
            k: v for k, v in _as_dict(expected).items() if k not in ignored
        }
    assert second.pk != first.pk


def test_a_prebuilt_insert_refuses_a_model_with_its_own_save() -> None:
    with pytest.raises(TypeError, match="overrides save"):
        PrebuiltInsert(Council)


def test_an_insert_statement_is_the_compilers(police_system: User, now) -> None:
    from django.db.models.sql import InsertQuery

    row = PoliceNotification(**_notification_fields(police_system, now, "PB-4"))
    built = insert_statement(row)
    again = insert_statement(row)  # the cached SQL text
    meta = PoliceNotification._meta
    query = InsertQuery(PoliceNotification)
    query.insert_values([f for f in meta.local_concrete_fields if f is not meta.auto_field], [row])
    ((sql, params),) = query.get_compiler(connection=connection).as_sql()

    def values(prepared: list) -> list:  # psycopg's Jsonb wrapper compares by identity
        return [getattr(value, "obj", value) for value in prepared]

    assert built is not None
    assert again is not None
    assert built[0] == again[0] == sql
    assert values(built[1]) == values(again[1]) == values(params)
