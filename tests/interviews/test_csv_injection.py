"""Every CSV download writes formula-like text inert (issue 14 item 5): the interview export
(a provider's name), both national returns (a child's council id, free text from the case
system) and the figures (a found place). One payload per dangerous first character."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from missing.models import Child, Organisation, User
from tests.factories import FIXED_NOW
from tests.helpers import login
from tests.interviews import figures_data
from tests.missing.test_spreadsheet import PAYLOADS
from tests.returns_data import build_caseload


@pytest.fixture(autouse=True)
def _today() -> Any:
    with time_machine.travel(FIXED_NOW, tick=False):
        yield


@pytest.fixture
def caseload(ffd: User, manager: User, interviewer: User) -> Any:
    return build_caseload(ffd=ffd, manager=manager, interviewer=interviewer)


def _cells(response: Any) -> list[str]:
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode("utf-8").lstrip("\ufeff")
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _assert_inert(cells: list[str], payload: str) -> None:
    assert any(c.startswith("'" + payload) for c in cells)
    assert not any(c.startswith(payload) for c in cells)
    # Nothing else a spreadsheet would evaluate either (plain negative numbers aside).
    assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_interview_export_neutralises_a_provider_name(
    caseload: Any, client: Client, manager: User, interviewer: User, payload: str
) -> None:
    Organisation.objects.filter(pk=interviewer.organisation_id).update(name=payload)
    login(client, manager)
    _assert_inert(_cells(client.get(reverse("interviews:export"))), payload)


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize(
    ("route", "params"),
    [
        ("interviews:returns_ssda903", {"year": "2025"}),
        ("interviews:returns_annex_a", {"as_of": "2026-03-31"}),
    ],
)
def test_the_national_returns_neutralise_a_council_child_id(
    caseload: Any, client: Client, manager: User, route: str, params: dict, payload: str
) -> None:
    # Every child with a council id gets the payload as its id (ids are unique: the payload
    # then the child's number), so whichever rows the return holds show it.
    for child in Child.objects.exclude(council_child_id=None).exclude(council_child_id=""):
        Child.objects.filter(pk=child.pk).update(council_child_id=f"{payload}{child.pk}")
    login(client, manager)
    _assert_inert(_cells(client.get(reverse(route), params)), payload)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_figures_csv_neutralises_a_found_place(
    client: Client, ffd: User, manager: User, payload: str
) -> None:
    figures_data.episode(
        ffd=ffd,
        manager=manager,
        child=figures_data.ChildFactory(),
        last_seen=figures_data.utc(2026, 3, 25, 8),
        returned=figures_data.utc(2026, 3, 25, 9),
        found_place=payload,
    )
    login(client, manager)
    response = client.get(
        reverse("interviews:figures_csv"),
        {"period_start": "2026-03-01", "period_end": "2026-03-31"},
    )
    _assert_inert(_cells(response), payload)
