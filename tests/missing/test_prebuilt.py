"""missing.cases.prebuilt: a SELECT compiled once gives what its queryset gives (issue 15)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Subquery
from django.test.utils import CaptureQueriesContext

from missing.cases import services
from missing.cases.prebuilt import Prebuilt
from missing.models import ApiToken, MissingEpisode, PoliceNotification, User
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
