"""The child's facts and legal-status periods (missing.cases.child_facts, decision 0046): the NHS
number, the episode's legal-status snapshot taken from the periods (London dates, recomputed when
a period changes), matching at intake by NHS number first, the API and web pages, roles, the
access log, the change history, and the national returns reading the snapshot."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from interviews.returns import annex_a
from interviews.returns import ssda903 as returns
from missing.cases import child_facts, nhs, services
from missing.cases.errors import Conflict, InvalidInput, NotAllowed
from missing.models import (
    AccessAction,
    AccessLog,
    Child,
    EpisodeEvent,
    LegalStatusPeriod,
    MissingEpisode,
    NotificationKind,
    Role,
)
from tests.factories import FIXED_NOW, ChildFactory, TeamFactory, UserFactory, force, grade
from tests.helpers import login, report_missing
from tests.missing.test_api import client_for, token_client

VALID = "9434765919"  # NHS Digital's own example


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(FIXED_NOW, tick=False):
        yield


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def returned(child: Child, *, actor, last_seen_at: datetime) -> MissingEpisode:
    """An episode of `child` last seen at `last_seen_at`, back an hour later."""
    episode = report_missing(
        actor=actor, now=last_seen_at + timedelta(hours=2), child=child, last_seen_at=last_seen_at
    )
    return services.episode_record_return(
        services.ReturnData(
            returned_at=last_seen_at + timedelta(hours=1),
            found_place="Home",
            found_by="Police",
            prevention_interview_done=True,
        ),
        actor=actor,
        episode_id=episode.pk,
        now=last_seen_at + timedelta(hours=2),
    )


def add_period(actor, child, *, start, end=None, status="looked_after", reason="From LCS"):
    return child_facts.legal_status_period_add(
        child_facts.PeriodData(status=status, start_date=start, end_date=end, reason=reason),
        actor=actor,
        child_id=child.pk,
        now=FIXED_NOW,
    )


# --------------------------------------------------------------------------------------------
# The NHS number
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("9434765919", None),
        ("943 476 5919", None),  # as printed on letters
        (" 943 4765919 ", None),
        ("9434765918", "last one does not match"),  # bad check digit
        ("1000000010", "last one does not match"),  # the weighted sum leaves remainder 10
        ("943476591", "10 digits"),  # too short
        ("94347659190", "10 digits"),  # too long
        ("94347659I9", "10 digits"),  # a letter
        ("٩٤٣٤٧٦٥٩١٩", "10 digits"),  # Arabic-Indic digits are digits to Python, not to the NHS
    ],
)
def test_the_nhs_number_check_digit(typed, problem):
    found = nhs.problem(nhs.normalise(typed))
    if problem is None:
        assert found is None
    else:
        assert problem in found


def test_the_nhs_number_is_shown_spaced_and_stored_as_digits(ffd):
    child = ChildFactory()
    child_facts.child_update_facts(
        child_facts.FactsData(changes={"nhs_number": "943 476 5919"}, reason="LCS"),
        actor=ffd,
        child_id=child.pk,
        now=FIXED_NOW,
    )
    child.refresh_from_db()
    assert child.nhs_number == VALID
    assert child.nhs_number_formatted == "943 476 5919"


def test_an_nhs_number_is_unique_when_present(ffd):
    ChildFactory(nhs_number=VALID)
    other = ChildFactory()
    with pytest.raises(InvalidInput) as refused:
        child_facts.child_update_facts(
            child_facts.FactsData(changes={"nhs_number": VALID}, reason="LCS"),
            actor=ffd,
            child_id=other.pk,
            now=FIXED_NOW,
        )
    assert "merge" in refused.value.field_errors["nhs_number"][0]
    # Blank is not a value: any number of children may have none.
    ChildFactory(nhs_number=None)
    ChildFactory(nhs_number=None)


# --------------------------------------------------------------------------------------------
# The episode's snapshot comes from the periods in force on the London date it started
# --------------------------------------------------------------------------------------------

# Looked after from 1 April 2026 until it ceased on 1 May 2026 (British Summer Time: a London
# date starts at 23:00 UTC the evening before).
PERIOD = (date(2026, 4, 1), date(2026, 5, 1))


@pytest.mark.parametrize(
    ("last_seen_at", "looked_after"),
    [
        (utc(2026, 3, 20, 12), False),  # before the period
        (utc(2026, 3, 31, 22, 30), False),  # 23:30 on 31 March in London
        (utc(2026, 3, 31, 23, 30), True),  # 00:30 on 1 April in London: the first day
        (utc(2026, 4, 15, 12), True),  # inside
        (utc(2026, 4, 30, 22, 30), True),  # 23:30 on 30 April in London: the last day
        (utc(2026, 4, 30, 23, 30), False),  # 00:30 on 1 May in London: the day it ceased
        (utc(2026, 5, 20, 12), False),  # after
    ],
)
def test_the_snapshot_is_the_status_on_the_london_date_the_episode_started(
    ffd, last_seen_at, looked_after
):
    child = ChildFactory()
    add_period(ffd, child, start=PERIOD[0], end=PERIOD[1])
    episode = returned(child, actor=ffd, last_seen_at=last_seen_at)
    assert episode.looked_after is looked_after
    assert episode.child_protection_plan is False


def test_a_period_recorded_after_the_episodes_recomputes_their_snapshots(ffd):
    child = ChildFactory()
    before = returned(child, actor=ffd, last_seen_at=utc(2026, 3, 31, 22, 30))
    inside = returned(child, actor=ffd, last_seen_at=utc(2026, 3, 31, 23, 30))
    after = returned(child, actor=ffd, last_seen_at=utc(2026, 5, 20, 12))
    assert not child.ever_looked_after

    period = add_period(ffd, child, start=PERIOD[0], end=PERIOD[1])

    snap = dict(MissingEpisode.objects.values_list("pk", "looked_after"))
    assert snap == {before.pk: False, inside.pk: True, after.pk: False}
    # The changed episode says why on its timeline; retention now keeps the record until 75.
    event = EpisodeEvent.objects.get(episode=inside, action="legal_status_updated")
    assert period.reference in event.reason
    assert "looked after" in event.reason
    child.refresh_from_db()
    assert child.ever_looked_after is True

    # Ended earlier (corrected): the episode on 1 April falls outside it again.
    child_facts.legal_status_period_change(
        child_facts.PeriodChangeData(
            start_date=date(2026, 4, 2), reason="Start date corrected from LCS"
        ),
        actor=ffd,
        period_id=period.pk,
        now=FIXED_NOW,
        expected_version=period.version,
    )
    inside.refresh_from_db()
    assert inside.looked_after is False

    # Reopened from 1 April with no end: the episode in May is looked after too.
    child_facts.legal_status_period_change(
        child_facts.PeriodChangeData(
            start_date=date(2026, 4, 1), end_date=None, reason="Still in care"
        ),
        actor=ffd,
        period_id=period.pk,
        now=FIXED_NOW,
    )
    assert set(MissingEpisode.objects.filter(looked_after=True).values_list("pk", flat=True)) == {
        inside.pk,
        after.pk,
    }

    # Removed as recorded in error: nothing is looked after, and the record is an ordinary one.
    child_facts.legal_status_period_remove(
        child_facts.PeriodRemoveData(reason="Wrong child"),
        actor=ffd,
        period_id=period.pk,
        now=FIXED_NOW,
    )
    assert not MissingEpisode.objects.filter(looked_after=True).exists()
    child.refresh_from_db()
    assert child.ever_looked_after is False


def test_each_status_has_its_own_periods(ffd):
    child = ChildFactory()
    add_period(ffd, child, start=date(2026, 1, 1), status="child_in_need")
    add_period(ffd, child, start=date(2026, 4, 1), status="child_protection_plan")
    episode = returned(child, actor=ffd, last_seen_at=utc(2026, 4, 10, 12))
    assert (episode.looked_after, episode.child_protection_plan, episode.child_in_need) == (
        False,
        True,
        True,
    )


@pytest.mark.parametrize(
    ("start", "end", "field", "words"),
    [
        (date(2026, 4, 10), None, "start_date", "overlaps"),
        (date(2026, 3, 1), date(2026, 4, 2), "start_date", "overlaps"),
        (date(2026, 6, 1), date(2026, 6, 1), "end_date", "after the start date"),
        (date(2026, 6, 11), None, "start_date", "today or earlier"),
        (date(1850, 1, 1), None, "start_date", "real date"),
    ],
)
def test_a_bad_period_is_refused_naming_the_field(ffd, start, end, field, words):
    child = ChildFactory()
    add_period(ffd, child, start=date(2026, 4, 1), end=date(2026, 5, 1))
    with pytest.raises(InvalidInput) as refused:
        add_period(ffd, child, start=start, end=end)
    assert words in refused.value.field_errors[field][0]
    assert LegalStatusPeriod.objects.count() == 1


def test_a_reason_is_required(ffd):
    child = ChildFactory()
    with pytest.raises(InvalidInput) as refused:
        add_period(ffd, child, start=date(2026, 4, 1), reason="  ")
    assert refused.value.field_errors == {"reason": ["Enter the reason."]}


@pytest.mark.parametrize("role", [Role.INTERVIEWER, Role.ADMIN, Role.POLICE_SYSTEM])
def test_only_ffd_and_managers_change_the_facts(db, role):
    outsider = UserFactory(role=role)
    child = ChildFactory()
    with pytest.raises(NotAllowed):
        add_period(outsider, child, start=date(2026, 4, 1))
    with pytest.raises(NotAllowed):
        child_facts.child_update_facts(
            child_facts.FactsData(changes={"placement": "X"}, reason="r"),
            actor=outsider,
            child_id=child.pk,
            now=FIXED_NOW,
        )


def test_a_stale_version_is_a_conflict(ffd, manager):
    child = ChildFactory()
    child_facts.child_update_facts(
        child_facts.FactsData(changes={"placement": "Oak House"}, reason="LCS"),
        actor=ffd,
        child_id=child.pk,
        now=FIXED_NOW,
        expected_version=1,
    )
    with pytest.raises(Conflict):
        child_facts.child_update_facts(
            child_facts.FactsData(changes={"placement": "Elm House"}, reason="LCS"),
            actor=manager,
            child_id=child.pk,
            now=FIXED_NOW,
            expected_version=1,
        )


def test_the_social_worker_is_a_user_or_a_name_never_both(ffd):
    child = ChildFactory()
    worker = UserFactory(role=Role.FFD)
    with pytest.raises(InvalidInput) as refused:
        child_facts.child_update_facts(
            child_facts.FactsData(
                changes={"social_worker": worker, "social_worker_name": "Sam Worker"}, reason="LCS"
            ),
            actor=ffd,
            child_id=child.pk,
            now=FIXED_NOW,
        )
    assert "social_worker_name" in refused.value.field_errors


# --------------------------------------------------------------------------------------------
# Intake: NHS number first, then the council child id, then the name
# --------------------------------------------------------------------------------------------


def notify(actor, *, reference, nhs_number="", council_child_id="", first="Robin", last="Nest"):
    data = services.NotificationData(
        police_force=force(),
        police_reference=reference,
        kind=NotificationKind.REPORTED_MISSING,
        child_first_name=first,
        child_last_name=last,
        child_date_of_birth=date(2011, 3, 14),
        council_child_id=council_child_id,
        nhs_number=nhs_number,
        last_seen_at=FIXED_NOW - timedelta(hours=3),
        reported_at=FIXED_NOW - timedelta(hours=2),
        risk_grade=grade(),
    )
    return services.notification_receive(data, actor=actor, payload={}, now=FIXED_NOW)


def test_intake_matches_the_nhs_number_before_the_council_id(ffd):
    by_nhs = ChildFactory(nhs_number=VALID, council_child_id="CC-A")
    ChildFactory(council_child_id="CC-B")
    result = notify(ffd, reference="KNT-N1", nhs_number=VALID, council_child_id="CC-B")
    assert result.notification.match_status == "matched"
    assert result.notification.episode.child == by_nhs
    assert result.notification.nhs_number == VALID


def test_intake_matches_the_nhs_number_whatever_the_name_says(ffd):
    child = ChildFactory(nhs_number=VALID, first_name="Robyn", last_name="Nesbit")
    result = notify(ffd, reference="KNT-N2", nhs_number=VALID)
    assert result.notification.episode.child == child


def test_a_new_child_from_intake_keeps_the_nhs_number(ffd):
    result = notify(ffd, reference="KNT-N3", nhs_number=VALID)
    assert result.notification.episode.child.nhs_number == VALID


def test_intake_refuses_a_bad_nhs_number(ffd):
    with pytest.raises(InvalidInput) as refused:
        notify(ffd, reference="KNT-N4", nhs_number="9434765918")
    assert "nhs_number" in refused.value.field_errors
    assert not MissingEpisode.objects.exists()


def test_the_identity_locks_include_the_nhs_number():
    assert "child-nhs:9434765919" in services._identity_keys("A", "B", "", VALID)


def test_the_api_takes_the_nhs_number_with_spaces(police_system):
    response = token_client(police_system, "intake").post(
        "/api/notifications/",
        {
            "police_force": "kent",
            "police_reference": "KNT-API-NHS",
            "kind": "reported_missing",
            "child_first_name": "Jamie",
            "child_last_name": "Rivers",
            "nhs_number": "943 476 5919",
            "last_seen_at": (FIXED_NOW - timedelta(hours=3)).isoformat(),
            "reported_at": (FIXED_NOW - timedelta(hours=2)).isoformat(),
            "risk_grade": "medium",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert Child.objects.get().nhs_number == VALID


def test_the_api_refuses_a_bad_nhs_number_naming_the_field(ffd):
    response = client_for(ffd).post(
        "/api/notifications/",
        {"police_force": "kent", "police_reference": "X", "kind": "update", "nhs_number": "123"},
        format="json",
    )
    assert response.status_code == 400
    assert "10 digits" in response.json()["nhs_number"][0]


# --------------------------------------------------------------------------------------------
# The API
# --------------------------------------------------------------------------------------------


def test_patch_changes_the_facts_with_a_reason_and_logs_the_change(ffd):
    child = ChildFactory()
    team = TeamFactory(name="Children in care team")
    worker = UserFactory(role=Role.MANAGER)
    response = client_for(ffd).patch(
        f"/api/children/{child.pk}/",
        {
            "nhs_number": "943 476 5919",
            "social_worker": worker.pk,
            "allocated_team": team.pk,
            "placement": "Oak House",
            "placement_area": "Maidstone",
            "responsible_council": "Kent",
            "host_council": "Medway",
            "reason": "From the LCS record",
            "version": 1,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["nhs_number"] == "943 476 5919"
    assert body["version"] == 2
    assert (body["social_worker"], body["allocated_team"]) == (worker.pk, team.pk)
    assert body["placement_area"] == "Maidstone"
    assert AccessLog.objects.filter(
        child_id=child.pk, action=AccessAction.CHANGE, reference=child.reference
    ).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"nhs_number": "9434765918", "reason": "r"}, "nhs_number"),
        ({"placement": "Oak House"}, "reason"),
        ({"allocated_team": 999_999, "reason": "r"}, "allocated_team"),
        ({"looked_after": True, "reason": "r"}, "looked_after"),  # legal status: periods only
        ({"placement_area": "x" * 101, "reason": "r"}, "placement_area"),
    ],
)
def test_patch_names_the_bad_field(ffd, body, field):
    child = ChildFactory()
    response = client_for(ffd).patch(f"/api/children/{child.pk}/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_patch_refuses_a_stale_version(ffd):
    child = ChildFactory()
    client = client_for(ffd)
    url = f"/api/children/{child.pk}/"
    first = client.patch(url, {"placement": "A", "reason": "r", "version": 1}, format="json")
    second = client.patch(url, {"placement": "B", "reason": "r", "version": 1}, format="json")
    assert (first.status_code, second.status_code) == (200, 409)


@pytest.mark.parametrize("who", ["interviewer", "admin", "police_system"])
def test_patch_is_refused_to_other_roles(users_by_role, who):
    child = ChildFactory()
    response = client_for(users_by_role[who]).patch(
        f"/api/children/{child.pk}/", {"placement": "A", "reason": "r"}, format="json"
    )
    assert response.status_code == 403
    assert Child.objects.get(pk=child.pk).placement == ""


def test_an_unknown_child_is_404(ffd):
    client = client_for(ffd)
    assert client.patch("/api/children/999999/", {"reason": "r"}, format="json").status_code == 404
    assert client.get("/api/children/999999/legal-status/").status_code == 404


def test_legal_status_through_the_api(ffd, manager):
    child = ChildFactory()
    episode = returned(child, actor=ffd, last_seen_at=utc(2026, 4, 15, 12))
    client = client_for(manager)
    url = f"/api/children/{child.pk}/legal-status/"

    added = client.post(
        url,
        {"status": "looked_after", "start_date": "2026-04-01", "reason": "Section 20"},
        format="json",
    )
    assert added.status_code == 201, added.json()
    period = added.json()
    assert (period["status"], period["end_date"], period["source"]) == (
        "looked_after",
        None,
        "manual",
    )
    episode.refresh_from_db()
    assert episode.looked_after is True
    detail = client.get(f"/api/children/{child.pk}/").json()
    assert detail["looked_after"] is True
    assert [p["id"] for p in detail["legal_status_periods"]] == [period["id"]]

    one = f"{url}{period['id']}/"
    ended = client.patch(
        one, {"end_date": "2026-04-10", "reason": "Returned home", "version": 1}, format="json"
    )
    assert ended.status_code == 200, ended.json()
    episode.refresh_from_db()
    assert episode.looked_after is False  # started after it ceased
    assert client.get(f"/api/children/{child.pk}/").json()["looked_after"] is False

    stale = client.patch(one, {"end_date": None, "reason": "r", "version": 1}, format="json")
    assert stale.status_code == 409
    overlap = client.post(
        url,
        {"status": "looked_after", "start_date": "2026-04-05", "reason": "r"},
        format="json",
    )
    assert overlap.status_code == 400
    assert "overlaps" in overlap.json()["start_date"][0]

    listed = client.get(url)
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()] == [period["id"]]

    gone = client.generic(
        "DELETE", one, '{"reason": "Recorded on the wrong child"}', content_type="application/json"
    )
    assert gone.status_code == 204
    assert not LegalStatusPeriod.objects.exists()
    no_reason = client.generic("DELETE", one, "{}", content_type="application/json")
    assert no_reason.status_code in (400, 404)


def test_a_period_of_another_child_is_404(ffd):
    child, other = ChildFactory(), ChildFactory()
    period = add_period(ffd, other, start=date(2026, 4, 1))
    response = client_for(ffd).patch(
        f"/api/children/{child.pk}/legal-status/{period.pk}/",
        {"end_date": "2026-05-01", "reason": "r"},
        format="json",
    )
    assert response.status_code == 404


def test_an_interviewer_cannot_read_or_add_periods(users_by_role):
    child = ChildFactory()
    client = client_for(users_by_role["interviewer"])
    url = f"/api/children/{child.pk}/legal-status/"
    assert client.get(url).status_code == 403
    body = {"status": "looked_after", "start_date": "2026-04-01", "reason": "r"}
    assert client.post(url, body, format="json").status_code == 403


# --------------------------------------------------------------------------------------------
# The web pages
# --------------------------------------------------------------------------------------------


def test_ffd_changes_the_details_and_adds_a_period_on_the_web(client, ffd):
    child = ChildFactory()
    login(client, ffd)
    url = reverse("child_facts_edit", kwargs={"pk": child.pk})
    page = client.get(url)
    assert page.status_code == 200
    assert "Why are you making this change?" in page.content.decode()

    refused = client.post(url, {"version": 1, "nhs_number": "943 476 5918", "reason": ""})
    assert refused.status_code == 400
    text = refused.content.decode()
    assert "Enter the reason" in text
    assert "last one does not match" in text

    saved = client.post(
        url,
        {
            "version": 1,
            "nhs_number": "943 476 5919",
            "social_worker_name": "Sam Worker",
            "placement": "Oak House",
            "placement_area": "Maidstone",
            "reason": "From the LCS record",
        },
    )
    assert saved.status_code == 302
    child.refresh_from_db()
    assert (child.nhs_number, child.social_worker_name, child.version) == (VALID, "Sam Worker", 2)

    added = client.post(
        reverse("legal_status_add", kwargs={"pk": child.pk}),
        {"version": 2, "status": "looked_after", "start_date": "2026-04-01", "reason": "S20"},
    )
    assert added.status_code == 302
    detail = client.get(reverse("child_detail", kwargs={"pk": child.pk})).content.decode()
    assert "943 476 5919" in detail
    assert "Looked after." in detail
    assert "Oak House, Maidstone" in detail


def test_a_stale_details_form_is_a_conflict(client, ffd):
    child = ChildFactory()
    login(client, ffd)
    url = reverse("child_facts_edit", kwargs={"pk": child.pk})
    client.post(url, {"version": 1, "placement": "A", "reason": "r"})
    again = client.post(url, {"version": 1, "placement": "B", "reason": "r"})
    assert again.status_code == 409


def test_ending_and_removing_a_period_on_the_web(client, manager):
    child = ChildFactory()
    period = add_period(manager, child, start=date(2026, 4, 1))
    login(client, manager)
    kwargs = {"pk": child.pk, "period_id": period.pk}
    ended = client.post(
        reverse("legal_status_change", kwargs=kwargs),
        {
            "version": 1,
            "status": "looked_after",
            "start_date": "2026-04-01",
            "end_date": "2026-05-01",
            "reason": "Returned home",
        },
    )
    assert ended.status_code == 302
    period.refresh_from_db()
    assert period.end_date == date(2026, 5, 1)
    removed = client.post(
        reverse("legal_status_remove", kwargs=kwargs), {"version": 2, "reason": "Wrong child"}
    )
    assert removed.status_code == 302
    assert not LegalStatusPeriod.objects.exists()


@pytest.mark.parametrize("who", ["interviewer", "admin"])
def test_the_forms_are_refused_to_other_roles(client, users_by_role, who):
    child = ChildFactory()
    login(client, users_by_role[who])
    assert client.get(reverse("child_facts_edit", kwargs={"pk": child.pk})).status_code == 403
    assert client.get(reverse("legal_status_add", kwargs={"pk": child.pk})).status_code == 403


def test_the_child_page_query_count_is_pinned(client, ffd, manager):
    """Constant in the number of episodes and periods."""
    child = ChildFactory(allocated_team=TeamFactory(), social_worker=UserFactory(role=Role.FFD))
    login(client, manager)
    url = reverse("child_detail", kwargs={"pk": child.pk})

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    add_period(ffd, child, start=date(2025, 1, 1), end=date(2025, 6, 1))
    returned(child, actor=ffd, last_seen_at=utc(2026, 4, 15, 12))
    few = count()
    add_period(ffd, child, start=date(2026, 1, 1), status="child_in_need")
    add_period(ffd, child, start=date(2026, 2, 1), status="child_protection_plan")
    returned(child, actor=ffd, last_seen_at=utc(2026, 5, 15, 12))
    returned(child, actor=ffd, last_seen_at=utc(2026, 5, 25, 12))
    assert count() == few
    # Signing in (session, user, second-factor device); the request's savepoint and its
    # release; the child with its legal status today (EXISTS subqueries) and its team and
    # social worker joined; its episodes; its legal-status periods with who recorded them; its
    # meeting tasks; the access row; the access-log panel; the interviews panel (the episodes
    # it lists, its interviews); on PostgreSQL, the change history (the child's events, the
    # periods' events; the users who made them cost one more when any change came from a
    # request: here all came from services called directly, so none).
    assert few == (15 if connection.vendor == "postgresql" else 13)


# --------------------------------------------------------------------------------------------
# The national returns read the snapshot: web, API and intake alike
# --------------------------------------------------------------------------------------------


def _ssda903_children(year: int) -> list[str]:
    return [row[0] for row in returns.ssda903_missing_rows(year)]


def _annex_a_children(as_of: date) -> list[str]:
    rows = list(csv.reader("".join(annex_a.annex_a_missing_csv(as_of)).splitlines()))
    return [row[0] for row in rows[1:]]


def test_a_looked_after_childs_episodes_reach_both_returns_from_every_channel(
    client, ffd, police_system
):
    web_child = ChildFactory(council_child_id="LA-WEB", looked_after=True)
    api_child = ChildFactory(council_child_id="LA-API", looked_after=True)
    intake_child = ChildFactory(council_child_id="LA-INTAKE", looked_after=True)
    later_child = ChildFactory(council_child_id="LA-LATER")
    seen = FIXED_NOW - timedelta(hours=3)
    common = {
        "kind": "reported_missing",
        "child_first_name": "Jo",
        "child_last_name": "Example",
        "last_seen_at": seen.isoformat(),
        "reported_at": (seen + timedelta(hours=1)).isoformat(),
        "risk_grade": "medium",
    }

    # The web: an FFD practitioner types the notification in.
    login(client, ffd)
    form = {
        **common,
        "police_force": force().pk,
        "police_reference": "WEB-1",
        "council_child_id": "LA-WEB",
        "risk_grade": grade().pk,
        "sequence": 1,
        "last_seen_at": "2026-06-10T10:00",
        "reported_at": "2026-06-10T11:00",
    }
    assert client.post(reverse("notification_new"), form).status_code == 302
    # The API: a police system posts it.
    response = token_client(police_system, "intake").post(
        "/api/notifications/",
        {
            **common,
            "police_force": "kent",
            "police_reference": "API-1",
            "council_child_id": "LA-API",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    # Intake in the core (what both call), and a child whose period is recorded afterwards.
    report_missing(actor=ffd, now=FIXED_NOW, child=intake_child)
    report_missing(actor=ffd, now=FIXED_NOW, child=later_child)
    assert MissingEpisode.objects.filter(looked_after=True).count() == 3
    add_period(ffd, later_child, start=date(2026, 6, 1))

    expected = ["LA-API", "LA-INTAKE", "LA-LATER", "LA-WEB"]
    assert sorted(set(_ssda903_children(2026))) == expected
    assert sorted(_annex_a_children(date(2026, 6, 10))) == expected
    assert {w.pk for w in (web_child, api_child)} <= set(
        MissingEpisode.objects.filter(looked_after=True).values_list("child_id", flat=True)
    )
    out = io.StringIO()
    returns.write_ssda903_missing(2026, out)
    assert out.getvalue().count("\n") == 5  # the header and the four episodes


# --------------------------------------------------------------------------------------------
# Change history (PostgreSQL: pghistory's triggers)
# --------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_managers_see_what_changed_who_changed_it_and_why(client, ffd, manager):
    if connection.vendor != "postgresql":
        pytest.skip("pghistory triggers: PostgreSQL")
    child = ChildFactory()
    login(client, ffd)
    client.post(
        reverse("child_facts_edit", kwargs={"pk": child.pk}),
        {"version": 1, "placement": "Oak House", "reason": "Moved placement on 3 June"},
    )
    client.post(
        reverse("legal_status_add", kwargs={"pk": child.pk}),
        {"version": 2, "status": "looked_after", "start_date": "2026-04-01", "reason": "S20"},
    )
    login(client, manager)
    page = client.get(reverse("child_detail", kwargs={"pk": child.pk})).content.decode()
    assert "Moved placement on 3 June" in page
    assert "placement provider" in page.lower()
    assert "S20" in page
    login(client, ffd)
    page = client.get(reverse("child_detail", kwargs={"pk": child.pk})).content.decode()
    assert "Changes to the child&#x27;s details" not in page
    assert "Moved placement on 3 June" not in page


def test_the_api_change_tells_a_null_end_date_from_an_absent_one(ffd, manager):
    """PeriodChangeData: an absent `end_date` keeps the period's, a null one reopens it."""
    child = ChildFactory()
    episode = returned(child, actor=ffd, last_seen_at=utc(2026, 4, 15, 12))
    period = add_period(ffd, child, start=date(2026, 4, 1), end=date(2026, 4, 10))
    client = client_for(manager)
    one = f"/api/children/{child.pk}/legal-status/{period.pk}/"

    kept = client.patch(one, {"reason": "Checked", "version": 1}, format="json")
    assert kept.status_code == 200, kept.json()
    assert kept.json()["end_date"] == "2026-04-10"

    reopened = client.patch(one, {"end_date": None, "reason": "Still in care"}, format="json")
    assert reopened.status_code == 200, reopened.json()
    assert reopened.json()["end_date"] is None
    episode.refresh_from_db()
    assert episode.looked_after is True


def test_the_facts_data_object_keeps_the_changes_it_was_given(ffd):
    changes = {"placement": "Oak House"}
    data = child_facts.FactsData(changes=changes, reason="LCS")
    changes["placement"] = "Elm House"
    with pytest.raises(TypeError):
        data.changes["placement"] = "Ash House"  # type: ignore[index]
    child = ChildFactory()
    child_facts.child_update_facts(data, actor=ffd, child_id=child.pk, now=FIXED_NOW)
    assert Child.objects.get(pk=child.pk).placement == "Oak House"


def test_the_api_clears_a_text_fact_with_null(ffd):
    child = ChildFactory(placement="Oak House", nhs_number=VALID)
    client = client_for(ffd)
    cleared = client.patch(
        f"/api/children/{child.pk}/",
        {"placement": None, "nhs_number": None, "reason": "Moved on"},
        format="json",
    )
    assert cleared.status_code == 200, cleared.json()
    child.refresh_from_db()
    assert (child.placement, child.nhs_number) == ("", None)
