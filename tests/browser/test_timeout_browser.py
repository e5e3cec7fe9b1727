"""The idle time-out warning in a real browser (issue 13 item 2, WCAG 2.2.1): a modal dialog
before the sign-out, focus on "Stay signed in", which keeps the session; left alone, it says the
session ended and offers a way back to the page."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest

from missing.models import User
from tests.browser.test_board_browser import CHROMIUM, TABLET, chromium, sign_in

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"no Chromium at {CHROMIUM}"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_warning_before_the_idle_sign_out_with_stay_signed_in(
    live_server: Any, manager: User, settings: Any
) -> None:
    with chromium() as browser:
        context = browser.new_context(viewport=TABLET, locale="en-GB")
        page = context.new_page()
        sign_in(page, live_server.url, "manager")
        page.wait_for_url(f"{live_server.url}/board/")
        settings.SESSION_IDLE_TIMEOUT = timedelta(seconds=12)
        settings.SESSION_IDLE_WARNING = timedelta(seconds=8)
        page.goto(f"{live_server.url}/episodes/")
        page.wait_for_selector("body[data-timeout-warning='open']", timeout=15_000)
        dialog = page.get_by_role("dialog", name="You will be signed out soon")
        assert dialog.is_visible()
        assert "You will be signed out in" in dialog.inner_text()
        assert page.evaluate("document.activeElement.textContent.trim()") == "Stay signed in"
        page.keyboard.press("Enter")
        page.wait_for_selector("body[data-timeout-kept='1']", timeout=5_000)
        assert not dialog.is_visible()
        # Left alone this time: the dialog says so, and the page is still there behind it.
        page.wait_for_selector("body[data-timeout-warning='ended']", timeout=30_000)
        ended = page.get_by_role("dialog", name="You have been signed out")
        assert ended.is_visible()
        page.get_by_role("button", name="Back to the page").click()
        assert not ended.is_visible()
        page.wait_for_timeout(1500)
        page.goto(f"{live_server.url}/episodes/")
        assert "/login/" in page.url, page.url
        context.close()
