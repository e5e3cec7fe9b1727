"""The interviewer's tablet form in a real browser: Debian's Chromium driven by Playwright at
iPad sizes (1024×768 landscape, 768×1024 portrait) with touch, against the live server.

- an interviewer opens their queue and completes an interview end to end;
- the network goes offline mid-form, the page is reloaded (the service worker shows the offline
  copy of the form: no child's details are kept on the tablet, the answers come from the
  encrypted draft), and when the network returns it is unlocked, restored and saved;
- after signing out nothing readable remains in localStorage or IndexedDB;
- the form is labelled throughout, its errors link to their fields, and it works by keyboard;
- two edits from two tablets: the later one is refused with the differences shown;
- screenshots of the form, portrait and landscape, go to test-artifacts/.

Database work happens outside the `chromium()` block (Playwright's sync API runs an event loop
in this thread, and Django refuses ORM calls inside one).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from interviews.models import InterviewStatus, ReturnInterview
from missing.models import EpisodeState, MissingEpisode, User
from tests.browser.test_board_browser import (
    ARTIFACTS,
    CHROMIUM,
    PASSWORD,
    chromium,
    fill_date,
    orm_beside_playwright,
    sign_in,
)
from tests.factories import ChildFactory
from tests.helpers import totp_code, totp_device
from tests.interviews.helpers import assign, open_interview, returned_episode

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"no Chromium at {CHROMIUM} (apt-get install chromium); browser tests skipped",
    ),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

LANDSCAPE = {"width": 1024, "height": 768}
PORTRAIT = {"width": 768, "height": 1024}
TIMEOUT_MS = 15_000
# The draft on the tablet holds the last edit (no autosave still waiting for its 0.6 s).
SAVED_ON_TABLET = "#draft-status[data-on-tablet]:not([data-pending])"


def tablet(browser: Any, viewport: dict[str, int] = LANDSCAPE) -> Any:
    return browser.new_context(
        viewport=viewport,
        has_touch=True,
        locale="en-GB",
        timezone_id="Europe/London",
        service_workers="allow",
    )


def assigned_interview(ffd: User, manager: User, interviewer: User) -> ReturnInterview:
    now = timezone.now()
    child = ChildFactory(first_name="Robin", last_name="Tabletson")
    episode = returned_episode(
        ffd=ffd, manager=manager, child=child, returned_at=now - timedelta(hours=5)
    )
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    return assign(
        interview,
        manager=manager,
        interviewer=interviewer,
        now=now,
        planned_at=now + timedelta(hours=1),
        planned_place="Youth centre",
    )


def open_form(page: Any, base_url: str, interview: ReturnInterview) -> None:
    page.goto(f"{base_url}/interviews/{interview.pk}/record/")
    page.wait_for_selector("form[data-drafts-ready]", timeout=TIMEOUT_MS)


def wait_status(page: Any, state: str) -> str:
    page.wait_for_selector(f"#draft-status[data-state='{state}']", timeout=TIMEOUT_MS)
    return page.inner_text("#draft-status")


def stored_drafts(page: Any) -> list[dict[str, Any]]:
    """Every record in the drafts store, as JSON-able values (bytes as lists of numbers)."""
    return page.evaluate(
        """() => new Promise((resolve) => {
            const open = indexedDB.open('rhi-drafts')
            open.onupgradeneeded = () => open.result.createObjectStore('drafts', { keyPath: 'id' })
            open.onsuccess = () => {
              const db = open.result
              const all = db.transaction('drafts').objectStore('drafts').getAll()
              all.onsuccess = () => {
                db.close()
                resolve(all.result.map((r) => ({
                  id: r.id, interview: r.interview,
                  iv: Array.from(r.iv), data: Array.from(new Uint8Array(r.data))
                })))
              }
            }
          })"""
    )


def readable_storage(page: Any) -> dict[str, Any]:
    """What the site has left in this browser: localStorage keys, IndexedDB databases (and any
    records in the drafts one), and caches."""
    return page.evaluate(
        """async () => {
            const dbs = indexedDB.databases ? await indexedDB.databases() : []
            let drafts = []
            if (dbs.some((d) => d.name === 'rhi-drafts')) {
              drafts = await new Promise((resolve) => {
                const open = indexedDB.open('rhi-drafts')
                open.onsuccess = () => {
                  const db = open.result
                  if (!db.objectStoreNames.contains('drafts')) { db.close(); resolve([]); return }
                  const all = db.transaction('drafts').objectStore('drafts').getAll()
                  all.onsuccess = () => { db.close(); resolve(all.result) }
                }
              })
            }
            return {
              localStorage: Object.keys(localStorage),
              databases: dbs.map((d) => d.name),
              drafts: drafts.length,
              caches: await caches.keys(),
            }
        }"""
    )


def test_an_interviewer_completes_an_interview_offline_and_back(
    live_server: Any, ffd: User, manager: User, interviewer: User
) -> None:
    interview = assigned_interview(ffd, manager, interviewer)
    base = live_server.url
    held_at = timezone.localtime() - timedelta(hours=1)

    with chromium() as browser:
        context = tablet(browser)
        page = context.new_page()
        sign_in(page, base, "interviewer")
        page.wait_for_url(f"{base}/interviews/")
        # The queue: this child, with the time left.
        card = page.locator(".app-queue__item")
        assert card.count() == 1
        assert "Robin Tabletson" in card.inner_text()
        assert "left" in card.inner_text()
        card.get_by_role("button", name="Open the interview").tap()
        page.wait_for_selector("form[data-drafts-ready]", timeout=TIMEOUT_MS)
        page.wait_for_selector("form[data-offline-ready]", timeout=TIMEOUT_MS)
        assert "Everything is saved on the server" in wait_status(page, "server")

        # Screenshots of the form, landscape then portrait (iPad sizes).
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "interview-form-landscape.png"), full_page=True)
        page.set_viewport_size(PORTRAIT)
        page.screenshot(path=str(ARTIFACTS / "interview-form-portrait.png"), full_page=True)
        # No horizontal scrolling in portrait: the form fits 768 px.
        assert page.evaluate("document.documentElement.scrollWidth") <= PORTRAIT["width"]
        page.set_viewport_size(LANDSCAPE)

        page.locator("label[for='id_outcome_0']").tap()
        fill_date(page, "id_held_at", held_at - timedelta(minutes=30))
        page.fill("#id_held_place", "Youth centre, quiet room")
        page.fill("#id_present", "Robin and the interviewer")
        page.locator("label[for='id_seen_alone_0']").tap()
        assert "Everything is saved on the server" in wait_status(page, "server")

        # The network goes: keep writing. Saved on the tablet, encrypted.
        context.set_offline(True)
        page.fill("#id_account_where", "Stayed at a flat above the takeaway")
        page.locator("label[for='id_push_factors']").tap()
        page.fill("#id_note_push-family-conflict", "Rows at home about curfew")
        # The date input's boxes are saved in the draft like any other field.
        fill_date(page, "id_held_at", held_at)
        page.wait_for_selector(SAVED_ON_TABLET, timeout=TIMEOUT_MS)
        assert "saved on this tablet" in wait_status(page, "offline")
        drafts = stored_drafts(page)
        assert [d["interview"] for d in drafts] == [interview.pk]
        assert len(drafts[0]["iv"]) == 12
        assert "takeaway" not in bytes(drafts[0]["data"]).decode("latin-1")

        # Reload with no network: the offline copy of the form (kept by the service worker, no
        # child's details in it) fills itself from the draft, and writing goes on.
        page.reload()
        page.wait_for_selector("body[data-offline-copy-ready]", timeout=TIMEOUT_MS)
        assert page.locator("h1").inner_text() == f"Interview I-{interview.pk} (offline)"
        assert "Tabletson" not in page.content()
        assert page.input_value("#id_account_where") == "Stayed at a flat above the takeaway"
        assert page.is_checked("#id_push_factors")

        # The network returns: the real page loads, unlocks the draft, restores and sends it.
        context.set_offline(False)
        page.wait_for_selector("form[data-drafts-ready]", timeout=TIMEOUT_MS)
        assert "Everything is saved on the server" in wait_status(page, "server")
        assert page.input_value("#id_account_where") == "Stayed at a flat above the takeaway"
        assert page.is_checked("#id_push_factors")
        boxes = ["day", "month", "year", "time"]
        assert [page.input_value(f"#id_held_at_{box}") for box in boxes] == [
            str(held_at.day),
            str(held_at.month),
            str(held_at.year),
            f"{held_at:%H:%M}",
        ]
        assert stored_drafts(page) == []

        # Finish and complete.
        page.fill("#id_wishes_and_feelings", "Wants to stay at home")
        page.locator("label[for='id_consent_to_share_0']").tap()
        page.fill("#id_shared_with", "Social worker")
        page.get_by_role("button", name="Complete the interview").tap()
        page.wait_for_url(f"{base}/interviews/{interview.pk}/complete/")
        page.get_by_role("button", name="Confirm and complete").tap()
        page.wait_for_url(f"{base}/interviews/{interview.pk}/")
        assert "Interview completed" in page.inner_text(".govuk-notification-banner")
        context.close()

    interview.refresh_from_db()
    assert interview.status == InterviewStatus.COMPLETED
    assert interview.account_where == "Stayed at a flat above the takeaway"
    assert interview.held_at == held_at.replace(second=0, microsecond=0)
    assert [(p.factor.code, p.note) for p in interview.factors.all()] == [
        ("push-family-conflict", "Rows at home about curfew")
    ]
    episode = MissingEpisode.objects.get(interview_link__interview=interview)
    assert episode.state == EpisodeState.AWAITING_SIGN_OFF
    assert episode.interview_outcome == "held"


def test_signing_out_leaves_nothing_readable_on_the_tablet(
    live_server: Any, ffd: User, manager: User, interviewer: User
) -> None:
    interview = assigned_interview(ffd, manager, interviewer)
    base = live_server.url

    with chromium() as browser:
        context = tablet(browser)
        page = context.new_page()
        sign_in(page, base, "interviewer")
        page.wait_for_url(f"{base}/interviews/")
        open_form(page, base, interview)
        # The server cannot be reached for saving: the draft stays on the tablet.
        page.route("**/record/autosave/", lambda route: route.abort())
        page.fill("#id_account_where", "Under the railway bridge")
        page.wait_for_selector(SAVED_ON_TABLET, timeout=TIMEOUT_MS)
        wait_status(page, "offline")
        before = readable_storage(page)
        assert before["drafts"] == 1
        # The key is not in any storage the page can read back.
        assert before["localStorage"] == []

        page.get_by_role("button", name="Sign out").tap()
        page.wait_for_url(f"{base}/login/")
        page.wait_for_selector("body[data-local-data-cleared]", timeout=TIMEOUT_MS)
        after = readable_storage(page)
        assert after["localStorage"] == []
        assert "rhi-drafts" not in after["databases"] or after["drafts"] == 0
        assert after["caches"] == []
        context.close()


def test_the_form_is_labelled_links_its_errors_and_works_by_keyboard(
    live_server: Any, ffd: User, manager: User, interviewer: User
) -> None:
    interview = assigned_interview(ffd, manager, interviewer)
    base = live_server.url

    with chromium() as browser:
        context = tablet(browser, PORTRAIT)
        page = context.new_page()
        sign_in(page, base, "interviewer")
        page.wait_for_url(f"{base}/interviews/")
        open_form(page, base, interview)

        unlabelled = page.evaluate(
            """() => Array.from(document.querySelectorAll(
                  'form.app-record input:not([type=hidden]), form.app-record textarea, form.app-record select'))
                .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
                .map((el) => el.name || el.id)"""
        )
        assert unlabelled == []
        groups_without_legend = page.evaluate(
            """() => Array.from(document.querySelectorAll('form.app-record fieldset'))
                .filter((f) => !f.querySelector('legend')).length"""
        )
        assert groups_without_legend == 0

        # Complete with nothing filled in: the error summary links to each field.
        page.get_by_role("button", name="Complete the interview").click()
        page.wait_for_selector(".govuk-error-summary")
        links = page.eval_on_selector_all(
            ".govuk-error-summary a", "(links) => links.map((a) => a.getAttribute('href'))"
        )
        assert links == ["#id_outcome_0"]
        page.click(".govuk-error-summary a")
        assert page.evaluate("document.activeElement.id") == "id_outcome_0"

        # By keyboard alone: choose "held" with the arrow keys' group, fill the place, tab on to
        # Save and press Enter.
        page.keyboard.press("Space")
        seen: list[str] = []
        for _ in range(200):
            page.keyboard.press("Tab")
            focused = page.evaluate(
                "document.activeElement.id || document.activeElement.textContent.trim()"
            )
            seen.append(focused)
            if focused == "id_held_place":
                page.keyboard.type("Library meeting room")
            if focused == "Save":
                break
        # The date input: four boxes (day, month, year, time), one tab stop each.
        start = seen.index("id_held_at_day")
        assert seen[start : start + 4] == [
            f"id_held_at_{box}" for box in ("day", "month", "year", "time")
        ]
        assert "id_held_place" in seen
        assert "id_wishes_and_feelings" in seen
        assert seen[-1] == "Save"
        page.keyboard.press("Enter")
        page.wait_for_selector(".govuk-notification-banner--success")
        context.close()

    interview.refresh_from_db()
    assert interview.outcome == "held"
    assert interview.held_place == "Library meeting room"


def test_two_tablets_never_overwrite_each_other(
    live_server: Any, ffd: User, manager: User, interviewer: User
) -> None:
    interview = assigned_interview(ffd, manager, interviewer)
    base = live_server.url

    with chromium() as browser:
        first, second = tablet(browser), tablet(browser)
        one, two = first.new_page(), second.new_page()
        for page in (one, two):
            sign_in(page, base, "interviewer")
            page.wait_for_url(f"{base}/interviews/")
            open_form(page, base, interview)
        one.fill("#id_held_place", "Library")
        # Saved on the server, not merely still "saved" from loading: the autosave has run.
        one.wait_for_selector(
            "#draft-status[data-state='server']:not([data-pending])", timeout=TIMEOUT_MS
        )
        # The second tablet, opened before that save, changes the same answer.
        two.fill("#id_held_place", "Café")
        text = wait_status(two, "conflict")
        assert "someone else" in text
        rows = two.inner_text("#draft-conflict-rows")
        assert "Where it was held" in rows
        assert "Café" in rows
        assert "Library" in rows
        # A different answer from the second tablet merges without a clash.
        two.get_by_role("button", name="Keep my answers").click()
        wait_status(two, "server")
        first.close()
        second.close()

    interview.refresh_from_db()
    assert interview.held_place == "Café"


def test_the_form_works_without_javascript(
    live_server: Any, ffd: User, manager: User, interviewer: User
) -> None:
    interview = assigned_interview(ffd, manager, interviewer)
    base = live_server.url
    held_at = timezone.localtime() - timedelta(hours=1)

    with chromium() as browser:
        context = browser.new_context(viewport=PORTRAIT, has_touch=True, java_script_enabled=False)
        page = context.new_page()
        sign_in(page, base, "interviewer")
        page.goto(f"{base}/interviews/{interview.pk}/record/")
        # Without JavaScript every factor's note is shown, and no draft indicator (it needs JS).
        assert page.is_visible("#id_note_push-family-conflict")
        assert not page.is_visible("#draft-status")
        page.check("#id_outcome_0")
        fill_date(page, "id_held_at", held_at)
        page.fill("#id_held_place", "Youth centre")
        page.fill("#id_present", "Robin")
        page.check("#id_seen_alone_1")
        page.fill("#id_account_where", "Town")
        page.check("#id_harms")
        page.fill("#id_note_harm-grooming", "Older man messaging")
        page.check("#id_consent_to_share_0")
        page.fill("#id_wishes_and_feelings", "To feel safe")
        page.click("button[value='complete']")
        page.wait_for_url(f"{base}/interviews/{interview.pk}/complete/")
        assert "Older man messaging" in page.inner_text("[data-testid=complete-check]")
        page.get_by_role("button", name="Confirm and complete").click()
        page.wait_for_url(f"{base}/interviews/{interview.pk}/")
        context.close()

    interview.refresh_from_db()
    assert interview.status == InterviewStatus.COMPLETED
    assert interview.seen_alone is False
    assert [(p.factor.code, p.note) for p in interview.factors.all()] == [
        ("harm-grooming", "Older man messaging")
    ]


def test_answers_typed_offline_survive_the_session_ending_and_a_new_sign_in(
    live_server: Any, ffd: User, manager: User, interviewer: User, settings: Any
) -> None:
    """Issue 13 item 1: the tablet goes offline, the interviewer keeps writing, the 30-minute
    idle sign-out passes (shortened here), the network returns. The page says the session
    ended (not "the connection dropped"), the sign-in page keeps the encrypted draft, and after
    signing in again (password and code) every answer is back in the form and sent."""
    interview = assigned_interview(ffd, manager, interviewer)
    base = live_server.url

    with chromium() as browser:
        context = tablet(browser)
        page = context.new_page()
        sign_in(page, base, "interviewer")
        page.wait_for_url(f"{base}/interviews/")
        open_form(page, base, interview)
        wait_status(page, "server")

        context.set_offline(True)
        page.fill("#id_held_place", "Library, quiet room")
        page.fill("#id_account_where", "Stayed with a friend in Margate")
        page.locator("label[for='id_push_factors']").tap()
        page.fill("#id_note_push-family-conflict", "Arguments about school")
        page.fill("#id_wishes_and_feelings", "Wants a say in contact")
        page.wait_for_selector(SAVED_ON_TABLET, timeout=TIMEOUT_MS)
        wait_status(page, "offline")

        # The session ends while the tablet is offline: the idle limit passes.
        settings.SESSION_IDLE_TIMEOUT = timedelta(seconds=1)
        time.sleep(1.5)
        context.set_offline(False)
        text = wait_status(page, "signedout")
        assert "sign in again" in text.lower()
        assert "connection dropped" not in text
        # Still saving here meanwhile, sealed under the key the page holds.
        page.fill("#id_present", "Robin and the interviewer")
        page.wait_for_timeout(1000)
        settings.SESSION_IDLE_TIMEOUT = timedelta(minutes=30)

        page.click("#draft-sign-in")
        page.wait_for_url("**/login/**")
        page.wait_for_selector("body[data-local-data-cleared]", timeout=TIMEOUT_MS)
        # The sign-in page kept the draft (encrypted: nothing readable in it).
        drafts = stored_drafts(page)
        assert [d["interview"] for d in drafts] == [interview.pk]
        assert "Margate" not in bytes(drafts[0]["data"]).decode("latin-1")

        # Sign in again on this page (it carries `next`), both steps.
        with orm_beside_playwright():
            device = totp_device(User.objects.get(username="interviewer"))
        page.fill("#id_username", "interviewer")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]:has-text('Sign in')")
        page.wait_for_url("**/sign-in/code/**")
        with orm_beside_playwright():
            device.refresh_from_db()
        step = max(int(time.time()) // device.step, device.last_t + 1)
        at = datetime.fromtimestamp(step * device.step, UTC)
        page.fill("#id_code", totp_code(device, at=at))
        page.click("button[type=submit]:has-text('Continue')")

        page.wait_for_url(f"{base}/interviews/{interview.pk}/record/", timeout=TIMEOUT_MS)
        page.wait_for_selector("form[data-drafts-ready]", timeout=TIMEOUT_MS)
        assert "Everything is saved on the server" in wait_status(page, "server")
        assert page.input_value("#id_held_place") == "Library, quiet room"
        assert page.input_value("#id_account_where") == "Stayed with a friend in Margate"
        assert page.input_value("#id_present") == "Robin and the interviewer"
        assert page.is_checked("#id_push_factors")
        assert page.input_value("#id_note_push-family-conflict") == "Arguments about school"
        assert stored_drafts(page) == []
        context.close()

    interview.refresh_from_db()
    assert interview.held_place == "Library, quiet room"
    assert interview.account_where == "Stayed with a friend in Margate"
    assert interview.present == "Robin and the interviewer"
    assert interview.wishes_and_feelings == "Wants a say in contact"
    assert [(p.factor.code, p.note) for p in interview.factors.all()] == [
        ("push-family-conflict", "Arguments about school")
    ]


def test_another_users_sign_in_removes_a_draft_it_could_never_read(
    live_server: Any, ffd: User, manager: User, interviewer: User
) -> None:
    interview = assigned_interview(ffd, manager, interviewer)
    base = live_server.url

    with chromium() as browser:
        context = tablet(browser)
        page = context.new_page()
        sign_in(page, base, "interviewer")
        page.wait_for_url(f"{base}/interviews/")
        open_form(page, base, interview)
        page.route("**/record/autosave/", lambda route: route.abort())
        page.fill("#id_account_where", "Under the railway bridge")
        page.wait_for_selector(SAVED_ON_TABLET, timeout=TIMEOUT_MS)
        # The session is lost without signing out (cookies gone), and a manager signs in here.
        context.clear_cookies()
        sign_in(page, base, "manager")
        page.wait_for_url(f"{base}/board/")
        page.wait_for_selector("body[data-other-drafts-cleared]", timeout=TIMEOUT_MS)
        assert stored_drafts(page) == []
        context.close()


def test_completing_is_checked_first_and_waits_for_the_connection(
    live_server: Any, ffd: User, manager: User, interviewer: User
) -> None:
    """Issue 13, item 9: "Complete" shows what will be submitted (factors, harms, disclosures,
    places and people, outcome) before "Confirm and complete". Offline, neither step loses
    anything: on the form the draft stays on the tablet; on the check page the confirmation
    waits for the connection and is sent when it returns."""
    interview = assigned_interview(ffd, manager, interviewer)
    base = live_server.url
    held_at = timezone.localtime() - timedelta(hours=1)

    with chromium() as browser:
        context = tablet(browser)
        page = context.new_page()
        sign_in(page, base, "interviewer")
        page.wait_for_url(f"{base}/interviews/")
        open_form(page, base, interview)
        assert "Everything is saved on the server" in wait_status(page, "server")
        page.locator("label[for='id_outcome_0']").tap()
        fill_date(page, "id_held_at", held_at)
        page.fill("#id_held_place", "Youth centre")
        page.fill("#id_present", "Robin and the interviewer")
        page.locator("label[for='id_seen_alone_0']").tap()
        page.fill("#id_account_where", "The flat above the takeaway")
        page.fill("#id_places", "The Arches")
        page.locator("label[for='id_consent_to_share_0']").tap()
        page.fill("#id_wishes_and_feelings", "Wants to stay at home")
        assert "Everything is saved on the server" in wait_status(page, "server")

        # Offline on the form: "Complete" keeps the draft on the tablet and waits.
        context.set_offline(True)
        page.locator("label[for='id_harms']").tap()
        page.fill("#id_note_harm-grooming", "Older man messaging")
        page.fill("#id_disclosures", "Said an older man gives him lifts")
        page.wait_for_selector(SAVED_ON_TABLET, timeout=TIMEOUT_MS)
        page.get_by_role("button", name="Complete the interview").tap()
        assert "Send or complete the interview when the connection returns" in wait_status(
            page, "offline"
        )
        assert page.url == f"{base}/interviews/{interview.pk}/record/"
        assert [d["interview"] for d in stored_drafts(page)] == [interview.pk]

        # Back online: the draft is sent (on the "online" event, or the next retry at the
        # latest); "Complete" shows the answers to check.
        context.set_offline(False)
        page.wait_for_selector("#draft-status[data-state='server']", timeout=3 * TIMEOUT_MS)
        check_url = f"{base}/interviews/{interview.pk}/complete/"
        # A press that lands while the reconnect's own save is still running only saves (the
        # form's handler, seen on PostgreSQL): press again, as a person would.
        for _ in range(3):
            page.get_by_role("button", name="Complete the interview").tap()
            try:
                page.wait_for_url(check_url, timeout=TIMEOUT_MS)
                break
            except sync_api.TimeoutError:
                continue
        assert page.url == check_url
        check = page.inner_text("[data-testid=complete-check]")
        for shown in (
            "Held",
            "Older man messaging",
            "Said an older man gives him lifts",
            "The Arches",
            "Wants to stay at home",
        ):
            assert shown in check, shown
        change = page.get_by_role("link", name="Change harms or risks while missing")
        assert change.get_attribute("href").endswith("/record/#id_harms")

        # Offline on the check page: the confirmation waits, and goes when the network returns.
        context.set_offline(True)
        page.get_by_role("button", name="Confirm and complete").tap()
        page.wait_for_selector("form[data-waiting]", timeout=TIMEOUT_MS)
        assert "You are offline" in page.inner_text("#connection-status")
        assert page.url == f"{base}/interviews/{interview.pk}/complete/"
        context.set_offline(False)
        page.wait_for_url(f"{base}/interviews/{interview.pk}/", timeout=TIMEOUT_MS)
        assert "Interview completed" in page.inner_text(".govuk-notification-banner")
        context.close()

    interview.refresh_from_db()
    assert interview.status == InterviewStatus.COMPLETED
    assert interview.disclosures == "Said an older man gives him lifts"
    assert [(p.factor.code, p.note) for p in interview.factors.all()] == [
        ("harm-grooming", "Older man messaging")
    ]
