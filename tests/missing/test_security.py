"""Sessions (idle and absolute limits, ended by a role change or a disabled account), the
sign-in lockout, security headers, rate limits and the client address."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from missing.accounts.security import client_ip
from missing.models import Role, User
from tests.factories import FIXED_NOW
from tests.helpers import login, totp_device

PASSWORD = "correct horse battery staple"
T = FIXED_NOW


def signed_out(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --------------------------------------------------------------------------------------------
# Idle and absolute limits
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_thirty_minutes_idle_ends_the_session(client: Client, ffd: User) -> None:
    with time_machine.travel(T, tick=False):
        login(client, ffd)
    with time_machine.travel(T + timedelta(minutes=29), tick=False):
        assert client.get(reverse("episode_list")).status_code == 200
    # 29 + 30 = 59 minutes after sign-in, but under 30 minutes since the last request.
    with time_machine.travel(T + timedelta(minutes=58), tick=False):
        assert client.get(reverse("episode_list")).status_code == 200
    with time_machine.travel(T + timedelta(minutes=88, seconds=30), tick=False):
        response = client.get(reverse("episode_list"))
        assert signed_out(response)
        assert "_auth_user_id" not in client.session
        page = client.get(response["Location"])
        assert "signed out after 30 minutes without activity" in page.content.decode()


@pytest.mark.django_db
def test_the_boards_own_refresh_is_not_activity(client: Client, ffd: User) -> None:
    with time_machine.travel(T, tick=False):
        login(client, ffd)
    for minutes in range(1, 31):  # the board refreshing itself every minute for half an hour
        with time_machine.travel(T + timedelta(minutes=minutes), tick=False):
            response = client.get(f"{reverse('board')}?refresh=auto")
            assert response.status_code == 200, minutes
    with time_machine.travel(T + timedelta(minutes=31), tick=False):
        assert signed_out(client.get(f"{reverse('board')}?refresh=auto"))


@pytest.mark.django_db
def test_ten_hours_after_sign_in_the_session_ends_however_busy(client: Client, ffd: User) -> None:
    with time_machine.travel(T, tick=False):
        login(client, ffd)
    for step in range(1, 25):  # a request every 25 minutes: 10 hours at step 24
        with time_machine.travel(T + timedelta(minutes=25 * step), tick=False):
            response = client.get(reverse("episode_list"))
            assert response.status_code == 200, step
    with time_machine.travel(T + timedelta(hours=10, minutes=1), tick=False):
        response = client.get(reverse("episode_list"))
        assert signed_out(response)
        page = client.get(response["Location"])
        assert "more than 10 hours ago" in page.content.decode()


@pytest.mark.django_db
def test_a_session_without_a_sign_in_time_is_ended(client: Client, ffd: User) -> None:
    login(client, ffd)
    session = client.session
    del session["signed_in_at"]
    session.save()
    assert signed_out(client.get(reverse("episode_list")))


# --------------------------------------------------------------------------------------------
# Role changes and disabled accounts end every session on the next request
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [{"role": Role.INTERVIEWER}, {"role": Role.FFD}, {"is_active": False}],
    ids=["role-removed", "role-changed", "disabled"],
)
def test_a_role_change_or_disabling_ends_all_sessions(manager: User, change: dict) -> None:
    tablet, desktop = Client(), Client()
    login(tablet, manager)
    login(desktop, manager)
    assert tablet.get(reverse("board")).status_code == 200
    User.objects.filter(pk=manager.pk).update(**change)
    for client in (tablet, desktop):
        assert signed_out(client.get(reverse("board")))
        assert client.get("/api/episodes/").status_code == 401  # not signed in any more


@pytest.mark.django_db
def test_other_changes_keep_the_session(manager: User) -> None:
    client = Client()
    login(client, manager)
    User.objects.filter(pk=manager.pk).update(first_name="Renamed", phone="+447700900009")
    assert client.get(reverse("board")).status_code == 200


@pytest.mark.django_db
def test_a_rotated_secret_key_keeps_sessions_until_the_role_changes(
    manager: User, settings
) -> None:
    """User.get_session_auth_fallback_hash: a session signed in under the previous SECRET_KEY
    survives the key's rotation (SECRET_KEY_FALLBACKS), and is still ended by a role change."""
    old_key = settings.SECRET_KEY
    client = Client()
    login(client, manager)
    settings.SECRET_KEY = "a-new-key-" + "x" * 50
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert client.get(reverse("board")).status_code == 200
    User.objects.filter(pk=manager.pk).update(role=Role.FFD)
    assert signed_out(client.get(reverse("board")))


# --------------------------------------------------------------------------------------------
# Lockout: a username from one address
# --------------------------------------------------------------------------------------------


def _sign_in(client: Client, username: str, password: str, ip: str):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


@pytest.mark.django_db
def test_five_wrong_passwords_lock_that_address_only(manager: User) -> None:
    totp_device(manager)
    attacker, colleague = Client(), Client()
    for _ in range(4):
        assert _sign_in(attacker, "manager", "wrong", "198.51.100.7").status_code == 200
    locked = _sign_in(attacker, "manager", "wrong", "198.51.100.7")
    assert locked.status_code == 429
    # Locked: even the right password from that address is refused, without naming the user.
    again = _sign_in(attacker, "manager", PASSWORD, "198.51.100.7")
    assert again.status_code == 429
    assert int(again["Retry-After"]) == 15 * 60
    body = again.content.decode()
    assert "Sign-in locked for now" in body
    assert "manager" not in body.replace("service administrator", "")
    assert "_auth_user_id" not in attacker.session

    # The real user, from their office: signs in.
    ok = _sign_in(colleague, "manager", PASSWORD, "203.0.113.20")
    assert ok.status_code == 302
    assert ok["Location"].startswith("/sign-in/code/")
    # Another user from the attacker's address is not locked either.
    assert _sign_in(Client(), "someone-else", "wrong", "198.51.100.7").status_code == 200

    # Every attempt is on record.
    attempt = AccessAttempt.objects.get(username="manager", ip_address="198.51.100.7")
    assert attempt.failures_since_start >= 5
    assert AccessFailureLog.objects.filter(username="manager").count() >= 5
    assert AccessLog.objects.filter(username="manager", ip_address="203.0.113.20").count() == 1


@pytest.mark.django_db
def test_the_lock_lifts_after_the_cool_off(manager: User) -> None:
    with time_machine.travel(T, tick=False):
        for _ in range(5):
            _sign_in(Client(), "manager", "wrong", "198.51.100.7")
        assert _sign_in(Client(), "manager", PASSWORD, "198.51.100.7").status_code == 429
    with time_machine.travel(T + timedelta(minutes=16), tick=False):
        assert _sign_in(Client(), "manager", PASSWORD, "198.51.100.7").status_code == 302


def test_client_address_comes_from_the_proxy_only_when_one_is_trusted() -> None:
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9"
    )
    with override_settings(TRUSTED_PROXY_COUNT=0):
        assert client_ip(request) == "10.0.0.5"
    with override_settings(TRUSTED_PROXY_COUNT=1):
        # The left entry was sent by the client: only the proxy's own entry counts.
        assert client_ip(request) == "203.0.113.9"
    with override_settings(TRUSTED_PROXY_COUNT=2):
        assert client_ip(request) == "6.6.6.6"
    bare = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5")
    with override_settings(TRUSTED_PROXY_COUNT=1):
        assert client_ip(bare) == "10.0.0.5"


# --------------------------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_page_carries_a_csp_with_a_fresh_nonce_on_its_scripts(client: Client) -> None:
    nonces = []
    for _ in range(2):
        response = client.get(reverse("login"))
        policy = response["Content-Security-Policy"]
        directives = dict(
            [*part.split(" ", 1), ""][:2] for part in (p.strip() for p in policy.split(";"))
        )
        nonce = re.search(r"'nonce-([^']+)'", directives["script-src"]).group(1)
        assert directives["script-src"] == f"'self' 'nonce-{nonce}'"
        assert directives["default-src"] == "'self'"
        assert directives["object-src"] == "'none'"
        assert directives["base-uri"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert directives["form-action"] == "'self'"
        scripts = re.findall(r"<script[^>]*>", response.content.decode())
        assert len(scripts) == 2
        for tag in scripts:
            assert f'nonce="{nonce}"' in tag
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


@pytest.mark.django_db
def test_the_api_docs_work_under_the_csp(client: Client) -> None:
    page = client.get(reverse("swagger-ui"))
    assert page.status_code == 200
    html = page.content.decode()
    # No inline script: the settings script is a separate file from our own origin.
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag
    script = client.get(reverse("swagger-ui") + "?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")


@pytest.mark.django_db
def test_signed_in_pages_are_never_stored_and_framing_is_refused(
    client: Client, manager: User
) -> None:
    login(client, manager)
    for url in (reverse("board"), reverse("episode_list"), "/api/episodes/"):
        response = client.get(url)
        assert response["Cache-Control"] == "no-store"
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.django_db
def test_signing_out_clears_the_browsers_data(client: Client, manager: User) -> None:
    login(client, manager)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Clear-Site-Data"] == '"cache", "cookies", "storage"'
    assert signed_out(client.get(reverse("board")))


# --------------------------------------------------------------------------------------------
# Rate limits
# --------------------------------------------------------------------------------------------


LOW = {"list": "3/minute", "read": "3/minute", "search": "3/minute", "export": "2/hour"}


@pytest.mark.django_db
@override_settings(RATE_LIMITS=LOW)
def test_web_lists_above_the_rate_get_429_until_the_window_passes(
    client: Client, manager: User, ffd: User
) -> None:
    with time_machine.travel(T + timedelta(seconds=5), tick=False):
        login(client, manager)
        for name in ("board", "episode_list", "child_list"):
            assert client.get(reverse(name)).status_code == 200
        refused = client.get(reverse("notification_list"))
        assert refused.status_code == 429
        assert refused["Retry-After"] == "55"
        assert "Too many requests" in refused.content.decode()
        assert "Try again in 55 seconds" in refused.content.decode()
        # Counted per user: a colleague is not held up.
        other = Client()
        login(other, ffd)
        assert other.get(reverse("board")).status_code == 200
    with time_machine.travel(T + timedelta(seconds=61), tick=False):
        assert client.get(reverse("board")).status_code == 200


@pytest.mark.django_db
@override_settings(RATE_LIMITS=LOW)
def test_api_lists_above_the_rate_get_429_in_the_api_error_shape(
    client: Client, manager: User
) -> None:
    with time_machine.travel(T, tick=False):
        login(client, manager)
        for _ in range(3):
            assert client.get("/api/episodes/").status_code == 200
        refused = client.get("/api/children/")
        assert refused.status_code == 429
        assert refused["Retry-After"] == "60"
        assert set(refused.json()) == {"detail"}
        # Detail pages and writes are not lists: not counted.
        assert client.get("/api/risk-grades/").status_code == 429
        assert client.get("/api/board/").status_code == 429


@pytest.mark.django_db
@override_settings(RATE_LIMITS=LOW)
@pytest.mark.urls("tests.missing.security_urls")
def test_exports_have_their_own_hourly_limit(client: Client, manager: User) -> None:
    with time_machine.travel(T, tick=False):
        login(client, manager)
        assert client.get("/test-limited-export/").status_code == 200
        assert client.get("/test-limited-export/").status_code == 200
        refused = client.get("/test-limited-export/")
        assert refused.status_code == 429
        assert refused["Retry-After"] == "3600"
        # The list budget is separate.
        assert client.get(reverse("board")).status_code == 200
