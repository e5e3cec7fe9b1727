"""Dates outside the years 1900–2999 in a web query string or form, and a deep JSON `base` on
the tablet's autosave: a 400 with the error beside the field it names, never a 500 (year 1 and
year 9999 used to overflow the figures' and the returns' date arithmetic)."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from interviews.models import ReturnInterview
from tests.factories import FIXED_NOW, ChildFactory
from tests.helpers import login
from tests.interviews.helpers import assign, open_interview, returned_episode
from tests.interviews.test_views import record_post

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)
FIGURE_ROUTES = ["interviews:figures", "interviews:figures_csv", "interviews:figures_xlsx"]


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(FIXED_NOW, tick=False):
        yield


@pytest.fixture
def as_manager(client, manager):
    login(client, manager)
    return client


def assert_form_error(response, message: str, field_id: str) -> None:
    assert response.status_code == 400
    page = response.content.decode()
    assert "There is a problem" in page
    assert message in page
    # The summary links to the field it names.
    assert f'href="#{field_id}"' in page


@pytest.mark.parametrize("route", FIGURE_ROUTES)
@pytest.mark.parametrize(
    ("params", "message", "field_id"),
    [
        (
            {"period_start": "9999-12-31"},
            "The first day must be in a year between 1900 and 2999",
            "id_period_start_year",
        ),
        (
            {"period_start": "9999-12-31", "period_end": "9999-12-31"},
            "The first day must be in a year between 1900 and 2999",
            "id_period_start_year",
        ),
        (
            {"period_start": "0001-01-01"},
            "The first day must be in a year between 1900 and 2999",
            "id_period_start_year",
        ),
        (
            {"period_start": "0001-01-01", "period_end": "0001-01-31"},
            "The first day must be in a year between 1900 and 2999",
            "id_period_start_year",
        ),
        (
            {"period_start": "2026-03-01", "period_end": "9999-12-31"},
            "The last day must be in a year between 1900 and 2999",
            "id_period_end_year",
        ),
    ],
)
def test_figures_refuse_a_year_outside_the_range(as_manager, route, params, message, field_id):
    response = as_manager.get(reverse(route), params)
    assert_form_error(response, message, field_id)


def test_the_drill_down_refuses_it_too(as_manager):
    response = as_manager.get(
        reverse("interviews:figure_episodes"),
        {"period_start": "0001-01-01", "period_end": "0001-01-31", "figure": "episodes"},
    )
    assert_form_error(
        response, "The first day must be in a year between 1900 and 2999", "id_period_start_year"
    )


@pytest.mark.parametrize("as_of", ["0001-01-01", "1899-12-31"])
def test_annex_a_refuses_an_as_of_date_before_1900(as_manager, as_of):
    response = as_manager.get(reverse("interviews:returns_annex_a"), {"as_of": as_of})
    assert_form_error(
        response, "The as-of date must be in a year between 1900 and 2999", "id_as_of_year"
    )


def test_the_annex_a_command_refuses_it_too():
    with pytest.raises(CommandError, match="between 1900 and 2999"):
        call_command(
            "export_annex_a_missing", "--as-of", "0001-01-01", "--out", "-", stdout=StringIO()
        )


# --------------------------------------------------------------------------------------------
# The tablet's autosave (form-encoded, JSON answers)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def interview(ffd, manager, interviewer) -> ReturnInterview:
    episode = returned_episode(
        ffd=ffd, manager=manager, child=ChildFactory(), returned_at=FIXED_NOW - 5 * H
    )
    interview = open_interview(manager=manager, episodes=[episode], now=FIXED_NOW)
    return assign(interview, manager=manager, interviewer=interviewer, now=FIXED_NOW)


@pytest.fixture
def tablet(interviewer) -> Client:
    client = Client()
    login(client, interviewer)
    return client


def autosave(client: Client, interview: ReturnInterview, **fields):
    interview.refresh_from_db()
    return client.post(
        reverse("interviews:record_autosave", args=[interview.pk]),
        {**record_post(interview), **fields},
    )


def test_a_base_nested_1000_deep_is_a_400_naming_it(tablet, interview):
    version = ReturnInterview.objects.get(pk=interview.pk).version
    response = autosave(tablet, interview, base="[" * 1000 + "]" * 1000)
    assert response.status_code == 400
    message = "The JSON body is nested deeper than 32 levels."
    assert response.json() == {"detail": message, "errors": {"base": [message]}}
    assert ReturnInterview.objects.get(pk=interview.pk).version == version


def test_an_ordinary_base_still_merges(tablet, interview):
    pairs = [["places", ""], ["associates", ""]]
    response = autosave(tablet, interview, base=json.dumps(pairs))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("held_at", ["9999-12-31T23:59", "0001-01-01T00:00"])
def test_a_time_outside_the_years_is_a_400_naming_the_field(tablet, interview, held_at):
    response = autosave(tablet, interview, held_at=held_at)
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "held_at": ["When it was held must be in a year between 1900 and 2999"]
    }
