"""Push factors, pull factors and harms are data: seeded from the domain defaults, extended and
retired by an administrator, never deleted once an interview used them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from interviews.models import Factor, FactorKind
from interviews.services import RecordData, interview_record_update
from tests.factories import ChildFactory
from tests.helpers import login
from tests.interviews.helpers import open_interview, returned_episode

pytestmark = pytest.mark.django_db


def test_the_domain_defaults_are_seeded():
    counts = {
        kind: Factor.objects.filter(kind=kind, active=True).count() for kind in FactorKind.values
    }
    assert counts == {"push": 10, "pull": 10, "harm": 14}
    assert Factor.objects.get(code="harm-trafficking").cin_code == "12A"
    assert Factor.objects.get(code="pull-criminal-exploitation").label == (
        "Criminal exploitation, including county lines"
    )


def test_an_administrator_adds_and_retires_codes_but_never_deletes_a_used_one(
    admin_user, ffd, manager, now
):
    client = Client()
    login(client, admin_user)
    added = client.post(
        "/admin/interviews/factor/add/",
        {
            "kind": "pull",
            "code": "pull-online-contact",
            "label": "Met someone online",
            "cin_code": "",
            "order": "200",
            "active": "on",
        },
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    new = Factor.objects.get(code="pull-online-contact")

    episode = returned_episode(
        ffd=ffd, manager=manager, child=ChildFactory(), returned_at=now - timedelta(hours=3)
    )
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    interview_record_update(
        RecordData(changes={"pull_factors": (("pull-online-contact", "Snapchat"),)}),
        actor=manager,
        interview_id=interview.pk,
        expected_version=interview.version,
        now=now,
    )

    used = client.get(f"/admin/interviews/factor/{new.pk}/delete/")
    assert used.status_code == 403
    unused = Factor.objects.get(code="pull-parties")
    assert client.get(f"/admin/interviews/factor/{unused.pk}/delete/").status_code == 200

    retired = client.post(
        f"/admin/interviews/factor/{new.pk}/change/",
        {"label": "Met someone online", "cin_code": "", "order": "200"},
    )
    assert retired.status_code == 302
    new.refresh_from_db()
    assert not new.active
    assert new.kind == "pull"
    assert new.code == "pull-online-contact"


def test_retired_codes_are_listed_as_inactive_in_the_api(manager):
    from rest_framework.test import APIClient

    Factor.objects.filter(code="push-boundaries").update(active=False)
    client = APIClient()
    login(client, manager)
    rows = {row["code"]: row for row in client.get("/api/interview-factors/").json()}
    assert rows["push-boundaries"]["active"] is False
    assert rows["push-loneliness"]["active"] is True
