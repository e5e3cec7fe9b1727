"""The second factor: set-up, the code page, replay, recovery codes, throttling, reset, step-up,
and the refusal of a session that has passed the password alone."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from missing.accounts import account_changes
from missing.models import AccountChange, User
from tests.factories import FIXED_NOW
from tests.helpers import login, totp_code, totp_device

PASSWORD = "correct horse battery staple"


def password_step(client: Client, user: User, next_url: str = "/") -> str:
    response = client.post(
        f"{reverse('login')}?next={next_url}",
        {"username": user.username, "password": PASSWORD, "next": next_url},
    )
    assert response.status_code == 302
    return response["Location"]


def is_fully_signed_in(client: Client) -> bool:
    return client.get(reverse("board")).status_code == 200


# --------------------------------------------------------------------------------------------
# Set-up (enrolment)
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_first_sign_in_sets_up_an_authenticator_then_shows_ten_recovery_codes_once(
    client: Client, ffd: User
) -> None:
    with time_machine.travel(FIXED_NOW, tick=False):
        assert password_step(client, ffd) == "/sign-in/set-up/?next=%2F"
        page = client.get("/sign-in/set-up/?next=%2F")
        assert page.status_code == 200
        html = page.content.decode()
        assert "<svg" in html  # the QR code, inline markup: nothing for the CSP to refuse
        device = TOTPDevice.objects.get(user=ffd, confirmed=False)
        key = "".join(page.context["key_groups"])
        assert device.config_url.split("secret=")[1].startswith(key)
        # Reloading shows the same key, not a new device each time.
        client.get("/sign-in/set-up/")
        assert TOTPDevice.objects.filter(user=ffd).count() == 1
        # Not yet signed in: the board is refused until the device is confirmed.
        assert not is_fully_signed_in(client)

        wrong = client.post("/sign-in/set-up/", {"code": "000000", "next": "/"})
        assert wrong.status_code == 400
        assert b"The code is not correct" in wrong.content

    with time_machine.travel(FIXED_NOW + timedelta(seconds=40), tick=False):
        shown = client.post("/sign-in/set-up/", {"code": totp_code(device), "next": "/"})
        assert shown.status_code == 200
        codes = shown.context["codes"]
        assert len(codes) == 10
        assert len(set(codes)) == 10
        for code in codes:
            assert code in shown.content.decode()
        assert StaticToken.objects.filter(device__user=ffd).count() == 10
        device.refresh_from_db()
        assert device.confirmed
        assert is_fully_signed_in(client)
        # Set up once: the page now sends a signed-in user on, never shows the key again.
        again = client.get("/sign-in/set-up/")
        assert again.status_code == 302


# --------------------------------------------------------------------------------------------
# The code page
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_code_gives_a_new_session_id_and_signs_in(client: Client, manager: User) -> None:
    device = totp_device(manager)
    with time_machine.travel(FIXED_NOW, tick=False):
        client.get(reverse("login"))
        session = client.session
        session["probe"] = "before"
        session.save()
        anonymous_key = session.session_key

        assert password_step(client, manager, "/episodes/") == "/sign-in/code/?next=%2Fepisodes%2F"
        password_key = client.session.session_key
        assert password_key != anonymous_key  # Django's login() cycles the id

        response = client.post(
            "/sign-in/code/?next=%2Fepisodes%2F", {"code": totp_code(device), "next": "/episodes/"}
        )
        assert response.status_code == 302
        assert response["Location"] == "/episodes/"
        assert client.session.session_key not in {anonymous_key, password_key}
        assert is_fully_signed_in(client)


@pytest.mark.django_db
def test_a_code_works_once_even_from_another_session(manager: User) -> None:
    device = totp_device(manager)
    first, second = Client(), Client()
    with time_machine.travel(FIXED_NOW, tick=False):
        code = totp_code(device)
        password_step(first, manager)
        password_step(second, manager)
        assert first.post("/sign-in/code/", {"code": code}).status_code == 302
    with time_machine.travel(FIXED_NOW + timedelta(seconds=5), tick=False):
        # The same code, still inside its 30-second step: refused (django-otp's last_t).
        replay = second.post("/sign-in/code/", {"code": code})
        assert replay.status_code == 400
        assert b"The code is not correct" in replay.content
        assert not is_fully_signed_in(second)


@pytest.mark.django_db
def test_an_older_code_is_refused_after_a_newer_one(manager: User) -> None:
    device = totp_device(manager)
    first, second = Client(), Client()
    older = totp_code(device, at=FIXED_NOW - timedelta(seconds=30))
    with time_machine.travel(FIXED_NOW, tick=False):
        password_step(first, manager)
        password_step(second, manager)
        assert first.post("/sign-in/code/", {"code": totp_code(device)}).status_code == 302
    with time_machine.travel(FIXED_NOW + timedelta(seconds=5), tick=False):
        # Within the drift tolerance but older than the accepted one: refused.
        assert second.post("/sign-in/code/", {"code": older}).status_code == 400


@pytest.mark.django_db
def test_wrong_codes_are_throttled(client: Client, manager: User) -> None:
    device = totp_device(manager)
    with time_machine.travel(FIXED_NOW, tick=False):
        password_step(client, manager)
        assert client.post("/sign-in/code/", {"code": "000000"}).status_code == 400
        # django-otp's throttle: right after a wrong code even the right one is not checked.
        throttled = client.post("/sign-in/code/", {"code": totp_code(device)})
        assert throttled.status_code == 400
        assert b"Too many wrong codes" in throttled.content
    with time_machine.travel(FIXED_NOW + timedelta(seconds=31), tick=False):
        assert client.post("/sign-in/code/", {"code": totp_code(device)}).status_code == 302


@pytest.mark.django_db
def test_the_code_page_never_redirects_off_site(client: Client, manager: User) -> None:
    device = totp_device(manager)
    with time_machine.travel(FIXED_NOW, tick=False):
        password_step(client, manager)
        response = client.post(
            "/sign-in/code/?next=https://evil.example/",
            {"code": totp_code(device), "next": "https://evil.example/"},
        )
    assert response.status_code == 302
    assert response["Location"] == "/"


# --------------------------------------------------------------------------------------------
# Recovery codes
# --------------------------------------------------------------------------------------------


@pytest.fixture
def recovery_codes(manager: User) -> list[str]:
    from missing.accounts.second_factor import recovery_codes_issue

    totp_device(manager)
    return recovery_codes_issue(user=manager)


@pytest.mark.django_db
def test_a_recovery_code_signs_in_once(manager: User, recovery_codes: list[str]) -> None:
    first, second = Client(), Client()
    code = recovery_codes[3]
    with time_machine.travel(FIXED_NOW, tick=False):
        password_step(first, manager)
        password_step(second, manager)
        # Typed with a space and in capitals, as people do.
        used = first.post("/sign-in/code/", {"code": f"{code[:4]} {code[4:]}".upper()}, follow=True)
        assert used.status_code == 200
        assert "You have 9 left" in used.content.decode()
        assert not StaticToken.objects.filter(token=code).exists()
        # The same code again, from another session: refused.
        assert second.post("/sign-in/code/", {"code": code}).status_code == 400
    with time_machine.travel(FIXED_NOW + timedelta(seconds=10), tick=False):
        # The others still work (once the throttle after the wrong try has passed).
        assert second.post("/sign-in/code/", {"code": recovery_codes[4]}).status_code == 302


@pytest.mark.django_db
def test_new_recovery_codes_need_an_app_code_and_replace_the_old(
    client: Client, manager: User, recovery_codes: list[str]
) -> None:
    with time_machine.travel(FIXED_NOW, tick=False):
        login(client, manager)
        # A recovery code cannot mint new recovery codes.
        refused = client.post(reverse("recovery_codes"), {"code": recovery_codes[0]})
        assert refused.status_code == 400
    with time_machine.travel(FIXED_NOW + timedelta(seconds=61), tick=False):
        made = client.post(reverse("recovery_codes"), {"code": totp_code(totp_device(manager))})
        assert made.status_code == 200
        fresh = made.context["codes"]
        assert len(fresh) == 10
        stored = set(
            StaticToken.objects.filter(device__user=manager).values_list("token", flat=True)
        )
        assert stored == set(fresh)
        assert not stored & set(recovery_codes)


# --------------------------------------------------------------------------------------------
# An administrator's reset
# --------------------------------------------------------------------------------------------


def _assert_reset(client: Client, user: User) -> None:
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticDevice.objects.filter(user=user).exists()
    # Their session ended on the next request...
    response = client.get(reverse("board"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    # ...and the next sign-in sets up a new authenticator.
    assert password_step(client, user).startswith("/sign-in/set-up/")


@pytest.mark.django_db
def test_reset_second_factor_command(client: Client, manager: User, recovery_codes) -> None:
    login(client, manager)
    assert is_fully_signed_in(client)
    out = StringIO()
    call_command("reset_second_factor", "manager", stdout=out)
    assert "sessions have ended" in out.getvalue()
    _assert_reset(client, manager)


@pytest.mark.django_db
def test_reset_second_factor_command_refuses_an_unknown_user() -> None:
    with pytest.raises(CommandError, match="No user with the username 'nobody'"):
        call_command("reset_second_factor", "nobody")


@pytest.mark.django_db
def test_reset_second_factor_admin_action(
    manager: User, admin_user: User, head_of_service: User, recovery_codes
) -> None:
    victim, admin = Client(), Client()
    login(victim, manager)
    login(admin, admin_user)
    response = admin.post(
        reverse("admin:missing_user_changelist"),
        {"action": "reset_second_factor", "_selected_action": [manager.pk]},
    )
    assert response.status_code == 302
    # The administrator only asks (separation of duties): nothing happens until a head of
    # service approves.
    assert is_fully_signed_in(victim)
    change = AccountChange.objects.get(subject=manager)
    account_changes.account_change_approve(
        actor=head_of_service, change_id=change.pk, now=timezone.now()
    )
    _assert_reset(victim, manager)
    # The administrator's own session and device are untouched.
    assert admin.get(reverse("admin:index")).status_code == 200


# --------------------------------------------------------------------------------------------
# A session with the password alone
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_password_alone_reaches_no_page_and_no_api(client: Client, manager: User) -> None:
    totp_device(manager)
    login(client, manager, second_factor=False)
    page = client.get(reverse("episode_list"))
    assert page.status_code == 302
    assert page["Location"] == "/sign-in/code/?next=%2Fepisodes%2F"
    api = client.get("/api/episodes/")
    assert api.status_code == 403
    assert api.json() == {
        "detail": "Enter the code from your authenticator app first (sign in again)."
    }
    # The pages that lead on still answer.
    assert client.get("/sign-in/code/").status_code == 200
    assert client.get(reverse("healthz")).status_code == 200


@pytest.mark.django_db
def test_the_api_permission_refuses_password_alone_without_the_middleware(
    manager: User,
) -> None:
    """Belt and braces: with the middleware gone, DRF's permission still refuses."""
    from django.conf import settings

    middleware = [m for m in settings.MIDDLEWARE if "SecondFactorRequired" not in m]
    client = Client()
    with override_settings(MIDDLEWARE=middleware):
        login(client, manager, second_factor=False)
        assert client.get("/api/episodes/").status_code == 403
        login(client, manager)
        assert client.get("/api/episodes/").status_code == 200


@pytest.mark.django_db
def test_bearer_tokens_need_no_second_factor(ffd: User, now) -> None:
    from missing.cases import services

    token = services.api_token_create(
        user=ffd, scope="full", now=timezone.now()
    )  # the request runs on the real clock: a token from FIXED_NOW has expired
    client = Client()
    response = client.get("/api/episodes/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


# --------------------------------------------------------------------------------------------
# Step-up before an export
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.urls("tests.missing.security_urls")
def test_an_export_asks_for_a_fresh_code_after_five_minutes(client: Client, manager: User) -> None:
    device = totp_device(manager)
    with time_machine.travel(FIXED_NOW, tick=False):
        login(client, manager)
        assert client.get("/test-export/").content == b"export body"
    with time_machine.travel(FIXED_NOW + timedelta(minutes=4, seconds=59), tick=False):
        assert client.get("/test-export/").status_code == 200
    with time_machine.travel(FIXED_NOW + timedelta(minutes=5, seconds=30), tick=False):
        response = client.get("/test-export/?year=2026")
        assert response.status_code == 302
        assert response["Location"] == "/sign-in/confirm/?next=%2Ftest-export%2F%3Fyear%3D2026"
        page = client.get(response["Location"])
        assert b"Confirm it is you" in page.content
        wrong = client.post(response["Location"], {"code": "123456", "next": "/test-export/"})
        assert wrong.status_code == 400
    with time_machine.travel(FIXED_NOW + timedelta(minutes=6), tick=False):
        back = client.post(
            response["Location"], {"code": totp_code(device), "next": "/test-export/?year=2026"}
        )
        assert back.status_code == 302
        assert back["Location"] == "/test-export/?year=2026"
        assert client.get("/test-export/").content == b"export body"


@pytest.mark.django_db
@pytest.mark.urls("tests.missing.security_urls")
def test_step_up_takes_its_own_age_and_never_sends_off_site(client: Client, manager: User) -> None:
    device = totp_device(manager)
    with time_machine.travel(FIXED_NOW, tick=False):
        login(client, manager)
    with time_machine.travel(FIXED_NOW + timedelta(seconds=90), tick=False):
        assert client.get("/test-export/").status_code == 200  # 5 minutes
        assert client.get("/test-strict-export/").status_code == 302  # 1 minute
        response = client.post(
            "/sign-in/confirm/", {"code": totp_code(device), "next": "//evil.example/x"}
        )
        assert response["Location"] == "/"


@pytest.mark.django_db
@pytest.mark.urls("tests.missing.security_urls")
def test_an_api_export_needs_a_fresh_code_by_session_and_by_token(
    client: Client, manager: User, now
) -> None:
    from missing.cases import services

    with time_machine.travel(FIXED_NOW, tick=False):
        login(client, manager)
        assert client.get("/api/test-export/").status_code == 200
        token = services.api_token_create(user=manager, scope="full", now=now)
    with time_machine.travel(FIXED_NOW + timedelta(minutes=6), tick=False):
        refused = client.get("/api/test-export/")
        assert refused.status_code == 403
        assert "/sign-in/confirm/" in refused.json()["detail"]
        # Through the token too: its user's last code (at sign-in) is 6 minutes old.
        by_token = Client().get("/api/test-export/", headers={"Authorization": f"Bearer {token}"})
        assert by_token.status_code == 403
    with time_machine.travel(FIXED_NOW + timedelta(minutes=7), tick=False):
        # A fresh code (the step-up page) lets the token export for the next 5 minutes.
        User.objects.filter(pk=manager.pk).update(second_factor_at=timezone.now())
        by_token = Client().get("/api/test-export/", headers={"Authorization": f"Bearer {token}"})
        assert by_token.status_code == 200


@pytest.mark.django_db
@pytest.mark.urls("tests.missing.security_urls")
def test_step_up_sends_the_signed_out_to_sign_in(client: Client) -> None:
    response = client.get("/test-export/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


# --------------------------------------------------------------------------------------------
# The demo's relaxed second factor
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_relaxed_demo_lets_a_password_in_with_a_banner_on_every_page(
    client: Client, manager: User
) -> None:
    banner = "Demo: second factor relaxed — never use with real data"
    with override_settings(SECOND_FACTOR_RELAXED=True):
        assert banner in client.get(reverse("login")).content.decode()
        assert password_step(client, manager) == "/"
        for name in ("board", "episode_list", "child_list"):
            page = client.get(reverse(name))
            assert page.status_code == 200
            assert banner in page.content.decode()
        assert client.get("/api/episodes/").status_code == 200
    # Not relaxed: no banner, and the same session is refused.
    assert banner not in client.get(reverse("login")).content.decode()
    assert client.get(reverse("board")).status_code == 302


def test_code_page_markup_has_one_time_code_autocomplete() -> None:
    from missing.accounts.signin import CodeForm

    assert re.search(r'autocomplete="one-time-code"', str(CodeForm()["code"]))
