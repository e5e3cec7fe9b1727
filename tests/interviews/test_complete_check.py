"""Check your answers before completing an interview (issue 13, item 9): "Complete" saves and
shows the record as saved, with "Change" links to each field; "Confirm and complete" is a POST
with the version shown, so a record changed since is a 409, never completed unseen."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from interviews import services
from interviews.models import InterviewStatus, ReturnInterview
from missing.models import EpisodeState, MissingEpisode, User
from tests.factories import ChildFactory
from tests.helpers import login
from tests.interviews.helpers import assign, open_interview, record_held, returned_episode

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


@pytest.fixture(autouse=True)
def _frozen_clock(now: datetime) -> Any:
    with time_machine.travel(now, tick=False):
        yield


@pytest.fixture
def recorded(ffd, manager, interviewer, now) -> ReturnInterview:
    episode = returned_episode(
        ffd=ffd, manager=manager, child=ChildFactory(first_name="Ash"), returned_at=now - 5 * H
    )
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    return record_held(
        interview,
        actor=interviewer,
        held_at=now - H,
        now=now,
        disclosures="Said she was given a phone by an older man",
        places=("The Arches", "Bus station"),
        associates=("Jay",),
    )


def signed_in(user: User) -> Client:
    client = Client()
    login(client, user)
    return client


def test_the_check_page_shows_what_will_be_submitted_with_change_links(recorded, interviewer):
    response = signed_in(interviewer).get(reverse("interviews:complete", args=[recorded.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    check = page[page.index('data-testid="complete-check"') :]
    for shown in (
        "Held",  # the outcome
        "Argument with mum about curfew",  # a push factor's note
        "Given vapes and a phone",  # a pull factor's note
        "Criminal exploitation",  # the harm
        "Asked to carry a bag",
        "Said she was given a phone by an older man",  # the disclosure
        "The Arches",  # places and people named
        "Jay",
    ):
        assert shown in check, shown
    record_url = reverse("interviews:record", args=[recorded.pk])
    for anchor in ("id_outcome_0", "id_harms", "id_disclosures", "id_places", "id_associates"):
        assert f'href="{record_url}#{anchor}"' in check
    assert "Harms or risks while missing" in check
    assert f'name="version" value="{recorded.version}"' in page
    # Looking changes nothing.
    assert ReturnInterview.objects.get().status == InterviewStatus.TO_ARRANGE


def test_confirming_completes(recorded, interviewer):
    response = signed_in(interviewer).post(
        reverse("interviews:complete", args=[recorded.pk]), {"version": recorded.version}
    )
    assert response.status_code == 302
    assert ReturnInterview.objects.get().status == InterviewStatus.COMPLETED
    assert MissingEpisode.objects.get().state == EpisodeState.AWAITING_SIGN_OFF


def test_a_stale_confirmation_is_a_409(recorded, interviewer, manager, now):
    shown = recorded.version
    # A manager corrects an answer after the interviewer opened the check page.
    services.interview_record_update(
        services.RecordData(changes={"held_place": "Library"}),
        actor=manager,
        interview_id=recorded.pk,
        expected_version=shown,
        now=now,
    )
    response = signed_in(interviewer).post(
        reverse("interviews:complete", args=[recorded.pk]), {"version": shown}
    )
    assert response.status_code == 409
    page = response.content.decode()
    assert "govuk-error-summary" in page
    assert ReturnInterview.objects.get().status == InterviewStatus.TO_ARRANGE
    # The page now shows the record as saved, and confirming confirms that version.
    assert "Library" in page
    assert f'name="version" value="{shown + 1}"' in page


def test_an_incomplete_record_is_refused_on_confirmation(recorded, interviewer, now):
    services.interview_record_update(
        services.RecordData(changes={"wishes_and_feelings": ""}),
        actor=interviewer,
        interview_id=recorded.pk,
        expected_version=recorded.version,
        now=now,
    )
    recorded.refresh_from_db()
    response = signed_in(interviewer).post(
        reverse("interviews:complete", args=[recorded.pk]), {"version": recorded.version}
    )
    assert response.status_code == 400
    assert "wishes" in response.content.decode().lower()
    assert ReturnInterview.objects.get().status == InterviewStatus.TO_ARRANGE


def test_only_the_assigned_interviewer_or_a_manager(recorded, other_interviewer, ffd, manager):
    url = reverse("interviews:complete", args=[recorded.pk])
    assert signed_in(manager).get(url).status_code == 200
    assert signed_in(other_interviewer).get(url).status_code in (403, 404)
    assert signed_in(ffd).get(url).status_code == 403
