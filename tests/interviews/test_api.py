"""The return-interview API: the flow a provider's own app would follow, strict input (400
naming the field), refusals by role (403), not-yours (404) and conflicts (409 with the
differences)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from interviews.models import InterviewStatus, ReturnInterview
from missing.models import EpisodeState, MissingEpisode, User
from tests.factories import ChildFactory, TeamFactory
from tests.helpers import login
from tests.interviews.helpers import returned_episode

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


def client_for(user: User) -> APIClient:
    client = APIClient()
    login(client, user)
    return client


def iso(moment) -> str:
    return moment.isoformat()


MARCH = {"period_start": "2026-03-01", "period_end": "2026-03-31"}


def london_days(first, last) -> dict[str, str]:
    from missing.cases.clocks import london_date

    return {
        "period_start": london_date(first).isoformat(),
        "period_end": london_date(last).isoformat(),
    }


def counted(response) -> dict[str, int]:
    assert response.status_code == 200, response.json()
    return {line["key"]: line["value"] for line in response.json()["figures"]}


@pytest.fixture
def episode(ffd, manager, now):
    return returned_episode(ffd=ffd, manager=manager, child=ChildFactory(), returned_at=now - 6 * H)


def test_the_whole_flow_through_the_api(episode, manager, interviewer, now):
    staff, rhi = client_for(manager), client_for(interviewer)

    created = staff.post(
        "/api/interviews/", {"child": episode.child_id, "episodes": [episode.pk]}, format="json"
    )
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert created.json()["covered"][0]["episode"] == episode.pk

    assigned = staff.post(
        f"/api/interviews/{pk}/assign/",
        {
            "interviewer": interviewer.pk,
            "planned_at": iso(now + 2 * H),
            "planned_place": "School",
            "version": created.json()["version"],
        },
        format="json",
    )
    assert assigned.status_code == 200, assigned.json()
    assert assigned.json()["status"] == "arranged"
    assert assigned.json()["independence"] == "confirmed"

    factors = rhi.get("/api/interview-factors/").json()
    assert {
        "code": "harm-trafficking",
        "kind": "harm",
        "label": "Trafficking",
        "cin_code": "12A",
        "active": True,
    } in factors

    attempt = rhi.post(
        f"/api/interviews/{pk}/attempts/",
        {"at": iso(now - H), "method": "phone", "outcome": "no_answer", "offered": True},
        format="json",
    )
    assert attempt.status_code == 201, attempt.json()

    version = rhi.get(f"/api/interviews/{pk}/").json()["version"]
    saved = rhi.patch(
        f"/api/interviews/{pk}/record/",
        {
            "version": version,
            "outcome": "held",
            "held_at": iso(now - 30 * timedelta(minutes=1)),
            "held_place": "School library",
            "present": "The child",
            "seen_alone": True,
            "account_where": "Park",
            "consent_to_share": False,
            "wishes_and_feelings": "To be left alone",
            "push_factors": [{"code": "push-school-bullying", "note": "Year 9 group"}],
            "harms": [],
        },
        format="json",
    )
    assert saved.status_code == 200, saved.json()
    assert saved.json()["merged"] is False

    completed = rhi.post(
        f"/api/interviews/{pk}/complete/", {"version": saved.json()["version"]}, format="json"
    )
    assert completed.status_code == 200, completed.json()
    assert completed.json()["status"] == "completed"
    link = completed.json()["covered"][0]
    assert (link["offered"], link["accepted"], link["held"], link["held_within_72h"]) == (
        True,
        True,
        True,
        True,
    )

    signed = staff.post(
        f"/api/interviews/{pk}/sign-off/",
        {"exploitation_referral": True, "version": completed.json()["version"]},
        format="json",
    )
    assert signed.status_code == 200, signed.json()
    assert signed.json()["follow_up_exploitation_referral"] is True
    assert MissingEpisode.objects.get(pk=episode.pk).state == EpisodeState.CLOSED
    # Signed off: the interviewer's access has ended.
    assert rhi.get(f"/api/interviews/{pk}/").status_code == 404

    figures = counted(staff.get("/api/interview-figures/", london_days(now - 48 * H, now)))
    assert (figures["returns"], figures["offered"], figures["held_within_72h"]) == (1, 1, 1)


@pytest.fixture
def assigned(episode, manager, interviewer) -> dict[str, Any]:
    staff = client_for(manager)
    created = staff.post(
        "/api/interviews/", {"child": episode.child_id, "episodes": [episode.pk]}, format="json"
    ).json()
    staff.post(
        f"/api/interviews/{created['id']}/assign/", {"interviewer": interviewer.pk}, format="json"
    )
    return ReturnInterview.objects.get().__dict__


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"push_factors": [{"code": "push-made-up"}]}, "push_factors", "Unknown push factor"),
        ({"held_at": "2026-06-10T10:00:00"}, "held_at", "time zone"),
        ({"held_at": "2026-06-10T03:00:00Z"}, "held_at", "before the child's return"),
        ({"seen_alone": "yes"}, "seen_alone", "true or false"),
        ({"present": 7}, "present", "text"),
        ({"colour": "blue"}, "colour", "Unknown field"),
        ({"outcome": "maybe"}, "outcome", "not a valid choice"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(assigned, interviewer, body, field, message):
    response = client_for(interviewer).patch(
        f"/api/interviews/{assigned['id']}/record/",
        {"version": assigned["version"], **body},
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert message in str(response.json()[field])
    assert ReturnInterview.objects.get().version == assigned["version"]


def test_a_stale_record_edit_is_a_409_with_the_differences(assigned, interviewer, manager):
    url = f"/api/interviews/{assigned['id']}/record/"
    version = assigned["version"]
    assert (
        client_for(manager)
        .patch(url, {"version": version, "present": "Mum"}, format="json")
        .status_code
        == 200
    )

    clash = client_for(interviewer).patch(
        url, {"version": version, "present": "Dad", "base": {"present": ""}}, format="json"
    )
    assert clash.status_code == 409
    assert clash.json()["current_version"] == version + 1
    assert clash.json()["differences"] == [
        {"field": "present", "label": "Who was present", "yours": "Dad", "theirs": "Mum"}
    ]
    merged = client_for(interviewer).patch(
        url,
        {"version": version, "held_place": "Library", "base": {"held_place": ""}},
        format="json",
    )
    assert merged.status_code == 200
    assert merged.json()["merged"] is True


def test_roles_are_refused_before_their_input_is_read(
    assigned, ffd, interviewer, other_interviewer
):
    pk = assigned["id"]
    assert (
        client_for(ffd).patch(f"/api/interviews/{pk}/record/", {}, format="json").status_code == 403
    )
    assert (
        client_for(interviewer).post(f"/api/interviews/{pk}/assign/", {}, format="json").status_code
        == 403
    )
    assert (
        client_for(interviewer)
        .post(f"/api/interviews/{pk}/sign-off/", {}, format="json")
        .status_code
        == 403
    )
    assert (
        client_for(ffd).post(f"/api/interviews/{pk}/sign-off/", {}, format="json").status_code
        == 403
    )
    # Not theirs: not there.
    assert (
        client_for(other_interviewer)
        .patch(f"/api/interviews/{pk}/record/", {}, format="json")
        .status_code
        == 404
    )


def test_an_independence_exception_without_a_reason_is_refused(episode, manager, ffd, now):
    from tests.factories import UserFactory

    worker = UserFactory(role="interviewer", team=None)
    child = episode.child
    child.social_worker = worker
    child.save()
    staff = client_for(manager)
    pk = staff.post(
        "/api/interviews/", {"child": child.pk, "episodes": [episode.pk]}, format="json"
    ).json()["id"]
    refused = staff.post(f"/api/interviews/{pk}/assign/", {"interviewer": worker.pk}, format="json")
    assert refused.status_code == 400
    assert "allocated social worker" in refused.json()["interviewer"][0]
    allowed = staff.post(
        f"/api/interviews/{pk}/assign/",
        {"interviewer": worker.pk, "independence_exception_reason": "The child asked for her."},
        format="json",
    )
    assert allowed.status_code == 200
    assert allowed.json()["independence"] == "exception"
    # The figure counts interviews *held* under the exception (as the page does): this one is
    # only assigned so far.
    figures = counted(staff.get("/api/interview-figures/", london_days(now - 48 * H, now)))
    assert (figures["returns"], figures["independence_exceptions"]) == (1, 0)


def test_editing_a_completed_interview_is_a_409(assigned, interviewer, manager, now):
    pk = assigned["id"]
    rhi = client_for(interviewer)
    version = assigned["version"]
    version = rhi.patch(
        f"/api/interviews/{pk}/record/",
        {"version": version, "outcome": "child_refused", "not_held_reason": "Said no"},
        format="json",
    ).json()["version"]
    incomplete = rhi.post(f"/api/interviews/{pk}/complete/", {"version": version}, format="json")
    assert incomplete.status_code == 200, incomplete.json()
    edit = rhi.patch(
        f"/api/interviews/{pk}/record/", {"version": version + 1, "present": "x"}, format="json"
    )
    assert edit.status_code == 409
    assert "awaiting a manager's sign-off" in edit.json()["detail"]
    assert ReturnInterview.objects.get().status == InterviewStatus.COMPLETED


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"period_start": "2026-06-01T00:00:00Z"}, "period_start", "must be a real date"),
        ({"period_start": "2026-06-01"}, "period_end", "Enter the last day"),
        (
            {"period_start": "2026-06-02", "period_end": "2026-06-01"},
            "period_end",
            "on or after the first day",
        ),
        ({**MARCH, "age_band": "12-14"}, "age_band", "Choose an age band"),
        ({**MARCH, "team": "999999"}, "team", "Choose a team"),
    ],
)
def test_figures_refuse_bad_parameters_naming_the_field(manager, params, field, message):
    response = client_for(manager).get("/api/interview-figures/", params)
    assert response.status_code == 400
    assert message in response.json()[field][0]


@pytest.mark.parametrize("who", ["ffd", "interviewer"])
def test_figures_are_for_managers_and_heads_of_service_as_the_page_is(request, who):
    response = client_for(request.getfixturevalue(who)).get("/api/interview-figures/", MARCH)
    assert response.status_code == 403


def test_figures_default_to_this_month_in_london(manager):
    from django.utils import timezone

    from missing.cases.clocks import london_date

    body = client_for(manager).get("/api/interview-figures/").json()
    today = london_date(timezone.now())
    assert body["period_start"] == today.replace(day=1).isoformat()
    assert body["period_end"][:7] == today.isoformat()[:7]


def test_figures_pin_their_queries(episode, manager, django_assert_num_queries):
    api = client_for(manager)
    # 1. session, 2. user, 3. the session's second-factor device, 4. the figures' aggregate
    # (on PostgreSQL with the median), 5. repeat children, 6. the trend, 7. factors,
    # 8. places, 9. people; + 2 the request's savepoint and its release. (SQLite reads the
    # median's middle rows in one more query when something was held: nothing was in March.)
    with django_assert_num_queries(11):
        assert api.get("/api/interview-figures/", MARCH).status_code == 200
    # + 1 with a team chosen (the form checks it exists).
    team = TeamFactory()
    with django_assert_num_queries(12):
        response = api.get("/api/interview-figures/", {**MARCH, "team": str(team.pk)})
        assert response.status_code == 200, response.json()
