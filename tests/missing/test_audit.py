"""The access log, restricted fields, need-to-know after unassignment, and no names in logs."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from interviews import services as interview_services
from missing.audit import access_log as audit
from missing.cases import services
from missing.models import (
    AccessAction,
    AccessLog,
    AccessLogIsAppendOnly,
    EpisodeState,
    MissingEpisode,
    PoliceNotification,
)
from tests.factories import FIXED_NOW, ChildFactory, force
from tests.helpers import episode_in_state, login, report_missing
from tests.interviews.helpers import assign, open_interview, returned_episode
from tests.missing.test_views import notification_post
from tests.test_url_auth import (  # noqa: F401 - `world` is a fixture
    ROUTES,
    url_kwargs,
    world,
)

# GET routes that show no child's record: no access row is expected from them.
NO_CHILD_SHOWN = {
    "home",  # a redirect
    "login",
    "healthz",
    "access_refusals",
    "api_tokens",  # the user's own tokens  # references and route names of refused requests, no child's record
    "schema",
    "swagger-ui",
    "admin:index",
    "notification_new",  # an empty form
    "api-risk-grades",
    "api-police-forces",
    "api-interview-factors",
    "api-interview-figures",  # counts, no child
    "interviews:draft_key",
    "interviews:offline",
    "interviews:service_worker",
    "notifications:escalation_list",  # references only
    "notifications:outbox",  # texts carry references only
    "notifications:alert_list",
    "notifications:episode_short_link",  # a redirect to the episode page, which logs
    # The walker's episode already has its interview, so this redirects to it; the form itself
    # is checked in test_the_interview_form_logs_the_episode_it_shows.
    "interviews:create",
    # The second-factor pages show the signed-in user's own device and codes.
    "second_factor_verify",
    "second_factor_enrol",
    "second_factor_confirm",
    "recovery_codes",
    # Figures are counts; the national returns page holds two forms. Their downloads write an
    # export row (tests/interviews/test_export_accountability.py); without parameters they
    # are the form again (400), which shows no child.
    "interviews:figures",
    # Without ?figure= it is the form again (400); with one it writes a list row
    # (tests/interviews/test_export_accountability.py).
    "interviews:figure_episodes",
    "interviews:returns",
    "interviews:returns_ssda903",
    "interviews:returns_annex_a",
    # Without ?remove= it redirects to the merge's first step (which logs); with one it writes a
    # view row for each of the two children (tests/missing/test_child_merge.py).
    "child_merge_check",
    # How long the signed-in user's own session has left (the time-out warning): no child.
    "session_status",
    # Another council's page for an out-of-area alert: the episode reference only.
    "notifications:council_alert",
    # Account changes: staff accounts and roles, no child.
    "account_changes",
    "account_change_decide",
    # Access alerts about a colleague: counts, and access-log rows by reference, never a
    # child's record (reading the log is not reading a case).
    "misuse_alerts",
    "misuse_alert_detail",
    # The SSD upload form (an upload's own page logs the upload: tests/ssd/test_upload_page.py).
    "ssd:upload",
    # The tablet's offline copy of the record form: questions and code lists only, the same for
    # everyone (tests/interviews/test_views.py checks it holds no case data).
    "interviews:record_offline",
}
READ_ROUTES = sorted(
    name
    for name, (method, _, _) in ROUTES.items()
    if method == "GET" and name not in NO_CHILD_SHOWN
)


def _reader_for(allowed: set[str]) -> str:
    for who in ("manager", "interviewer", "ffd"):
        if who in allowed:
            return who
    raise AssertionError(allowed)


@pytest.mark.parametrize("name", READ_ROUTES)
def test_every_read_route_writes_one_access_row(name, world, users_by_role):  # noqa: F811
    """Driven by the URL walker's table: every GET route that shows a child writes exactly one
    access row, with the route name, the reader's role and the client address."""
    _, allowed, obj = ROUTES[name]
    who = _reader_for(allowed)
    client = APIClient()
    login(client, users_by_role[who])
    before = AccessLog.objects.count()

    with time_machine.travel(FIXED_NOW + timedelta(minutes=5), tick=False):
        response = client.get(reverse(name, kwargs=url_kwargs(world, obj)))

    assert response.status_code == 200, (name, response.status_code)
    rows = list(AccessLog.objects.order_by("pk")[before:])
    assert rows, name
    assert {row.route for row in rows} == {name}
    assert {row.role for row in rows} == {who}
    assert {row.user_id for row in rows} == {users_by_role[who].pk}
    assert {row.client_address for row in rows} == {"127.0.0.1"}
    assert all(row.at == FIXED_NOW + timedelta(minutes=5) for row in rows)


def test_the_interview_form_logs_the_episode_it_shows(ffd, manager, now):
    episode = returned_episode(ffd=ffd, manager=manager, returned_at=now - timedelta(hours=1))
    client = Client()
    login(client, manager)
    assert client.get(reverse("interviews:create", args=[episode.pk])).status_code == 200
    row = AccessLog.objects.latest("pk")
    assert (row.action, row.route, row.child_id) == ("view", "interviews:create", episode.child_id)


def test_every_get_route_is_either_a_read_or_declared_as_showing_no_child():
    gets = {name for name, (method, _, _) in ROUTES.items() if method == "GET"}
    assert gets >= NO_CHILD_SHOWN, NO_CHILD_SHOWN - gets


def test_a_detail_read_names_one_child_and_a_list_one_row_with_the_ids(ffd, manager, now):
    first = report_missing(actor=ffd, now=now)
    second = report_missing(actor=ffd, now=now)
    client = Client()
    login(client, manager)
    start = AccessLog.objects.count()

    client.get(reverse("episode_detail", args=[first.pk]))
    client.get(reverse("board"))

    detail, board = AccessLog.objects.order_by("pk")[start:]
    assert (detail.action, detail.child_id, detail.reference) == (
        "view",
        first.child_id,
        first.reference,
    )
    assert detail.child_ids == []
    assert (board.action, board.child_id, board.rows) == ("list", None, 2)
    assert board.child_ids == sorted([first.child_id, second.child_id])


def test_a_board_refreshing_writes_one_row_per_refresh(ffd, manager, now):
    for _ in range(30):
        report_missing(actor=ffd, now=now)
    client = Client()
    login(client, manager)
    start = AccessLog.objects.count()

    for _ in range(4):  # two minutes of a wall screen refreshing every 30 s
        client.get(reverse("board"))

    assert AccessLog.objects.count() - start == 4


def test_a_change_is_logged_once_with_the_child_and_a_failed_change_leaves_none(ffd, manager, now):
    episode = report_missing(actor=ffd, now=now - timedelta(hours=1))
    client = APIClient()
    login(client, manager)
    url = f"/api/episodes/{episode.pk}/decisions/"
    start = AccessLog.objects.count()

    stale = client.post(url, {"risk": "low", "rationale": "Seen", "version": 99}, format="json")
    assert stale.status_code == 409
    assert AccessLog.objects.count() == start

    ok = client.post(url, {"risk": "low", "rationale": "Seen"}, format="json")
    assert ok.status_code == 201
    (row,) = AccessLog.objects.order_by("pk")[start:]
    assert (row.action, row.child_id, row.reference, row.route) == (
        "change",
        episode.child_id,
        episode.reference,
        "api-episode-decisions",
    )


def test_a_request_that_fails_leaves_no_access_row(ffd, manager, now, monkeypatch):
    """ATOMIC_REQUESTS: the row is written, then the view fails; both go together."""
    episode = report_missing(actor=ffd, now=now)
    client = Client(raise_request_exception=False)
    login(client, manager)
    start = AccessLog.objects.count()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the template engine fell over")

    monkeypatch.setattr("missing.web.views.render", broken)
    response = client.get(reverse("episode_detail", args=[episode.pk]))

    assert response.status_code == 500
    assert AccessLog.objects.count() == start


def test_a_refused_read_writes_no_read_row_but_a_refusal(ffd, other_interviewer, now):
    episode = report_missing(actor=ffd, now=now)
    client = APIClient()
    login(client, other_interviewer)
    start = AccessLog.objects.count()

    assert client.get(f"/api/episodes/{episode.pk}/").status_code == 404
    # The view's rows rolled back; the refusal (tests/missing/test_refusals.py) is the only one.
    (row,) = AccessLog.objects.order_by("pk")[start:]
    assert (row.action, row.child_id, row.reference) == ("refuse", None, f"pk={episode.pk}")


def test_the_export_records_its_row_count(ffd, manager, now):
    for hours in (3, 5):
        returned_episode(ffd=ffd, manager=manager, returned_at=now - timedelta(hours=hours))
    client = Client()
    login(client, manager)
    start = AccessLog.objects.count()

    response = client.get(reverse("interviews:export"))
    body = b"".join(response.streaming_content).decode()

    (row,) = AccessLog.objects.order_by("pk")[start:]
    assert row.action == "export"
    assert row.rows == 2 == body.count("\n") - 1  # header + two episodes
    assert len(row.child_ids) == 2


def test_record_access_accepts_a_context_outside_a_request(manager, now):
    context = audit.AccessContext(
        request=None, route="national-return", client_address=None, user=manager
    )
    row = audit.record_export(context, rows=12, child_ids=[3, 1, 3], reference="SSDA903")
    assert (row.rows, row.child_ids, row.reference, row.role) == (12, [1, 3], "SSDA903", "manager")


# --------------------------------------------------------------------------------------------
# Append-only
# --------------------------------------------------------------------------------------------


@pytest.fixture
def access_row(manager, now) -> AccessLog:
    context = audit.AccessContext(request=None, route="test", client_address=None, user=manager)
    row = audit.record_view(context, child_id=7, reference="C-7")
    assert row is not None
    return row


def test_the_application_cannot_change_or_delete_an_access_row(access_row):
    with pytest.raises(AccessLogIsAppendOnly):
        AccessLog.objects.filter(pk=access_row.pk).update(child_id=8)
    with pytest.raises(AccessLogIsAppendOnly):
        AccessLog.objects.filter(pk=access_row.pk).delete()
    with pytest.raises(AccessLogIsAppendOnly):
        access_row.delete()
    access_row.child_id = 8
    with pytest.raises(AccessLogIsAppendOnly):
        access_row.save()
    assert AccessLog.objects.get(pk=access_row.pk).child_id == 7


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE missing_accesslog SET child_id = 8 WHERE id = %s",
        "DELETE FROM missing_accesslog WHERE id = %s",
    ],
)
def test_the_database_refuses_to_change_or_delete_an_access_row(access_row, sql):
    if connection.vendor != "postgresql":
        pytest.skip("the triggers exist on PostgreSQL only")
    with (
        pytest.raises(DatabaseError, match=r"Cannot (update|delete) rows from missing_accesslog"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [access_row.pk])
    assert AccessLog.objects.get(pk=access_row.pk).child_id == 7


# --------------------------------------------------------------------------------------------
# "Who has looked at this child"
# --------------------------------------------------------------------------------------------


def test_managers_see_who_has_looked_at_the_child(
    ffd, manager, interviewer, now, django_assert_num_queries
):
    episode = returned_episode(ffd=ffd, manager=manager, returned_at=now - timedelta(hours=2))
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    looker = Client()
    login(looker, interviewer)
    looker.get(reverse("interviews:detail", args=[interview.pk]))
    client = Client()
    login(client, manager)

    # 1. session, 2. user, 3. the session's second-factor device, 4. the child with 5. its
    # episodes and 6. its meeting tasks prefetched, 7. this view's access row, 8. the latest
    # access rows with their users (one query, however many), then the interviews app's
    # panel: 9. episodes, 10. interviews, 11. factors, 12. episode links; + 2 the request's
    # savepoint and its release; + 1 the child's legal-status periods; on PostgreSQL + 2 the
    # change history of the child's facts and periods (decision 0046).
    with django_assert_num_queries(15 if connection.vendor == "sqlite" else 17):
        page = client.get(reverse("child_detail", args=[episode.child_id])).content.decode()

    panel = page[page.index("Who has looked at this child") :]
    assert "interviewer" in panel
    assert f"Viewed {interview.reference}" in panel
    assert "Independent interviewer" in panel


@pytest.mark.parametrize("who", ["ffd", "head_of_service"])
def test_only_managers_and_heads_of_service_see_the_panel(who, users_by_role, ffd, manager, now):
    episode = report_missing(actor=ffd, now=now)
    client = Client()
    login(client, users_by_role[who])
    page = client.get(reverse("child_detail", args=[episode.child_id])).content.decode()
    assert ("Who has looked at this child" in page) == (who == "head_of_service")


# --------------------------------------------------------------------------------------------
# Restricted police intelligence
# --------------------------------------------------------------------------------------------

SECRET = "Known associate of an organised crime group"


@pytest.fixture
def restricted_episode(ffd, manager, interviewer, now) -> MissingEpisode:
    """Logged by the FFD through the API with restricted intelligence, returned, and granted
    to the interviewer through an assignment."""
    child = ChildFactory(first_name="Rhiannon", last_name="Restricta")
    client = APIClient()
    login(client, ffd)
    response = client.post(
        "/api/notifications/",
        {
            "police_force": "kent",
            "police_reference": "RESTRICT-1",
            "kind": "reported_missing",
            "child_first_name": child.first_name,
            "child_last_name": child.last_name,
            "child_date_of_birth": child.date_of_birth.isoformat(),
            "council_child_id": child.council_child_id,
            "last_seen_at": (now - timedelta(hours=4)).isoformat(),
            "reported_at": (now - timedelta(hours=3)).isoformat(),
            "risk_grade": "medium",
            "restricted_intelligence": SECRET,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert "restricted_intelligence" not in response.json()
    episode = MissingEpisode.objects.get(police_reference="RESTRICT-1")
    assert episode.restricted_intelligence == SECRET
    returned = returned_episode(
        ffd=ffd, manager=manager, returned_at=now - timedelta(hours=1), child=None
    )
    del returned
    services.episode_record_return(
        services.ReturnData(
            returned_at=now - timedelta(hours=1),
            found_place="Home",
            found_by="Police",
            prevention_interview_done=None,
        ),
        actor=ffd,
        episode_id=episode.pk,
        now=now,
    )
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    return episode


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("manager", True),
        ("head_of_service", True),
        ("ffd", False),
        ("interviewer", False),
    ],
)
def test_restricted_intelligence_only_reaches_managers_in_the_api(
    who, sees, restricted_episode, users_by_role
):
    client = APIClient()
    login(client, users_by_role[who])
    response = client.get(f"/api/episodes/{restricted_episode.pk}/")
    assert response.status_code == 200
    assert ("restricted_intelligence" in response.json()) is sees
    assert (SECRET in response.content.decode()) is sees


@pytest.mark.parametrize(("who", "sees"), [("manager", True), ("ffd", False)])
def test_restricted_intelligence_is_stripped_from_the_notification_payload(
    who, sees, restricted_episode, users_by_role
):
    notification = PoliceNotification.objects.get(police_reference="RESTRICT-1")
    client = APIClient()
    login(client, users_by_role[who])
    body = client.get(f"/api/notifications/{notification.pk}/").json()
    listed = client.get("/api/notifications/").content.decode()
    assert ("restricted_intelligence" in body["payload"]) is sees
    assert (SECRET in json.dumps(body)) is sees
    assert (SECRET in listed) is sees


@pytest.mark.parametrize(("who", "sees"), [("manager", True), ("ffd", False)])
def test_restricted_intelligence_on_the_episode_page(who, sees, restricted_episode, users_by_role):
    client = Client()
    login(client, users_by_role[who])
    page = client.get(reverse("episode_detail", args=[restricted_episode.pk])).content.decode()
    assert (SECRET in page) is sees


def test_the_intake_form_accepts_restricted_intelligence(ffd, now):
    client = Client()
    login(client, ffd)
    response = client.post(
        reverse("notification_new"),
        notification_post(police_reference="RESTRICT-2", restricted_intelligence=SECRET),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    episode = MissingEpisode.objects.get(police_reference="RESTRICT-2")
    assert episode.restricted_intelligence == SECRET
    # The practitioner who typed it does not read it back.
    page = client.get(reverse("episode_detail", args=[episode.pk])).content.decode()
    assert SECRET not in page


def test_a_later_notification_adds_to_the_restricted_intelligence(restricted_episode, ffd, now):
    services.notification_receive(
        services.NotificationData(
            police_force=force("kent"),
            police_reference="RESTRICT-1",
            kind="update",
            sequence=2,
            circumstances="Update",
            restricted_intelligence="Seen with the same group",
        ),
        actor=ffd,
        now=now,
        payload={},
    )
    restricted_episode.refresh_from_db()
    first, second = restricted_episode.restricted_intelligence.split("\n\n")
    assert first == SECRET
    assert second.endswith("] Seen with the same group")


# --------------------------------------------------------------------------------------------
# Need-to-know: unassigning ends access on the next request, pages and API alike
# --------------------------------------------------------------------------------------------


def test_unassigning_ends_the_interviewers_access_on_their_next_request(
    ffd, manager, interviewer, now
):
    episode = returned_episode(ffd=ffd, manager=manager, returned_at=now - timedelta(hours=2))
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    web, api, boss = Client(), APIClient(), APIClient()
    login(web, interviewer)
    login(api, interviewer)
    login(boss, manager)
    urls = {
        "page": reverse("interviews:detail", args=[interview.pk]),
        "api interview": f"/api/interviews/{interview.pk}/",
        "api episode": f"/api/episodes/{episode.pk}/",
        "api child": f"/api/children/{episode.child_id}/",
    }
    assert {
        name: (web if name == "page" else api).get(url).status_code for name, url in urls.items()
    } == dict.fromkeys(urls, 200)

    interview.refresh_from_db()
    response = boss.post(
        f"/api/interviews/{interview.pk}/unassign/",
        {"reason": "Reassigned", "version": interview.version},
        format="json",
    )
    assert response.status_code == 200, response.content

    assert {
        name: (web if name == "page" else api).get(url).status_code for name, url in urls.items()
    } == dict.fromkeys(urls, 404)
    assert api.get("/api/episodes/").json()["results"] == []


# --------------------------------------------------------------------------------------------
# No child's name in the logs
# --------------------------------------------------------------------------------------------


def test_a_whole_workflow_logs_no_childs_name(ffd, manager, interviewer, now, caplog):
    """Notify, review, return, assign, attempt, unassign, a refused read and a server error:
    whatever is logged, at any level, names no child."""
    caplog.set_level(logging.DEBUG)
    child = ChildFactory(first_name="Peregrine", last_name="Loggington")
    episode = report_missing(actor=ffd, now=now - timedelta(hours=3), child=child)
    api = APIClient(raise_request_exception=False)
    login(api, manager)
    api.post(
        f"/api/episodes/{episode.pk}/decisions/",
        {"risk": "high", "rationale": "Peregrine Loggington is at risk"},
        format="json",
    )
    api.post(
        f"/api/episodes/{episode.pk}/return/",
        {"returned_at": (now - timedelta(hours=1)).isoformat()},
        format="json",
    )
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    api.post("/api/children/search/", {"search": "Loggington"}, format="json")
    api.post("/api/children/search/", {"search": ""}, format="json")  # a 400
    other = APIClient()
    login(other, interviewer)
    other.get(f"/api/children/{ChildFactory(last_name='Loggington').pk}/")  # a 404
    interview.refresh_from_db()
    interview_services.interview_unassign(
        interview_services.UnassignData(reason="Reassigned"),
        actor=manager,
        interview_id=interview.pk,
        now=now,
        expected_version=interview.version,
    )

    assert caplog.records, "the workflow logged nothing: the test would prove nothing"
    assert "Loggington" not in caplog.text
    assert "Peregrine" not in caplog.text


def test_a_server_error_logs_no_name_from_the_request(ffd, manager, now, caplog, monkeypatch):
    episode = report_missing(
        actor=ffd, now=now, child=ChildFactory(first_name="Ottoline", last_name="Tracebackson")
    )
    client = Client(raise_request_exception=False)
    login(client, manager)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"failed on {episode.reference}")

    monkeypatch.setattr("missing.web.views.render", broken)
    caplog.set_level(logging.DEBUG)
    response = client.post(reverse("child_list"), {"q": "Tracebackson"})
    assert response.status_code == 500
    assert "Tracebackson" not in response.content.decode()
    assert "Tracebackson" not in caplog.text


def test_no_name_goes_in_a_url(ffd, manager, now):
    """The web search is a POST; what the pages link to carries ids, never names."""
    child = ChildFactory(last_name="Urlington")
    report_missing(actor=ffd, now=now, child=child)
    client = Client()
    login(client, manager)
    page = client.post(reverse("child_list"), {"q": "Urling"}).content.decode()
    assert "Urlington" in page
    hrefs = [part.split('"', 1)[0] for part in page.split('href="')[1:]]
    assert hrefs
    assert not [h for h in hrefs if "Urling" in h]


def test_an_episode_in_any_state_is_logged_on_view(ffd, manager, now):
    episode = episode_in_state(EpisodeState.CLOSED, ffd=ffd, manager=manager, now=now)
    client = APIClient()
    login(client, manager)
    client.get(f"/api/episodes/{episode.pk}/events/")
    row = AccessLog.objects.latest("pk")
    assert (row.action, row.route, row.child_id) == (
        AccessAction.VIEW,
        "api-episode-events",
        episode.child_id,
    )


def test_a_refused_api_request_does_not_echo_the_childs_details(ffd):
    client = APIClient()
    login(client, ffd)
    response = client.post(
        "/api/notifications/",
        {
            "police_force": "kent",
            "police_reference": "ECHO-1",
            "kind": "reported_missing",
            "child_first_name": "Philippa",
            "child_last_name": "Echoworth",
            "child_date_of_birth": "Echoworth",
            "missing_kind": "Philippa",
            "last_seen_at": "yesterday at Echoworth Road",
        },
        format="json",
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert {"child_date_of_birth", "last_seen_at"} <= set(response.json())
    assert "Echoworth" not in body
    assert "Philippa" not in body
