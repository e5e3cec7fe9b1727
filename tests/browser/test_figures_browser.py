"""The figures page in a real browser: the charts draw (server-made SVG, styled by
figures.css), the filters submit, and a figure's link opens its episodes. A screenshot goes to
test-artifacts/figures.png."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from missing.models import User
from tests.browser.test_board_browser import ARTIFACTS, TABLET, chromium, fill_date, sign_in
from tests.interviews import figures_data

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_manager_reads_the_figures_and_opens_a_figure(
    live_server: Any, ffd: User, manager: User, interviewer: User, other_interviewer: User
) -> None:
    figures_data.build(
        ffd=ffd, manager=manager, interviewer=interviewer, other_interviewer=other_interviewer
    )
    with chromium() as browser:
        context = browser.new_context(viewport=TABLET, locale="en-GB", timezone_id="Europe/London")
        page = context.new_page()
        sign_in(page, live_server.url, "manager")
        page.wait_for_url(f"{live_server.url}/board/")
        page.click("a.govuk-service-navigation__link:has-text('Figures')")
        page.wait_for_url(f"{live_server.url}/figures/")
        fill_date(page, "id_period_start", date(2026, 3, 1))
        fill_date(page, "id_period_end", date(2026, 3, 31))
        page.click("button:has-text('Show the figures')")
        page.wait_for_url("**/figures/?period_start_day=1&period_start_month=3*")

        assert page.locator("#figure-held_within_72h a").inner_text().startswith("3")
        charts = page.locator("svg.app-chart__svg")
        assert charts.count() == 2
        box = charts.first.bounding_box()
        assert box is not None
        assert box["width"] > 300
        # Twelve bars; the bars are filled by the stylesheet, not by inline style.
        assert charts.first.locator("rect.app-chart__bar").count() == 12
        fill = page.evaluate("getComputedStyle(document.querySelector('rect.app-chart__bar')).fill")
        assert fill == "rgb(29, 112, 184)"

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "figures.png"), full_page=True)
        page.locator("#trend").scroll_into_view_if_needed()
        charts.first.screenshot(path=str(ARTIFACTS / "figures-chart.png"))
        for i, name in enumerate(("top", "middle", "patterns")):
            page.screenshot(
                path=str(ARTIFACTS / f"figures-{name}.png"),
                clip={"x": 0, "y": i * 1000, "width": 1024, "height": 1000},
                full_page=True,
            )

        page.click("#figure-held_within_72h a")
        page.wait_for_url("**/figures/episodes/?figure=held_within_72h*")
        assert page.locator("h1").inner_text().endswith(": 3")
        assert page.locator("tbody tr").count() == 3
        context.close()
