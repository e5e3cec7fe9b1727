"""The board refreshes its rows in place (issue 13 item 4): focus and scroll are kept, a pause
button stops it, and a change is announced politely."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.utils import timezone

from missing.models import User
from tests.browser.test_board_browser import CHROMIUM, chromium, orm_beside_playwright, sign_in
from tests.helpers import report_missing

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"no Chromium at {CHROMIUM}"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_the_board_refresh_keeps_focus_and_scroll(
    live_server: Any, ffd: User, manager: User, settings: Any
) -> None:
    now = timezone.now()
    episodes = [report_missing(actor=ffd, now=now, grade_code="low") for _ in range(25)]
    settings.BOARD_REFRESH_SECONDS = 2
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1024, "height": 600})
        page = context.new_page()
        sign_in(page, live_server.url, "manager")
        page.wait_for_url(f"{live_server.url}/board/")
        last = page.locator(f"tr[data-episode='{episodes[-1].pk}'] a")
        last.focus()
        scrolled = page.evaluate("window.scrollY")
        assert scrolled > 0
        url = page.url
        with orm_beside_playwright():
            report_missing(actor=ffd, now=now, grade_code="high")
        page.wait_for_selector("body[data-board-refreshed]", timeout=15_000)
        page.locator("tr.app-board__row").nth(25).wait_for(timeout=15_000)
        assert page.url == url  # no page reload
        assert page.evaluate("document.activeElement.getAttribute('href')") == (
            f"/episodes/{episodes[-1].pk}/"
        )
        assert page.evaluate("window.scrollY") == scrolled
        assert "26 open episodes" in page.inner_text("[data-board-announce]")
        # Pause: no more refreshes.
        page.get_by_role("button", name="Pause updates").click()
        count = page.evaluate("Number(document.body.dataset.boardRefreshed)")
        page.wait_for_timeout(4500)
        assert page.evaluate("Number(document.body.dataset.boardRefreshed)") == count
        assert page.get_by_role("button", name="Resume updates").is_visible()
        context.close()
