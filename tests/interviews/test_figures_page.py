"""The figures page, its drill-down and its downloads, on the fixed caseload of
tests/interviews/figures_data.py (the figures themselves are checked in
test_figures_selectors.py; here: what the pages show, who may see them, bad input, queries)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import timedelta
from urllib.parse import parse_qs, urlparse
from xml.etree import ElementTree

import pytest
import time_machine
from django.db import connection
from django.urls import reverse

from tests.factories import FIXED_NOW
from tests.helpers import login
from tests.interviews import figures_data
from tests.interviews.figures_data import utc

pytestmark = pytest.mark.django_db

MARCH = {"period_start": "2026-03-01", "period_end": "2026-03-31"}
POSTGRES = connection.vendor == "postgresql"


@pytest.fixture
def caseload(ffd, manager, interviewer, other_interviewer):
    return figures_data.build(
        ffd=ffd, manager=manager, interviewer=interviewer, other_interviewer=other_interviewer
    )


@pytest.fixture
def as_manager(client, manager):
    login(client, manager)
    with time_machine.travel(FIXED_NOW, tick=False):
        yield client


def figure_cell(page: str, key: str) -> tuple[str, str]:
    """(the number shown, its link) in the row of figure `key`."""
    row = page[page.index(f'id="figure-{key}"') :]
    row = row[: row.index("</tr>")]
    match = re.search(r'href="([^"]+)">([^<]+)<', row)
    assert match, key
    return match.group(2), match.group(1).replace("&amp;", "&")


# --------------------------------------------------------------------------------------------
# Who may see them
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "who", ["ffd", "interviewer", "other_interviewer", "admin", "police_system"]
)
@pytest.mark.parametrize(
    "name",
    [
        "interviews:figures",
        "interviews:figure_episodes",
        "interviews:figures_csv",
        "interviews:figures_xlsx",
    ],
)
def test_only_managers_and_heads_of_service(client, users_by_role, who, name):
    login(client, users_by_role[who])
    assert client.get(reverse(name), {**MARCH, "figure": "episodes"}).status_code == 403


@pytest.mark.parametrize("who", ["manager", "head_of_service"])
def test_managers_and_heads_of_service_see_them(client, users_by_role, who):
    login(client, users_by_role[who])
    assert client.get(reverse("interviews:figures")).status_code == 200
    assert client.get(reverse("interviews:figures_csv")).status_code == 200


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(reverse("interviews:figures"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_the_menu_has_figures_for_managers_only(client, manager, ffd):
    login(client, manager)
    assert 'href="/figures/"' in client.get(reverse("board")).content.decode()
    client.logout()
    login(client, ffd)
    assert 'href="/figures/"' not in client.get(reverse("board")).content.decode()


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------


def test_this_month_by_default(as_manager):
    response = as_manager.get(reverse("interviews:figures"))
    assert "1 June 2026 to 30 June 2026" in response.content.decode()
    form = response.context["form"]
    assert [box.value for box in form["period_start"].boxes()] == ["1", "6", "2026"]
    assert [box.value for box in form["period_end"].boxes()] == ["30", "6", "2026"]


def test_march_figures_and_their_links(caseload, as_manager):
    response = as_manager.get(reverse("interviews:figures"), MARCH)
    assert response.status_code == 200
    page = response.content.decode()
    expected = {
        "episodes": "7",
        "children": "6",
        "repeat_children": "1",
        "returns": "7",
        "offered": "6",
        "held": "5",
        "held_within_72h": "3",
        "children_held_within_72h": "3",
        "refused": "1",
        "not_held_child_refused": "1",
        "independence_exceptions": "1",
        "reviewed_within_target": "5",
        "median_hours_to_interview": "71.0 hours",
    }
    for key, number in expected.items():
        shown, href = figure_cell(page, key)
        assert shown == number, key
        params = parse_qs(urlparse(href).query)
        assert params["figure"] == [key]
        assert (params["period_start"], params["period_end"]) == (["2026-03-01"], ["2026-03-31"])
        # The drill-down lists exactly what the figure counted.
        listed = as_manager.get(href).content.decode()
        count = re.search(r"<h1[^>]*>[^<]*: (\d+)</h1>", listed)
        assert count, key
        if key == "median_hours_to_interview":
            assert count.group(1) == "5"
        elif key in ("children", "repeat_children", "children_held_within_72h"):
            assert count.group(1) == number, key
            assert len(set(re.findall(r"<td[^>]*>(C-\d+)</td>", listed))) == int(number)
        else:
            assert count.group(1) == number, key
    # Shares: 3 of 7 returns within 72 hours.
    row = page[page.index('id="figure-held_within_72h"') :]
    assert "43% of returns" in row[: row.index("</tr>")]
    assert "How these are counted" in page


def test_patterns_and_trend_on_the_page(caseload, as_manager):
    page = as_manager.get(reverse("interviews:figures"), MARCH).content.decode()
    hotspots = page[page.index('id="hotspots"') :]
    hotspots = hotspots[: hotspots.index("</table>")]
    assert hotspots.index("The Arches") < hotspots.index("Central Bus Station")
    associates = page[page.index('id="associates"') :]
    associates = associates[: associates.index("</table>")]
    assert "DAN (About 20)" in associates
    assert "Kelly" in associates
    trend = page[page.index('id="trend"') :]
    march = trend[trend.index("March 2026") :]
    cells = re.findall(r"numeric\">([^<]+)<", march[: march.index("</tr>")])
    assert cells == ["7", "3 (43%)", "7", "5 (71%)"]


def test_the_charts_are_accessible_svg_without_inline_style_or_script(caseload, as_manager):
    page = as_manager.get(reverse("interviews:figures"), MARCH).content.decode()
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert len(svgs) == 2
    for svg in svgs:
        assert 'role="img"' in svg
        assert "<title id=" in svg
        assert "<desc id=" in svg
        assert "style=" not in svg
        assert "<script" not in svg
    assert "March 2026: 43% (3 of 7)" in svgs[0]
    assert "March 2026: 71% (5 of 7)" in svgs[1]
    assert "<script>" not in page
    assert " style=" not in page


def test_each_chart_caption_comes_before_its_chart(caseload, as_manager):
    """As GOV.UK captions a table above it, the chart's caption heads the chart (issue 13)."""
    page = as_manager.get(reverse("interviews:figures"), MARCH).content.decode()
    figures = re.findall(r"<figure.*?</figure>", page, flags=re.S)
    assert len(figures) == 2
    for figure in figures:
        assert "<figcaption" in figure
        assert figure.index("<figcaption") < figure.index("<svg")


def test_a_filter_applies_to_the_figures_and_their_links(caseload, as_manager):
    north = caseload.teams["North"].pk
    page = as_manager.get(reverse("interviews:figures"), {**MARCH, "team": north}).content.decode()
    shown, href = figure_cell(page, "held_within_72h")
    assert shown == "2"
    assert parse_qs(urlparse(href).query)["team"] == [str(north)]
    listed = as_manager.get(href).content.decode()
    refs = set(re.findall(r">(E-\d+)</a>", listed))
    assert refs == caseload.ref("A2", "C1")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period_start": "2026-03-31", "period_end": "2026-03-01"}, "on or after the first day"),
        ({"period_start": "2026-02-30", "period_end": "2026-03-01"}, "must be a real date"),
        ({"period_start": "", "period_end": "2026-03-01"}, "Enter the first day of the period"),
        ({"period_start": "2010-01-01", "period_end": "2026-03-01"}, "at most 5 years"),
        ({**MARCH, "team": "999999"}, "Choose a team from the list"),
        ({**MARCH, "team": "north"}, "Choose a team from the list"),
        ({**MARCH, "age_band": "5-9"}, "Choose an age band from the list"),
        ({**MARCH, "legal_status": "adopted"}, "Choose a legal status from the list"),
        ({**MARCH, "provider": "0"}, "Choose a provider from the list"),
    ],
)
def test_bad_input_is_a_form_error(as_manager, params, message):
    for name in ("interviews:figures", "interviews:figures_csv", "interviews:figures_xlsx"):
        response = as_manager.get(reverse(name), params)
        assert response.status_code == 400, name
        page = response.content.decode()
        assert "There is a problem" in page
        assert message in page


def test_a_drill_down_needs_a_known_figure(as_manager):
    response = as_manager.get(reverse("interviews:figure_episodes"), {**MARCH, "figure": "x"})
    assert response.status_code == 400
    assert "Choose a figure from the figures page" in response.content.decode()


def test_the_drill_down_shows_references_only_and_pages(caseload, as_manager, ffd, manager):
    # 55 more returns in March (55 children): 62 in all, two pages.
    for i in range(55):
        figures_data.episode(
            ffd=ffd,
            manager=manager,
            child=figures_data.ChildFactory(),
            last_seen=utc(2026, 3, 15, 8) + timedelta(minutes=i),
            returned=utc(2026, 3, 15, 10) + timedelta(minutes=i),
        )
    url = reverse("interviews:figure_episodes")
    first = as_manager.get(url, {**MARCH, "figure": "returns"}).content.decode()
    assert "Returns: 62" in first
    assert len(re.findall(r">(E-\d+)</a>", first)) == 50
    second = as_manager.get(url, {**MARCH, "figure": "returns", "page": 2}).content.decode()
    assert len(re.findall(r">(E-\d+)</a>", second)) == 12
    for child in caseload.children.values():
        assert child.last_name not in first
        assert child.first_name not in first


def test_live_a_change_shows_on_the_next_request(caseload, as_manager, ffd, manager):
    url = reverse("interviews:figures")
    before, _ = figure_cell(as_manager.get(url, MARCH).content.decode(), "returns")
    figures_data.episode(
        ffd=ffd,
        manager=manager,
        child=figures_data.ChildFactory(),
        last_seen=utc(2026, 3, 20, 8),
        returned=utc(2026, 3, 20, 9),
    )
    after, _ = figure_cell(as_manager.get(url, MARCH).content.decode(), "returns")
    assert (before, after) == ("7", "8")


# --------------------------------------------------------------------------------------------
# Query counts
# --------------------------------------------------------------------------------------------


def test_the_page_pins_its_queries(caseload, as_manager, django_assert_num_queries):
    # 1. session, 2. user, 3. the session's second-factor device, 4. the team (validating the
    # filter), 5. the figures' aggregate, 6. repeat children, (7. SQLite: the median's middle
    # rows), then 8. the trend, 9. factors, 10. places, 11. people, 12. the teams and 13. the
    # organisations for the filter lists; + 2 the request's transaction (ATOMIC_REQUESTS: a
    # savepoint and its release inside the test's). Counts only: no access row.
    params = {**MARCH, "team": caseload.teams["North"].pk}
    with django_assert_num_queries(14 if POSTGRES else 15):
        response = as_manager.get(reverse("interviews:figures"), params)
    assert response.status_code == 200


def test_the_drill_down_pins_its_queries(caseload, as_manager, django_assert_num_queries):
    # 1. session, 2. user, 3. the session's second-factor device, 4. the count, 5. the page of
    # episodes (nothing per row), 6. the access row listing the children shown, + 2 the
    # request's savepoint and its release.
    with django_assert_num_queries(8):
        response = as_manager.get(
            reverse("interviews:figure_episodes"), {**MARCH, "figure": "repeat_episodes"}
        )
    assert response.status_code == 200
    # A figure that counts children: one more, how many children the listed episodes are of.
    with django_assert_num_queries(9):
        response = as_manager.get(
            reverse("interviews:figure_episodes"), {**MARCH, "figure": "repeat_children"}
        )
    assert "1 child, in 2 episodes." in response.content.decode()


@pytest.mark.parametrize("name", ["interviews:figures_csv", "interviews:figures_xlsx"])
def test_the_downloads_pin_their_queries(caseload, as_manager, django_assert_num_queries, name):
    # 1. session, 2. user, 3. the session's second-factor device, 4. the figures' aggregate,
    # 5. repeat children, (6. SQLite: the median), 7. factors, 8. places, 9. people,
    # 10. the trend, 11. the export's access row; + 2 the request's savepoint and its release.
    with django_assert_num_queries(12 if POSTGRES else 13):
        assert as_manager.get(reverse(name), MARCH).status_code == 200


# --------------------------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------------------------

INJECTION = '=HYPERLINK("http://example.com","click")'


@pytest.fixture
def formula_place(caseload, ffd, manager):
    """A found place a spreadsheet would run as a formula."""
    return figures_data.episode(
        ffd=ffd,
        manager=manager,
        child=figures_data.ChildFactory(),
        last_seen=utc(2026, 3, 25, 8),
        returned=utc(2026, 3, 25, 9),
        found_place=INJECTION,
    )


def test_csv_download(formula_place, as_manager):
    response = as_manager.get(reverse("interviews:figures_csv"), MARCH)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        response["Content-Disposition"]
        == 'attachment; filename="figures-2026-03-01-to-2026-03-31.csv"'
    )
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert ["Period", "1 March 2026 to 31 March 2026"] in rows
    by_label = {row[1]: row[2:] for row in rows if len(row) == 4 and row[0] != "Section"}
    # The formula place added one more return (8), not held.
    assert by_label["Held within 72 hours of the return"] == ["3", "38% of returns"]
    assert by_label["Returns"] == ["8", ""]
    assert by_label["Median time from return to interview"] == ["71.0", "of 5 held"]
    cells = [cell for row in rows for cell in row]
    assert "'" + INJECTION in cells
    assert INJECTION not in cells
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    assert ["The Arches", "2", "2"] in rows
    assert ["March 2026", "8", "3", "38%", "8", "6", "75%"] in rows


def _xml(data: bytes) -> ElementTree.Element:
    # Parses the spreadsheet this project just wrote in the test, not outside input.
    return ElementTree.fromstring(data)  # noqa: S314


def _xlsx_sheets(content: bytes) -> dict[str, list[list[str]]]:
    """Each sheet's rows as text (numbers as written), from the package's XML (stdlib only)."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(io.BytesIO(content)) as package:
        shared = [
            "".join(t.text or "" for t in si.iter(f"{{{ns['m']}}}t"))
            for si in _xml(package.read("xl/sharedStrings.xml")).findall("m:si", ns)
        ]
        workbook = _xml(package.read("xl/workbook.xml"))
        names = [s.get("name") for s in workbook.find("m:sheets", ns)]
        sheets = {}
        for i, name in enumerate(names, start=1):
            xml = package.read(f"xl/worksheets/sheet{i}.xml")
            # No formulas at all.
            assert b"<f>" not in xml
            assert b"<f " not in xml
            rows = []
            for row in _xml(xml).iter(f"{{{ns['m']}}}row"):
                cells = []
                for c in row.findall("m:c", ns):
                    value = c.find("m:v", ns)
                    text = "" if value is None else value.text
                    cells.append(shared[int(text)] if c.get("t") == "s" else text)
                rows.append(cells)
            sheets[name] = rows
    return sheets


def test_xlsx_download(formula_place, as_manager):
    response = as_manager.get(reverse("interviews:figures_xlsx"), MARCH)
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert (
        response["Content-Disposition"]
        == 'attachment; filename="figures-2026-03-01-to-2026-03-31.xlsx"'
    )
    sheets = _xlsx_sheets(response.content)
    assert list(sheets) == ["Figures", "Patterns", "Trend"]
    figures = {row[1]: row[2:] for row in sheets["Figures"] if len(row) == 4}
    assert figures["Held within 72 hours of the return"] == ["3", "38% of returns"]
    assert figures["Returns"] == ["8", ""] or figures["Returns"] == ["8"]
    places = sheets["Patterns"]
    # Written as text, exactly as typed: a string cell is never run as a formula.
    assert [INJECTION, "1", "1"] in places
    assert ["The Arches", "2", "2"] in places
    assert ["March 2026", "8", "3", "38%", "8", "6", "75%"] in sheets["Trend"]
