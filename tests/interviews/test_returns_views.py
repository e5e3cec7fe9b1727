"""The national returns page: managers only, form errors for bad input, a refusal listing the
records, and downloads that stream exactly what the commands write."""

from __future__ import annotations

import io
from datetime import date

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from tests.factories import FIXED_NOW
from tests.helpers import login
from tests.returns_data import build_caseload, child, episode, utc

ROUTES = ["interviews:returns", "interviews:returns_ssda903", "interviews:returns_annex_a"]


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(FIXED_NOW, tick=False):
        yield


@pytest.fixture
def caseload(ffd, manager, interviewer):
    return build_caseload(ffd=ffd, manager=manager, interviewer=interviewer)


def command_output(name: str, *args: str) -> bytes:
    out = io.StringIO()
    call_command(name, *args, "--out", "-", stdout=out)
    return out.getvalue().encode()


@pytest.mark.parametrize("role", ["ffd", "interviewer", "admin"])
@pytest.mark.parametrize("route", ROUTES)
def test_other_roles_are_refused(route, role, client, users_by_role):
    login(client, users_by_role[role])
    assert client.get(reverse(route), {"year": "2025", "as_of": "2026-03-31"}).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES)
def test_anonymous_users_are_sent_to_sign_in(route, client):
    response = client.get(reverse(route))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


@pytest.mark.parametrize("role", ["manager", "head_of_service"])
def test_the_page_offers_both_forms(role, client, users_by_role):
    login(client, users_by_role[role])
    response = client.get(reverse("interviews:returns"))
    page = response.content.decode()
    assert 'action="/returns/ssda903-missing.csv"' in page
    assert 'action="/returns/annex-a-list-8.csv"' in page
    # Starting values: the last collection year that has ended, and today.
    assert 'value="2025"' in page
    as_of = response.context["as_of_form"]["as_of"]
    assert [box.value for box in as_of.boxes()] == ["10", "6", "2026"]


@pytest.mark.parametrize(
    ("route", "params", "message"),
    [
        ("interviews:returns_ssda903", {"year": "abc"}, "Enter the year the collection year"),
        ("interviews:returns_ssda903", {"year": "2027"}, "that has already begun"),
        ("interviews:returns_ssda903", {}, "This field is required"),
        ("interviews:returns_annex_a", {"as_of": "2026-02-30"}, "must be a real date"),
        ("interviews:returns_annex_a", {"as_of": "2026-06-11"}, "cannot be in the future"),
    ],
)
def test_bad_input_is_a_form_error(route, params, message, client, manager):
    login(client, manager)
    response = client.get(reverse(route), params)
    assert response.status_code == 400
    page = response.content.decode()
    assert "There is a problem" in page
    assert message in page
    assert "govuk-form-group--error" in page


def test_the_903_download_streams_what_the_command_writes(
    caseload, client, head_of_service, django_assert_num_queries
):
    login(client, head_of_service)
    # The session, the user, the session's second-factor device, the check pass, the row
    # count and the access row recording it, the streamed write pass, and the request's
    # transaction (ATOMIC_REQUESTS: a savepoint and its release inside the test's): 9 whatever
    # the size.
    with django_assert_num_queries(9):
        response = client.get(reverse("interviews:returns_ssda903"), {"year": "2025"})
        body = b"".join(response.streaming_content)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="ssda903-missing-2025-26.csv"'
    assert response["Cache-Control"] == "no-store"
    assert body == command_output("export_ssda903_missing", "--year", "2025")
    assert body.startswith(b"CHILD,DOB,MISSING,MIS_START,MIS_END\r\nLA1001,14/05/2010,M,")


def test_the_annex_a_download_streams_what_the_command_writes(
    caseload, client, manager, django_assert_num_queries
):
    login(client, manager)
    # The session, the user, the session's second-factor device, children without an id, the
    # row count and the access row recording it, the streamed episodes, and the request's
    # savepoint and its release: 9.
    with django_assert_num_queries(9):
        response = client.get(reverse("interviews:returns_annex_a"), {"as_of": "2026-03-31"})
        body = b"".join(response.streaming_content)
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        'attachment; filename="annex-a-list-8-missing-2026-03-31.csv"'
    )
    assert body == command_output("export_annex_a_missing", "--as-of", "2026-03-31")
    assert b"\r\nLA1008,1,1,Y,Y\r\n" in body


def test_a_refusal_lists_each_record_and_sends_no_file(ffd, client, manager):
    nameless = child(None, date(2010, 1, 1))
    ep = episode(nameless, actor=ffd, last_seen_at=utc(2025, 5, 1, 10), returned_at=None)
    login(client, manager)
    response = client.get(reverse("interviews:returns_ssda903"), {"year": "2025"})
    assert response.status_code == 409
    assert not response.streaming
    assert "Content-Disposition" not in response
    page = response.content.decode()
    assert "would fail the national validator" in page
    assert f"E-{ep.pk} – rule CHILD: child C-{nameless.pk} has no council child id" in page
