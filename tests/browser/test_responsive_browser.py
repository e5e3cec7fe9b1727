"""Every page where the work happens, at the sizes it happens on: a phone (390 wide: a manager
opening the board from the link in an escalation text), an iPad (810×1080) and a desktop
(1440×900), in Debian's Chromium.

- axe-core finds no critical or serious violation on any of them, the Django admin included;
- on the phone the board and the episode list do not scroll sideways, and every row's clock
  and state are on screen (the tables stack into one card per row);
- on the iPad the board's Status and the list's State column are not clipped.

Screenshots of the phone pages go to test-artifacts/.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from interviews.models import ReturnInterview
from missing.models import MissingEpisode, PoliceNotification, User
from tests.browser.axe import axe_violations, describe
from tests.browser.test_board_browser import ARTIFACTS, CHROMIUM, chromium, sign_in
from tests.factories import ChildFactory
from tests.helpers import report_missing
from tests.interviews.helpers import assign, open_interview, returned_episode
from tests.missing.test_intake_order import notify

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"no Chromium at {CHROMIUM} (apt-get install chromium); browser tests skipped",
    ),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PHONE = {"width": 390, "height": 844}
IPAD = {"width": 810, "height": 1080}
DESKTOP = {"width": 1440, "height": 900}
SIZES = {"phone": PHONE, "iPad": IPAD, "desktop": DESKTOP}


class Casework:
    """Enough on every page for axe to have something to judge: open episodes (one overdue),
    a returned child with an interview assigned, and a police notification to review."""

    def __init__(self, ffd: User, manager: User, interviewer: User, police_system: User) -> None:
        now = timezone.now()
        self.overdue = report_missing(actor=ffd, now=now - timedelta(hours=2), grade_code="high")
        report_missing(actor=ffd, now=now, grade_code="low")
        child = ChildFactory(first_name="Robin", last_name="Phoneson")
        self.returned = returned_episode(
            ffd=ffd, manager=manager, child=child, returned_at=now - timedelta(hours=5)
        )
        interview = open_interview(manager=manager, episodes=[self.returned], now=now)
        self.interview: ReturnInterview = assign(
            interview,
            manager=manager,
            interviewer=interviewer,
            now=now,
            planned_at=now + timedelta(hours=1),
            planned_place="Youth centre",
        )
        # The same police reference reported again with another last-seen time: held for review.
        first = notify(ffd, now, police_reference="KNT-RESP-1")
        self.to_review: PoliceNotification = notify(
            police_system,
            now,
            police_reference="KNT-RESP-1",
            sequence=2,
            last_seen_at=now - timedelta(hours=8),
            reported_at=now - timedelta(hours=7),
        )
        assert self.to_review.match_status == PoliceNotification.MatchStatus.NEEDS_REVIEW
        self.episode: MissingEpisode = first.episode


@pytest.fixture
def casework(ffd: User, manager: User, interviewer: User, police_system: User) -> Casework:
    return Casework(ffd, manager, interviewer, police_system)


def check_every_size(page: Any, url: str, where: str, found: list[str]) -> None:
    """axe at each size in turn (the layout changes with the width, and so can what it finds);
    what it finds goes into found, so one run lists every page's problems."""
    page.goto(url)
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        violations = axe_violations(page)
        if violations:
            found.append(f"{where} at {size} ({page.url}):\n{describe(violations)}")


def test_axe_finds_nothing_serious_on_any_page_at_any_size(
    live_server: Any, casework: Casework, admin_user: User
) -> None:
    base = live_server.url
    staff = admin_user
    manager_pages = {
        "the board": "/board/",
        "the episode list": "/episodes/",
        "the episode page": f"/episodes/{casework.episode.pk}/",
        "the child page": f"/children/{casework.episode.child_id}/",
        "the figures": "/figures/",
        "the notifications list": "/notifications/",
        "a notification to review": f"/notifications/{casework.to_review.pk}/review/",
        "the meetings": "/meetings/",
        "the escalations": "/escalations/",
    }
    found: list[str] = []
    with chromium() as browser:
        context = browser.new_context(viewport=PHONE, locale="en-GB", timezone_id="Europe/London")
        page = context.new_page()
        check_every_size(page, f"{base}/login/", "the sign-in page", found)
        sign_in(page, base, "manager")
        page.wait_for_url(f"{base}/board/")
        for where, path in manager_pages.items():
            check_every_size(page, f"{base}{path}", where, found)
        context.close()

        context = browser.new_context(
            viewport=PHONE, has_touch=True, locale="en-GB", timezone_id="Europe/London"
        )
        page = context.new_page()
        sign_in(page, base, "interviewer")
        page.wait_for_url(f"{base}/interviews/")
        page.goto(f"{base}/interviews/{casework.interview.pk}/record/")
        page.wait_for_selector("form[data-drafts-ready]")
        check_every_size(page, page.url, "the tablet record form", found)
        context.close()

        context = browser.new_context(viewport=PHONE, locale="en-GB", timezone_id="Europe/London")
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        sign_in(page, base, "admin")
        page.wait_for_load_state()
        page.goto(f"{base}/admin/")
        assert page.locator("#site-name").is_visible()
        check_every_size(page, f"{base}/admin/missing/user/", "the admin's list of users", found)
        check_every_size(
            page, f"{base}/admin/missing/user/{staff.pk}/change/", "a user in the admin", found
        )
        # Nothing the admin pages need is refused by the Content-Security-Policy.
        assert not [m for m in console if "Content Security Policy" in m], console
        context.close()
    assert not found, "axe found critical or serious violations:\n" + "\n".join(found)


def overflow(page: Any) -> dict[str, int]:
    """The page's width and the window's. On a phone (is_mobile) Chromium widens the layout
    viewport to fit a page that is too wide, so innerWidth is compared with the device's
    width, not only with itself."""
    return page.evaluate(
        "({scroll: document.scrollingElement.scrollWidth,"
        " inner: Math.min(window.innerWidth, screen.width)})"
    )


def within_viewport(page: Any, selector: str) -> list[str]:
    """Every element matching selector that is not wholly within the viewport's width, as text
    (empty when all fit)."""
    return page.evaluate(
        """(selector) => Array.from(document.querySelectorAll(selector))
            .filter((el) => {
              const box = el.getBoundingClientRect()
              return box.width === 0 || box.left < 0 || box.right > window.innerWidth
            })
            .map((el) => el.textContent.trim())""",
        selector,
    )


def test_the_board_and_episode_list_fit_a_phone(live_server: Any, casework: Casework) -> None:
    base = live_server.url
    with chromium() as browser:
        context = browser.new_context(
            viewport=PHONE, has_touch=True, is_mobile=True, locale="en-GB"
        )
        page = context.new_page()
        sign_in(page, base, "manager")
        page.wait_for_url(f"{base}/board/")

        rows = page.locator("tr.app-board__row")
        assert rows.count() == 4
        size = overflow(page)
        assert size["scroll"] <= size["inner"], size
        # Each row's clock (what is due, when, how long left) and its status are on screen, and
        # labelled: the column headings are hidden on a phone, so each cell says what it is.
        assert within_viewport(page, "tr.app-board__row td[data-label='Clock due']") == []
        assert within_viewport(page, "tr.app-board__row td[data-label='Status']") == []
        first = rows.first
        assert first.locator(".govuk-tag--red").inner_text() == "Red – overdue"
        assert first.locator(".govuk-tag--red").is_visible()
        label = page.evaluate(
            "getComputedStyle(document.querySelector(\"tr.app-board__row td[data-label='Status']\"),"
            " '::before').content"
        )
        assert label == '"Status"'
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "board-phone.png"), full_page=True)

        page.goto(f"{base}/episodes/")
        assert page.locator("tbody tr").count() == 4
        size = overflow(page)
        assert size["scroll"] <= size["inner"], size
        assert within_viewport(page, "tbody td[data-label='State']") == []
        assert within_viewport(page, "tbody td[data-label='Last seen']") == []
        page.screenshot(path=str(ARTIFACTS / "episodes-phone.png"), full_page=True)

        # The episode and child pages, and the other lists, do not scroll sideways either.
        wide = []
        for path in (
            f"/episodes/{casework.episode.pk}/",
            "/notifications/",
            "/meetings/",
            "/escalations/",
            "/interviews/all/",
            f"/notifications/{casework.to_review.pk}/review/",
            "/figures/",
            f"/children/{casework.episode.child_id}/",
        ):
            page.goto(f"{base}{path}")
            size = overflow(page)
            if size["scroll"] > size["inner"]:
                wide.append(f"{path}: {size}")
            if path.startswith("/episodes/"):
                page.screenshot(path=str(ARTIFACTS / "episode-phone.png"), full_page=True)
        assert wide == []
        page.screenshot(path=str(ARTIFACTS / "child-phone.png"), full_page=True)
        context.close()


def test_the_state_column_is_whole_on_an_ipad(
    live_server: Any, casework: Casework, ffd: User
) -> None:
    # The widest row the board draws: a long unbreakable name, an amber clock (the longest tag).
    now = timezone.now()
    report_missing(
        actor=ffd,
        now=now - timedelta(minutes=45),
        grade_code="high",
        child=ChildFactory(first_name="Maximiliana", last_name="Featherstonehaugh-Wolstenholme"),
    )
    base = live_server.url
    with chromium() as browser:
        context = browser.new_context(viewport=IPAD, has_touch=True, locale="en-GB")
        page = context.new_page()
        sign_in(page, base, "manager")
        page.wait_for_url(f"{base}/board/")
        # A table, not cards, on the iPad; its last column wholly on screen.
        assert page.locator(".app-board thead").is_visible()
        assert page.locator(".app-board .govuk-tag--yellow").inner_text() == "Amber – due soon"
        assert within_viewport(page, ".app-board th, .app-board td") == []
        size = overflow(page)
        assert size["scroll"] <= size["inner"], size
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "board-ipad.png"), full_page=True)

        page.goto(f"{base}/episodes/")
        assert page.locator("table thead").is_visible()
        assert page.locator("tbody tr").count() == 5
        assert within_viewport(page, "table th, table td") == []
        size = overflow(page)
        assert size["scroll"] <= size["inner"], size
        context.close()
