"""Issue 13 item 1 in Debian's Chromium: offline interview work survives the session's end.

The tablet goes offline in the record form, the interviewer types (text, push and pull factors),
the 30-minute idle sign-out passes on the server (shortened here; the server's own time-out
middleware ends the session), the page is reloaded with no network: the offline copy of the form
(kept by the service worker, no child's details in it) shows every answer from the encrypted
draft and keeps saving. Back online the page goes to sign-in, which keeps the draft but drops
the working copy of its key; the same person signs in again (password and code) and every answer
is back in the form and saved on the server. Someone else signing in on that tablet instead
finds nothing: the draft and its keys are gone (decision 0062).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from missing.models import User
from tests.browser.test_board_browser import CHROMIUM, PASSWORD, chromium, orm_beside_playwright
from tests.browser.test_interview_tablet import (
    SAVED_ON_TABLET,
    TIMEOUT_MS,
    assigned_interview,
    open_form,
    stored_drafts,
    tablet,
    wait_status,
)
from tests.helpers import totp_code, totp_device

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"no Chromium at {CHROMIUM}"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

TEXTS = {
    "#id_account_where": "Stayed with a friend in Margate",
    "#id_note_push-family-conflict": "Arguments about school",
    "#id_note_pull-peer-group": "Older friends from the skate park",
    "#id_wishes_and_feelings": "Wants a say in contact",
}
BOXES = ["#id_push_factors", "#id_pull_factors-pull-peer-group"]  # the first push factor


def key_records(page: Any) -> list[dict[str, Any]]:
    """The drafts' key store: whose, and whether the working copy (a CryptoKey) is there."""
    return page.evaluate(
        """() => new Promise((resolve) => {
            const open = indexedDB.open('rhi-drafts')
            open.onsuccess = () => {
              const db = open.result
              if (!db.objectStoreNames.contains('keys')) { db.close(); resolve([]); return }
              const all = db.transaction('keys').objectStore('keys').getAll()
              all.onsuccess = () => {
                db.close()
                resolve(all.result.map((r) => ({
                  user: r.user,
                  working: r.working instanceof CryptoKey,
                  extractable: r.working ? r.working.extractable : null,
                  wrapped: r.wrapped ? r.wrapped.byteLength : 0,
                })))
              }
            }
            open.onerror = () => resolve([])
          })"""
    )


def sign_in_here(page: Any, username: str) -> None:
    """Both steps on the sign-in page the browser is on (it carries `next`)."""
    with orm_beside_playwright():
        device = totp_device(User.objects.get(username=username))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]:has-text('Sign in')")
    page.wait_for_url("**/sign-in/code/**")
    with orm_beside_playwright():
        device.refresh_from_db()
    step = max(int(time.time()) // device.step, device.last_t + 1)
    page.fill("#id_code", totp_code(device, at=datetime.fromtimestamp(step * device.step, UTC)))
    page.click("button[type=submit]:has-text('Continue')")


def sign_in_first(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    sign_in_here(page, username)


def write_offline_then_lose_the_session(page: Any, context: Any, settings: Any) -> None:
    """Offline in the form: type every kind of answer; then the idle sign-out passes."""
    context.set_offline(True)
    page.wait_for_selector("#draft-status[data-state='offline']", timeout=TIMEOUT_MS)
    for box in BOXES:
        page.locator(f"label[for='{box[1:]}']").tap()
    for selector, text in TEXTS.items():
        page.fill(selector, text)
    page.wait_for_selector(SAVED_ON_TABLET, timeout=TIMEOUT_MS)
    assert "saved on this tablet" in page.inner_text("#draft-status")
    # The session ends on the server while the tablet is offline: the idle limit passes (the
    # server's SessionTimeoutMiddleware ends it on the next request, as after 30 minutes).
    settings.SESSION_IDLE_TIMEOUT = timedelta(seconds=1)
    time.sleep(1.5)


def test_offline_answers_survive_the_session_ending_a_reload_and_a_new_sign_in(
    live_server: Any, ffd: User, manager: User, interviewer: User, settings: Any
) -> None:
    interview = assigned_interview(ffd, manager, interviewer)
    base = live_server.url

    with chromium() as browser:
        context = tablet(browser)
        page = context.new_page()
        sign_in_first(page, base, "interviewer")
        page.wait_for_url(f"{base}/interviews/")
        open_form(page, base, interview)
        page.wait_for_selector("form[data-offline-ready]", timeout=TIMEOUT_MS)
        # One answer saved on the server before the network goes.
        page.fill("#id_held_place", "Library, quiet room")
        assert "Everything is saved on the server" in wait_status(page, "server")

        write_offline_then_lose_the_session(page, context, settings)

        # Reload with no network: the offline copy of the form, every answer back in it.
        page.reload()
        page.wait_for_selector("body[data-offline-copy-ready]", timeout=TIMEOUT_MS)
        assert page.url == f"{base}/interviews/{interview.pk}/record/"
        assert page.locator("h1").inner_text() == f"Interview I-{interview.pk} (offline)"
        assert page.is_visible("form[data-offline-shell]")
        assert "Tabletson" not in page.content()  # no child's details in the cached page
        assert page.input_value("#id_held_place") == "Library, quiet room"
        for selector, text in TEXTS.items():
            assert page.input_value(selector) == text, selector
        for box in BOXES:
            assert page.is_checked(box), box
        # A ticked factor's note is shown, as after a click.
        assert page.is_visible("#id_note_pull-peer-group")

        # The page keeps working: more answers, saved on the tablet, encrypted.
        page.fill("#id_safety_plan", "Call the out-of-hours team")
        page.locator("label[for='id_harms']").tap()
        page.wait_for_selector(SAVED_ON_TABLET, timeout=TIMEOUT_MS)
        assert "saved on this tablet" in page.inner_text("#draft-status")
        drafts = stored_drafts(page)
        assert [d["interview"] for d in drafts] == [interview.pk]
        sealed = bytes(drafts[0]["data"]).decode("latin-1")
        assert "Margate" not in sealed
        assert "out-of-hours" not in sealed
        [record] = key_records(page)
        assert record["user"] == str(interviewer.pk)
        assert record["working"] is True
        assert record["extractable"] is False
        # "Save" offline sends nothing and says so.
        page.get_by_role("button", name="Save").click()
        assert "when the connection returns" in page.inner_text("#draft-status")

        # The network returns: the real page is asked for; the session has ended, so sign-in.
        context.set_offline(False)
        page.wait_for_url("**/login/**", timeout=TIMEOUT_MS)
        page.wait_for_selector("body[data-local-data-cleared]", timeout=TIMEOUT_MS)
        settings.SESSION_IDLE_TIMEOUT = timedelta(minutes=30)
        # The sign-in page kept the draft and the wrapped key, but not the working copy: from
        # here on only a new sign-in of the same person unlocks it.
        assert [d["interview"] for d in stored_drafts(page)] == [interview.pk]
        [record] = key_records(page)
        assert record["working"] is False
        assert record["wrapped"] > 0

        sign_in_here(page, "interviewer")
        page.wait_for_url(f"{base}/interviews/{interview.pk}/record/", timeout=TIMEOUT_MS)
        page.wait_for_selector("form[data-drafts-ready]", timeout=TIMEOUT_MS)
        assert "Everything is saved on the server" in wait_status(page, "server")
        assert page.input_value("#id_held_place") == "Library, quiet room"
        for selector, text in TEXTS.items():
            assert page.input_value(selector) == text, selector
        for box in [*BOXES, "#id_harms"]:
            assert page.is_checked(box), box
        assert page.input_value("#id_safety_plan") == "Call the out-of-hours team"
        assert stored_drafts(page) == []
        context.close()

    interview.refresh_from_db()
    assert interview.held_place == "Library, quiet room"
    assert interview.account_where == "Stayed with a friend in Margate"
    assert interview.wishes_and_feelings == "Wants a say in contact"
    assert interview.safety_plan == "Call the out-of-hours team"
    assert sorted((p.factor.code, p.note) for p in interview.factors.all()) == [
        ("harm-grooming", ""),
        ("pull-peer-group", "Older friends from the skate park"),
        ("push-family-conflict", "Arguments about school"),
    ]


def test_another_user_signing_in_after_the_session_ended_cannot_read_the_draft(
    live_server: Any, ffd: User, manager: User, interviewer: User, settings: Any
) -> None:
    interview = assigned_interview(ffd, manager, interviewer)
    base = live_server.url

    with chromium() as browser:
        context = tablet(browser)
        page = context.new_page()
        sign_in_first(page, base, "interviewer")
        page.wait_for_url(f"{base}/interviews/")
        open_form(page, base, interview)
        page.wait_for_selector("form[data-offline-ready]", timeout=TIMEOUT_MS)
        write_offline_then_lose_the_session(page, context, settings)
        page.reload()
        page.wait_for_selector("body[data-offline-copy-ready]", timeout=TIMEOUT_MS)
        assert page.input_value("#id_account_where") == TEXTS["#id_account_where"]

        context.set_offline(False)
        page.wait_for_url("**/login/**", timeout=TIMEOUT_MS)
        page.wait_for_selector("body[data-local-data-cleared]", timeout=TIMEOUT_MS)
        settings.SESSION_IDLE_TIMEOUT = timedelta(minutes=30)
        # A manager picks the tablet up and signs in (the page's `next` is the same interview,
        # which a manager may also write).
        sign_in_here(page, "manager")
        page.wait_for_url(f"{base}/interviews/{interview.pk}/record/", timeout=TIMEOUT_MS)
        page.wait_for_selector("body[data-other-drafts-cleared]", timeout=TIMEOUT_MS)
        page.wait_for_selector("form[data-drafts-ready]", timeout=TIMEOUT_MS)
        # The interviewer's draft and both forms of its key are gone; the form shows the server.
        assert stored_drafts(page) == []
        assert [r["user"] for r in key_records(page)] == [str(manager.pk)]
        assert page.input_value("#id_account_where") == ""
        assert not page.is_checked("#id_push_factors")

        # Offline again, with a reload: the offline copy holds only what this manager's form
        # held, never the interviewer's answers.
        context.set_offline(True)
        page.wait_for_selector(SAVED_ON_TABLET, timeout=TIMEOUT_MS)
        page.reload()
        page.wait_for_selector("body[data-offline-copy-ready]", timeout=TIMEOUT_MS)
        assert page.input_value("#id_account_where") == ""
        assert "Margate" not in page.content()
        context.close()

    interview.refresh_from_db()
    assert interview.account_where == ""
