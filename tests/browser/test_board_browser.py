"""The pages in a real browser: Debian's Chromium driven by Playwright against the live server.

Signs in through the real login page at an iPad-sized viewport, checks the board, and logs a
notification with JavaScript switched off (the core forms must work without it). A screenshot
of the board goes to test-artifacts/board.png.

These tests do not need the GOV.UK Frontend build: without static_build/ the pages are unstyled
but the same HTML, and our own static/ files (app.css, init.js) are always there.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from missing.models import MissingEpisode, PoliceNotification, User
from tests.helpers import date_boxes, report_missing, totp_code, totp_device

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery staple"  # set by tests.factories.UserFactory
TABLET = {"width": 1024, "height": 768}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"no Chromium at {CHROMIUM} (apt-get install chromium); browser tests skipped",
    ),
    # The live server answers from another thread, so the data must be committed. Serialized
    # rollback puts back the reference data (risk grades, forces) the flush afterwards removes.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium. Touch the database only outside this block: Playwright's sync API
    runs an event loop in this thread, and Django refuses ORM calls from inside one."""
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@contextmanager
def orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API runs an event loop in this thread, so Django refuses ORM calls here
    as if they were async code. They are plain blocking calls between browser steps: allow them
    for the duration only."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def fill_date(page: Any, field_id: str, value: date | datetime) -> None:
    """Types `value` into a GOV.UK date input's boxes (a datetime in London time)."""
    for name, text in date_boxes(field_id.removeprefix("id_"), value).items():
        page.fill(f"#id_{name}", text)


def sign_in(page: Any, base_url: str, username: str) -> None:
    """Both steps, as a person would: the password, then a real code from the user's
    authenticator (computed from its key). Each sign-in uses a later code than the last, since
    a code works once (two tablets signing in within the same 30 seconds)."""
    with orm_beside_playwright():
        device = totp_device(User.objects.get(username=username))
    page.goto(f"{base_url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]:has-text('Sign in')")
    page.wait_for_url("**/sign-in/code/**")
    with orm_beside_playwright():
        device.refresh_from_db()
    step = max(int(time.time()) // device.step, device.last_t + 1)
    page.fill("#id_code", totp_code(device, at=datetime.fromtimestamp(step * device.step, UTC)))
    page.click("button[type=submit]:has-text('Continue')")


def test_manager_sees_the_board_on_a_tablet(live_server: Any, ffd: User, manager: User) -> None:
    now = timezone.now()
    # High grade, notified two hours ago: its one-hour review is overdue (red).
    overdue = report_missing(actor=ffd, now=now - timedelta(hours=2), grade_code="high")
    # Low grade, notified just now: review due in 24 hours (green).
    calm = report_missing(actor=ffd, now=now, grade_code="low")
    font_requests: list[str] = []

    with chromium() as browser:
        context = browser.new_context(viewport=TABLET, locale="en-GB", timezone_id="Europe/London")
        page = context.new_page()
        page.on("request", lambda r: font_requests.append(r.url) if "/fonts/" in r.url else None)
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))

        sign_in(page, live_server.url, "manager")
        page.wait_for_url(f"{live_server.url}/board/")
        # GOV.UK Frontend's script ran under the Content-Security-Policy (nonce), nothing refused.
        page.wait_for_function("document.body.classList.contains('govuk-frontend-supported')")
        assert not [m for m in console if "Content Security Policy" in m], console

        assert page.locator("h1").inner_text() == "Front-door board"
        rows = page.locator("tr.app-board__row")
        assert rows.count() == 2
        # Most urgent first, each with its RAG tag in words as well as colour.
        first, second = rows.nth(0), rows.nth(1)
        assert overdue.reference in first.inner_text()
        assert "overdue by" in first.inner_text()
        assert first.locator(".govuk-tag--red").inner_text() == "Red – overdue"
        assert calm.reference in second.inner_text()
        assert second.locator(".govuk-tag--green").inner_text() == "Green – on time"
        assert page.locator(".app-count").first.inner_text().startswith("2")
        # The page refreshes itself without JavaScript, marked as not the user's activity.
        # (inside <noscript>: with JavaScript the rows are refreshed in place instead).
        noscript = page.evaluate("document.head.querySelector('noscript').textContent")
        assert 'content="30; url=?refresh=auto"' in noscript
        # Council branding: Arial, never GDS Transport (its font files are never fetched).
        font = page.evaluate("getComputedStyle(document.querySelector('h1')).fontFamily")
        assert font.lower().startswith("arial")
        assert "GOV.UK" not in page.locator("header").inner_text()

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "board.png"), full_page=True)
        context.close()
    assert font_requests == []


def test_logging_a_notification_works_without_javascript(live_server: Any, ffd: User) -> None:
    with chromium() as browser:
        context = browser.new_context(viewport=TABLET, java_script_enabled=False)
        page = context.new_page()
        sign_in(page, live_server.url, "ffd")
        page.goto(f"{live_server.url}/notifications/new/")

        page.select_option("#id_police_force", label="Kent Police")
        page.fill("#id_police_reference", "KNT-NOJS-1")
        page.fill("#id_child_first_name", "Ellis")
        page.fill("#id_child_last_name", "Nojavascript")
        fill_date(page, "id_child_date_of_birth", date(2012, 2, 3))
        last_seen = timezone.localtime() - timedelta(hours=2)
        fill_date(page, "id_last_seen_at", last_seen)
        fill_date(page, "id_reported_at", last_seen + timedelta(minutes=30))
        page.select_option("#id_risk_grade", label="High")
        page.click("button[type=submit]:has-text('Log the notification')")

        page.wait_for_url(f"{live_server.url}/episodes/*/")
        assert page.locator(".govuk-notification-banner--success").is_visible()
        assert "Ellis Nojavascript" in page.locator("h1").inner_text()
        context.close()

    # Outside the browser block: the database again.
    notification = PoliceNotification.objects.get(police_reference="KNT-NOJS-1")
    assert MissingEpisode.objects.filter(pk=notification.episode_id).exists()
