"""Change history (django-pghistory): captured by PostgreSQL triggers, bulk updates included,
with who and on which route; shown to managers on the episode page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from interviews.models import InterviewFactorHistory, ReturnInterviewHistory
from missing.models import EpisodeHistory, MissingEpisode, OversightDecisionHistory
from tests.helpers import login, report_missing
from tests.interviews.helpers import open_interview, record_held, returned_episode

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="pghistory's triggers exist on PostgreSQL only"
    ),
]


def test_a_bulk_update_is_captured_field_by_field(ffd, now):
    episode = report_missing(actor=ffd, now=now)
    before = EpisodeHistory.objects.filter(pgh_obj_id=episode.pk).count()

    # No save(), no signal: a queryset update straight to the database.
    MissingEpisode.objects.filter(pk=episode.pk).update(last_seen_place="Railway station")

    events = EpisodeHistory.objects.filter(pgh_obj_id=episode.pk).order_by("pgh_id")
    assert events.count() == before + 1
    previous, last = events[before - 1], events[before]
    assert last.pgh_label == "update"
    assert (previous.last_seen_place, last.last_seen_place) == ("Town centre", "Railway station")


def test_a_change_through_the_api_is_captured_with_the_user_and_the_route(ffd, manager, now):
    episode = report_missing(actor=ffd, now=now - timedelta(hours=1))
    client = APIClient()
    login(client, manager)

    response = client.post(
        f"/api/episodes/{episode.pk}/decisions/",
        {"risk": "high", "rationale": "Known to be with adults of concern"},
        format="json",
    )

    assert response.status_code == 201
    update = EpisodeHistory.objects.filter(pgh_obj_id=episode.pk).latest("pgh_id")
    assert update.manager_risk == "high"
    assert update.pgh_context.metadata == {"user": manager.pk, "route": "api-episode-decisions"}
    decision = OversightDecisionHistory.objects.get(episode_id=episode.pk)
    assert decision.pgh_label == "insert"
    assert decision.pgh_context_id == update.pgh_context_id  # one request, one context


def test_a_token_client_is_named_in_the_history(ffd, manager, now):
    from missing.cases import services

    episode = report_missing(actor=ffd, now=now - timedelta(hours=1))
    token = services.api_token_create(
        user=manager, scope="full", now=timezone.now()
    )  # the request runs on the real clock: a token from FIXED_NOW has expired
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = client.post(
        f"/api/episodes/{episode.pk}/cancel/", {"reason": "Logged twice"}, format="json"
    )

    assert response.status_code == 200, response.content
    update = EpisodeHistory.objects.filter(pgh_obj_id=episode.pk).latest("pgh_id")
    assert update.state == "cancelled"
    assert update.pgh_context.metadata["user"] == manager.pk


def test_interview_records_and_factors_are_tracked(ffd, manager, interviewer, now):
    episode = returned_episode(ffd=ffd, manager=manager, returned_at=now - timedelta(hours=2))
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    record_held(interview, actor=manager, held_at=now - timedelta(minutes=30), now=now)

    assert ReturnInterviewHistory.objects.filter(pgh_obj_id=interview.pk).count() >= 2
    assert InterviewFactorHistory.objects.filter(interview_id=interview.pk).count() == 3


def test_the_episode_page_shows_the_change_history_to_managers(ffd, manager, now, client):
    episode = report_missing(actor=ffd, now=now - timedelta(hours=1))
    MissingEpisode.objects.filter(pk=episode.pk).update(last_seen_place="Railway station")
    login(client, manager)

    page = client.get(reverse("episode_detail", args=[episode.pk])).content.decode()

    history = page[page.index("Change history") :]
    assert "Last seen place: Town centre → Railway station" in history


def test_practitioners_do_not_see_the_change_history(ffd, now, client):
    episode = report_missing(actor=ffd, now=now - timedelta(hours=1))
    login(client, ffd)
    page = client.get(reverse("episode_detail", args=[episode.pk])).content.decode()
    assert "Change history" not in page
