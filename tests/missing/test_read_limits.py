"""Rate limits on every read of child data (issue 14 item 1): records, name searches and
exports, web and API, per user and per API token, counted in the shared cache; 429 with
Retry-After and a refusal row. See docs/decisions/0057-read-limits-and-misuse-alerts.md."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import caches
from django.test import Client, override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from missing.accounts import security
from missing.cases import services
from missing.models import (
    AccessAction,
    AccessLog,
    ApiToken,
    MissingEpisode,
    PoliceNotification,
    User,
)
from tests.factories import FIXED_NOW, ChildFactory
from tests.helpers import login, report_missing
from tests.missing.test_api import missing_payload

pytestmark = pytest.mark.django_db

T = FIXED_NOW  # 12:00:00 UTC: an hourly window has 3600 seconds left
LIMITS = {"list": "100/minute", "read": "3/hour", "search": "2/hour", "export": "2/hour"}


@pytest.fixture(autouse=True)
def _clock_and_limits():
    with time_machine.travel(T, tick=False), override_settings(RATE_LIMITS=LIMITS):
        yield


@pytest.fixture
def episode(ffd: User) -> MissingEpisode:
    return report_missing(actor=ffd, now=T)


def _web(user: User) -> Client:
    client = Client()
    login(client, user)
    return client


def _api(user: User) -> APIClient:
    client = APIClient()
    login(client, user)
    return client


def _token(user: User) -> APIClient:
    client = APIClient()
    raw = services.api_token_create(user=user, scope=ApiToken.Scope.FULL, now=T)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _refusals(route: str) -> list[AccessLog]:
    return list(AccessLog.objects.filter(action=AccessAction.REFUSE, route=route))


def _assert_web_429(response, *, seconds: int) -> None:
    assert response.status_code == 429
    assert response["Retry-After"] == str(seconds)
    body = response.content.decode()
    assert "Too many requests" in body
    assert f"Try again in {seconds} seconds" in body
    assert 'class="govuk-heading-l"' in body


def _assert_api_429(response, *, limit: str, seconds: int) -> None:
    assert response.status_code == 429
    assert response["Retry-After"] == str(seconds)
    assert set(response.json()) == {"detail"}
    assert limit in response.json()["detail"]


def test_web_record_pages_share_the_read_limit_and_refuse_with_the_page(
    manager: User, episode: MissingEpisode
) -> None:
    client = _web(manager)
    assert client.get(reverse("child_detail", args=[episode.child_id])).status_code == 200
    assert client.get(reverse("episode_detail", args=[episode.pk])).status_code == 200
    # A probe for a record that does not exist counts too (IDOR probing is a harvest).
    assert client.get(reverse("child_detail", args=[999999])).status_code == 404
    refused = client.get(reverse("episode_detail", args=[episode.pk]))
    _assert_web_429(refused, seconds=3600)
    assert "at 14:00" in refused.content.decode()  # 13:00 UTC, shown in London time
    [row] = _refusals("episode_detail")
    assert (row.user, row.reference, row.detail["status"]) == (manager, f"pk={episode.pk}", 429)
    # The refused read was not logged as a read.
    assert not AccessLog.objects.filter(action=AccessAction.VIEW, route="episode_detail")[1:]


def test_api_record_reads_are_limited_in_the_api_error_shape(
    manager: User, episode: MissingEpisode
) -> None:
    client = _api(manager)
    assert client.get(f"/api/children/{episode.child_id}/").status_code == 200
    assert client.get(f"/api/episodes/{episode.pk}/").status_code == 200
    assert client.get(f"/api/episodes/{episode.pk}/").status_code == 200
    refused = client.get(f"/api/children/{episode.child_id}/")
    _assert_api_429(refused, limit="3/hour", seconds=3600)
    assert "record" in refused.json()["detail"]
    assert len(_refusals("api-child-detail")) == 1


def test_a_read_on_a_route_that_names_no_limit_is_counted_by_the_access_log(
    manager: User, episode: MissingEpisode
) -> None:
    """Every read that writes an access row counts: the events API and the Philomena Part 1
    page name no limit of their own, and are refused all the same (API and web)."""
    api = _api(manager)
    for _ in range(3):
        assert api.get(f"/api/episodes/{episode.pk}/events/").status_code == 200
    _assert_api_429(api.get(f"/api/episodes/{episode.pk}/events/"), limit="3/hour", seconds=3600)
    assert len(_refusals("api-episode-events")) == 1

    web = _web(manager)
    web_part1 = reverse("philomena_child_part1", args=[episode.child_id])
    # The web session is the same user: its budget is spent by the API calls above.
    _assert_web_429(web.get(web_part1), seconds=3600)
    [row] = _refusals("philomena_child_part1")
    assert row.detail["status"] == 429
    # Nothing was logged as read by the refused requests.
    assert AccessLog.objects.filter(action=AccessAction.VIEW).count() == 3


def test_name_search_is_limited_on_the_web_and_the_api(manager: User) -> None:
    ChildFactory(last_name="Rivers")
    web = _web(manager)
    assert web.post(reverse("child_list"), {"q": "Riv"}).status_code == 200
    assert web.post(reverse("child_list"), {"q": "Riv"}).status_code == 200
    _assert_web_429(web.post(reverse("child_list"), {"q": "Riv"}), seconds=3600)
    # Browsing the list is a list, not a search: its own budget.
    assert web.get(reverse("child_list")).status_code == 200
    assert len(_refusals("child_list")) == 1

    api = _token(manager)  # a token's own count: the session's searches are not its
    for _ in range(2):
        assert (
            api.post("/api/children/search/", {"search": "Riv"}, format="json").status_code == 200
        )
    refused = api.post("/api/children/search/", {"search": "Riv"}, format="json")
    _assert_api_429(refused, limit="2/hour", seconds=3600)
    assert "search" in refused.json()["detail"]
    assert len(_refusals("api-children-search")) == 1


def test_philomena_part_1_downloads_are_exports(manager: User, episode: MissingEpisode) -> None:
    client = _web(manager)
    url = reverse("philomena_child_part1_download", args=[episode.child_id])
    assert client.get(url).status_code == 200
    assert client.get(reverse("philomena_part1_download", args=[episode.pk])).status_code == 200
    _assert_web_429(client.get(url), seconds=3600)
    assert AccessLog.objects.filter(action=AccessAction.EXPORT).count() == 2
    assert len(_refusals("philomena_child_part1_download")) == 1
    # Exports and record reads are separate budgets.
    assert client.get(reverse("child_detail", args=[episode.child_id])).status_code == 200


def test_the_interview_export_and_national_returns_share_the_export_limit(
    manager: User,
) -> None:
    client = _web(manager)
    assert client.get(reverse("interviews:export")).status_code == 200
    assert client.get(reverse("interviews:returns_ssda903") + "?year=2025").status_code == 200
    _assert_web_429(client.get(reverse("interviews:export")), seconds=3600)


def test_a_token_counts_apart_from_its_users_session(
    manager: User, episode: MissingEpisode
) -> None:
    session = _api(manager)
    token = _token(manager)
    other_token = _token(manager)
    for _ in range(3):
        assert session.get(f"/api/episodes/{episode.pk}/").status_code == 200
    assert session.get(f"/api/episodes/{episode.pk}/").status_code == 429
    # The same person's token has its own count, and each token its own.
    for _ in range(3):
        assert token.get(f"/api/episodes/{episode.pk}/").status_code == 200
    _assert_api_429(token.get(f"/api/episodes/{episode.pk}/"), limit="3/hour", seconds=3600)
    assert other_token.get(f"/api/episodes/{episode.pk}/").status_code == 200
    refused = AccessLog.objects.filter(action=AccessAction.REFUSE, user=manager).count()
    assert refused == 2


def test_the_window_passes(manager: User, episode: MissingEpisode) -> None:
    client = _api(manager)
    for _ in range(3):
        client.get(f"/api/episodes/{episode.pk}/")
    later = T + timedelta(minutes=59, seconds=30)
    with time_machine.travel(later, tick=False):
        login(client, manager)  # the session's idle limit has passed meanwhile
        _assert_api_429(client.get(f"/api/episodes/{episode.pk}/"), limit="3/hour", seconds=30)
    with time_machine.travel(T + timedelta(hours=1), tick=False):
        login(client, manager)
        assert client.get(f"/api/episodes/{episode.pk}/").status_code == 200


@override_settings(RATE_LIMITS=dict.fromkeys(LIMITS, "1/hour"))
def test_police_intake_is_never_limited(police_system: User) -> None:
    client = APIClient()
    raw = services.api_token_create(user=police_system, scope=ApiToken.Scope.INTAKE, now=T)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for n in range(4):
        body = missing_payload(police_reference=f"KNT-RATE-{n}", council_child_id=f"CC-R{n}")
        assert client.post("/api/notifications/", body, format="json").status_code == 201
    assert PoliceNotification.objects.count() == 4
    assert not AccessLog.objects.filter(action=AccessAction.REFUSE).exists()


# --------------------------------------------------------------------------------------------
# One counter for every worker (Redis)
# --------------------------------------------------------------------------------------------


def _redis_url() -> str:
    url = os.environ.get("CACHE_URL") or os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        pytest.skip("needs Redis (CACHE_URL or a redis:// CELERY_BROKER_URL)")
    return url


@pytest.fixture
def redis_workers(monkeypatch):
    """Two workers' caches: two RedisCache clients, each with its own connection pool, on one
    Redis under a prefix of this test's own. `use(worker)` makes the limiter count through it."""
    prefix = f"test-workers-{uuid.uuid4().hex}"
    config = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _redis_url(),
            "KEY_PREFIX": prefix,
        }
    }
    with override_settings(CACHES=config):
        first, second = caches.create_connection("default"), caches.create_connection("default")
        assert first._cache is not second._cache
        yield lambda worker: monkeypatch.setattr(security, "cache", worker), first, second
        client = first._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)


def test_two_workers_count_on_one_counter(
    redis_workers, manager: User, episode: MissingEpisode
) -> None:
    """Requests answered by alternate workers add to one count: the fourth read is refused
    whichever worker it reaches."""
    use, first, second = redis_workers
    client = _api(manager)
    url = f"/api/episodes/{episode.pk}/"
    for worker in (first, second, first):
        use(worker)
        assert client.get(url).status_code == 200
    use(second)
    _assert_api_429(client.get(url), limit="3/hour", seconds=3600)
    key = f"ratelimit:read:user:{manager.pk}:{int(T.timestamp())}"
    assert first.get(key) == second.get(key) == 4
