"""The REST API: intake, reads, oversight and transitions, roles, tokens and bad input.

Time is frozen at FIXED_NOW for the whole module, so episodes built through the services at
`now` and requests that read the real clock (`timezone.now()` in the views) agree.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from missing.cases import services
from missing.models import (
    ApiToken,
    CaseAccessGrant,
    Child,
    EpisodeEvent,
    EpisodeState,
    MissingEpisode,
    OversightDecision,
    PoliceNotification,
    User,
)
from tests.factories import FIXED_NOW, ChildFactory, force
from tests.helpers import episode_in_state, login, report_missing

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(FIXED_NOW, tick=False):
        yield


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        login(client, user)
    return client


def token_client(user: User, scope: str = ApiToken.Scope.FULL) -> APIClient:
    client = APIClient()
    # Made on the clock the test runs on (frozen or real): personal tokens expire (90 days).
    raw = services.api_token_create(user=user, scope=scope, now=timezone.now())
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def iso(moment) -> str:
    return moment.isoformat()


def missing_payload(**overrides: Any) -> dict[str, Any]:
    body = {
        "police_force": "kent",
        "police_reference": "KNT-API-1",
        "kind": "reported_missing",
        "child_first_name": "Jamie",
        "child_last_name": "Rivers",
        "child_date_of_birth": "2012-05-01",
        "council_child_id": "CC-API-1",
        "missing_kind": "M",
        "last_seen_at": iso(FIXED_NOW - timedelta(hours=3)),
        "last_seen_place": "Bus station",
        "reported_at": iso(FIXED_NOW - timedelta(hours=2)),
        "risk_grade": "medium",
        "circumstances": "Did not return from school.",
        "reported_by": "Foster carer",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def post_json(client: APIClient, url: str, body: Any):
    return client.post(url, body, format="json")


def counts() -> tuple[int, int, int, int]:
    return (
        PoliceNotification.objects.count(),
        MissingEpisode.objects.count(),
        Child.objects.count(),
        EpisodeEvent.objects.count(),
    )


# --------------------------------------------------------------------------------------------
# Intake
# --------------------------------------------------------------------------------------------


def test_police_intake_creates_notification_and_episode(police_system):
    client = token_client(police_system, ApiToken.Scope.INTAKE)
    body = missing_payload()

    response = post_json(client, "/api/notifications/", body)

    assert response.status_code == 201, response.json()
    data = response.json()
    notification = PoliceNotification.objects.get()
    episode = MissingEpisode.objects.get()
    assert data["id"] == notification.pk
    assert data["reference"] == f"N-{notification.pk}"
    assert data["match_status"] == "matched"
    assert data["episode"] == episode.pk
    assert data["episode_reference"] == episode.reference
    assert data["child"] == episode.child_id
    # A police system is told where its notification went, not the child's details.
    assert "Jamie" not in response.content.decode()
    assert "Rivers" not in response.content.decode()
    assert notification.raw_payload == body
    assert notification.received_by == police_system
    assert episode.police_grade.code == "medium"
    assert episode.review_due_at == FIXED_NOW + timedelta(hours=4)


def test_case_staff_intake_sees_the_childs_details(ffd):
    response = post_json(client_for(ffd), "/api/notifications/", missing_payload())

    assert response.status_code == 201
    assert response.json()["child_first_name"] == "Jamie"
    assert response.json()["risk_grade"] == "medium"


def test_repeat_of_the_same_notification_returns_it_and_creates_nothing(police_system):
    client = token_client(police_system, ApiToken.Scope.INTAKE)
    first = post_json(client, "/api/notifications/", missing_payload())
    before = counts()

    again = post_json(client, "/api/notifications/", missing_payload())

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert counts() == before


def test_same_key_with_different_details_is_a_conflict(police_system):
    client = token_client(police_system, ApiToken.Scope.INTAKE)
    post_json(client, "/api/notifications/", missing_payload())
    before = counts()

    response = post_json(
        client, "/api/notifications/", missing_payload(circumstances="Something else.")
    )

    assert response.status_code == 409
    assert "different details" in response.json()["detail"]
    assert counts() == before


def test_found_notification_records_the_return_and_starts_the_72_hour_clock(police_system):
    client = token_client(police_system, ApiToken.Scope.INTAKE)
    post_json(client, "/api/notifications/", missing_payload())
    found_at = FIXED_NOW - timedelta(minutes=30)

    response = post_json(
        client,
        "/api/notifications/",
        {
            "police_force": "kent",
            "police_reference": "KNT-API-1",
            "kind": "found",
            "found_at": iso(found_at),
            "found_place": "Friend's flat",
            "found_by": "PC Smith",
            "prevention_interview_done": True,
        },
    )

    assert response.status_code == 201, response.json()
    episode = MissingEpisode.objects.get()
    assert response.json()["episode"] == episode.pk
    assert episode.state == EpisodeState.RETURNED
    assert episode.returned_at == found_at
    assert episode.interview_due_at == found_at + timedelta(hours=72)
    assert episode.prevention_interview_done is True
    assert episode.events.filter(action="record_return").count() == 1


def test_regrade_notification_changes_the_grade_and_brings_the_review_forward(police_system):
    client = token_client(police_system, ApiToken.Scope.INTAKE)
    post_json(client, "/api/notifications/", missing_payload())

    response = post_json(
        client,
        "/api/notifications/",
        {
            "police_force": "kent",
            "police_reference": "KNT-API-1",
            "kind": "risk_regraded",
            "sequence": 2,
            "risk_grade": "high",
        },
    )

    assert response.status_code == 201, response.json()
    episode = MissingEpisode.objects.get()
    assert episode.police_grade.code == "high"
    assert episode.review_due_at == FIXED_NOW + timedelta(hours=1)


def test_candidates_and_resolve_match(police_system, ffd):
    known = ChildFactory(
        first_name="Jamie", last_name="Rivers", date_of_birth="2012-05-01", council_child_id=None
    )
    intake = token_client(police_system, ApiToken.Scope.INTAKE)
    held = post_json(intake, "/api/notifications/", missing_payload(council_child_id=None))
    assert held.status_code == 201
    assert held.json()["match_status"] == "awaiting_match"
    assert held.json()["episode"] is None
    assert MissingEpisode.objects.count() == 0
    pk = held.json()["id"]
    staff = client_for(ffd)

    waiting = staff.get("/api/notifications/?match_status=awaiting_match")
    candidates = staff.get(f"/api/notifications/{pk}/candidates/")
    resolved = post_json(staff, f"/api/notifications/{pk}/resolve-match/", {"child": known.pk})

    assert [n["id"] for n in waiting.json()["results"]] == [pk]
    assert candidates.status_code == 200
    assert [c["id"] for c in candidates.json()] == [known.pk]
    assert resolved.status_code == 200, resolved.json()
    assert resolved.json()["match_status"] == "matched"
    episode = MissingEpisode.objects.get()
    assert episode.child == known
    assert resolved.json()["episode"] == episode.pk
    again = post_json(staff, f"/api/notifications/{pk}/resolve-match/", {"child": known.pk})
    assert again.status_code == 409


def test_resolve_match_with_null_creates_a_new_child(police_system, ffd):
    ChildFactory(first_name="Jamie", last_name="Rivers", date_of_birth="2012-05-01")
    intake = token_client(police_system, ApiToken.Scope.INTAKE)
    pk = post_json(intake, "/api/notifications/", missing_payload(council_child_id=None)).json()[
        "id"
    ]

    response = post_json(
        client_for(ffd), f"/api/notifications/{pk}/resolve-match/", {"child": None}
    )

    assert response.status_code == 200
    assert Child.objects.count() == 2
    assert MissingEpisode.objects.get().child.pk == response.json()["child"]


def test_resolve_match_to_a_child_not_offered_is_refused(police_system, ffd):
    ChildFactory(first_name="Jamie", last_name="Rivers", date_of_birth="2012-05-01")
    stranger = ChildFactory()
    intake = token_client(police_system, ApiToken.Scope.INTAKE)
    pk = post_json(intake, "/api/notifications/", missing_payload(council_child_id=None)).json()[
        "id"
    ]

    response = post_json(
        client_for(ffd), f"/api/notifications/{pk}/resolve-match/", {"child": stranger.pk}
    )

    assert response.status_code == 400
    assert "child" in response.json()
    assert MissingEpisode.objects.count() == 0


# --------------------------------------------------------------------------------------------
# Bad input: 400 naming the field, nothing written
# --------------------------------------------------------------------------------------------

BAD_INTAKE = [
    pytest.param(missing_payload(child_last_name=...), "child_last_name", "Enter", id="missing"),
    pytest.param(
        missing_payload(police_reference=...), "police_reference", "required", id="no-ref"
    ),
    pytest.param(
        missing_payload(last_seen_at=iso(FIXED_NOW + timedelta(hours=1))),
        "last_seen_at",
        "future",
        id="future-last-seen",
    ),
    pytest.param(
        missing_payload(child_date_of_birth="2030-01-01"),
        "child_date_of_birth",
        "future",
        id="future-dob",
    ),
    pytest.param(
        missing_payload(reported_at=iso(FIXED_NOW - timedelta(hours=5))),
        "reported_at",
        "before last seen",
        id="reported-before-last-seen",
    ),
    pytest.param(
        missing_payload(kind="found", found_at=iso(FIXED_NOW - timedelta(hours=4))),
        "found_at",
        "before last seen",
        id="found-before-last-seen",
    ),
    pytest.param(
        missing_payload(risk_grade="severe"),
        "risk_grade",
        "Unknown risk grade 'severe'",
        id="unknown-grade",
    ),
    pytest.param(
        missing_payload(police_force="atlantis"),
        "police_force",
        "Unknown police force 'atlantis'",
        id="unknown-force",
    ),
    pytest.param(
        missing_payload(police_force="Kent Police!"), "police_force", "Unknown", id="odd-force"
    ),
    pytest.param(missing_payload(risk_grade=3), "risk_grade", "not a number", id="grade-number"),
    pytest.param(missing_payload(police_force=""), "police_force", "Enter the police", id="force-"),
    pytest.param(missing_payload(police_force=None), "police_force", "Enter", id="force-null"),
    pytest.param(
        missing_payload(circumstances="x" * 10_001), "circumstances", "10000", id="long-text"
    ),
    pytest.param(
        missing_payload(last_seen_place="x" * 301), "last_seen_place", "300", id="long-place"
    ),
    pytest.param(
        missing_payload(police_reference="K" * 61), "police_reference", "60", id="long-ref"
    ),
    pytest.param(
        missing_payload(child_first_name=123), "child_first_name", "not a number", id="number"
    ),
    pytest.param(
        missing_payload(police_reference=42), "police_reference", "not a number", id="ref-number"
    ),
    pytest.param(missing_payload(sequence="2"), "sequence", "not text", id="sequence-text"),
    pytest.param(missing_payload(sequence=0), "sequence", "greater than", id="sequence-zero"),
    pytest.param(missing_payload(sequence=2**40), "sequence", "less than", id="sequence-overflow"),
    pytest.param(
        missing_payload(prevention_interview_done="yes"),
        "prevention_interview_done",
        "true or false",
        id="bool-text",
    ),
    pytest.param(
        missing_payload(last_seen_at="2026-06-10T09:00:00"),
        "last_seen_at",
        "time zone",
        id="naive-datetime",
    ),
    pytest.param(
        missing_payload(last_seen_at="yesterday"), "last_seen_at", "format", id="bad-datetime"
    ),
    pytest.param(
        missing_payload(last_seen_at=1_781_000_000), "last_seen_at", "not a number", id="epoch"
    ),
    pytest.param(
        missing_payload(child_date_of_birth="2012-02-30"),
        "child_date_of_birth",
        "format",
        id="impossible-date",
    ),
    pytest.param(missing_payload(kind="lost"), "kind", "valid choice", id="bad-kind"),
    pytest.param(missing_payload(missing_kind="X"), "missing_kind", "valid choice", id="bad-mk"),
    pytest.param(missing_payload(colour="red"), "colour", "Unknown field", id="unknown-key"),
    pytest.param(
        missing_payload(child_first_name="Ja\x00mie"), "child_first_name", "Null", id="nul"
    ),
    pytest.param(["not", "an", "object"], "non_field_errors", "dictionary", id="list-body"),
]


@pytest.mark.parametrize(("body", "field", "message"), BAD_INTAKE)
def test_bad_intake_names_the_field_and_writes_nothing(police_system, body, field, message):
    client = token_client(police_system, ApiToken.Scope.INTAKE)
    before = counts()

    response = post_json(client, "/api/notifications/", body)

    assert response.status_code == 400, response.json()
    data = response.json()
    assert data["detail"]
    assert field in data, data
    assert message in " ".join(data[field]), data
    assert counts() == before


def test_every_bad_field_is_named_at_once(police_system):
    client = token_client(police_system, ApiToken.Scope.INTAKE)

    response = post_json(
        client,
        "/api/notifications/",
        missing_payload(child_first_name=1, last_seen_at="2026-06-10T09:00", shoe_size=9),
    )

    assert response.status_code == 400
    assert {"child_first_name", "last_seen_at", "shoe_size"} <= set(response.json())


def test_unknown_key_that_cannot_be_encoded_is_still_a_400(police_system):
    client = token_client(police_system, ApiToken.Scope.INTAKE)

    response = client.post(
        "/api/notifications/",
        '{"police_force": "kent", "\\ud800": 1}',
        content_type="application/json",
    )

    assert response.status_code == 400


def test_found_before_the_episodes_last_seen_is_kept_for_review(police_system):
    client = token_client(police_system, ApiToken.Scope.INTAKE)
    post_json(client, "/api/notifications/", missing_payload())
    notifications, episodes, children, _ = counts()

    response = post_json(
        client,
        "/api/notifications/",
        {
            "police_force": "kent",
            "police_reference": "KNT-API-1",
            "kind": "found",
            "found_at": iso(FIXED_NOW - timedelta(hours=5)),
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert body["match_status"] == "needs_review"
    assert "before the child was last seen" in body["outcome_detail"]
    assert "child_first_name" not in body  # a police system's receipt
    assert counts()[:3] == (notifications + 1, episodes, children)
    episode = MissingEpisode.objects.get()
    assert episode.state == "missing"  # nothing applied
    assert body["episode"] == episode.pk


def test_malformed_json_and_form_bodies_are_refused(police_system):
    client = token_client(police_system, ApiToken.Scope.INTAKE)

    broken = client.post("/api/notifications/", "{not json", content_type="application/json")
    form = client.post("/api/notifications/", {"police_force": "kent"})

    assert broken.status_code == 400
    assert form.status_code == 415
    assert PoliceNotification.objects.count() == 0


# --------------------------------------------------------------------------------------------
# Tokens and forces
# --------------------------------------------------------------------------------------------


def test_police_system_cannot_post_for_another_force(police_system):
    client = token_client(police_system, ApiToken.Scope.INTAKE)

    response = post_json(client, "/api/notifications/", missing_payload(police_force="essex"))

    assert response.status_code == 403
    assert PoliceNotification.objects.count() == 0


def test_revoked_token_is_refused(police_system):
    client = token_client(police_system, ApiToken.Scope.INTAKE)
    services.api_token_revoke(token=ApiToken.objects.get(), now=FIXED_NOW)

    response = post_json(client, "/api/notifications/", missing_payload())

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert PoliceNotification.objects.count() == 0


def test_unknown_token_is_refused():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer mcr_not-a-real-token")

    assert client.get("/api/episodes/").status_code == 401


def test_token_records_its_last_use(police_system):
    client = token_client(police_system, ApiToken.Scope.INTAKE)

    post_json(client, "/api/notifications/", missing_payload())

    assert ApiToken.objects.get().last_used_at == FIXED_NOW


@pytest.fixture
def world(ffd, manager, now) -> dict[str, Any]:
    """One record of each kind, for the sweeps: ids to put in URLs."""
    missing = episode_in_state(EpisodeState.MISSING, ffd=ffd, manager=manager, now=now)
    returned = episode_in_state(EpisodeState.RETURNED, ffd=ffd, manager=manager, now=now)
    awaiting = episode_in_state(EpisodeState.AWAITING_SIGN_OFF, ffd=ffd, manager=manager, now=now)
    ChildFactory(first_name="Sam", last_name="Held", date_of_birth="2013-01-01")
    held = services.notification_receive(
        services.NotificationData(
            police_force=force(),
            police_reference="KNT-HELD",
            kind="reported_missing",
            child_first_name="Sam",
            child_last_name="Held",
            last_seen_at=now - timedelta(hours=2),
            reported_at=now - timedelta(hours=1),
            risk_grade=missing.police_grade,
        ),
        actor=ffd,
        payload={"ref": "KNT-HELD"},
        now=now,
    ).notification
    return {
        "missing": missing.pk,
        "returned": returned.pk,
        "awaiting": awaiting.pk,
        "child": missing.child_id,
        "notification": held.pk,
    }


# (method, url template, body): every route but the schema and docs.
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("get", "/api/notifications/", None),
    ("post", "/api/notifications/", missing_payload()),
    ("get", "/api/notifications/{notification}/", None),
    ("get", "/api/notifications/{notification}/candidates/", None),
    ("post", "/api/notifications/{notification}/resolve-match/", {"child": None}),
    ("get", "/api/children/", None),
    ("get", "/api/children/{child}/", None),
    ("get", "/api/episodes/", None),
    ("get", "/api/episodes/{missing}/", None),
    ("get", "/api/episodes/{missing}/decisions/", None),
    ("post", "/api/episodes/{missing}/decisions/", {"risk": "high", "rationale": "Exploitation."}),
    ("post", "/api/episodes/{missing}/return/", {"returned_at": iso(FIXED_NOW)}),
    ("post", "/api/episodes/{missing}/cancel/", {"reason": "Logged twice."}),
    ("post", "/api/episodes/{awaiting}/sign-off/", {"note": "Interview held."}),
    ("get", "/api/episodes/{missing}/events/", None),
    ("get", "/api/board/", None),
    ("get", "/api/risk-grades/", None),
    ("get", "/api/police-forces/", None),
]

STAFF = {"ffd", "manager", "head_of_service"}
READERS = STAFF | {"interviewer", "other_interviewer"}
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("post", "/api/notifications/"): STAFF | {"police_system"},
    ("get", "/api/children/"): READERS,
    ("get", "/api/children/{child}/"): READERS,
    ("get", "/api/episodes/"): READERS,
    ("get", "/api/episodes/{missing}/"): READERS,
    ("get", "/api/episodes/{missing}/decisions/"): READERS,
    ("get", "/api/episodes/{missing}/events/"): READERS,
    # Staff reach these; the service then refuses an FFD practitioner (see below).
    ("post", "/api/episodes/{missing}/decisions/"): {"manager", "head_of_service"},
    ("post", "/api/episodes/{missing}/cancel/"): {"manager", "head_of_service"},
    ("post", "/api/episodes/{awaiting}/sign-off/"): {"manager", "head_of_service"},
}
ROLES = ["ffd", "manager", "head_of_service", "interviewer", "other_interviewer", "admin"]
ROLES += ["police_system", "anonymous"]


def _call(client: APIClient, method: str, url: str, body: dict[str, Any] | None):
    if method == "get":
        return client.get(url)
    return client.post(url, body, format="json")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "template", "body"), ENDPOINTS)
def test_every_endpoint_admits_its_roles_and_refuses_the_rest(
    users_by_role, world, role, method, template, body
):
    user = users_by_role.get(role)
    allowed = role in ALLOWED.get((method, template), STAFF)

    response = _call(client_for(user), method, template.format(**world), body)

    if allowed:
        # Interviewers without a grant reach the endpoint but find nothing there.
        assert response.status_code in {200, 201, 404}, (role, response.json())
        if role not in {"interviewer", "other_interviewer"}:
            assert response.status_code in {200, 201}, (role, response.json())
    else:
        assert response.status_code == (401 if role == "anonymous" else 403), role
        assert "detail" in response.json()


@pytest.mark.parametrize(("method", "template", "body"), ENDPOINTS)
@pytest.mark.parametrize("role", ["police_system", "manager"])
def test_an_intake_token_reaches_only_the_intake_endpoint(
    users_by_role, world, role, method, template, body
):
    client = token_client(users_by_role[role], ApiToken.Scope.INTAKE)
    before = (counts(), OversightDecision.objects.count())

    response = _call(client, method, template.format(**world), body)

    if (method, template) == ("post", "/api/notifications/"):
        assert response.status_code == 201
    else:
        assert response.status_code == 403, response.json()
        assert (counts(), OversightDecision.objects.count()) == before


def test_a_full_token_works_like_a_session(manager, world):
    client = token_client(manager, ApiToken.Scope.FULL)

    assert client.get("/api/episodes/").status_code == 200


def test_schema_and_docs_are_served():
    client = APIClient()

    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert b"/api/notifications/" in schema.content
    assert docs.status_code == 200


# --------------------------------------------------------------------------------------------
# Interviewers see only their granted episodes
# --------------------------------------------------------------------------------------------


def test_interviewer_sees_only_granted_episodes_and_children(
    ffd, manager, interviewer, other_interviewer, now
):
    granted = episode_in_state(EpisodeState.RETURNED, ffd=ffd, manager=manager, now=now)
    hidden = episode_in_state(EpisodeState.RETURNED, ffd=ffd, manager=manager, now=now)
    services.access_grant(episode=granted, user=interviewer, now=now)
    mine, theirs = client_for(interviewer), client_for(other_interviewer)

    assert [e["id"] for e in mine.get("/api/episodes/").json()["results"]] == [granted.pk]
    assert [c["id"] for c in mine.get("/api/children/").json()["results"]] == [granted.child_id]
    assert mine.get(f"/api/episodes/{granted.pk}/").status_code == 200
    assert mine.get(f"/api/episodes/{granted.pk}/events/").status_code == 200
    assert mine.get(f"/api/children/{granted.child_id}/").status_code == 200
    assert mine.get(f"/api/episodes/{hidden.pk}/").status_code == 404
    assert mine.get(f"/api/episodes/{hidden.pk}/decisions/").status_code == 404
    assert mine.get(f"/api/children/{hidden.child_id}/").status_code == 404
    assert mine.get(f"/api/episodes/?child={hidden.child_id}").json()["results"] == []
    assert theirs.get("/api/episodes/").json()["results"] == []
    assert theirs.get("/api/children/").json()["results"] == []
    assert theirs.get(f"/api/episodes/{granted.pk}/").status_code == 404
    detail = mine.get(f"/api/episodes/{granted.pk}/").json()
    assert detail["available_transitions"] == []
    # Recording anything stays with case staff, even on a granted episode.
    assert (
        post_json(mine, f"/api/episodes/{granted.pk}/cancel/", {"reason": "x"}).status_code == 403
    )


def test_revoked_grant_hides_the_episode_again(ffd, manager, interviewer, now):
    episode = episode_in_state(EpisodeState.RETURNED, ffd=ffd, manager=manager, now=now)
    services.access_grant(episode=episode, user=interviewer, now=now)
    services.access_revoke(episode=episode, user=interviewer, now=now)

    assert client_for(interviewer).get(f"/api/episodes/{episode.pk}/").status_code == 404
    assert CaseAccessGrant.objects.count() == 1


# --------------------------------------------------------------------------------------------
# Episodes: reads
# --------------------------------------------------------------------------------------------


def test_episode_detail_shows_version_clocks_and_transitions_for_this_user(ffd, manager, now):
    episode = episode_in_state(EpisodeState.RETURNED, ffd=ffd, manager=manager, now=now)
    awaiting = episode_in_state(EpisodeState.AWAITING_SIGN_OFF, ffd=ffd, manager=manager, now=now)

    as_manager = client_for(manager).get(f"/api/episodes/{episode.pk}/").json()
    as_ffd = client_for(ffd).get(f"/api/episodes/{episode.pk}/").json()
    after_interview = client_for(manager).get(f"/api/episodes/{awaiting.pk}/").json()

    assert as_manager["version"] == episode.version
    assert as_manager["state"] == "returned"
    assert as_manager["interview_due_at"] is not None
    assert as_manager["child"]["id"] == episode.child_id
    # Sign-off waits for the interview (held or recorded as not held).
    assert sorted(as_manager["available_transitions"]) == ["cancel", "review"]
    assert as_ffd["available_transitions"] == []
    assert after_interview["state"] == "awaiting_sign_off"
    assert sorted(after_interview["available_transitions"]) == ["cancel", "review", "sign_off"]


def test_episode_list_filters(ffd, manager, now):
    missing = episode_in_state(EpisodeState.MISSING, ffd=ffd, manager=manager, now=now)
    returned = episode_in_state(EpisodeState.RETURNED, ffd=ffd, manager=manager, now=now)
    # Now: the next review (medium grade) and the interview are both still ahead.
    client = client_for(manager)

    def ids(query: str) -> list[int]:
        response = client.get(f"/api/episodes/{query}")
        assert response.status_code == 200, response.json()
        return [e["id"] for e in response.json()["results"]]

    assert set(ids("")) == {missing.pk, returned.pk}
    assert ids("?state=missing") == [missing.pk]
    assert ids(f"?child={returned.child_id}") == [returned.pk]
    with time_machine.travel(FIXED_NOW + timedelta(days=5), tick=False):
        login(client, manager)  # five days on, the first session has long timed out
        assert set(ids("?overdue=true")) == {missing.pk, returned.pk}
        assert ids("?overdue=false") == []
    assert set(ids("?overdue=false")) == {missing.pk, returned.pk}
    assert client.get("/api/episodes/?state=lost").status_code == 400
    assert client.get("/api/episodes/?child=1.5").status_code == 400
    assert client.get("/api/episodes/?child=99999999999999999999999").status_code == 400


def test_children_search_by_last_name_prefix_or_council_id(ffd, manager, now):
    episode_in_state(EpisodeState.MISSING, ffd=ffd, manager=manager, now=now)
    child = ChildFactory(last_name="Oakley", council_child_id="CC-OAK")
    client = client_for(ffd)

    by_name = client.post("/api/children/search/", {"search": "oak"}, format="json")
    by_id = client.post("/api/children/search/", {"search": "CC-OAK"}, format="json")

    assert [c["id"] for c in by_name.json()["results"]] == [child.pk]
    assert [c["id"] for c in by_id.json()["results"]] == [child.pk]


def test_a_name_search_never_goes_in_the_query_string(ffd, now):
    """The GET list ignores a `search` parameter (names stay out of URLs and logs); a search
    with no term is a 400 naming the field."""
    ChildFactory(last_name="Oakley")
    other = ChildFactory(last_name="Birch")
    client = client_for(ffd)

    listed = client.get("/api/children/?search=oak").json()["results"]
    empty = client.post("/api/children/search/", {"search": ""}, format="json")

    assert {c["id"] for c in listed} >= {other.pk}
    assert empty.status_code == 400
    assert "search" in empty.json()


def test_child_detail_lists_its_episodes(ffd, manager, now):
    episode = episode_in_state(EpisodeState.MISSING, ffd=ffd, manager=manager, now=now)

    data = client_for(ffd).get(f"/api/children/{episode.child_id}/").json()

    assert [e["id"] for e in data["episodes"]] == [episode.pk]


def test_unknown_ids_are_404(manager):
    client = client_for(manager)

    assert client.get("/api/episodes/999999/").status_code == 404
    assert client.get("/api/notifications/999999/").status_code == 404
    assert client.get("/api/children/999999/").status_code == 404
    assert client.get("/api/episodes/99999999999999999999999/").status_code == 404
    response = post_json(client, "/api/episodes/999999/cancel/", {"reason": "x"})
    assert response.status_code == 404
    assert "detail" in response.json()


def test_reference_data(ffd):
    client = client_for(ffd)

    grades = client.get("/api/risk-grades/").json()
    forces = client.get("/api/police-forces/").json()

    assert grades[0] == {
        "code": "high",
        "label": "High",
        "rank": 10,
        "review_within_seconds": 3600,
        "active": True,
    }
    assert {"code": "kent", "name": "Kent Police"} in forces


def test_notification_detail_keeps_the_payload(ffd):
    client = client_for(ffd)
    body = missing_payload()
    pk = post_json(client, "/api/notifications/", body).json()["id"]

    data = client.get(f"/api/notifications/{pk}/").json()

    assert data["payload"] == body
    assert data["police_force"] == "kent"


# --------------------------------------------------------------------------------------------
# Oversight and transitions
# --------------------------------------------------------------------------------------------


def test_manager_records_a_decision(ffd, manager, now):
    episode = report_missing(actor=ffd, now=now - timedelta(hours=1))
    client = client_for(manager)
    next_review = FIXED_NOW + timedelta(hours=6)

    response = post_json(
        client,
        f"/api/episodes/{episode.pk}/decisions/",
        {
            "risk": "high",
            "rationale": "Known to associate with older adults.",
            "exploitation_screening": True,
            "next_review_at": iso(next_review),
            "version": episode.version,
        },
    )

    assert response.status_code == 201, response.json()
    assert response.json()["episode_version"] == episode.version + 1
    episode.refresh_from_db()
    assert episode.manager_risk == "high"
    assert episode.review_due_at == next_review
    listed = client.get(f"/api/episodes/{episode.pk}/decisions/").json()
    assert [d["rationale"] for d in listed] == ["Known to associate with older adults."]
    assert listed[0]["decided_by"] == manager.pk
    assert listed[0]["exploitation_screening"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"risk": "high"}, "rationale"),
        ({"risk": "high", "rationale": "   "}, "rationale"),
        ({"risk": "extreme", "rationale": "x"}, "risk"),
        ({"risk": "high", "rationale": "x", "police_liaison": "true"}, "police_liaison"),
        ({"risk": "high", "rationale": "x", "version": "3"}, "version"),
        (
            {"risk": "high", "rationale": "x", "next_review_at": "2026-06-10T18:00"},
            "next_review_at",
        ),
        (
            {"risk": "high", "rationale": "x", "next_review_at": iso(FIXED_NOW - timedelta(1))},
            "next_review_at",
        ),
        ({"risk": "high", "rationale": "x", "urgent": True}, "urgent"),
    ],
)
def test_bad_decision_names_the_field_and_writes_nothing(ffd, manager, now, body, field):
    episode = report_missing(actor=ffd, now=now - timedelta(hours=1))

    response = post_json(client_for(manager), f"/api/episodes/{episode.pk}/decisions/", body)

    assert response.status_code == 400
    assert field in response.json()
    assert OversightDecision.objects.count() == 0


def test_ffd_cannot_record_a_decision(ffd, now):
    episode = report_missing(actor=ffd, now=now - timedelta(hours=1))

    response = post_json(
        client_for(ffd), f"/api/episodes/{episode.pk}/decisions/", {"risk": "low", "rationale": "x"}
    )

    assert response.status_code == 403
    assert "role" in response.json()["detail"]
    assert OversightDecision.objects.count() == 0


def test_stale_version_is_a_conflict(ffd, manager, now):
    episode = report_missing(actor=ffd, now=now - timedelta(hours=1))
    client = client_for(manager)
    stale = client.get(f"/api/episodes/{episode.pk}/").json()["version"]
    post_json(
        client, f"/api/episodes/{episode.pk}/decisions/", {"risk": "low", "rationale": "First."}
    )

    response = post_json(
        client,
        f"/api/episodes/{episode.pk}/decisions/",
        {"risk": "high", "rationale": "Second.", "version": stale},
    )
    cancel = post_json(
        client, f"/api/episodes/{episode.pk}/cancel/", {"reason": "Dup", "version": stale}
    )

    assert response.status_code == 409
    assert "changed by someone else" in response.json()["detail"]
    assert cancel.status_code == 409
    assert OversightDecision.objects.count() == 1
    assert MissingEpisode.objects.get().state == EpisodeState.MISSING


def test_sign_off_without_a_decision_is_a_conflict(ffd, manager, now):
    episode = episode_in_state(
        EpisodeState.AWAITING_SIGN_OFF, ffd=ffd, manager=manager, now=now, reviewed=False
    )
    events = EpisodeEvent.objects.count()

    response = post_json(client_for(manager), f"/api/episodes/{episode.pk}/sign-off/", {})

    assert response.status_code == 409
    assert "oversight" in response.json()["detail"]
    assert MissingEpisode.objects.get(pk=episode.pk).state == EpisodeState.AWAITING_SIGN_OFF
    assert EpisodeEvent.objects.count() == events


def test_return_then_sign_off_walks_the_episode_to_closed(ffd, manager, now):
    episode = episode_in_state(EpisodeState.MISSING, ffd=ffd, manager=manager, now=now)
    returned_at = FIXED_NOW - timedelta(minutes=20)

    back = post_json(
        client_for(ffd),
        f"/api/episodes/{episode.pk}/return/",
        {
            "returned_at": iso(returned_at),
            "found_place": "Home",
            "prevention_interview_done": False,
            "version": episode.version,
        },
    )
    # The interview app records the interview's outcome through the core (here: not held).
    services.episode_record_interview_outcome(
        services.OutcomeData(
            outcome="not_held_decision",
            held_at=None,
            note="Child admitted to hospital; social worker visiting.",
        ),
        actor=manager,
        episode_id=episode.pk,
        now=FIXED_NOW,
    )
    refused_stale = post_json(
        client_for(manager),
        f"/api/episodes/{episode.pk}/sign-off/",
        {"note": "Interview held.", "version": back.json()["version"]},
    )
    closed = post_json(
        client_for(manager),
        f"/api/episodes/{episode.pk}/sign-off/",
        {"note": "Interview held.", "version": back.json()["version"] + 1},
    )
    timeline = client_for(ffd).get(f"/api/episodes/{episode.pk}/events/").json()

    assert back.status_code == 200, back.json()
    assert back.json()["state"] == "returned"
    assert back.json()["returned_at"] is not None
    assert MissingEpisode.objects.get(pk=episode.pk).interview_due_at == returned_at + timedelta(
        hours=72
    )
    assert refused_stale.status_code == 409
    assert closed.status_code == 200, closed.json()
    assert closed.json()["state"] == "closed"
    assert closed.json()["available_transitions"] == []
    assert [e["action"] for e in timeline] == [
        "opened",
        "review",
        "record_return",
        "record_interview_outcome",
        "sign_off",
    ]
    assert timeline[-1]["actor"] == manager.pk
    assert timeline[-1]["from_state"] == "awaiting_sign_off"
    assert timeline[-1]["to_state"] == "closed"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"returned_at": iso(FIXED_NOW + timedelta(hours=1))}, "future"),
        ({"returned_at": iso(FIXED_NOW - timedelta(days=2))}, "before last seen"),
        ({"returned_at": "2026-06-10T11:00:00"}, "time zone"),
        ({}, "required"),
    ],
)
def test_bad_return_names_the_field(ffd, manager, now, body, message):
    episode = episode_in_state(EpisodeState.MISSING, ffd=ffd, manager=manager, now=now)

    response = post_json(client_for(ffd), f"/api/episodes/{episode.pk}/return/", body)

    assert response.status_code == 400
    assert message in " ".join(response.json()["returned_at"])
    assert MissingEpisode.objects.get(pk=episode.pk).state == EpisodeState.MISSING


def test_cancel_needs_a_reason_and_an_open_episode(ffd, manager, now):
    episode = episode_in_state(EpisodeState.CLOSED, ffd=ffd, manager=manager, now=now)
    client = client_for(manager)

    no_reason = post_json(client, f"/api/episodes/{episode.pk}/cancel/", {"reason": ""})
    closed = post_json(client, f"/api/episodes/{episode.pk}/cancel/", {"reason": "Duplicate"})

    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()
    assert closed.status_code == 409
    assert MissingEpisode.objects.get(pk=episode.pk).state == EpisodeState.CLOSED


def test_cancel_keeps_the_episode_and_records_why(ffd, manager, now):
    episode = episode_in_state(EpisodeState.MISSING, ffd=ffd, manager=manager, now=now)

    response = post_json(
        client_for(manager), f"/api/episodes/{episode.pk}/cancel/", {"reason": "Logged twice."}
    )

    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    assert response.json()["cancelled_reason"] == "Logged twice."
    assert EpisodeEvent.objects.filter(episode=episode, action="cancel").count() == 1


# --------------------------------------------------------------------------------------------
# Query counts: no query per row
# --------------------------------------------------------------------------------------------


# Every session-authenticated call: the session, the user, and the session's second-factor device.
SESSION_QUERIES = 3


def _queries(client: APIClient, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", ["/api/episodes/", "/api/board/"])
def test_list_and_board_queries_do_not_grow_with_rows(ffd, manager, now, url):
    client = client_for(manager)
    for _ in range(2):
        report_missing(actor=ffd, now=now - timedelta(hours=1))
    with_two = _queries(client, url)
    # Every open state, reviewed and not (the board reads only selectors.BOARD_COLUMNS: a
    # column the serializer reads but left out there would be a query per row).
    open_states = (
        EpisodeState.MISSING,
        EpisodeState.RETURNED,
        EpisodeState.INTERVIEW_ARRANGED,
        EpisodeState.AWAITING_SIGN_OFF,
    )
    for i in range(8):
        episode_in_state(open_states[i % 4], ffd=ffd, manager=manager, now=now, reviewed=i % 3 != 0)
    with_ten = _queries(client, url)

    # Signing in by session: the session, the user, the session's second-factor device; then
    # /api/episodes/: the capped COUNT (missing.web.pagination), then the page with child, grade
    # and force joined.
    # /api/board/: the open episodes (same joins), the notifications awaiting a match, then
    # the oldest open strategy / risk meeting tasks with their count.
    # Both: + 1 access row for the whole list, + 2 the request's savepoint and its release.
    expected = 3 if url == "/api/board/" else 2
    assert with_two == with_ten == SESSION_QUERIES + expected + 3


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # The episode with child, grade and force joined; transitions are computed in memory.
        ("/api/episodes/{episode}/", 1),
        # The episode (visibility), then its decisions with their authors.
        ("/api/episodes/{episode}/decisions/", 2),
        # The episode (visibility), then its events with their actors.
        ("/api/episodes/{episode}/events/", 2),
        # The child with its legal status today (EXISTS subqueries) and its team and social
        # worker joined, its visible episodes with their joins, its legal-status periods.
        ("/api/children/{child}/", 3),
        # The page's COUNT, then the page.
        ("/api/children/", 2),
    ],
)
def test_detail_queries_are_pinned(ffd, manager, now, template, expected):
    episode = episode_in_state(EpisodeState.CLOSED, ffd=ffd, manager=manager, now=now)
    url = template.format(episode=episode.pk, child=episode.child_id)

    # Each: + 1 access row, + 2 the request's savepoint and its release (ATOMIC_REQUESTS).
    assert _queries(client_for(manager), url) == SESSION_QUERIES + expected + 3


def test_board_rows_and_counts(ffd, manager, now):
    episode_in_state(EpisodeState.MISSING, ffd=ffd, manager=manager, now=now, reviewed=False)
    episode_in_state(EpisodeState.RETURNED, ffd=ffd, manager=manager, now=now)
    episode_in_state(EpisodeState.CLOSED, ffd=ffd, manager=manager, now=now)

    data = client_for(manager).get("/api/board/").json()

    assert len(data["rows"]) == 2
    stages = {s["key"]: s["count"] for s in data["stages"]}
    assert stages["missing_unreviewed"] == 1
    assert stages["returned_interview_due"] == 1
    interview = next(r for r in data["rows"] if r["clock"] == "interview")
    assert interview["seconds_left"] == 71 * 3600
    assert interview["rag"] == "green"
    assert data["awaiting_match_count"] == 0
