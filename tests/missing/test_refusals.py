"""Refused requests leave a trace (issue 14 item 2; ASVS 5.0 16.3.2): every refused request of a
signed-in user writes one `refuse` access row naming the user, the route, the ids asked for and
the client address. The walk reuses tests/test_url_auth.py's route table and world."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from missing.models import AccessAction, AccessLog, User
from tests.factories import FIXED_NOW
from tests.helpers import login, report_missing
from tests.test_url_auth import (  # noqa: F401 (world is a fixture)
    ALL_SIGNED_IN,
    BODIES,
    ROUTES,
    url_kwargs,
    world,
)

REFUSING = {403, 404, 429}


def _refusals() -> list[AccessLog]:
    return list(AccessLog.objects.filter(action=AccessAction.REFUSE).order_by("pk"))


def _call(client: APIClient, name: str, url: str) -> object:
    method = ROUTES[name][0]
    body = dict(BODIES.get(name, {}))
    if method == "GET":
        return client.get(url)
    if name.startswith("api-"):
        return client.generic(method, url, json.dumps(body), content_type="application/json")
    return client.post(url, body)


@pytest.mark.parametrize("who", sorted(ALL_SIGNED_IN))
@pytest.mark.parametrize("name", sorted(ROUTES))
def test_every_refused_request_writes_a_refusal_row(name, who, world, users_by_role):  # noqa: F811
    method, allowed, obj = ROUTES[name]
    kwargs = url_kwargs(world, obj)
    client = APIClient()
    user = users_by_role[who]
    login(client, user)
    with time_machine.travel(FIXED_NOW + timedelta(minutes=5), tick=False):
        response = _call(client, name, reverse(name, kwargs=kwargs))

    rows = _refusals()
    if response.status_code in REFUSING:
        [row] = rows
        assert (row.user_id, row.role, row.route) == (user.pk, user.role, name)
        # The ids asked for; never a secret in the URL (an out-of-area alert's code).
        ids = {key: value for key, value in kwargs.items() if isinstance(value, int)}
        assert row.reference == ",".join(f"{key}={value}" for key, value in sorted(ids.items()))
        assert row.detail["status"] == response.status_code
        assert row.detail["asked"] == ids
        assert row.client_address == "127.0.0.1"
    else:
        assert rows == [], (name, who, response.status_code)
    if who not in allowed and obj is not None and method == "GET":
        # A child's record asked for by someone who may not see it: always on the record.
        assert rows, (name, who, response.status_code)


def test_idor_probing_by_another_organisation_is_visible(other_interviewer, ffd, now):
    episodes = [report_missing(actor=ffd, now=now) for _ in range(3)]
    client = APIClient()
    login(client, other_interviewer)
    for episode in episodes:
        assert client.get(f"/api/episodes/{episode.pk}/").status_code == 404
    rows = _refusals()
    assert [r.reference for r in rows] == [f"pk={e.pk}" for e in episodes]
    assert {r.route for r in rows} == {"api-episode-detail"}
    assert all(r.user_id == other_interviewer.pk for r in rows)


def test_a_refused_export_step_up_is_recorded(manager):
    client = Client()
    with time_machine.travel(FIXED_NOW, tick=False):
        login(client, manager)
    # Past the 5-minute step-up, inside the 30-minute idle limit.
    with time_machine.travel(FIXED_NOW + timedelta(minutes=10), tick=False):
        response = client.get(reverse("interviews:export"))
    assert response.status_code == 302
    assert "/sign-in/confirm/" in response["Location"]
    [row] = _refusals()
    assert (row.route, row.detail["reason"], row.detail["status"]) == (
        "interviews:export",
        "step-up",
        302,
    )


def test_anonymous_refusals_write_no_row(client, ffd, now):
    episode = report_missing(actor=ffd, now=now)
    assert APIClient().get(f"/api/episodes/{episode.pk}/").status_code in {401, 403}
    assert _refusals() == []


def test_the_refusals_page_lists_newest_first(
    manager, other_interviewer, ffd, now, django_assert_num_queries
):
    first, second = (report_missing(actor=ffd, now=now) for _ in range(2))
    probe = APIClient()
    login(probe, other_interviewer)
    for episode in (first, second):
        probe.get(f"/api/episodes/{episode.pk}/")
    client = Client()
    login(client, manager)
    # session, user, OTP device, savepoint/release or BEGIN/COMMIT, the refusals with users.
    with django_assert_num_queries(6):
        response = client.get(reverse("access_refusals"))
    assert response.status_code == 200
    text = response.content.decode()
    assert text.index(f"pk={second.pk}") < text.index(f"pk={first.pk}")
    assert "other_interviewer" in text


def test_the_refusals_page_is_for_oversight_only(users_by_role: dict[str, User]):
    client = Client()
    login(client, users_by_role["ffd"])
    assert client.get(reverse("access_refusals")).status_code == 403
    # ... and that refusal is itself on the record.
    [row] = _refusals()
    assert row.route == "access_refusals"
