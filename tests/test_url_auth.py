"""Walk every route as anonymous, as each role, and as an interviewer of another organisation.

Two things are proved for every (route, who) pair:
- the route answers as the table below says: allowed, or refused (login redirect, 401, 403, 404
  or 405) — a new route that is not in the table fails the test until someone classifies it;
- whatever the answer, no page or API body carries the name of a child that user may not see.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from interviews import services as interview_services
from missing.accounts import account_changes
from missing.cases import philomena, services
from missing.models import ApiToken, Council, MisuseAlert, RiskMeetingTask, Role
from notifications.models import AdminAlert, CouncilAlert, Escalation, SmsMessage
from notifications.services import escalation_sweep
from ssd.models import Upload
from tests.factories import FIXED_NOW, ChildFactory, UserFactory, force, legal_status_period
from tests.helpers import login, report_missing
from tests.missing.test_philomena import PNG

CASE = {"ffd", "manager", "head_of_service"}
OVERSIGHT = {"manager", "head_of_service"}
RETURNERS = {"ffd", "manager", "head_of_service"}
GRANTED = {"interviewer"}  # our interviewer is assigned episode A's interview only
INTERVIEWERS = {"interviewer", "other_interviewer"}
RECORDERS = OVERSIGHT | GRANTED  # write the interview: its interviewer, or a manager
ALL_SIGNED_IN = {
    "ffd",
    "manager",
    "head_of_service",
    "interviewer",
    "other_interviewer",
    "admin",
    "police_system",
}
PUBLIC = {"anonymous", *ALL_SIGNED_IN}
WHO = ["anonymous", *sorted(ALL_SIGNED_IN)]

# url name -> (method, who may use it, kwargs object key). Objects: "episode" is episode A,
# returned, whose interview ("interview") is assigned to our interviewer (so granted to them);
# "notification" is held awaiting a match; "child" is child A.
ROUTES: dict[str, tuple[str, set[str], str | None]] = {
    # web
    "home": ("GET", ALL_SIGNED_IN - {"police_system"}, None),  # police systems: API only
    "login": ("GET", PUBLIC, None),
    "logout": ("POST", PUBLIC, None),
    "second_factor_verify": ("GET", ALL_SIGNED_IN, None),
    "second_factor_enrol": ("GET", ALL_SIGNED_IN, None),
    "second_factor_confirm": ("GET", ALL_SIGNED_IN, None),
    "recovery_codes": ("GET", ALL_SIGNED_IN, None),
    "healthz": ("GET", PUBLIC, None),
    # The idle time-out's warning: how long is left (0 when signed out), and "stay signed in".
    "session_status": ("GET", PUBLIC, None),
    "session_keep_alive": ("POST", ALL_SIGNED_IN, None),
    "board": ("GET", CASE, None),
    "access_refusals": ("GET", OVERSIGHT, None),
    # Separation of duties: heads of service decide account changes ("account_change": a role
    # grant the administrator asked for); anyone signed in dismisses their own sign-in notice.
    "account_changes": ("GET", {"head_of_service"}, None),
    "account_change_decide": ("GET", {"head_of_service"}, "account_change"),
    "account_notice_acknowledge": ("POST", ALL_SIGNED_IN, None),
    # Insider-misuse alerts: about colleagues, managers included, so heads of service only.
    "misuse_alerts": ("GET", {"head_of_service"}, None),
    "misuse_alert_detail": ("GET", {"head_of_service"}, "misuse_alert"),
    "api_tokens": ("GET", ALL_SIGNED_IN, None),
    "api_token_revoke": ("POST", set(), "token"),  # a token of someone else: 404 for all
    "notification_list": ("GET", CASE, None),
    "notification_new": ("GET", CASE, None),
    "notification_match": ("GET", CASE, "notification"),
    "notification_review": ("GET", CASE, "discrepancy"),
    "episode_list": ("GET", CASE, None),
    "episode_detail": ("GET", CASE, "episode"),
    "episode_decision": ("POST", OVERSIGHT, "episode"),
    "episode_return": ("POST", RETURNERS, "episode"),
    "episode_cancel": ("POST", OVERSIGHT, "episode"),
    "episode_sign_off": ("POST", OVERSIGHT, "episode"),
    "child_list": ("GET", CASE, None),
    "child_detail": ("GET", CASE, "child"),
    # Merging a record created in error into child A: FFD and managers (without ?remove the
    # check page sends them back to the first step).
    "child_merge": ("GET", CASE, "child"),
    "child_merge_check": ("GET", CASE, "child"),
    # The child's facts and legal-status periods ("period": child A's): FFD and managers.
    "child_facts_edit": ("GET", CASE, "child"),
    "legal_status_add": ("GET", CASE, "child"),
    "legal_status_change": ("GET", CASE, "period"),
    "legal_status_remove": ("GET", CASE, "period"),
    "episode_flags": ("POST", OVERSIGHT, "episode"),
    # Strategy / risk meetings: the FFD sees the list; managers complete ("meeting": child B's
    # open task, raised by an exploitation flag).
    "meetings": ("GET", CASE, None),
    "meeting_complete": ("POST", OVERSIGHT, "meeting"),
    "admin:index": ("GET", {"admin"}, None),
    # return interviews (web)
    "interviews:queue": ("GET", INTERVIEWERS, None),
    "interviews:list": ("GET", CASE, None),
    "interviews:export": ("GET", CASE, None),
    "interviews:create": ("GET", OVERSIGHT, "episode"),
    "interviews:detail": ("GET", CASE | GRANTED, "interview"),
    "interviews:assign": ("POST", OVERSIGHT, "interview"),
    "interviews:attempt": ("POST", OVERSIGHT | GRANTED, "interview"),
    "interviews:add_episode": ("POST", OVERSIGHT, "interview"),
    "interviews:record": ("POST", RECORDERS, "interview"),
    "interviews:record_autosave": ("POST", RECORDERS, "interview"),
    "interviews:complete": ("POST", RECORDERS, "interview"),
    "interviews:sign_off": ("POST", OVERSIGHT, "interview"),
    # The tablet's draft key: any signed-in interviewer or manager gets their own session's.
    "interviews:draft_key": ("GET", OVERSIGHT | INTERVIEWERS, None),
    # The offline page, the offline copy of the record form and the service worker hold no
    # case data.
    "interviews:offline": ("GET", PUBLIC, None),
    "interviews:record_offline": ("GET", PUBLIC, None),
    "interviews:service_worker": ("GET", PUBLIC, None),
    # The national returns: managers only (without ?year / ?as_of the download is the form, 400).
    "interviews:returns": ("GET", OVERSIGHT, None),
    "interviews:returns_ssda903": ("GET", OVERSIGHT, None),
    "interviews:returns_annex_a": ("GET", OVERSIGHT, None),
    # The figures: managers and heads of service only.
    "interviews:figures": ("GET", OVERSIGHT, None),
    "interviews:figure_episodes": ("GET", OVERSIGHT, None),
    "interviews:figures_csv": ("GET", OVERSIGHT, None),
    "interviews:figures_xlsx": ("GET", OVERSIGHT, None),
    # API
    "schema": ("GET", PUBLIC, None),
    "swagger-ui": ("GET", PUBLIC, None),
    "api-notifications": ("GET", CASE, None),
    "api-notification-detail": ("GET", CASE, "notification"),
    "api-notification-candidates": ("GET", CASE, "notification"),
    "api-notification-resolve-match": ("POST", CASE, "notification"),
    "api-notification-review": ("POST", CASE, "discrepancy"),
    "api-children": ("GET", CASE | GRANTED | {"other_interviewer"}, None),
    "api-children-search": ("POST", CASE | GRANTED | {"other_interviewer"}, None),
    "api-child-detail": ("GET", CASE | GRANTED, "child"),
    "api-child-merge": ("POST", CASE, "child"),
    "api-child-legal-status": ("GET", CASE, "child"),
    "api-child-legal-status-detail": ("PATCH", CASE, "period"),
    "api-episodes": ("GET", CASE | GRANTED | {"other_interviewer"}, None),
    "api-episode-detail": ("GET", CASE | GRANTED, "episode"),
    "api-episode-decisions": ("POST", OVERSIGHT, "episode"),
    "api-episode-events": ("GET", CASE | GRANTED, "episode"),
    "api-episode-return": ("POST", RETURNERS, "episode"),
    "api-episode-cancel": ("POST", OVERSIGHT, "episode"),
    "api-episode-sign-off": ("POST", OVERSIGHT, "episode"),
    "api-board": ("GET", CASE, None),
    "api-episode-flags": ("POST", OVERSIGHT, "episode"),
    "api-risk-meetings": ("GET", CASE, None),
    "api-risk-meeting-complete": ("POST", OVERSIGHT, "meeting"),
    "api-risk-grades": ("GET", CASE, None),
    "api-police-forces": ("GET", CASE, None),
    "api-interview-factors": ("GET", CASE | INTERVIEWERS, None),
    # The figures page as JSON: the page's gate.
    "api-interview-figures": ("GET", OVERSIGHT, None),
    "api-interviews": ("GET", CASE | INTERVIEWERS, None),
    "api-interview-detail": ("GET", CASE | GRANTED, "interview"),
    "api-interview-attempts": ("POST", OVERSIGHT | GRANTED, "interview"),
    "api-interview-assign": ("POST", OVERSIGHT, "interview"),
    "api-interview-unassign": ("POST", OVERSIGHT, "interview"),
    "api-interview-add-episode": ("POST", OVERSIGHT, "interview"),
    "api-interview-record": ("PATCH", RECORDERS, "interview"),
    "api-interview-complete": ("POST", RECORDERS, "interview"),
    "api-interview-sign-off": ("POST", OVERSIGHT, "interview"),
    # The Philomena profile and Part 1 (child A has a profile with a photograph): case staff,
    # and our interviewer, who is assigned to child A, read; only case staff edit.
    "philomena_detail": ("GET", CASE | GRANTED, "child"),
    "philomena_edit": ("GET", CASE, "child"),
    "philomena_photo": ("GET", CASE | GRANTED, "child"),
    "philomena_child_part1": ("GET", CASE | GRANTED, "child"),
    "philomena_child_part1_download": ("GET", CASE | GRANTED, "child"),
    "philomena_part1": ("GET", CASE | GRANTED, "episode"),
    "philomena_part1_download": ("GET", CASE | GRANTED, "episode"),
    "api-child-philomena": ("GET", CASE | GRANTED, "child"),
    "api-child-philomena-photo": ("GET", CASE | GRANTED, "child"),
    # SMS escalations (notifications app)
    "notifications:escalation_list": ("GET", OVERSIGHT, None),
    "notifications:escalation_acknowledge": ("POST", OVERSIGHT, "escalation"),
    "notifications:outbox": ("GET", OVERSIGHT | {"admin"}, None),
    "notifications:alert_list": ("GET", {"admin"}, None),
    "notifications:alert_resolve": ("POST", {"admin"}, "alert"),
    # Twilio's webhooks: nobody gets in without Twilio's signature (403), whoever is signed in.
    "notifications:twilio_inbound": ("POST", set(), None),
    "notifications:twilio_status": ("POST", set(), "sms"),
    # The link in a text redirects to the episode page, which does its own checks.
    "notifications:episode_short_link": ("GET", PUBLIC, "episode"),
    # Another council's page for an out-of-area alert: only the code in its email opens it (the
    # walk uses a wrong code: a 404 for everyone, signed in or not).
    "notifications:council_alert": ("GET", set(), "council_alert"),
    # A council on a regional installation acknowledges its alert on the episode page: on a
    # single-council installation nobody (404), whoever is signed in (decision 0070).
    "notifications:council_alert_acknowledge": ("POST", set(), "council_alert_ack"),
    # Who holds an out-of-area episode's interview: managers (episode A is not out of area, so
    # the service refuses and the page says so; the role check comes first).
    "notifications:episode_interview_holder": ("POST", OVERSIGHT, "episode"),
    # The managers' SSD upload page (ssd app)
    "ssd:upload": ("GET", OVERSIGHT, None),
    "ssd:upload_detail": ("GET", OVERSIGHT, "ssd_upload"),
    "ssd:upload_apply": ("POST", OVERSIGHT, "ssd_upload"),
}

# Valid bodies, so that the role (not the input) decides the answer.
BODIES: dict[str, dict[str, Any]] = {
    "episode_decision": {"risk": "low", "rationale": "Walker"},
    "episode_return": {"returned_at": "", "found_place": "Home"},
    "episode_cancel": {"reason": "Walker"},
    "episode_sign_off": {"note": ""},
    "api-notification-resolve-match": {"child": None},
    "api-notification-review": {"decision": "kept"},
    "api-children-search": {"search": "Q"},
    "api-episode-decisions": {"risk": "low", "rationale": "Walker"},
    "api-episode-return": {"returned_at": (FIXED_NOW - timedelta(minutes=1)).isoformat()},
    "api-episode-cancel": {"reason": "Walker"},
    "api-episode-sign-off": {"note": ""},
    "api-episode-flags": {
        "sexual_exploitation": False,
        "criminal_exploitation": False,
        "mental_health": False,
    },
    "api-risk-meeting-complete": {"outcome": "Walker"},
    # No such child to merge: 400 for the roles that may, refused before that for the rest.
    "api-child-merge": {"remove": 999_999_999, "reason": "Walker"},
    "api-child-legal-status-detail": {"reason": "Walker"},
}

REFUSED = {301, 302, 401, 403, 404, 405}


def all_url_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list[Any], namespace: str | None) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = p.namespace or namespace
                if ns == "admin":
                    names.add("admin:index")  # the admin site is one door; walk its front
                    continue
                walk(p.url_patterns, ns)
            elif isinstance(p, URLPattern) and p.name:
                names.add(f"{namespace}:{p.name}" if namespace else p.name)

    walk(get_resolver().url_patterns, None)
    return names


def test_every_route_is_classified():
    assert all_url_names() - set(ROUTES) == set(), "classify the new routes in ROUTES"
    assert set(ROUTES) - all_url_names() == set(), "ROUTES names a route that no longer exists"


@pytest.fixture
def world(users_by_role, ffd, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    with time_machine.travel(FIXED_NOW, tick=False):
        child_a = ChildFactory(first_name="Zebedee", last_name="Quuxworth")
        philomena.philomena_save(
            philomena.PhilomenaData(hair="Brown"),
            actor=ffd,
            child_id=child_a.pk,
            photo=SimpleUploadedFile("a.png", PNG, content_type="image/png"),
            now=FIXED_NOW,
        )
        child_b = ChildFactory(first_name="Ysolde", last_name="Wibblesby")
        episode_a = report_missing(actor=ffd, now=FIXED_NOW, child=child_a)
        episode_b = report_missing(actor=ffd, now=FIXED_NOW, child=child_b)
        # Child A is back; the manager opens the interview and assigns our interviewer, which
        # grants them episode A (and nothing else).
        services.episode_record_return(
            services.ReturnData(
                returned_at=FIXED_NOW - timedelta(minutes=30),
                found_place="Home",
                found_by="Police",
                prevention_interview_done=None,
            ),
            actor=ffd,
            episode_id=episode_a.pk,
            now=FIXED_NOW,
        )
        manager = users_by_role["manager"]
        interview = interview_services.interview_create(
            interview_services.CreateData(child_id=child_a.pk, episode_ids=(episode_a.pk,)),
            actor=manager,
            now=FIXED_NOW,
        )
        interview_services.interview_assign(
            interview_services.AssignData(
                interviewer_id=users_by_role["interviewer"].pk,
                exception_reason="",
                planned_at=None,
                planned_place="",
            ),
            actor=manager,
            interview_id=interview.pk,
            now=FIXED_NOW,
        )
        ChildFactory(first_name="Xanthe", last_name="Held", date_of_birth=child_b.date_of_birth)
        held = services.notification_receive(
            services.NotificationData(
                police_force=episode_a.police_force,
                police_reference="HELD-1",
                kind="reported_missing",
                child_first_name="Xanthe",
                child_last_name="Held",
                child_date_of_birth=child_b.date_of_birth,
                last_seen_at=FIXED_NOW - timedelta(hours=1),
                reported_at=FIXED_NOW - timedelta(minutes=30),
                risk_grade=episode_a.police_grade,
            ),
            actor=ffd,
            now=FIXED_NOW,
            payload={},
        ).notification
        # Another force reports child B, still missing: kept on episode B for FFD to review.
        discrepancy = services.notification_receive(
            services.NotificationData(
                police_force=force("metropolitan"),
                police_reference="MET-SECOND-1",
                kind="reported_missing",
                child_first_name=child_b.first_name,
                child_last_name=child_b.last_name,
                child_date_of_birth=child_b.date_of_birth,
                council_child_id=child_b.council_child_id,
                last_seen_at=FIXED_NOW - timedelta(hours=1),
                reported_at=FIXED_NOW - timedelta(minutes=30),
                risk_grade=episode_a.police_grade,
            ),
            actor=ffd,
            now=FIXED_NOW,
            payload={},
        ).notification
        assert discrepancy.match_status == "needs_review"
        # Child B is flagged for exploitation: a strategy / risk meeting task is raised.
        services.episode_set_flags(
            services.FlagsData(
                sexual_exploitation=True, criminal_exploitation=False, mental_health=False
            ),
            actor=manager,
            episode_id=episode_b.pk,
            now=FIXED_NOW,
        )
        # Six hours on, the review is overdue: the sweep raises escalations and writes texts.
        escalation_sweep(now=FIXED_NOW + timedelta(hours=6))
    return {
        "episode": episode_a,
        "child": child_a,
        "interview": interview,
        "notification": held,
        "discrepancy": discrepancy,
        "escalation": Escalation.objects.filter(episode=episode_a).first(),
        "sms": SmsMessage.objects.first(),
        "alert": AdminAlert.objects.first(),
        "misuse_alert": MisuseAlert.objects.create(
            user=ffd,
            window_start=FIXED_NOW,
            window_end=FIXED_NOW + timedelta(hours=1),
            distinct_children=50,
            threshold=50,
            raised_at=FIXED_NOW,
        ),
        "meeting": RiskMeetingTask.objects.get(episode=episode_b),
        "council_alert": CouncilAlert.objects.create(
            episode=episode_a,
            council=Council.objects.get(name="Kent"),
            kind=CouncilAlert.Kind.MISSING,
            created_at=FIXED_NOW,
        ),
        "ssd_upload": Upload.objects.create(
            uploaded_at=FIXED_NOW, uploaded_by=manager, status=Upload.Status.CHECKED
        ),
        "period": legal_status_period(child_a, start=FIXED_NOW.date() - timedelta(days=30)),
        "account_change": account_changes.account_role_change(
            actor=users_by_role["admin"],
            subject=UserFactory(username="promote-me", role=Role.ADMIN),
            role=Role.MANAGER,
            via=account_changes.VIA_ADMIN,
            now=FIXED_NOW,
        ),
        # Someone else's personal token: nobody walking the routes owns it.
        "token": ApiToken.objects.get(
            key_hash=hashlib.sha256(
                services.api_token_create(
                    user=UserFactory(username="token-owner"), scope="full", now=FIXED_NOW
                ).encode()
            ).hexdigest()
        ),
    }


def url_kwargs(world: dict[str, Any], obj: str | None) -> dict[str, Any]:
    if obj is None:
        return {}
    if obj == "council_alert":  # with a code that is not the alert's
        return {"pk": world[obj].pk, "code": "0" * 40}
    if obj == "council_alert_ack":  # the same alert, acknowledged from the episode page
        return {"pk": world["council_alert"].pk}
    if obj == "period":  # a legal-status period, addressed under its child
        return {"pk": world[obj].child_id, "period_id": world[obj].pk}
    return {"pk": world[obj].pk}


def names_visible_to(who: str) -> tuple[set[str], set[str]]:
    everyone = {"Quuxworth", "Wibblesby", "Xanthe"}
    if who in CASE:
        return everyone, set()
    if who == "interviewer":
        return {"Quuxworth"}, everyone - {"Quuxworth"}
    return set(), everyone


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", sorted(ROUTES))
def test_route_access(name, who, world, users_by_role):
    method, allowed, obj = ROUTES[name]
    url = reverse(name, kwargs=url_kwargs(world, obj))
    client = APIClient()
    if who != "anonymous":
        login(client, users_by_role[who])
    body = dict(BODIES.get(name, {}))
    with time_machine.travel(FIXED_NOW + timedelta(minutes=5), tick=False):
        if method == "GET":
            response = client.get(url)
        elif name.startswith("api-"):
            response = client.generic(
                method, url, json.dumps(body), content_type="application/json"
            )
        else:
            response = client.post(url, body)

    assert response.status_code < 500, response.content[:500]
    if who in allowed:
        refused_login = response.status_code == 302 and "/login/" in response.get("Location", "")
        assert response.status_code not in {401, 403, 404, 405}, (name, who, response.status_code)
        assert not refused_login or name in {"logout"}, (name, who)
    else:
        assert response.status_code in REFUSED, (name, who, response.status_code)
        if who == "anonymous" and response.status_code == 302:
            assert "/login/" in response["Location"]

    _, hidden = names_visible_to(who)
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    content = raw.decode(errors="replace")
    for hidden_name in hidden:
        assert hidden_name not in content, (name, who, hidden_name)


@pytest.mark.parametrize("name", sorted(n for n in ROUTES if n.startswith("api-")))
def test_intake_token_reaches_only_intake(name, world, police_system, now):
    """A police system's intake-scoped token is refused everywhere but POST /api/notifications/."""
    method, _, obj = ROUTES[name]
    token = services.api_token_create(user=police_system, scope="intake", now=now)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    url = reverse(name, kwargs=url_kwargs(world, obj))
    response = client.generic(method, url, "{}", content_type="application/json")
    assert response.status_code == 403, (name, response.status_code)


# A session past the password alone (no second factor) reaches only the sign-in steps and the
# public pages that hold no case data; everything else is refused (issue 6, item 1).
PASSWORD_ONLY_OPEN = {
    "login",
    "logout",
    "second_factor_verify",
    "second_factor_enrol",
    "healthz",
    "schema",
    "swagger-ui",
    "interviews:offline",
    "interviews:record_offline",
    "interviews:service_worker",
}
PASSWORD_ONLY_CASES = [
    (name, who)
    for name, (_, allowed, _) in sorted(ROUTES.items())
    if name not in PASSWORD_ONLY_OPEN
    for who in sorted(allowed & ALL_SIGNED_IN)
]


@pytest.mark.parametrize(("name", "who"), PASSWORD_ONLY_CASES)
def test_password_only_session_is_refused(name, who, world, users_by_role):
    """Every route a role may use with both factors is refused with the password alone: web
    pages send the user to set up or enter a code, the API answers 403; no child's name shows."""
    method, _, obj = ROUTES[name]
    url = reverse(name, kwargs=url_kwargs(world, obj))
    client = APIClient()
    login(client, users_by_role[who], second_factor=False)
    body = dict(BODIES.get(name, {}))
    with time_machine.travel(FIXED_NOW + timedelta(minutes=5), tick=False):
        if method == "GET":
            response = client.get(url)
        elif name.startswith("api-"):
            response = client.generic(
                method, url, json.dumps(body), content_type="application/json"
            )
        else:
            response = client.post(url, body)
    assert response.status_code in REFUSED, (name, who, response.status_code)
    if name.startswith("api-"):
        assert response.status_code == 403, (name, who, response.status_code)
    elif response.status_code == 302:
        assert response["Location"].startswith(("/sign-in/set-up/", "/sign-in/code/")), (
            name,
            who,
            response["Location"],
        )
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    for hidden_name in ("Quuxworth", "Wibblesby", "Xanthe"):
        assert hidden_name not in raw.decode(errors="replace"), (name, who, hidden_name)


def test_role_list_is_complete():
    assert {r.value for r in Role} == ALL_SIGNED_IN - {"other_interviewer"}
