"""axe-core on every page of the app, the Django admin included (issue 13).

The routes come from the URL resolver, not from a hand-kept list: `test_every_route_is_walked_or_
excluded` (fast, no browser) fails when a route is added that the walk neither visits nor
excludes with a reason. The walk itself (`test_axe_finds_nothing_serious_on_every_page`, a
browser test) opens each page once, as a user allowed to see it, with real objects behind it
(the same world as tests/test_url_auth.py), and fails on any critical or serious violation;
every page's findings are listed together, so one run shows all that is wrong.

One Chromium, one browser context per user (signed in once, its session cookie reused for all
of that user's pages), one visit per page, at a desktop size: the phone and iPad sizes of the
pages where the work happens are tests/browser/test_responsive_browser.py's job.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from django.conf import settings
from django.contrib import admin
from django.db import models
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from interviews.figures import FIGURES
from missing.cases import services
from missing.models import User
from notifications.council_alerts import portal_code
from tests.browser.axe import axe_violations, describe
from tests.browser.test_board_browser import ARTIFACTS, CHROMIUM, chromium
from tests.factories import FIXED_NOW, ChildFactory
from tests.helpers import login, report_missing, totp_device

# `world` is tests/test_url_auth.py's fixture: the same objects as the access walk (F811: the
# fixtures below take it by name).
from tests.test_url_auth import ROUTES, url_kwargs, world  # noqa: F401

DESKTOP = {"width": 1280, "height": 900}

# Route name -> why the walk does not open it in the browser. Everything else is walked.
EXCLUDED: dict[str, str] = {
    # Not pages: JSON, files, scripts and POST-only actions (their forms are on walked pages).
    "healthz": "JSON for the load balancer",
    "session_status": "JSON for the idle time-out's warning",
    "session_keep_alive": "POST only (the time-out warning's button)",
    "logout": "POST only (the header's Sign out button)",
    "account_notice_acknowledge": "POST only (a button on the notice)",
    "api_token_revoke": "POST only (a button on the API tokens page)",
    "episode_decision": "POST only (a form on the episode page)",
    "episode_return": "POST only (a form on the episode page)",
    "episode_cancel": "POST only (a form on the episode page)",
    "episode_sign_off": "POST only (a form on the episode page)",
    "episode_flags": "POST only (a form on the episode page)",
    "meeting_complete": "POST only (a form on the meetings page)",
    "interviews:assign": "POST only (a form on the interview page)",
    "interviews:attempt": "POST only (a form on the interview page)",
    "interviews:add_episode": "POST only (a form on the interview page)",
    "interviews:record_autosave": "POST only (the tablet's autosave)",
    "interviews:complete": "POST only (a form on the interview page)",
    "interviews:sign_off": "POST only (a form on the interview page)",
    "interviews:draft_key": "JSON: the tablet's draft key",
    "interviews:service_worker": "JavaScript: the service worker",
    "interviews:export": "a file download (CSV)",
    "interviews:returns_ssda903": "a file download (SSDA903 CSV)",
    "interviews:returns_annex_a": "a file download (Annex A workbook)",
    "interviews:figures_csv": "a file download (CSV)",
    "interviews:figures_xlsx": "a file download (workbook)",
    "philomena_photo": "an image",
    "philomena_child_part1_download": "a file download (PDF)",
    "philomena_part1_download": "a file download (PDF)",
    "notifications:escalation_acknowledge": "POST only (a button on the escalations page)",
    "notifications:council_alert_acknowledge": "POST only (a button on the shared episode's page)",
    "notifications:alert_resolve": "POST only (a button on the alerts page)",
    "notifications:twilio_inbound": "Twilio's webhook (POST, signed)",
    "notifications:twilio_status": "Twilio's webhook (POST, signed)",
    "notifications:episode_interview_holder": "POST only (a form on the episode page)",
    "notifications:episode_short_link": "a redirect to the episode page (walked)",
    "home": "a redirect to the user's start page (the board, the queue: walked)",
    "ssd:upload_apply": "POST only (a button on the upload's page)",
    "schema": "the OpenAPI schema (YAML); its page, swagger-ui, is walked",
    # The admin's own machinery.
    "admin:login": "redirects to the site's sign-in page (walked)",
    "admin:logout": "POST only",
    "admin:password_change_done": "shown only after the admin's password form (walked) is sent",
    "admin:autocomplete": "JSON for the admin's autocomplete widgets",
    "admin:jsi18n": "JavaScript: the admin's translations",
    "admin:view_on_site": "a redirect to the object's own page",
    "admin:otp_totp_totpdevice_config": "a device's set-up page: devices are read-only here",
    "admin:otp_totp_totpdevice_qrcode": "an image (the authenticator's QR code)",
}
# Every API route is JSON (swagger-ui, the API's documentation page, is walked).
API_PREFIX = "api-"
# Per model the admin has history and delete pages too: Django's own templates, the same for
# every model, so the walk opens them for one model (users) rather than for all of them.
ADMIN_SAMPLED_MODEL = "missing_user"
ADMIN_SAMPLED_KINDS = ("history", "delete")
# One-row settings: the admin allows adding only while there is no row, and its add and change
# forms are the same fields, so the walk leaves the row unmade and opens the add form.
ADMIN_ONE_ROW = {"missing.RetentionPolicy", "missing.MisuseSettings"}

# Who opens a page: the first of these its route allows (tests/test_url_auth.py's table)...
PREFERRED = ("manager", "head_of_service", "ffd", "interviewer", "admin", "anonymous")
# ... unless the page is for someone else: the sign-in pages are for people not yet signed in
# (the second factor's steps for a session past the password alone: its own context, below);
# an out-of-area alert's page for another council's staff, who have no account.
WHO_OVERRIDE = {
    "login": "anonymous",
    "second_factor_verify": "password_only",
    "second_factor_enrol": "password_only",
    "notifications:council_alert": "anonymous",
    "interviews:offline": "anonymous",
    # POST in the access table (a write), but its GET is the tablet's record form.
    "interviews:record": "interviewer",
}
# Pages that finish drawing after the load: axe waits for this element.
READY = {
    "interviews:record": "form[data-drafts-ready]",
    "swagger-ui": ".swagger-ui .info",
}
# Pages checked with something opened, as someone reading them would: Swagger UI's first
# operation, its example answer showing (click this, then wait for that).
OPEN = {"swagger-ui": (".opblock-summary-control >> nth=0", ".opblock-body .highlight-code")}


def _admin_request() -> Any:
    request = RequestFactory().get("/admin/")
    request.user = User(username="walker", is_active=True, is_staff=True, is_superuser=True)
    return request


def admin_pages() -> dict[str, str | None]:
    """The admin routes the walk opens: index, each app's list, each registered model's
    changelist, add form (when the admin allows adding at all) and change form; history and
    delete for one model. Route name -> model label (None for the index and app lists)."""
    pages: dict[str, str | None] = {"admin:index": None, "admin:app_list": None}
    request = _admin_request()
    for model, model_admin in admin.site._registry.items():
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pages[f"{prefix}_changelist"] = model._meta.label
        if model._meta.label not in ADMIN_ONE_ROW:
            pages[f"{prefix}_change"] = model._meta.label
        if model._meta.label in ADMIN_ONE_ROW or model_admin.has_add_permission(request):
            pages[f"{prefix}_add"] = model._meta.label
    for kind in ADMIN_SAMPLED_KINDS:
        pages[f"admin:{ADMIN_SAMPLED_MODEL}_{kind}"] = "missing.User"
    # The admin's own password form, and the one for setting a user's (UserAdmin names it
    # auth_user_… whatever the user model).
    pages["admin:password_change"] = None
    pages["admin:auth_user_password_change"] = "missing.User"
    return pages


def admin_excluded() -> dict[str, str]:
    """The admin routes not walked, each with its reason."""
    excluded = {}
    request = _admin_request()
    for model, model_admin in admin.site._registry.items():
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        if model._meta.label in ADMIN_ONE_ROW:
            excluded[f"{prefix}_change"] = "a one-row setting: its add form (same fields) is walked"
        elif not model_admin.has_add_permission(request):
            excluded[f"{prefix}_add"] = "the admin refuses adding (a record kept by the system)"
        for kind in ADMIN_SAMPLED_KINDS:
            if f"{prefix}_{kind}" != f"admin:{ADMIN_SAMPLED_MODEL}_{kind}":
                excluded[f"{prefix}_{kind}"] = f"Django's {kind} page, walked for users"
    return excluded


def all_route_names() -> set[str]:
    """Every named route, the admin's per-model routes included."""
    names: set[str] = set()

    def walk(patterns: list[Any], namespace: str | None) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, p.namespace or namespace)
            elif isinstance(p, URLPattern) and p.name:
                names.add(f"{namespace}:{p.name}" if namespace else p.name)

    walk(get_resolver().url_patterns, None)
    return names


def web_pages() -> dict[str, str]:
    """The app's own pages the walk opens: route name -> who opens it."""
    pages = {}
    for name, (method, allowed, _) in ROUTES.items():
        if name in EXCLUDED or name.startswith(API_PREFIX) or name.startswith("admin:"):
            continue
        assert method == "GET" or name in WHO_OVERRIDE, f"{name} is {method}: exclude it"
        pages[name] = WHO_OVERRIDE.get(name) or next(w for w in PREFERRED if w in allowed)
    return pages


def web_query(objects: dict[str, Any]) -> dict[str, str]:
    """Pages that need more than their route's object to show their real content: the world's
    month for the figures (it happened at FIXED_NOW), a figure to drill into, a second child
    to merge."""
    month = f"period_start={FIXED_NOW:%Y-%m}-01&period_end={FIXED_NOW:%Y-%m}-28"
    return {
        "interviews:figures": month,
        "interviews:figure_episodes": f"{month}&figure={next(iter(FIGURES))}",
        "child_merge_check": f"remove={objects['meeting'].episode.child_id}",
    }


@pytest.mark.django_db  # a one-row admin (the retention policy) allows adding only while empty
def test_every_route_is_walked_or_excluded() -> None:
    walked = set(web_pages()) | set(admin_pages())
    excluded = set(EXCLUDED) | set(admin_excluded())
    assert walked & excluded == set(), "a route is both walked and excluded"
    assert unaccounted(walked, excluded) == set(), (
        "walk the new routes in tests/browser/test_axe_every_page.py or exclude them, with a reason"
    )
    assert (walked | excluded) - all_route_names() == set(), "the walk names a route now gone"


def unaccounted(walked: set[str], excluded: set[str]) -> set[str]:
    """The routes neither walked nor excluded (API routes are JSON by name)."""
    names = all_route_names()
    return {n for n in names - walked - excluded if not n.startswith(API_PREFIX)}


@pytest.mark.django_db
def test_the_check_sees_a_new_route(settings: Any) -> None:
    """A page added to the URLs and to nothing here is caught (tests/browser/extra_urls.py
    adds one to the real URLs)."""
    walked = set(web_pages()) | set(admin_pages())
    excluded = set(EXCLUDED) | set(admin_excluded())
    settings.ROOT_URLCONF = "tests.browser.extra_urls"
    assert unaccounted(walked, excluded) == {"brand_new_page"}


@dataclass
class Visit:
    who: str
    where: str  # the route name
    path: str
    status: int = 200  # what the page answers


# Pages that are no route: the error pages people meet (page not found signed in and signed
# out, and a page their role may not open). 400, 429 and 500 are the same base.html with a
# heading and a paragraph; not walked (they take a bad request, a flood or a fault).
ERROR_PAGES = [
    Visit("manager", "404 page", "/no-such-page/", 404),
    Visit("anonymous", "404 page signed out", "/no-such-page/", 404),
    Visit("ffd", "403 page", "/figures/", 403),
]


@dataclass
class Walk:
    visits: list[Visit] = field(default_factory=list)
    sessions: dict[str, str] = field(default_factory=dict)  # who -> session key


def _session(user: User, *, second_factor: bool = True) -> str:
    client = Client()
    login(client, user, second_factor=second_factor)
    return client.session.session_key or ""


def _first(model: type[models.Model]) -> models.Model:
    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"no {model._meta.label} for the admin walk: make one in admin_world"
    return obj


@pytest.fixture
def admin_world(world: dict[str, Any], users_by_role: dict[str, User]) -> dict[str, Any]:  # noqa: F811
    """What the url-auth world does not make already: one of every model the admin lists, so
    that each change form is walked with a record, and an episode back home whose interview
    is not open yet (the page that opens it)."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.contrib.auth.models import Group
    from django_otp.plugins.otp_static.models import StaticDevice

    from interviews.models import PlacementStaff
    from notifications.models import InboundSms, OnCallShift

    now = timezone.now()
    manager = users_by_role["manager"]
    Group.objects.get_or_create(name="Walkers")
    # As django-axes records them: a failed sign-in, and a successful one.
    seen = {"username": "ffd", "ip_address": "127.0.0.1", "user_agent": "Walker/1.0"}
    AccessAttempt.objects.create(**seen, path_info="/login/", failures_since_start=1)
    AccessFailureLog.objects.create(**seen, path_info="/login/")
    AccessLog.objects.create(**seen, path_info="/login/")
    totp_device(manager)
    StaticDevice.objects.get_or_create(user=manager, name="backup")
    OnCallShift.objects.create(
        duty=OnCallShift._meta.get_field("duty").choices[0][0],  # type: ignore[index]
        user=manager,
        starts_at=now,
        ends_at=now + timedelta(hours=8),
    )
    InboundSms.objects.create(
        message_sid="SM" + "0" * 32,
        received_at=now,
        sender=manager,
        outcome=InboundSms.Outcome.choices[0][0],
    )
    PlacementStaff.objects.create(user=users_by_role["ffd"], placement="Oak House")
    ffd = users_by_role["ffd"]
    with time_machine.travel(FIXED_NOW, tick=False):
        uncovered = report_missing(actor=ffd, now=FIXED_NOW, child=ChildFactory())
        services.episode_record_return(
            services.ReturnData(
                returned_at=FIXED_NOW - timedelta(minutes=10),
                found_place="Home",
                found_by="Police",
                prevention_interview_done=None,
            ),
            actor=ffd,
            episode_id=uncovered.pk,
            now=FIXED_NOW,
        )
    return {"uncovered": uncovered}


@pytest.fixture
def walk(
    world: dict[str, Any],  # noqa: F811
    admin_world: dict[str, Any],
    users_by_role: dict[str, User],
) -> Walk:
    """Every page's address and its user's session, made before the browser starts (no ORM
    beside Playwright's event loop)."""
    result = Walk()
    query = web_query(world)
    for name, who in web_pages().items():
        _, _, obj = ROUTES.get(name, ("GET", set(), None))
        kwargs = url_kwargs(world, obj)
        if name == "notifications:council_alert":
            kwargs["code"] = portal_code(kwargs["pk"])
        if name == "interviews:create":  # an episode back home, no interview opened yet
            kwargs = {"pk": admin_world["uncovered"].pk}
        path = reverse(name, kwargs=kwargs)
        if name in query:
            path += f"?{query[name]}"
        result.visits.append(Visit(who, name, path))
    for name, label in admin_pages().items():
        if name == "admin:app_list":
            for app_label in sorted({m._meta.app_label for m in admin.site._registry}):
                path = reverse(name, kwargs={"app_label": app_label})
                result.visits.append(Visit("admin", name, path))
            continue
        kwargs: dict[str, Any] = {}
        if name.endswith(("_change", "_history", "_delete")) and label is not None:
            model = next(m for m in admin.site._registry if m._meta.label == label)
            key = "id" if name == "admin:auth_user_password_change" else "object_id"
            kwargs[key] = _first(model).pk
        result.visits.append(Visit("admin", name, reverse(name, kwargs=kwargs)))

    result.visits.extend(ERROR_PAGES)
    for who in {v.who for v in result.visits} - {"anonymous", "password_only"}:
        result.sessions[who] = _session(users_by_role[who])
    # Password only: the verify step for a user with an authenticator, set-up for one without.
    verify_user, enrol_user = users_by_role["ffd"], users_by_role["other_interviewer"]
    totp_device(verify_user)
    result.sessions["password_only:second_factor_verify"] = _session(
        verify_user, second_factor=False
    )
    result.sessions["password_only:second_factor_enrol"] = _session(enrol_user, second_factor=False)
    return result


@pytest.mark.browser
@pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"no Chromium at {CHROMIUM} (apt-get install chromium); browser tests skipped",
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_axe_finds_nothing_serious_on_every_page(live_server: Any, walk: Walk) -> None:
    base = live_server.url
    found: list[str] = []
    wrong: list[str] = []
    timings: list[tuple[float, str]] = []
    started = time.monotonic()
    with chromium() as browser:
        contexts: dict[str, Any] = {}

        def page_for(key: str) -> Any:
            if key not in contexts:
                # No service worker: the tablet's (registered by the interview pages and
                # the offline page) would answer later visits itself, from its cache.
                context = browser.new_context(
                    viewport=DESKTOP,
                    locale="en-GB",
                    timezone_id="Europe/London",
                    service_workers="block",
                )
                if key in walk.sessions:
                    context.add_cookies(
                        [
                            {
                                "name": settings.SESSION_COOKIE_NAME,
                                "value": walk.sessions[key],
                                "url": base,
                            }
                        ]
                    )
                contexts[key] = context.new_page()
            return contexts[key]

        for visit in walk.visits:
            key = visit.who
            if key == "password_only":
                key = f"password_only:{visit.where}"
            page = page_for(key)
            at = time.monotonic()
            response = page.goto(f"{base}{visit.path}")
            page.wait_for_load_state()
            if visit.where in READY:
                page.wait_for_selector(READY[visit.where])
            status = response.status if response else 0
            landed = urlsplit(page.url)
            if status != visit.status or landed.path != urlsplit(visit.path).path:
                wrong.append(f"{visit.where} as {visit.who}: {status} at {page.url}")
                continue
            if visit.where in OPEN:
                click, shown = OPEN[visit.where]
                page.click(click)
                page.wait_for_selector(shown)
            violations = axe_violations(page)
            timings.append((time.monotonic() - at, visit.path))
            if violations:
                found.append(
                    f"{visit.where} as {visit.who} ({visit.path}):\n{describe(violations)}"
                )
        for page in contexts.values():
            page.context.close()
    took = time.monotonic() - started
    ARTIFACTS.mkdir(exist_ok=True)
    slowest = "\n".join(f"{s:5.2f}s {p}" for s, p in sorted(timings, reverse=True)[:10])
    (ARTIFACTS / "axe-every-page.txt").write_text(
        f"{len(timings)} pages in {took:.1f}s\nslowest:\n{slowest}\n\n" + "\n".join(found + wrong),
        encoding="utf-8",
    )
    assert not wrong, "pages the walk could not open as themselves:\n" + "\n".join(wrong)
    assert not found, "axe found critical or serious violations:\n" + "\n".join(found)
