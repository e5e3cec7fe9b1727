"""The downloads of figures and national returns: each needs a second-factor check from the last
few minutes (step-up), writes one access row with its row count in the request's transaction, and
counts against the export rate."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client, override_settings
from django.urls import reverse

from missing.accounts.security import SECOND_FACTOR_AT
from missing.models import AccessAction, AccessLog, User
from tests.factories import FIXED_NOW
from tests.helpers import login
from tests.returns_data import build_caseload

MARCH = {"period_start": "2026-03-01", "period_end": "2026-03-31"}
RETURNS = [
    ("interviews:returns_ssda903", {"year": "2025"}, "ssda903-missing-2025-26.csv"),
    (
        "interviews:returns_annex_a",
        {"as_of": "2026-03-31"},
        "annex-a-list-8-missing-2026-03-31.csv",
    ),
]
FIGURES = [
    ("interviews:figures_csv", MARCH, "figures-2026-03-01-to-2026-03-31.csv"),
    ("interviews:figures_xlsx", MARCH, "figures-2026-03-01-to-2026-03-31.xlsx"),
]


@pytest.fixture(autouse=True)
def _today() -> Any:
    with time_machine.travel(FIXED_NOW, tick=False):
        yield


@pytest.fixture
def caseload(ffd: User, manager: User, interviewer: User) -> Any:
    return build_caseload(ffd=ffd, manager=manager, interviewer=interviewer)


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _exports() -> list[AccessLog]:
    return list(AccessLog.objects.filter(action=AccessAction.EXPORT).order_by("pk"))


@pytest.mark.parametrize(("route", "params", "filename"), RETURNS)
def test_a_national_return_logs_its_row_count(
    caseload: Any, client: Client, manager: User, route: str, params: dict, filename: str
) -> None:
    login(client, manager)
    response = client.get(reverse(route), params)
    assert response.status_code == 200
    data_rows = list(csv.reader(io.StringIO(_body(response).decode())))[1:]
    assert data_rows, "the caseload puts rows in both returns"
    [row] = _exports()
    assert (row.user_id, row.role, row.reference) == (manager.pk, "manager", filename)
    assert row.rows == len(data_rows)
    assert row.route == route


def test_the_figures_downloads_log_the_same_row_count(
    caseload: Any, client: Client, head_of_service: User
) -> None:
    login(client, head_of_service)
    for route, params, _ in FIGURES:
        assert client.get(reverse(route), params).status_code == 200
    csv_row, xlsx_row = _exports()
    assert [csv_row.reference, xlsx_row.reference] == [name for _, _, name in FIGURES]
    # The same tables in two formats: the same number of rows, and more than none.
    assert csv_row.rows == xlsx_row.rows > 0


@pytest.mark.parametrize(("route", "params", "filename"), RETURNS + FIGURES)
def test_an_old_second_factor_check_asks_again_and_exports_nothing(
    caseload: Any, client: Client, manager: User, route: str, params: dict, filename: str
) -> None:
    login(client, manager)
    session = client.session
    session[SECOND_FACTOR_AT] = (FIXED_NOW - timedelta(minutes=6)).timestamp()
    session.save()
    response = client.get(reverse(route), params)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("second_factor_confirm"))
    assert filename not in response.get("Content-Disposition", "")
    assert _exports() == []


@override_settings(
    RATE_LIMITS={"list": "120/minute", "read": "300/hour", "search": "100/hour", "export": "2/hour"}
)
def test_exports_above_the_rate_are_refused_with_429(
    caseload: Any, client: Client, manager: User
) -> None:
    login(client, manager)
    route, params, _ = RETURNS[0]
    assert [client.get(reverse(route), params).status_code for _ in range(2)] == [200, 200]
    refused = client.get(reverse(route), params)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert len(_exports()) == 2


def test_the_episodes_behind_a_figure_write_one_list_row(
    caseload: Any, client: Client, manager: User
) -> None:
    login(client, manager)
    response = client.get(reverse("interviews:figure_episodes"), {**MARCH, "figure": "returns"})
    assert response.status_code == 200
    shown = {line["episode"].child_id for line in response.context["rows"]}
    assert shown, "the caseload has returns in March"
    [row] = AccessLog.objects.filter(action=AccessAction.LIST)
    assert (row.route, row.user_id) == ("interviews:figure_episodes", manager.pk)
    assert set(row.child_ids) == shown
