"""Personal API tokens end (issue 14 item 3): after settings.API_TOKEN_MAX_AGE, and when the
user's password, second factor, role or active flag changes (the credentials they stand for)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import override_settings
from rest_framework.test import APIClient

from missing.accounts import second_factor
from missing.cases import services
from missing.models import ApiToken, Role, User
from tests.factories import FIXED_NOW

EPISODES = "/api/episodes/"


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def token(manager: User) -> str:
    return services.api_token_create(user=manager, scope=ApiToken.Scope.FULL, now=FIXED_NOW)


def test_a_fresh_token_reads(token: str) -> None:
    with time_machine.travel(FIXED_NOW + timedelta(days=1), tick=False):
        assert _client(token).get(EPISODES).status_code == 200


def test_a_personal_token_expires_after_90_days(token: str, manager: User) -> None:
    row = ApiToken.objects.get(user=manager)
    assert row.expires_at == FIXED_NOW + timedelta(days=90)
    with time_machine.travel(FIXED_NOW + timedelta(days=89, hours=23), tick=False):
        assert _client(token).get(EPISODES).status_code == 200
    with time_machine.travel(FIXED_NOW + timedelta(days=90), tick=False):
        response = _client(token).get(EPISODES)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


@override_settings(API_TOKEN_MAX_AGE=timedelta(days=7))
def test_the_lifetime_is_a_setting(manager: User) -> None:
    services.api_token_create(user=manager, scope=ApiToken.Scope.FULL, now=FIXED_NOW)
    assert ApiToken.objects.get(user=manager).expires_at == FIXED_NOW + timedelta(days=7)


def test_an_intake_token_does_not_expire(police_system: User) -> None:
    raw = services.api_token_create(user=police_system, scope=ApiToken.Scope.INTAKE, now=FIXED_NOW)
    assert ApiToken.objects.get(user=police_system).expires_at is None
    assert raw


def _set_password(user: User) -> None:
    user.set_password("a new long passphrase for this test")
    user.save()


def _reset_second_factor(user: User) -> None:
    User.objects.filter(pk=user.pk).update(session_generation=user.session_generation + 1)


def _change_role(user: User) -> None:
    User.objects.filter(pk=user.pk).update(role=Role.FFD)


@pytest.mark.parametrize("change", [_set_password, _reset_second_factor, _change_role])
def test_a_credential_change_ends_the_token(token: str, manager: User, change) -> None:
    with time_machine.travel(FIXED_NOW + timedelta(minutes=1), tick=False):
        assert _client(token).get(EPISODES).status_code == 200
        change(manager)
        response = _client(token).get(EPISODES)
    assert response.status_code == 401
    assert "changed" in response.json()["detail"]


def test_deactivation_ends_the_token(token: str, manager: User) -> None:
    User.objects.filter(pk=manager.pk).update(is_active=False)
    with time_machine.travel(FIXED_NOW + timedelta(minutes=1), tick=False):
        assert _client(token).get(EPISODES).status_code == 401


def test_the_second_factor_reset_service_ends_the_token(
    token: str, manager: User, admin_user: User
) -> None:
    """The lost-phone case, through the real service the admin action and command use."""
    with time_machine.travel(FIXED_NOW + timedelta(minutes=1), tick=False):
        second_factor.second_factor_reset(actor=admin_user, user=manager, now=FIXED_NOW)
        assert _client(token).get(EPISODES).status_code == 401


def test_the_owner_lists_and_revokes_their_tokens(token: str, manager: User, ffd: User) -> None:
    from django.test import Client
    from django.urls import reverse

    from tests.helpers import login

    theirs = services.api_token_create(user=ffd, scope=ApiToken.Scope.FULL, now=FIXED_NOW)
    mine = ApiToken.objects.get(user=manager)
    other = ApiToken.objects.get(user=ffd)
    client = Client()
    login(client, manager)
    page = client.get(reverse("api_tokens")).content.decode()
    assert mine.prefix in page
    assert other.prefix not in page
    assert token not in page  # the token itself is never shown again
    # Someone else's token: 404, untouched.
    assert client.post(reverse("api_token_revoke", args=[other.pk])).status_code == 404
    assert client.post(reverse("api_token_revoke", args=[mine.pk])).status_code == 302
    mine.refresh_from_db()
    other.refresh_from_db()
    assert mine.revoked_at is not None
    assert other.revoked_at is None
    assert theirs
    with time_machine.travel(FIXED_NOW + timedelta(minutes=1), tick=False):
        assert _client(token).get(EPISODES).status_code == 401
