"""The capped count, on the web and in the API: a list's count stops at a cap, so its cost
follows the page and not the size of history (bench/README.md, episode_list)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from missing.models import Child, EpisodeState, User
from missing.web import pagination
from missing.web.pagination import CappedPaginator
from tests.factories import ChildFactory
from tests.helpers import episode_in_state, login, report_missing


@pytest.mark.django_db
def test_counts_at_most_the_cap_with_one_limited_query() -> None:
    children = [ChildFactory() for _ in range(7)]
    paginator = CappedPaginator(Child.objects.order_by("pk"), 2, cap=5)

    with CaptureQueriesContext(connection) as captured:
        assert paginator.count == 5
        assert paginator.capped is True
    assert len(captured.captured_queries) == 1
    # The count never reads past cap + 1 rows.
    assert "LIMIT 6" in captured.captured_queries[0]["sql"]
    assert paginator.num_pages == 3
    # Pages reach the first `cap` rows: the last one holds the fifth child only.
    assert list(paginator.get_page(3).object_list) == [children[4]]
    assert list(paginator.get_page(99).object_list) == [children[4]]


@pytest.mark.django_db
def test_under_the_cap_it_is_the_exact_count() -> None:
    for _ in range(4):
        ChildFactory()
    paginator = CappedPaginator(Child.objects.order_by("pk"), 2, cap=5)

    assert paginator.count == 4
    assert paginator.capped is False
    assert paginator.num_pages == 2


def test_episode_list_says_when_the_count_is_capped(
    client: Client, ffd: User, manager: User, now: datetime, monkeypatch: Any
) -> None:
    monkeypatch.setattr(pagination, "COUNT_CAP", 2)
    monkeypatch.setattr("missing.web.views.PAGE_SIZE", 1)
    for _ in range(3):
        episode_in_state(EpisodeState.CLOSED, ffd=ffd, manager=manager, now=now)
    login(client, manager)

    page = client.get(reverse("episode_list")).content.decode()

    assert "Page 1 of 2 (more than 2; narrow the list to reach the rest)" in page


# --------------------------------------------------------------------------------------------
# The API: the same capped count (missing.web.pagination.capped_count), reported as "N+"
# --------------------------------------------------------------------------------------------


def _api(user: User) -> APIClient:
    client = APIClient()
    login(client, user)
    return client


def test_the_api_list_counts_with_one_limited_query(
    ffd: User, manager: User, now: datetime, monkeypatch: Any
) -> None:
    monkeypatch.setattr(pagination, "COUNT_CAP", 2)
    for _ in range(4):
        report_missing(actor=ffd, now=now)
    client = _api(manager)

    with CaptureQueriesContext(connection) as captured:
        answer = client.get("/api/episodes/?limit=1").json()

    assert answer["count"] == 2
    assert answer["count_capped"] is True
    assert len(answer["results"]) == 1
    assert "offset=1" in answer["next"]
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    # One count, and it reads at most cap + 1 rows: never a COUNT(*) of the whole table.
    assert len(counts) == 1
    assert "LIMIT 3" in counts[0]


def test_the_api_list_under_the_cap_is_the_exact_count(
    ffd: User, manager: User, now: datetime
) -> None:
    for _ in range(3):
        report_missing(actor=ffd, now=now)

    answer = _api(manager).get("/api/episodes/?limit=2").json()

    assert answer["count"] == 3
    assert answer["count_capped"] is False
    assert "offset=2" in answer["next"]


def test_walking_next_past_the_cap_reaches_every_row(
    ffd: User, manager: User, now: datetime, monkeypatch: Any
) -> None:
    """The cap bounds the count, not the list: a client following `next` reads it all."""
    monkeypatch.setattr(pagination, "COUNT_CAP", 2)
    episodes = {report_missing(actor=ffd, now=now).pk for _ in range(5)}
    client = _api(manager)

    seen: list[int] = []
    url: str | None = "/api/episodes/?limit=2"
    pages = []
    while url:
        answer = client.get(url).json()
        pages.append((answer["count"], answer["count_capped"]))
        seen += [row["id"] for row in answer["results"]]
        url = answer["next"]

    assert sorted(seen) == sorted(episodes)
    # Offsets 0, 2, 4: the count reaches the cap (2) or the end of the page, whichever is
    # further, and says "N+" while rows lie beyond it.
    assert pages == [(2, True), (4, True), (5, False)]


def test_an_offset_past_the_end_is_an_empty_page(ffd: User, manager: User, now: datetime) -> None:
    report_missing(actor=ffd, now=now)

    answer = _api(manager).get("/api/episodes/?offset=5").json()

    assert answer == {
        "count": 1,
        "count_capped": False,
        "next": None,
        "previous": answer["previous"],
        "results": [],
    }
