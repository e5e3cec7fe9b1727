"""The Philomena profile and Part 1 (missing.cases.philomena and its pages and API), through the real
services, pages and API: roles and need-to-know, photo checks, the computed missing history,
Part 1 and its download with their access-log rows, retention and merging."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from missing.audit import retention
from missing.cases import philomena, services
from missing.cases.errors import Conflict, InvalidInput, NotAllowed
from missing.cases.merge import MergeData, child_merge
from missing.cases.philomena import PhilomenaData
from missing.models import (
    AccessAction,
    AccessLog,
    Child,
    MissingEpisode,
    PhilomenaProfile,
    User,
)
from tests.factories import FIXED_NOW, ChildFactory, force, grade
from tests.helpers import login

# A 1x1 PNG and the start of a JPEG: their first bytes are all the check reads.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
GIF = b"GIF89a" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> Iterator[Path]:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def at_fixed_now() -> Iterator[None]:
    with time_machine.travel(FIXED_NOW, tick=False):
        yield


def png(name: str = "Zebedee.png", content: bytes = PNG) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="image/png")


def episode_for(
    child: Child,
    *,
    actor: User,
    last_seen_at: datetime,
    found_place: str = "Home",
    returned: bool = True,
    kind: str = MissingEpisode.Kind.MISSING,
) -> MissingEpisode:
    episode = services.episode_open(
        actor=actor,
        child=child,
        police_force=force(),
        police_reference=f"KNT-P-{child.pk}-{last_seen_at:%Y%m%d%H%M}",
        grade=grade("medium"),
        kind=kind,
        last_seen_at=last_seen_at,
        last_seen_place="Town centre",
        reported_at=last_seen_at + timedelta(hours=1),
        notified_at=last_seen_at + timedelta(hours=1),
        circumstances="Did not come home from school.",
        reported_by="Foster carer",
        now=last_seen_at + timedelta(hours=1),
    )
    if not returned:
        return episode
    return services.episode_record_return(
        services.ReturnData(
            returned_at=last_seen_at + timedelta(hours=5),
            found_place=found_place,
            found_by="Police",
            prevention_interview_done=True,
        ),
        actor=actor,
        episode_id=episode.pk,
        now=last_seen_at + timedelta(hours=5),
    )


def profile_data(**overrides: Any) -> PhilomenaData:
    values: dict[str, Any] = {
        "height": "160 cm",
        "build": "Slim",
        "hair": "Dark brown, shoulder length",
        "eyes": "Brown",
        "skin": "Light",
        "distinguishing_features": "Scar above left eyebrow",
        "usual_clothing": "Black puffer jacket, white trainers",
        "associates": [
            {"name": "Dax Older", "relationship": "Adult 'friend'", "risk": True, "notes": ""}
        ],
        "places": ["Bus station, Maidstone", "McDonald's, High Street"],
        "phone_numbers": ["07700 900123"],
        "social_media": ["Snapchat: zq_2011"],
        "medical_needs": "Asthma",
        "medication": "Salbutamol inhaler",
        "language_needs": "",
        "other_information": "Responds to female officers.",
    }
    values.update(overrides)
    return PhilomenaData(**values)


def interviewer_granted(child: Child, *, ffd: User, interviewer: User) -> MissingEpisode:
    episode = episode_for(child, actor=ffd, last_seen_at=FIXED_NOW - timedelta(days=2))
    services.access_grant(episode=episode, user=interviewer, now=FIXED_NOW)
    return episode


# --------------------------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------------------------


def test_save_creates_then_updates_and_records_who_and_when(ffd, manager):
    child = ChildFactory()
    first = philomena.philomena_save(
        profile_data(), actor=ffd, child_id=child.pk, version=0, now=FIXED_NOW
    )
    assert (first.version, first.last_reviewed_by, first.last_reviewed_at) == (1, ffd, FIXED_NOW)
    assert first.places == ["Bus station, Maidstone", "McDonald's, High Street"]
    later = FIXED_NOW + timedelta(days=3)
    second = philomena.philomena_save(
        profile_data(hair="Dyed red"), actor=manager, child_id=child.pk, version=1, now=later
    )
    assert second.pk == first.pk
    assert (second.version, second.hair, second.last_reviewed_by) == (2, "Dyed red", manager)
    assert second.created_at == FIXED_NOW
    assert second.last_reviewed_at == later


def test_stale_version_is_a_conflict(ffd, manager):
    child = ChildFactory()
    philomena.philomena_save(profile_data(), actor=ffd, child_id=child.pk, now=FIXED_NOW)
    with pytest.raises(Conflict):
        philomena.philomena_save(
            profile_data(), actor=manager, child_id=child.pk, version=0, now=FIXED_NOW
        )


def test_interviewer_may_not_edit_but_the_childs_social_worker_may(ffd, interviewer):
    child = ChildFactory()
    interviewer_granted(child, ffd=ffd, interviewer=interviewer)
    with pytest.raises(NotAllowed):
        philomena.philomena_save(
            profile_data(), actor=interviewer, child_id=child.pk, now=FIXED_NOW
        )
    social_worker = User.objects.create(username="sw", role="interviewer", is_active=True)
    other = ChildFactory(social_worker=social_worker)
    saved = philomena.philomena_save(
        profile_data(), actor=social_worker, child_id=other.pk, now=FIXED_NOW
    )
    assert saved.last_reviewed_by == social_worker
    assert list(philomena.readable_children(social_worker)) == [other]


def test_a_child_the_actor_may_not_see_is_not_found(other_interviewer):
    child = ChildFactory()
    with pytest.raises(Child.DoesNotExist):
        philomena.philomena_save(
            profile_data(), actor=other_interviewer, child_id=child.pk, now=FIXED_NOW
        )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (GIF, "The photograph must be a JPEG or PNG image."),
        (b"", "The selected file is empty."),
        (PNG + b"\x00" * (philomena.PHOTO_MAX_BYTES), "The photograph must be 5 MB or smaller."),
    ],
    ids=["gif", "empty", "too-large"],
)
def test_bad_photo_is_refused_naming_the_field(ffd, content, message):
    child = ChildFactory()
    with pytest.raises(InvalidInput) as refused:
        philomena.philomena_save(
            profile_data(), actor=ffd, child_id=child.pk, photo=png(content=content), now=FIXED_NOW
        )
    assert refused.value.field_errors == {"photo": [message]}
    assert not PhilomenaProfile.objects.exists()


def test_photo_type_comes_from_the_bytes_and_the_name_is_random(
    ffd, django_capture_on_commit_callbacks
):
    child = ChildFactory()
    # A JPEG sent as "image/png" named after the child is stored as a JPEG, under a random name.
    upload = SimpleUploadedFile("Quuxworth.png", JPEG, content_type="image/png")
    profile = philomena.philomena_save(
        profile_data(), actor=ffd, child_id=child.pk, photo=upload, now=FIXED_NOW
    )
    assert profile.photo_content_type == "image/jpeg"
    assert re.fullmatch(r"philomena/[0-9a-f]{32}\.jpg", profile.photo.name), profile.photo.name
    old = profile.photo.name
    with django_capture_on_commit_callbacks(execute=True):
        replaced = philomena.philomena_set_photo(
            actor=ffd, child_id=child.pk, photo=png(), now=FIXED_NOW
        )
    assert replaced.photo_content_type == "image/png"
    assert default_storage.exists(replaced.photo.name)
    assert not default_storage.exists(old)


# --------------------------------------------------------------------------------------------
# Previous missing history, from the episodes
# --------------------------------------------------------------------------------------------


def test_history_is_computed_from_episodes(ffd, manager):
    child = ChildFactory()
    old = episode_for(child, actor=ffd, last_seen_at=FIXED_NOW - timedelta(days=400))
    recent = [
        episode_for(
            child,
            actor=ffd,
            last_seen_at=FIXED_NOW - timedelta(days=days),
            found_place=f"Place {days}",
            kind=MissingEpisode.Kind.AWAY if days == 10 else MissingEpisode.Kind.MISSING,
        )
        for days in (300, 200, 100, 50, 20, 10)
    ]
    cancelled = episode_for(child, actor=ffd, last_seen_at=FIXED_NOW - timedelta(days=5))
    services.episode_cancel(
        services.CancelData(reason="Logged in error"),
        actor=manager,
        episode_id=cancelled.pk,
        now=FIXED_NOW,
    )
    current = episode_for(
        child, actor=ffd, last_seen_at=FIXED_NOW - timedelta(hours=6), returned=False
    )

    history = philomena.missing_history(child_id=child.pk, now=FIXED_NOW)
    assert (history.count_12_months, history.away_12_months, history.total) == (7, 1, 8)
    assert [e.pk for e in history.recent] == [current.pk, *[e.pk for e in reversed(recent)]][:5]

    previous = philomena.missing_history(
        child_id=child.pk, now=FIXED_NOW, exclude_episode_id=current.pk
    )
    assert (previous.count_12_months, previous.total) == (6, 7)
    assert [e.found_place for e in previous.recent] == [
        "Place 10",
        "Place 20",
        "Place 50",
        "Place 100",
        "Place 200",
    ]
    assert old.pk not in [e.pk for e in previous.recent]


# --------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------


def test_ffd_saves_the_profile_through_the_form(client: Client, ffd, at_fixed_now):
    child = ChildFactory()
    login(client, ffd)
    response = client.post(
        reverse("philomena_edit", args=[child.pk]),
        {
            "version": "0",
            "height": "150 cm",
            "hair": "Blonde",
            "places": "Bus station\n\n  Park  \n",
            "phone_numbers": "07700 900456",
            "photo": png(),
            "photo_taken_on": "2026-05-01",
            "associates-TOTAL_FORMS": "2",
            "associates-INITIAL_FORMS": "0",
            "associates-0-name": "Sam Pal",
            "associates-0-relationship": "School friend",
            "associates-1-name": "",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    profile = PhilomenaProfile.objects.get(child=child)
    assert profile.places == ["Bus station", "Park"]
    assert profile.associates == [
        {"name": "Sam Pal", "relationship": "School friend", "risk": False, "notes": ""}
    ]
    assert profile.photo_content_type == "image/png"
    assert profile.photo_taken_on == date(2026, 5, 1)
    change = AccessLog.objects.get(action=AccessAction.CHANGE)
    assert (change.child_id, change.reference, change.user) == (child.pk, profile.reference, ffd)


def test_form_refuses_a_gif_beside_the_photo_field(client: Client, ffd):
    child = ChildFactory()
    login(client, ffd)
    response = client.post(
        reverse("philomena_edit", args=[child.pk]),
        {
            "version": "0",
            "photo": SimpleUploadedFile("x.png", GIF, content_type="image/png"),
            "associates-TOTAL_FORMS": "0",
            "associates-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 400
    assert response.context["form"].errors["photo"] == [
        "The photograph must be a JPEG or PNG image."
    ]
    assert b'href="#id_photo"' in response.content
    assert not PhilomenaProfile.objects.exists()


def test_interviewer_reads_but_may_not_open_the_form(client: Client, ffd, interviewer):
    child = ChildFactory(first_name="Zebedee")
    interviewer_granted(child, ffd=ffd, interviewer=interviewer)
    philomena.philomena_save(profile_data(), actor=ffd, child_id=child.pk, now=FIXED_NOW)
    login(client, interviewer)
    page = client.get(reverse("philomena_detail", args=[child.pk]))
    assert page.status_code == 200
    assert b"Salbutamol inhaler" in page.content
    assert b"Update the profile" not in page.content
    assert client.get(reverse("philomena_edit", args=[child.pk])).status_code == 403


def test_other_interviewer_sees_nothing(client: Client, ffd, other_interviewer):
    child = ChildFactory()
    episode = episode_for(child, actor=ffd, last_seen_at=FIXED_NOW - timedelta(days=1))
    philomena.philomena_save(
        profile_data(), actor=ffd, child_id=child.pk, photo=png(), now=FIXED_NOW
    )
    login(client, other_interviewer)
    for url in (
        reverse("philomena_detail", args=[child.pk]),
        reverse("philomena_photo", args=[child.pk]),
        reverse("philomena_part1", args=[episode.pk]),
        reverse("philomena_part1_download", args=[episode.pk]),
        reverse("philomena_child_part1", args=[child.pk]),
    ):
        assert client.get(url).status_code == 404, url
    assert not AccessLog.objects.filter(child_id=child.pk).exists()


def test_profile_page_query_count(
    client: Client, ffd, django_assert_num_queries: Any, at_fixed_now
):
    child = ChildFactory()
    for days in (30, 20, 10):
        episode_for(child, actor=ffd, last_seen_at=FIXED_NOW - timedelta(days=days))
    philomena.philomena_save(profile_data(), actor=ffd, child_id=child.pk, now=FIXED_NOW)
    login(client, ffd)
    client.get(reverse("home"))  # the session's own queries settle first
    # session, user, second-factor device; the request's savepoint; the child with its profile
    # and reviewer (one join); the access-log row; the history's counts; its last five; the
    # savepoint's release. The number of episodes changes nothing.
    with django_assert_num_queries(9):
        response = client.get(reverse("philomena_detail", args=[child.pk]))
    assert response.status_code == 200


def test_photo_is_served_only_through_the_logged_view(client: Client, ffd):
    child = ChildFactory()
    profile = philomena.philomena_save(
        profile_data(), actor=ffd, child_id=child.pk, photo=png(), now=FIXED_NOW
    )
    login(client, ffd)
    response = client.get(reverse("philomena_photo", args=[child.pk]))
    assert response.status_code == 200
    assert response.content == PNG
    assert response["Content-Type"] == "image/png"
    assert "no-store" in response["Cache-Control"]
    row = AccessLog.objects.get(action=AccessAction.VIEW)
    assert (row.child_id, row.reference) == (child.pk, f"{profile.reference} photograph")
    # MEDIA_URL is not routed anywhere.
    assert client.get(f"/media-not-served/{profile.photo.name}").status_code == 404


def test_episode_page_links_to_part_1(client: Client, ffd):
    child = ChildFactory()
    episode = episode_for(child, actor=ffd, last_seen_at=FIXED_NOW - timedelta(hours=3))
    login(client, ffd)
    page = client.get(reverse("episode_detail", args=[episode.pk]))
    assert reverse("philomena_part1", args=[episode.pk]).encode() in page.content
    child_page = client.get(reverse("child_detail", args=[child.pk]))
    assert reverse("philomena_child_part1", args=[child.pk]).encode() in child_page.content
    assert reverse("philomena_detail", args=[child.pk]).encode() in child_page.content


def test_part_1_page_and_download(client: Client, ffd, manager, at_fixed_now):
    child = ChildFactory(first_name="Zebedee", last_name="Quuxworth")
    previous = episode_for(
        child, actor=ffd, last_seen_at=FIXED_NOW - timedelta(days=40), found_place="Bus station"
    )
    episode = episode_for(
        child, actor=ffd, last_seen_at=FIXED_NOW - timedelta(hours=3), returned=False
    )
    philomena.philomena_save(
        profile_data(), actor=ffd, child_id=child.pk, photo=png(), now=FIXED_NOW
    )
    login(client, manager)

    page = client.get(reverse("philomena_part1", args=[episode.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    for expected in (
        "Philomena Protocol – Part 1",
        "Zebedee Quuxworth",
        episode.police_reference,
        "Did not come home from school.",
        "Scar above left eyebrow",
        "Dax Older",
        "Snapchat: zq_2011",
        "Salbutamol inhaler",
        "1 episode in the last 12 months",
        previous.reference,
        "Bus station",
        reverse("philomena_photo", args=[child.pk]),
        reverse("philomena_part1_download", args=[episode.pk]),
        "css/philomena.css",
    ):
        assert expected in html, expected
    assert "Zebedee" not in page.request["PATH_INFO"]
    view = AccessLog.objects.get(action=AccessAction.VIEW)
    assert (view.child_id, view.reference) == (child.pk, f"Philomena Part 1 {episode.reference}")

    download = client.get(reverse("philomena_part1_download", args=[episode.pk]))
    assert download.status_code == 200
    assert download["Content-Type"] == "text/html; charset=utf-8"
    assert download["Content-Disposition"] == (
        f'attachment; filename="philomena-part-1-{episode.reference}.html"'
    )
    body = download.content.decode()
    assert "Zebedee Quuxworth" in body
    assert "Salbutamol inhaler" in body
    assert f"data:image/png;base64,{base64.b64encode(PNG).decode()}" in body
    assert "@page" in body  # the print stylesheet travels inside the file
    assert "<nav" not in body
    assert "Sign out" not in body
    export = AccessLog.objects.get(action=AccessAction.EXPORT)
    assert export.child_ids == [child.pk]
    assert export.rows == 1
    assert export.reference == f"Philomena Part 1 {episode.reference}"


def test_child_part_1_uses_the_open_episode(client: Client, ffd, at_fixed_now):
    child = ChildFactory()
    episode = episode_for(
        child, actor=ffd, last_seen_at=FIXED_NOW - timedelta(hours=3), returned=False
    )
    login(client, ffd)
    page = client.get(reverse("philomena_child_part1", args=[child.pk]))
    assert page.status_code == 200
    assert episode.police_reference.encode() in page.content
    assert b"No profile recorded" in page.content
    download = client.get(reverse("philomena_child_part1_download", args=[child.pk]))
    assert f"philomena-part-1-{episode.reference}.html" in download["Content-Disposition"]


# --------------------------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------------------------


def test_api_put_then_get(ffd, manager, django_assert_num_queries: Any, at_fixed_now):
    child = ChildFactory()
    episode_for(child, actor=ffd, last_seen_at=FIXED_NOW - timedelta(days=3), found_place="Park")
    api = APIClient()
    login(api, manager)
    url = reverse("api-child-philomena", args=[child.pk])
    empty = api.get(url)
    assert empty.status_code == 200
    assert (empty.json()["exists"], empty.json()["version"]) == (False, 0)

    body = {
        "version": 0,
        "height": "170 cm",
        "associates": [{"name": "Dax Older", "relationship": "Adult", "risk": True}],
        "places": ["Bus station"],
        "medication": "None",
    }
    put = api.put(url, body, format="json")
    assert put.status_code == 200, put.json()
    data = put.json()
    assert data["exists"] is True
    assert data["version"] == 1
    assert data["associates"] == [
        {"name": "Dax Older", "relationship": "Adult", "risk": True, "notes": ""}
    ]
    assert data["last_reviewed_by"] == manager.pk
    assert data["missing_history"]["count_12_months"] == 1
    assert data["missing_history"]["recent"][0]["found_place"] == "Park"

    assert api.put(url, body, format="json").status_code == 409  # version 0 is stale now
    bad = api.put(url, {"places": ["x" * 301]}, format="json")
    assert bad.status_code == 400
    assert "places" in bad.json()

    # session, user, device; the request's savepoint; the child with its profile and reviewer;
    # the access-log row; the history's counts and its last five; the savepoint's release.
    with django_assert_num_queries(9):
        assert api.get(url).status_code == 200


def test_api_photo_upload_and_read(ffd, manager, interviewer):
    child = ChildFactory()
    interviewer_granted(child, ffd=ffd, interviewer=interviewer)
    api = APIClient()
    login(api, manager)
    url = reverse("api-child-philomena-photo", args=[child.pk])
    assert api.get(url).status_code == 404  # no photograph yet
    refused = api.put(url, {"photo": SimpleUploadedFile("a.png", GIF)}, format="multipart")
    assert refused.status_code == 400
    assert refused.json()["photo"] == ["The photograph must be a JPEG or PNG image."]
    stored = api.put(url, {"photo": png(), "taken_on": "2026-05-01"}, format="multipart")
    assert stored.status_code == 200, stored.json()
    assert stored.json()["photo"]["present"] is True

    reader = APIClient()
    login(reader, interviewer)
    got = reader.get(url)
    assert got.status_code == 200
    assert got.content == PNG
    assert reader.put(url, {"photo": png()}, format="multipart").status_code == 403
    assert (
        reader.put(
            reverse("api-child-philomena", args=[child.pk]), {"height": "1"}, format="json"
        ).status_code
        == 403
    )
    assert AccessLog.objects.filter(
        action=AccessAction.VIEW, user=interviewer, reference__endswith="photograph"
    ).exists()


def test_api_other_interviewer_gets_404(ffd, other_interviewer):
    child = ChildFactory()
    api = APIClient()
    login(api, other_interviewer)
    assert api.get(reverse("api-child-philomena", args=[child.pk])).status_code == 404
    assert (
        api.put(
            reverse("api-child-philomena", args=[child.pk]), {"height": "1"}, format="json"
        ).status_code
        == 404
    )


# --------------------------------------------------------------------------------------------
# Retention and merging
# --------------------------------------------------------------------------------------------


def test_retention_erases_the_profile_and_its_photo(
    ffd, manager, django_capture_on_commit_callbacks
):
    child = ChildFactory(date_of_birth=date(1990, 1, 1))
    episode = episode_for(child, actor=ffd, last_seen_at=FIXED_NOW - timedelta(days=3))
    # Nothing is erased while an episode is open: this one was logged in error.
    services.episode_cancel(
        services.CancelData(reason="Error"), actor=manager, episode_id=episode.pk, now=FIXED_NOW
    )
    profile = philomena.philomena_save(
        profile_data(), actor=ffd, child_id=child.pk, photo=png(), now=FIXED_NOW
    )
    name = profile.photo.name
    assert default_storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        erased = retention.erase_child(child_id=child.pk, now=FIXED_NOW, reason="test")
    assert erased is not None
    assert erased.counts["Philomena profiles"] == 1
    assert erased.counts["Philomena photographs"] == 1
    assert not PhilomenaProfile.objects.exists()
    assert not default_storage.exists(name)
    assert not Child.objects.filter(pk=child.pk).exists()


def test_merge_fills_the_kept_profiles_blanks(ffd, django_capture_on_commit_callbacks):
    keep = ChildFactory()
    remove = ChildFactory(council_child_id=None)
    philomena.philomena_save(
        profile_data(hair="Kept hair", places=[], medication=""),
        actor=ffd,
        child_id=keep.pk,
        now=FIXED_NOW,
    )
    removed_profile = philomena.philomena_save(
        profile_data(hair="Removed hair", places=["Removed place"], medication="Removed med"),
        actor=ffd,
        child_id=remove.pk,
        photo=png(),
        now=FIXED_NOW,
    )
    photo = removed_profile.photo.name
    with django_capture_on_commit_callbacks(execute=True):
        merge = child_merge(
            MergeData(remove_id=remove.pk, reason="Same child"),
            actor=ffd,
            keep_id=keep.pk,
            now=FIXED_NOW,
        )
    kept = PhilomenaProfile.objects.get()
    assert kept.child_id == keep.pk
    assert (kept.hair, kept.places, kept.medication) == (
        "Kept hair",
        ["Removed place"],
        "Removed med",
    )
    assert kept.photo.name == photo
    assert default_storage.exists(photo)
    assert merge.moved["Philomena profiles"] == [removed_profile.reference]


def test_merge_moves_the_profile_when_the_kept_child_has_none(ffd):
    keep = ChildFactory()
    remove = ChildFactory(council_child_id=None)
    profile = philomena.philomena_save(profile_data(), actor=ffd, child_id=remove.pk, now=FIXED_NOW)
    child_merge(
        MergeData(remove_id=remove.pk, reason="Same"), actor=ffd, keep_id=keep.pk, now=FIXED_NOW
    )
    assert PhilomenaProfile.objects.get().pk == profile.pk
    assert PhilomenaProfile.objects.get().child_id == keep.pk


@pytest.mark.postgres
def test_change_history_records_each_save(client: Client, ffd, manager):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("history is captured on PostgreSQL only")
    child = ChildFactory()
    login(client, ffd)
    for hair in ("Brown", "Red"):
        profile = PhilomenaProfile.objects.filter(child=child).first()
        client.post(
            reverse("philomena_edit", args=[child.pk]),
            {
                "version": str(profile.version if profile else 0),
                "hair": hair,
                "associates-TOTAL_FORMS": "0",
                "associates-INITIAL_FORMS": "0",
            },
        )
    profile = PhilomenaProfile.objects.get(child=child)
    events = list(profile.history.order_by("pgh_id").values_list("hair", "pgh_context__metadata"))
    assert [hair for hair, _ in events] == ["Brown", "Red"]
    assert all(meta["user"] == ffd.pk for _, meta in events)


def test_form_is_prefilled_and_removes_the_photo(
    client: Client, ffd, django_capture_on_commit_callbacks
):
    child = ChildFactory()
    profile = philomena.philomena_save(
        profile_data(), actor=ffd, child_id=child.pk, photo=png(), now=FIXED_NOW
    )
    photo = profile.photo.name
    login(client, ffd)
    form = client.get(reverse("philomena_edit", args=[child.pk]))
    assert form.status_code == 200
    html = form.content.decode()
    assert 'value="Dax Older"' in html
    assert "Bus station, Maidstone\nMcDonald&#x27;s, High Street" in html
    assert 'name="remove_photo"' in html
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("philomena_edit", args=[child.pk]),
            {
                "version": str(profile.version),
                "remove_photo": "on",
                "associates-TOTAL_FORMS": "0",
                "associates-INITIAL_FORMS": "0",
            },
        )
    assert response.status_code == 302
    profile.refresh_from_db()
    assert not profile.photo
    assert profile.associates == []  # the form sent no associates: the list is what was sent
    assert not default_storage.exists(photo)
