"""The capped paginator: a list page's count stops at a cap, so its cost follows the page and
not the size of history (bench/README.md, episode_list)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from missing import pagination
from missing.models import Child, EpisodeState, User
from missing.pagination import CappedPaginator
from tests.factories import ChildFactory
from tests.helpers import episode_in_state, login


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
    monkeypatch.setattr("missing.views.PAGE_SIZE", 1)
    for _ in range(3):
        episode_in_state(EpisodeState.CLOSED, ffd=ffd, manager=manager, now=now)
    login(client, manager)

    page = client.get(reverse("episode_list")).content.decode()

    assert "Page 1 of 2 (more than 2; narrow the list to reach the rest)" in page
