"""Two councils on one installation (a regional deployment, decision 0066).

Council B (Kent) holds the world of tests/test_url_auth.py: its children, episodes, interview,
notifications, meeting task, escalation and legal-status period. Council A (Medway) has its own
staff. Every route is walked as A's case staff for B's records (refused, and no B child's name
anywhere), and for the out-of-area episode B shares with A (seen, labelled). Then intake
scoping, the figures per council, and the alert the other council no longer needs.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from interviews import figures as fig
from missing.cases import child_facts
from missing.models import (
    Child,
    Council,
    MissingEpisode,
    PoliceNotification,
    Role,
    User,
)
from notifications.council_alerts import council_alert_sweep
from notifications.models import CouncilAlert
from tests.factories import FIXED_NOW, ChildFactory, UserFactory, force
from tests.helpers import login, report_missing
from tests.test_url_auth import BODIES, REFUSED, ROUTES, url_kwargs, world  # noqa: F401

A_CODE, B_CODE = "E06000035", "E10000016"  # Medway, Kent
A_NAME = "Medway"
B_NAMES = {"Quuxworth", "Wibblesby", "Xanthe"}  # council B's children in the url_auth world
CASE_ROLES = {"ffd": Role.FFD, "manager": Role.MANAGER, "head_of_service": Role.HEAD_OF_SERVICE}
# The objects that are a child's records; the rest (tokens, uploads, account changes, alerts to
# administrators) are not a council's case rows and are walked in tests/test_url_auth.py.
CASE_OBJECTS = {
    "episode",
    "child",
    "interview",
    "notification",
    "discrepancy",
    "meeting",
    "escalation",
    "period",
}
SHARED_LABEL = f"Shared with {A_NAME}: placed out of area"


def council(code: str) -> Council:
    return Council.objects.get(ons_code=code)


@pytest.fixture
def two_councils(settings) -> tuple[Council, Council]:
    settings.COUNCIL_ONS_CODES = [A_CODE, B_CODE]
    return council(A_CODE), council(B_CODE)


@pytest.fixture
def regional(world, two_councils) -> dict[str, Any]:  # noqa: F811
    """The url_auth world, made council B's; council A's staff; and B's child placed in A's area,
    missing in an episode both councils see."""
    a, b = two_councils
    User.objects.update(council=b)
    Child.objects.update(council=b)
    MissingEpisode.objects.update(council=b, figures_council=b)
    PoliceNotification.objects.update(council=b)
    staff_a = {
        who: UserFactory(username=f"a-{who}", role=role, council=a)
        for who, role in CASE_ROLES.items()
    }
    b_ffd = User.objects.filter(role=Role.FFD, council=b).order_by("pk").first()
    placed = ChildFactory(
        first_name="Placida",
        last_name="Outerby",
        responsible_council="Kent",
        host_council=A_NAME,
        council=b,
    )
    with time_machine.travel(FIXED_NOW, tick=False):
        shared = report_missing(actor=b_ffd, now=FIXED_NOW, child=placed, reference="KNT-SHARED")
    assert shared.council_id == b.pk
    assert shared.out_of_area_council_id == a.pk
    assert shared.figures_council_id == b.pk
    return {"world": world, "a": a, "b": b, "staff_a": staff_a, "b_ffd": b_ffd, "shared": shared}


def call(client: APIClient, name: str, method: str, url: str) -> Any:
    body = dict(BODIES.get(name, {}))
    with time_machine.travel(FIXED_NOW + timedelta(minutes=5), tick=False):
        if method == "GET":
            return client.get(url)
        if name.startswith("api-"):
            return client.generic(method, url, json.dumps(body), content_type="application/json")
        return client.post(url, body)


def text_of(response: Any) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode(errors="replace")


def test_the_shared_episode_is_labelled_for_both_councils(regional):
    """Board, episode list and episode page, as A (the host) and as B (responsible)."""
    shared = regional["shared"]
    for user in (regional["staff_a"]["ffd"], regional["b_ffd"]):
        client = APIClient()
        login(client, user)
        for url in (
            reverse("board"),
            reverse("episode_list"),
            reverse("episode_detail", args=[shared.pk]),
        ):
            with time_machine.travel(FIXED_NOW + timedelta(minutes=5), tick=False):
                response = client.get(url)
            assert response.status_code == 200, (url, user.username)
            content = text_of(response)
            assert SHARED_LABEL in content, (url, user.username)
            assert "Outerby" in content
    # Council A sees the shared episode only: none of B's other children.
    client = APIClient()
    login(client, regional["staff_a"]["manager"])
    with time_machine.travel(FIXED_NOW + timedelta(minutes=5), tick=False):
        board = text_of(client.get(reverse("board")))
    assert not any(name in board for name in B_NAMES)


@pytest.mark.parametrize("who", sorted(CASE_ROLES))
def test_council_a_is_refused_every_route_to_council_b_records(regional, who):
    """Every route, as A's case staff: a route addressing B's record is refused (404/403); no
    page or API body, list or not, carries the name of a B child that is not shared with A."""
    user = regional["staff_a"][who]
    client = APIClient()
    login(client, user)
    walked = 0
    for name, (method, _allowed, obj) in sorted(ROUTES.items()):
        if obj is not None and obj not in CASE_OBJECTS:
            continue
        url = reverse(name, kwargs=url_kwargs(regional["world"], obj))
        response = call(client, name, method, url)
        assert response.status_code < 500, (name, response.content[:300])
        if obj is not None and name != "notifications:episode_short_link":
            assert response.status_code in REFUSED, (name, who, response.status_code)
        content = text_of(response)
        for hidden in B_NAMES:
            assert hidden not in content, (name, who, hidden)
        walked += 1
    assert walked > 100


@pytest.mark.parametrize("who", sorted(CASE_ROLES))
def test_council_a_reads_the_shared_episode_on_every_episode_route(regional, who):
    """The episode routes a case role may read answer for the shared episode; the child's own
    file (child routes, and the Philomena profile's Part 1, which is the child's file) stays
    council B's."""
    user = regional["staff_a"][who]
    client = APIClient()
    login(client, user)
    shared_world = {**regional["world"], "episode": regional["shared"]}
    read = [
        name
        for name, (method, allowed, obj) in sorted(ROUTES.items())
        if obj == "episode" and method == "GET" and who in allowed
    ]
    childs_file = {"philomena_part1", "philomena_part1_download"}
    assert "episode_detail" in read
    assert "api-episode-detail" in read
    for name in read:
        url = reverse(name, kwargs=url_kwargs(shared_world, "episode"))
        response = call(client, name, "GET", url)
        if name in childs_file:
            assert response.status_code == 404, (name, who, response.status_code)
            continue
        assert response.status_code < 400, (name, who, response.status_code)
    response = call(
        client, "child_detail", "GET", reverse("child_detail", args=[regional["shared"].child_id])
    )
    assert response.status_code == 404


def test_api_lists_are_scoped(regional):
    client = APIClient()
    login(client, regional["staff_a"]["manager"])
    with time_machine.travel(FIXED_NOW + timedelta(minutes=5), tick=False):
        episodes = client.get(reverse("api-episodes")).json()
        children = client.get(reverse("api-children")).json()
    rows = episodes["results"] if isinstance(episodes, dict) else episodes
    assert [row["id"] for row in rows] == [regional["shared"].pk]
    kids = children["results"] if isinstance(children, dict) else children
    assert kids == []


def test_a_user_with_no_council_sees_nothing_on_a_regional_installation(regional):
    nobody = UserFactory(username="no-council", role=Role.MANAGER)
    assert MissingEpisode.objects.visible_to(nobody).count() == 0
    assert Child.objects.visible_to(nobody).count() == 0
    assert PoliceNotification.objects.visible_to(nobody).count() == 0


# --------------------------------------------------------------------------------------------
# Intake
# --------------------------------------------------------------------------------------------


def _notification(reference: str, **extra: Any) -> dict[str, Any]:
    return {
        "police_force": "kent",
        "police_reference": reference,
        "kind": "reported_missing",
        "child_first_name": "Ingrid",
        "child_last_name": "Takeley",
        "child_date_of_birth": "2011-03-14",
        "last_seen_at": (FIXED_NOW - timedelta(hours=2)).isoformat(),
        "reported_at": (FIXED_NOW - timedelta(hours=1)).isoformat(),
        "risk_grade": "medium",
        **extra,
    }


def _post(user: User, body: dict[str, Any]) -> Any:
    client = APIClient()
    login(client, user)
    with time_machine.travel(FIXED_NOW, tick=False):
        return client.post(reverse("api-notifications"), body, format="json")


@pytest.mark.django_db
def test_police_system_must_name_a_council_it_serves(two_councils, police_system):
    missing_council = _post(police_system, _notification("R-1"))
    assert missing_council.status_code == 400
    assert "council" in json.dumps(missing_council.json())
    unknown = _post(police_system, _notification("R-2", council="E09000033"))
    assert unknown.status_code == 400
    assert "council" in json.dumps(unknown.json())
    assert PoliceNotification.objects.count() == 0
    ok = _post(police_system, _notification("R-3", council=A_CODE))
    assert ok.status_code == 201, ok.content
    stored = PoliceNotification.objects.get(police_reference="R-3")
    assert stored.council == two_councils[0]
    assert stored.child.council == two_councils[0]
    assert stored.episode.council == two_councils[0]
    # The incident's later notification needs no council: it is the first one's.
    found = _post(
        police_system,
        {
            "police_force": "kent",
            "police_reference": "R-3",
            "kind": "found",
            "found_at": (FIXED_NOW - timedelta(minutes=10)).isoformat(),
        },
    )
    assert found.status_code == 201, found.content
    assert (
        PoliceNotification.objects.get(police_reference="R-3", kind="found").council
        == (two_councils[0])
    )


@pytest.mark.django_db
def test_the_api_says_which_council_a_notification_went_to(two_councils, police_system):
    """The receipt a police system gets and the case staff's list and detail name the council
    by ONS code (decision 0070), without a query per row."""
    a, _ = two_councils
    receipt = _post(police_system, _notification("C-1", council=A_CODE))
    assert receipt.status_code == 201, receipt.content
    assert receipt.json()["council"] == A_CODE
    assert "child_first_name" not in receipt.json()  # still a receipt
    _post(police_system, _notification("C-2", council=A_CODE))
    manager_a = UserFactory(username="api-manager-a", role=Role.MANAGER, council=a)
    client = APIClient()
    login(client, manager_a)
    with time_machine.travel(FIXED_NOW + timedelta(minutes=5), tick=False):
        with CaptureQueriesContext(connection) as two:
            listed = client.get(reverse("api-notifications")).json()
        rows = listed["results"] if isinstance(listed, dict) else listed
        assert [row["council"] for row in rows] == [A_CODE, A_CODE]
        one = client.get(reverse("api-notification-detail", args=[rows[0]["id"]])).json()
    assert one["council"] == A_CODE
    # No query per row: four rows cost what two did.
    _post(police_system, _notification("C-3", council=A_CODE))
    _post(police_system, _notification("C-4", council=A_CODE))
    with (
        time_machine.travel(FIXED_NOW + timedelta(minutes=5), tick=False),
        CaptureQueriesContext(connection) as four,
    ):
        assert client.get(reverse("api-notifications")).status_code == 200
    assert len(four) == len(two)


@pytest.mark.django_db
def test_staff_log_for_their_own_council_only(two_councils):
    a, _ = two_councils
    ffd_a = UserFactory(username="ffd-a", role=Role.FFD, council=a)
    other = _post(ffd_a, _notification("S-1", council=B_CODE))
    assert other.status_code == 400
    assert "council" in other.json().get("field_errors", other.json())
    own = _post(ffd_a, _notification("S-2"))
    assert own.status_code == 201, own.content
    assert PoliceNotification.objects.get(police_reference="S-2").council == a


@pytest.mark.django_db
def test_the_web_form_offers_the_installation_councils(two_councils):
    ffd_a = UserFactory(username="ffd-form", role=Role.FFD, council=two_councils[0])
    client = APIClient()
    login(client, ffd_a)
    with time_machine.travel(FIXED_NOW, tick=False):
        form = text_of(client.get(reverse("notification_new")))
        assert 'name="council"' in form
        assert f'value="{A_CODE}"' in form
        assert f'value="{B_CODE}"' in form
        response = client.post(
            reverse("notification_new"),
            {
                "police_force": force().pk,
                "police_reference": "W-1",
                "kind": "reported_missing",
                "council": "E09000033",
            },
        )
    assert response.status_code == 400
    assert 'id="council-error"' in text_of(response) or "council-error" in text_of(response)
    assert PoliceNotification.objects.count() == 0


@pytest.mark.django_db
def test_a_child_is_matched_within_the_notification_council_only(two_councils, police_system):
    a, b = two_councils
    theirs = ChildFactory(
        first_name="Ingrid",
        last_name="Takeley",
        council=b,
        nhs_number="9434765919",
        council_child_id="SHARED-ID",
    )
    response = _post(
        police_system,
        _notification(
            "M-1", council=A_CODE, nhs_number="943 476 5919", council_child_id="SHARED-ID"
        ),
    )
    assert response.status_code == 201, response.content
    stored = PoliceNotification.objects.get(police_reference="M-1")
    # Not B's child, and not held as a possible match to B's child: a new child of council A.
    assert stored.match_status == PoliceNotification.MatchStatus.MATCHED
    assert stored.child != theirs
    assert stored.child.council == a
    # Identifiers are unique per council (decision 0070): A's record keeps them too.
    assert stored.child.nhs_number == "9434765919"
    assert stored.child.council_child_id == "SHARED-ID"
    # The same child for council B is matched to B's record.
    again = _post(police_system, _notification("M-2", council=B_CODE, nhs_number="9434765919"))
    assert again.status_code == 201, again.content
    assert PoliceNotification.objects.get(police_reference="M-2").child == theirs


@pytest.mark.django_db
def test_single_council_installation_behaves_as_before(settings, police_system):
    settings.COUNCIL_ONS_CODES = [A_CODE]
    response = _post(police_system, _notification("O-1"))
    assert response.status_code == 201, response.content
    stored = PoliceNotification.objects.get(police_reference="O-1")
    assert stored.council == council(A_CODE)
    # Nothing is narrowed: a manager with no council sees the episode.
    manager = UserFactory(username="single-manager", role=Role.MANAGER)
    assert MissingEpisode.objects.visible_to(manager).filter(pk=stored.episode_id).exists()
    other = _post(police_system, _notification("O-2", council=B_CODE))
    assert other.status_code == 400
    assert "council" in json.dumps(other.json())


# --------------------------------------------------------------------------------------------
# Figures and alerts
# --------------------------------------------------------------------------------------------


def _episode_for(child: Child, actor: User, reference: str) -> MissingEpisode:
    with time_machine.travel(FIXED_NOW, tick=False):
        return report_missing(actor=actor, now=FIXED_NOW, child=child, reference=reference)


@pytest.mark.django_db
def test_figures_count_each_council_responsible_episodes(two_councils):
    a, b = two_councils
    ffd_a = UserFactory(username="fig-ffd-a", role=Role.FFD, council=a)
    ffd_b = UserFactory(username="fig-ffd-b", role=Role.FFD, council=b)
    manager_a = UserFactory(username="fig-manager-a", role=Role.MANAGER, council=a)
    manager_b = UserFactory(username="fig-manager-b", role=Role.MANAGER, council=b)
    # A's own child at home; A's child placed in B's area (A responsible); B's child placed in
    # A's area, reported to B (B responsible); B's own child at home.
    own_a = _episode_for(ChildFactory(council=a), ffd_a, "F-1")
    a_placed_in_b = _episode_for(
        ChildFactory(council=a, responsible_council=A_NAME, host_council="Kent"), ffd_a, "F-2"
    )
    b_placed_in_a = _episode_for(
        ChildFactory(council=b, responsible_council="Kent", host_council=A_NAME), ffd_b, "F-3"
    )
    own_b = _episode_for(ChildFactory(council=b), ffd_b, "F-4")
    assert a_placed_in_b.figures_council == a
    assert a_placed_in_b.out_of_area_council == b
    assert b_placed_in_a.figures_council == b
    assert b_placed_in_a.out_of_area_council == a
    day = FIXED_NOW.date()
    for manager, expected in (
        (manager_a, {own_a.pk, a_placed_in_b.pk}),
        (manager_b, {b_placed_in_a.pk, own_b.pk}),
    ):
        filters = fig.FigureFilters(
            period_start=day - timedelta(days=1), period_end=day, council_id=manager.council_id
        )
        figures = fig.compute_figures(filters, now=FIXED_NOW)
        assert figures.counts["episodes"] == 2
        behind = fig.figure_episodes(filters, "episodes", now=FIXED_NOW)
        assert {e.pk for e in behind} == expected
        # The page and its API count the same, for who asks (no parameter chooses a council).
        client = APIClient()
        login(client, manager)
        with time_machine.travel(FIXED_NOW, tick=False):
            page = client.get(
                reverse("interviews:figure_episodes"),
                {
                    "figure": "episodes",
                    "period_start": (day - timedelta(days=1)).isoformat(),
                    "period_end": day.isoformat(),
                },
            )
        assert page.status_code == 200, page.content[:300]
        content = text_of(page)
        for episode in (own_a, a_placed_in_b, b_placed_in_a, own_b):
            shown = f'href="{reverse("episode_detail", args=[episode.pk])}"' in content
            assert shown == (episode.pk in expected), (manager.username, episode.reference)


@pytest.mark.django_db
def test_no_email_to_a_council_on_the_same_installation(two_councils):
    a, b = two_councils
    Council.objects.filter(pk__in=[a.pk, b.pk]).update(out_of_hours_email="ooh@example.gov.uk")
    Council.objects.filter(name="Essex").update(out_of_hours_email="ooh@essex.example.gov.uk")
    ffd_b = UserFactory(username="alert-ffd-b", role=Role.FFD, council=b)
    in_a = _episode_for(
        ChildFactory(council=b, responsible_council="Kent", host_council=A_NAME), ffd_b, "AL-1"
    )
    in_essex = _episode_for(
        ChildFactory(council=b, responsible_council="Kent", host_council="Essex"), ffd_b, "AL-2"
    )
    council_alert_sweep(now=FIXED_NOW + timedelta(minutes=1))
    assert not CouncilAlert.objects.filter(episode=in_a).exists()
    assert CouncilAlert.objects.filter(episode=in_essex, council__name="Essex").exists()


# --------------------------------------------------------------------------------------------
# Identifiers unique per council (decision 0070)
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_two_councils_may_hold_one_identifier_one_council_not_twice(two_councils):
    a, b = two_councils
    ChildFactory(council=a, nhs_number="9434765919", council_child_id="LCS-1")
    ChildFactory(council=b, nhs_number="9434765919", council_child_id="LCS-1")
    assert Child.objects.filter(council_child_id="LCS-1").count() == 2
    with pytest.raises(IntegrityError), transaction.atomic():
        ChildFactory(council=a, council_child_id="LCS-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        ChildFactory(council=b, nhs_number="9434765919")
    # A record with no council is unique among those with none.
    ChildFactory(council=None, council_child_id="LCS-2")
    with pytest.raises(IntegrityError), transaction.atomic():
        ChildFactory(council=None, council_child_id="LCS-2")


@pytest.mark.django_db
def test_the_facts_refuse_an_identifier_the_council_already_holds(two_councils, monkeypatch):
    """A form error (400 naming the field) for the council's own duplicate; another council's
    record of the same id neither stops it nor is named; a race is a 409, never a 500."""
    a, b = two_councils
    ChildFactory(council=b, council_child_id="LCS-9")  # council B's: no matter to A
    held = ChildFactory(council=a, council_child_id="LCS-8")
    child = ChildFactory(council=a)
    manager_a = UserFactory(username="facts-manager-a", role=Role.MANAGER, council=a)
    client = APIClient()
    login(client, manager_a)
    url = reverse("api-child-detail", args=[child.pk])
    with time_machine.travel(FIXED_NOW, tick=False):
        taken = client.patch(url, {"council_child_id": "LCS-8", "reason": "LCS"}, format="json")
        assert taken.status_code == 400
        assert held.reference in json.dumps(taken.json()["council_child_id"])
        ok = client.patch(url, {"council_child_id": "LCS-9", "reason": "LCS"}, format="json")
        assert ok.status_code == 200, ok.content
        assert "C-" not in json.dumps(ok.json().get("council_child_id", ""))
        # The check passed but the record was taken meanwhile: the constraint, then a 409.
        monkeypatch.setattr(child_facts, "_fact_errors", lambda child, changes: {})
        raced = client.patch(
            url, {"council_child_id": "LCS-8", "reason": "LCS", "version": 2}, format="json"
        )
    assert raced.status_code == 409, raced.content
    child.refresh_from_db()
    assert child.council_child_id == "LCS-9"


# --------------------------------------------------------------------------------------------
# Demo data for two councils (decision 0070)
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_demo_loads_two_councils_and_one_shared_episode(settings, two_councils):
    from django.core.management import call_command

    a, b = two_councils
    settings.DEBUG = True
    out = io.StringIO()
    call_command("load_demo_data", stdout=out)
    assert User.objects.get(username="ffd").council == a
    assert User.objects.get(username="manager_b").council == b
    assert User.objects.get(username="admin").council is None
    own_a = Child.objects.filter(council=a).count()
    own_b = Child.objects.filter(council=b).count()
    assert own_a >= 10
    assert 3 <= own_b < own_a
    shared = MissingEpisode.objects.get(out_of_area_council__isnull=False)
    assert (shared.council, shared.out_of_area_council, shared.figures_council) == (b, a, b)
    assert shared.police_grade.code == "high"
    assert shared.is_open
    for username in ("manager", "manager_b"):
        assert (
            MissingEpisode.objects.visible_to(User.objects.get(username=username))
            .filter(pk=shared.pk)
            .exists()
        )
    # Each council's front door sees its own children only, and the demo loads once.
    ffd_a = User.objects.get(username="ffd")
    assert not Child.objects.visible_to(ffd_a).filter(council=b).exists()
    counts = Child.objects.count(), MissingEpisode.objects.count()
    call_command("load_demo_data", stdout=io.StringIO())
    assert (Child.objects.count(), MissingEpisode.objects.count()) == counts
    assert "manager_b" in out.getvalue()


# --------------------------------------------------------------------------------------------
# A user's council changed through the approved account change (decision 0070)
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_moving_a_user_to_another_council_waits_for_that_council_head_of_service(
    two_councils, admin_user
):
    from missing.accounts import account_changes
    from missing.cases.errors import NotAllowed
    from missing.models import AccountChange, AccountChangeKind, AccountChangeState
    from tests.missing.test_account_changes import admin_client, admin_form_data, approve

    a, b = two_councils
    mover = UserFactory(username="mover", role=Role.MANAGER, council=a)
    head_a = UserFactory(username="move-hos-a", role=Role.HEAD_OF_SERVICE, council=a)
    head_b = UserFactory(username="move-hos-b", role=Role.HEAD_OF_SERVICE, council=b)
    client = admin_client(admin_user)
    url = reverse("admin:missing_user_change", args=(mover.pk,))
    data = admin_form_data(client.get(url))
    data["council"] = str(b.pk)
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    mover.refresh_from_db()
    assert mover.council == a  # unchanged until approved
    change = AccountChange.objects.get(subject=mover, kind=AccountChangeKind.COUNCIL)
    assert change.state == AccountChangeState.PENDING
    assert change.summary == f"Council {a.name} to {b.name}"
    with pytest.raises(NotAllowed):
        approve(change, head_a)  # not the council whose children it opens
    approve(change, head_b)
    mover.refresh_from_db()
    assert mover.council == b
    # Taking the council away grants nothing: at once.
    gone = account_changes.account_council_change(
        actor=admin_user, subject=mover, council=None, via="admin", now=FIXED_NOW
    )
    assert gone is not None
    assert gone.state == AccountChangeState.APPROVED
    mover.refresh_from_db()
    assert mover.council is None
