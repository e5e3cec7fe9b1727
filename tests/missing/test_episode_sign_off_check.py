"""The episode's own sign-off (no interview record holds the outcome): the prominent next step
for those who may sign off, the check of the record before it, and the rule that an episode
flagged for exploitation is signed off only with a note saying why (web and API, one service).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from missing.cases import services
from missing.models import EpisodeState, MissingEpisode, RepeatMissingRule, User
from tests.helpers import episode_in_state, login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_clock(now: datetime) -> Any:
    with time_machine.travel(now, tick=False):
        yield


def signed_in(user: User, client: Any = None) -> Any:
    client = client or Client()
    login(client, user)
    return client


def flagged(episode: MissingEpisode, *, manager: User, now: datetime) -> MissingEpisode:
    return services.episode_set_flags(
        services.FlagsData(
            sexual_exploitation=True, criminal_exploitation=False, mental_health=False
        ),
        actor=manager,
        episode_id=episode.pk,
        now=now,
        expected_version=episode.version,
    )


def test_sign_off_is_the_banner_at_the_top_for_managers_only(ffd, manager, now):
    episode = episode_in_state(EpisodeState.AWAITING_SIGN_OFF, ffd=ffd, manager=manager, now=now)
    url = reverse("episode_detail", args=[episode.pk])
    sign_off_url = reverse("episode_sign_off", args=[episode.pk])
    page = signed_in(manager).get(url).content.decode()
    banner_at = page.index('data-testid="sign-off-banner"')
    assert sign_off_url in page[banner_at : banner_at + 1500]
    assert banner_at < page.index("Missing and found")
    page = signed_in(ffd).get(url).content.decode()
    assert 'data-testid="sign-off-banner"' not in page
    assert sign_off_url not in page


def test_the_sign_off_page_shows_the_record_and_refuses_a_flagged_episode_without_a_note(
    ffd, manager, now
):
    RepeatMissingRule.objects.exclude(code="exploitation").update(active=False)
    episode = episode_in_state(EpisodeState.AWAITING_SIGN_OFF, ffd=ffd, manager=manager, now=now)
    episode = flagged(episode, manager=manager, now=now)
    client = signed_in(manager)
    url = reverse("episode_sign_off", args=[episode.pk])
    page = client.get(url).content.decode()
    record = page[page.index('data-testid="sign-off-record"') :]
    assert "Sexual exploitation" in record
    assert "exploitation" in record[record.index("Open risk meeting tasks") :].lower()

    refused = client.post(url, {"version": episode.version, "note": ""})
    assert refused.status_code == 400
    assert 'href="#id_note"' in refused.content.decode()
    assert "flagged for sexual exploitation" in refused.content.decode()
    assert MissingEpisode.objects.get().state == EpisodeState.AWAITING_SIGN_OFF

    stale = client.post(url, {"version": episode.version - 1, "note": "Known; plan in place."})
    assert stale.status_code == 409
    assert MissingEpisode.objects.get().state == EpisodeState.AWAITING_SIGN_OFF

    client.post(url, {"version": episode.version, "note": "Known; plan in place."})
    assert MissingEpisode.objects.get().state == EpisodeState.CLOSED


def test_the_api_refuses_a_flagged_episode_without_a_note(ffd, manager, now):
    episode = episode_in_state(EpisodeState.AWAITING_SIGN_OFF, ffd=ffd, manager=manager, now=now)
    episode = flagged(episode, manager=manager, now=now)
    api = signed_in(manager, APIClient())
    url = f"/api/episodes/{episode.pk}/sign-off/"
    refused = api.post(url, {"version": episode.version}, format="json")
    assert refused.status_code == 400
    assert "flagged for sexual exploitation" in refused.json()["note"][0]
    signed = api.post(url, {"version": episode.version, "note": "Known; plan."}, format="json")
    assert signed.status_code == 200, signed.json()
    assert MissingEpisode.objects.get().state == EpisodeState.CLOSED
