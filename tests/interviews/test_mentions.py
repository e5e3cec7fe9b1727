"""Places the child went or stayed and people they were with: one per line on the tablet form,
kept as structured rows (InterviewMention) through the services, the autosave and the API."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from interviews import services
from interviews.models import InterviewMention, ReturnInterview
from missing.cases.errors import Conflict, InvalidInput
from tests.factories import ChildFactory
from tests.helpers import login
from tests.interviews.helpers import assign, open_interview, returned_episode
from tests.interviews.test_views import record_post

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


@pytest.fixture(autouse=True)
def _frozen_clock(now: datetime) -> Any:
    with time_machine.travel(now, tick=False):
        yield


@pytest.fixture
def interview(ffd, manager, interviewer, now) -> ReturnInterview:
    episode = returned_episode(
        ffd=ffd, manager=manager, child=ChildFactory(), returned_at=now - 5 * H
    )
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    return assign(interview, manager=manager, interviewer=interviewer, now=now)


def saved(interview: ReturnInterview) -> list[tuple[str, str, str, int]]:
    return list(
        InterviewMention.objects.filter(interview=interview)
        .order_by("kind", "position")
        .values_list("kind", "name", "normalised_name", "position")
    )


def update(interview: ReturnInterview, actor, now, **changes: Any) -> services.RecordResult:
    interview.refresh_from_db()
    return services.interview_record_update(
        services.RecordData(changes=changes),
        actor=actor,
        interview_id=interview.pk,
        expected_version=interview.version,
        now=now,
    )


def test_names_are_trimmed_blanks_dropped_and_each_kept_once(interview, interviewer, now):
    update(
        interview,
        interviewer,
        now,
        places=("  The  Arches ", "", "the arches", "Bus station"),
        associates=("Dan (about 20)",),
    )
    assert saved(interview) == [
        ("associate", "Dan (about 20)", "dan (about 20)", 0),
        ("place", "The Arches", "the arches", 0),
        ("place", "Bus station", "bus station", 1),
    ]
    interview.refresh_from_db()
    values = services.record_values(interview)
    assert values["places"] == ("The Arches", "Bus station")
    assert values["associates"] == ("Dan (about 20)",)
    # Saving the same again changes nothing (no new version).
    version = interview.version
    result = update(interview, interviewer, now, places=("The Arches", "Bus station"))
    assert result.changed == ()
    interview.refresh_from_db()
    assert interview.version == version


def test_replacing_the_list(interview, interviewer, now):
    update(interview, interviewer, now, places=("A", "B"))
    update(interview, interviewer, now, places=("C",))
    assert [row[1] for row in saved(interview)] == ["C"]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (tuple(f"Place {i}" for i in range(51)), "at most 50"),
        (("x" * 201,), "at most 200 characters"),
    ],
)
def test_too_many_or_too_long_is_refused_and_nothing_saved(
    interview, interviewer, now, names, message
):
    interview.refresh_from_db()
    version = interview.version
    with pytest.raises(InvalidInput) as refused:
        update(interview, interviewer, now, places=names, present="Changed")
    assert message in refused.value.field_errors["places"][0]
    interview.refresh_from_db()
    assert (interview.version, interview.present, saved(interview)) == (version, "", [])


def test_a_clash_on_places_is_a_conflict_with_the_differences(interview, interviewer, manager, now):
    interview.refresh_from_db()
    opened = interview.version
    update(interview, manager, now, places=("Park",))
    with pytest.raises(Conflict) as clash:
        services.interview_record_update(
            services.RecordData(changes={"places": ("Station", "Park")}, base={"places": ()}),
            actor=interviewer,
            interview_id=interview.pk,
            expected_version=opened,
            now=now,
        )
    assert clash.value.extra["differences"] == [
        {
            "field": "places",
            "label": "Places the child went or stayed",
            "yours": "Station; Park",
            "theirs": "Park",
        }
    ]
    # Another field changed meanwhile merges without a clash.
    merged = services.interview_record_update(
        services.RecordData(changes={"associates": ("Kelly",)}, base={"associates": ()}),
        actor=interviewer,
        interview_id=interview.pk,
        expected_version=opened,
        now=now,
    )
    assert merged.merged is True
    assert [r[1] for r in saved(interview)] == ["Kelly", "Park"]


def test_the_tablet_form_one_per_line(interview, interviewer):
    client = Client()
    login(client, interviewer)
    url = reverse("interviews:record", args=[interview.pk])
    response = client.post(
        url,
        record_post(
            interview,
            places="The Arches\r\n\r\n  the arches \r\nBus station",
            associates="Dan (about 20)\r\nKelly",
        ),
    )
    assert response.status_code == 302
    assert [r[1] for r in saved(interview)] == [
        "Dan (about 20)",
        "Kelly",
        "The Arches",
        "Bus station",
    ]
    page = client.get(url).content.decode()
    # (Django starts a textarea with a newline, which browsers drop.)
    assert 'id="id_places">\nThe Arches\nBus station</textarea>' in page
    assert "Places the child went or stayed, one per line" in page
    detail = client.get(reverse("interviews:detail", args=[interview.pk])).content.decode()
    assert "<li>Bus station</li>" in detail


def test_the_autosave_carries_them(interview, interviewer, manager, now):
    client = Client()
    login(client, interviewer)
    interview.refresh_from_db()
    opened = interview.version
    body = record_post(interview, places="Park\nStation", associates="")
    response = client.post(reverse("interviews:record_autosave", args=[interview.pk]), body)
    assert response.status_code == 200, response.content
    pairs = response.json()["pairs"]
    assert ["places", "Park\nStation"] in pairs
    assert ["associates", ""] in pairs
    # Meanwhile a manager names someone; the tablet, still on its older version, adds a place
    # from the base it last saw: the two edits merge, each keeping its own field.
    update(interview, manager, now, associates=("Kelly",))
    again = client.post(
        reverse("interviews:record_autosave", args=[interview.pk]),
        {
            **record_post(interview, places="Park\nStation\nShop", associates=""),
            "version": opened + 1,
            "base": json.dumps(pairs),
        },
    )
    assert again.status_code == 200, again.content
    assert again.json()["merged"] is True
    assert [r[1] for r in saved(interview)] == ["Kelly", "Park", "Station", "Shop"]


def test_the_api(interview, interviewer):
    api = APIClient()
    login(api, interviewer)
    interview.refresh_from_db()
    url = f"/api/interviews/{interview.pk}/record/"
    response = api.patch(
        url,
        {"version": interview.version, "places": ["Park", " park ", ""], "associates": ["Kelly"]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    detail = api.get(f"/api/interviews/{interview.pk}/").json()
    assert (detail["places"], detail["associates"]) == (["Park"], ["Kelly"])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Park", "list"),
        ([7], "text"),
        (["x" * 201], "200"),
        ([f"P{i}" for i in range(51)], "50"),
    ],
)
def test_the_api_refuses_bad_lists(interview, interviewer, value, message):
    api = APIClient()
    login(api, interviewer)
    interview.refresh_from_db()
    response = api.patch(
        f"/api/interviews/{interview.pk}/record/",
        {"version": interview.version, "places": value},
        format="json",
    )
    assert response.status_code == 400
    assert message in str(response.json()["places"])
    assert saved(interview) == []
