"""The bugs Schemathesis found (tests/test_api_fuzz.py), each pinned by a plain test so that a
regression names itself without a fuzzing run."""

from __future__ import annotations

import pytest
from django.test import Client

from missing.models import EpisodeState
from tests.helpers import episode_in_state, login
from tests.missing.test_api import token_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path", ["/api/episodes/abc/", "/api/episodes/-1/return/", "/api/no-such-thing/"]
)
def test_an_api_address_that_matches_no_route_is_a_json_404(manager, path: str) -> None:
    response = token_client(manager).get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


def test_a_page_that_does_not_exist_is_still_the_html_404(client: Client, manager) -> None:
    login(client, manager)

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_nul_byte_in_the_children_search_is_a_400_naming_the_field(manager) -> None:
    # Name searches are a POST (a name never in a URL); a NUL byte cannot reach the database.
    response = token_client(manager).post(
        "/api/children/search/", {"search": "Ex\x00ample"}, format="json"
    )

    assert response.status_code == 400
    assert "search" in response.json()


@pytest.mark.parametrize(
    "params",
    [
        {"period_start": "0240-10-09", "period_end": "0240-10-10"},
        {"period_start": "9999-12-30", "period_end": "9999-12-31"},
    ],
)
def test_a_year_outside_1900_to_2999_is_refused(manager, params: dict[str, str]) -> None:
    response = token_client(manager).get("/api/interview-figures/", params)

    assert response.status_code == 400
    assert {"period_start", "period_end"} & set(response.json())


def test_blank_and_null_answers_are_sent_as_the_schema_says(ffd, manager, now) -> None:
    episode = episode_in_state(EpisodeState.RETURNED, ffd=ffd, manager=manager, now=now)

    body = token_client(manager).get(f"/api/episodes/{episode.pk}/").json()

    # Documented as the outcome enum or blank: blank until the interview is held or not held.
    assert body["interview_outcome"] == ""
    assert body["state"] == "returned"


@pytest.mark.parametrize(
    "query",
    [{"limit": "16999099673010110087049510912"}, {"offset": "16999099673010110087049510912"}],
)
def test_a_huge_limit_or_offset_is_served_not_a_500(manager, query) -> None:
    response = token_client(manager).get("/api/children/", query)

    assert response.status_code == 200
    body = response.json()
    assert len(body["results"]) <= 200
