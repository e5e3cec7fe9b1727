"""Sign-in policy applied to every request, and the decorators that views opt into.

- `SessionTimeoutMiddleware`: a session ends after 30 minutes without activity or 10 hours after
  sign-in, whichever comes first (ASVS 7.3.1, 7.3.2). The board's automatic refresh is not
  activity, or a board left open on a wall would keep its session alive for ever.
- `SecondFactorRequiredMiddleware`: a session that has passed the password but not the second
  factor reaches only the sign-in pages; everything else is refused (web: sent to the code page;
  API: 403 in the API's error shape). `missing.accounts.permissions` refuses it again (belt and braces).
- `require_recent_second_factor`: step-up for exports (ASVS 7.5.3).
- `rate_limit`, `ListRateThrottle` and `charge`: one limiter for every read of child data (lists,
  records, searches, exports), web and API, per user and per API token (decision 0057).
- `client_ip`: the client's address, from the proxy header only where a proxy is trusted.

Session timestamps are stored as POSIX seconds (the session is JSON) and compared in UTC.
See docs/decisions/0040-sign-in-and-sessions.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, logout
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from rest_framework.exceptions import Throttled
from rest_framework.mixins import ListModelMixin
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponseBase]

# Session keys (POSIX seconds).
SIGNED_IN_AT = "signed_in_at"
LAST_ACTIVITY_AT = "last_activity_at"
SECOND_FACTOR_AT = "second_factor_at"
# Last activity is written at most this often: a session write per request is needless load,
# and a minute's slack on a 30-minute idle limit is immaterial.
ACTIVITY_RESOLUTION_SECONDS = 60
# A GET carrying ?refresh=auto is the page refreshing itself (the board), not the person: it
# can only let a session run out sooner, so nobody gains by sending it.
PASSIVE_PARAM, PASSIVE_VALUE = "refresh", "auto"

# Pages a password-only session may reach: the sign-in steps themselves and public pages that
# show no case data. Apps built on the core add theirs through SECOND_FACTOR_EXEMPT_URL_NAMES.
SECOND_FACTOR_EXEMPT_URL_NAMES = frozenset(
    {
        "login",
        "logout",
        "second_factor_verify",
        "second_factor_enrol",
        "healthz",
        "schema",
        "swagger-ui",
    }
)


def client_ip(request: HttpRequest) -> str:
    """The client's address. Behind `TRUSTED_PROXY_COUNT` proxies, each appending the address it
    saw to X-Forwarded-For, the client is the entry that many from the right: entries further
    left were sent by the client and prove nothing. Without a trusted proxy the header is
    ignored, so nobody can pick their own address for the lockout or the rate limits."""
    remote = request.META.get("REMOTE_ADDR", "")
    trusted = settings.TRUSTED_PROXY_COUNT
    if trusted <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) >= trusted:
        return forwarded[-trusted]
    return remote


# --------------------------------------------------------------------------------------------
# Session timestamps
# --------------------------------------------------------------------------------------------


def stamp_sign_in(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """Receiver for `user_logged_in`: Django's `login()` (which has just given the session a new
    id) is the one place every sign-in passes, the test client's included."""
    now = timezone.now().timestamp()
    request.session[SIGNED_IN_AT] = now
    request.session[LAST_ACTIVITY_AT] = now


def stamp_second_factor(request: HttpRequest, *, now: datetime) -> None:
    """Record that this session has just passed a second-factor check (sign-in or step-up), and
    on the user, for exports through their personal API token."""
    request.session[SECOND_FACTOR_AT] = now.timestamp()
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        get_user_model().objects.filter(pk=user.pk).update(second_factor_at=now)


def is_passive(request: HttpRequest) -> bool:
    return request.method == "GET" and request.GET.get(PASSIVE_PARAM) == PASSIVE_VALUE


def session_expiry_reason(request: HttpRequest, *, now: datetime) -> str | None:
    """Why this signed-in session must end now, or None. A session without a sign-in time was
    not made by our sign-in: it ends too (fail closed)."""
    signed_in = request.session.get(SIGNED_IN_AT)
    if not isinstance(signed_in, int | float):
        return "You have been signed out. Sign in again."
    last = request.session.get(LAST_ACTIVITY_AT, signed_in)
    ts = now.timestamp()
    if ts - signed_in > settings.SESSION_ABSOLUTE_TIMEOUT.total_seconds():
        hours = int(settings.SESSION_ABSOLUTE_TIMEOUT.total_seconds() // 3600)
        return f"You have been signed out because you signed in more than {hours} hours ago."
    if ts - last > settings.SESSION_IDLE_TIMEOUT.total_seconds():
        minutes = int(settings.SESSION_IDLE_TIMEOUT.total_seconds() // 60)
        return f"You have been signed out after {minutes} minutes without activity."
    return None


class SessionTimeoutMiddleware:
    """Ends idle and too-old sessions on the server, whatever the cookie says."""

    def __init__(self, get_response: View) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.user.is_authenticated:
            now = timezone.now()
            reason = session_expiry_reason(request, now=now)
            if reason is not None:
                from missing.accounts.session_timeout import remember_timed_out_user

                user_pk = request.user.pk
                logout(request)
                messages.info(request, reason)
                # A form this person posts next is kept for them (missing.accounts.session_timeout).
                remember_timed_out_user(request, user_pk=user_pk)
            elif not is_passive(request):
                last = request.session.get(LAST_ACTIVITY_AT, 0)
                if now.timestamp() - last >= ACTIVITY_RESOLUTION_SECONDS:
                    request.session[LAST_ACTIVITY_AT] = now.timestamp()
        return self.get_response(request)


# --------------------------------------------------------------------------------------------
# The second factor
# --------------------------------------------------------------------------------------------


def second_factor_relaxed() -> bool:
    """The demo only (settings refuse it with DEBUG off; see MissingConfig.ready)."""
    return bool(settings.SECOND_FACTOR_RELAXED)


def is_verified(user: Any) -> bool:
    """Signed in and past the second factor in this session (django-otp's OTPMiddleware sets
    `is_verified` on the user from the session's device)."""
    check = getattr(user, "is_verified", None)
    return bool(user.is_authenticated and check is not None and check())


def next_step_url(user: Any, next_url: str) -> str:
    """Where a password-only session goes: the code page, or the set-up page for a user who
    has no confirmed authenticator yet."""
    from missing.accounts.second_factor import confirmed_totp_device

    has_device = confirmed_totp_device(user) is not None
    name = "second_factor_verify" if has_device else "second_factor_enrol"
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


class SecondFactorRequiredMiddleware:
    """Refuses every signed-in request that has not passed the second factor, except the pages
    that get it there. Bearer-token API calls are a separate credential and pass untouched."""

    def __init__(self, get_response: View) -> None:
        self.get_response = get_response
        self.exempt = SECOND_FACTOR_EXEMPT_URL_NAMES | frozenset(
            getattr(settings, "SECOND_FACTOR_EXEMPT_URL_NAMES", ())
        )

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: View, args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if second_factor_relaxed() or not request.user.is_authenticated:
            return None
        if is_verified(request.user):
            return None
        match = request.resolver_match
        if match is not None and match.view_name in self.exempt:
            return None
        if request.path.startswith("/api/"):
            if request.headers.get("Authorization", "").startswith("Bearer "):
                return None  # DRF authenticates the token first and never falls back
            return JsonResponse(
                {"detail": "Enter the code from your authenticator app first (sign in again)."},
                status=403,
            )
        return redirect(next_step_url(request.user, request.get_full_path()))


def second_factor_is_recent(request: HttpRequest, *, now: datetime, max_age: timedelta) -> bool:
    at = request.session.get(SECOND_FACTOR_AT)
    return isinstance(at, int | float) and now.timestamp() - at <= max_age.total_seconds()


def require_recent_second_factor(
    view: View | None = None, *, max_age: timedelta | None = None
) -> Any:
    """Step-up for exports: the session's last code must be younger than `max_age`
    (settings.STEP_UP_MAX_AGE by default), or the user confirms it is them with a fresh code and
    comes back. Use bare (`@require_recent_second_factor`) or with `max_age=`."""

    def decorator(inner: View) -> View:
        @wraps(inner)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            limit = max_age or settings.STEP_UP_MAX_AGE
            if second_factor_relaxed() or second_factor_is_recent(
                request, now=timezone.now(), max_age=limit
            ):
                return inner(request, *args, **kwargs)
            # A refusal for the access log (missing.audit.access_log.record_refusal): a redirect, not 403.
            request.access_refused = "step-up"  # type: ignore[attr-defined]
            query = urlencode({"next": request.get_full_path()})
            return redirect(f"{reverse('second_factor_confirm')}?{query}")

        return wrapped

    return decorator(view) if view is not None else decorator


class RecentSecondFactor(BasePermission):
    """Step-up for API exports: with the browser session, the session's last code must be younger
    than settings.STEP_UP_MAX_AGE; through a personal API token, the token's user must have
    entered a code (signing in or at /sign-in/confirm/) within that time (issue 14 item 3): a
    stolen token alone exports nothing."""

    message = "Confirm it is you first: enter a fresh code at /sign-in/confirm/, then retry."

    def has_permission(self, request: Request, view: Any) -> bool:
        if second_factor_relaxed():
            return True
        if request.auth is not None:
            at = getattr(request.user, "second_factor_at", None)
            return at is not None and timezone.now() - at <= settings.STEP_UP_MAX_AGE
        return second_factor_is_recent(
            request._request, now=timezone.now(), max_age=settings.STEP_UP_MAX_AGE
        )


# --------------------------------------------------------------------------------------------
# Rate limits
# --------------------------------------------------------------------------------------------

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'120/minute' → (120, 60). The same notation as DRF's throttle rates."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[0]]


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: int  # seconds until the window resets


def rate_limit_hit(*, scope: str, ident: str, now: datetime) -> RateDecision:
    """Count one request against `scope` for `ident` in the current fixed window.

    `add` then `incr` are each atomic in Redis and locmem, so concurrent workers never lose a
    count. A fixed window lets a client reach twice the rate across a window boundary at worst,
    which is acceptable for stopping bulk harvesting and costs one key per client per window."""
    limit, window = parse_rate(settings.RATE_LIMITS[scope])
    ts = int(now.timestamp())
    start = ts - ts % window
    key = f"ratelimit:{scope}:{ident}:{start}"
    cache.add(key, 0, timeout=window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window + 1)
        count = 1
    return RateDecision(allowed=count <= limit, retry_after=max(1, start + window - ts))


def rate_ident(request: HttpRequest | Request) -> str:
    """Whose count a request adds to: an API token's own (its reads are the token's, whoever
    else uses the account's browser session), else the signed-in user's, else the address."""
    token_pk = getattr(getattr(request, "auth", None), "pk", None)
    if token_pk is not None:
        return f"token:{token_pk}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{client_ip(request)}"


def never_limited(request: HttpRequest | Request) -> bool:
    """Police intake is never throttled: a police system's account or an intake-only token may
    not lose a missing-child notification to a limit meant for people reading records."""
    from missing.models import ApiToken, Role

    token = getattr(request, "auth", None)
    if isinstance(token, ApiToken) and token.scope == ApiToken.Scope.INTAKE:
        return True
    user = getattr(request, "user", None)
    return getattr(user, "role", None) == Role.POLICE_SYSTEM


class RateLimited(Throttled):
    """Over a limit. DRF answers it as 429 JSON with Retry-After; `RateLimitMiddleware` answers
    it on web pages with the GOV.UK page. Raised by `charge` (views, the access log)."""

    def __init__(self, *, scope: str, retry_after: int, until: datetime) -> None:
        self.scope = scope
        self.retry_after = retry_after
        self.until = until  # when the window resets (UTC)
        super().__init__(
            wait=retry_after,
            detail=(
                f"Too many requests: the limit for {SCOPE_LABELS.get(scope, scope)} is "
                f"{settings.RATE_LIMITS[scope]}. Try again in {retry_after} seconds."
            ),
        )


# What each scope counts, in words, for the 429 answers.
SCOPE_LABELS = {
    "list": "lists",
    "read": "opening a child's or an episode's record",
    "search": "name searches",
    "export": "exports and downloads",
}
# Set on the request once it has been counted: one request adds one to one scope, whether the
# route charged it up front (decorator, throttle) or the access log did when it was read.
CHARGED_ATTRIBUTE = "rate_limit_charged"


def charge(request: HttpRequest | Request, scope: str, *, now: datetime) -> None:
    """Count this request against `scope` (once per request) and raise `RateLimited` above the
    limit. Police intake is never counted."""
    underlying = getattr(request, "_request", request)
    if getattr(underlying, CHARGED_ATTRIBUTE, None) is not None or never_limited(request):
        return
    setattr(underlying, CHARGED_ATTRIBUTE, scope)
    decision = rate_limit_hit(scope=scope, ident=rate_ident(request), now=now)
    if not decision.allowed:
        logger.warning("Rate limit %s reached by %s", scope, rate_ident(request))
        raise RateLimited(
            scope=scope,
            retry_after=decision.retry_after,
            until=now + timedelta(seconds=decision.retry_after),
        )


def too_many_requests(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    """The web answer: the GOV.UK page saying when to try again, 429 and Retry-After."""
    response = render(
        request,
        "429.html",
        {
            "retry_after": exc.retry_after,
            "scope_label": SCOPE_LABELS.get(exc.scope, exc.scope),
            "try_at": exc.until,
        },
        status=429,
    )
    response["Retry-After"] = str(exc.retry_after)
    return response


def rate_limit(scope: str | dict[str, str]) -> Callable[[View], View]:
    """Count a web view against settings.RATE_LIMITS[scope] per user before it runs, and refuse
    it above the limit with 429 (a GOV.UK page and Retry-After): "list" pages, "read" (a child's
    or an episode's record), "search" and "export"; or a scope per method (`{"GET": "list",
    "POST": "search"}`). Counting before the view runs counts a probe for a record that does
    not exist too."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            named = scope.get(request.method or "") if isinstance(scope, dict) else scope
            if named is not None:
                try:
                    charge(request, named, now=timezone.now())
                except RateLimited as exc:
                    return too_many_requests(request, exc)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


class RateLimitMiddleware:
    """Answers `RateLimited` raised inside a web view (the access log counting a read the route
    did not count up front) with the 429 page. The view's transaction has rolled back by then."""

    def __init__(self, get_response: View) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RateLimited):
            return too_many_requests(request, exception)
        return None


class ListRateThrottle(BaseThrottle):
    """DRF side of the same limiter: GET on a list endpoint counts against "list"; a view may
    name another scope with `rate_limit_scope`, for every method (e.g. "search") or by method
    (`{"GET": "read"}`). Reads the route does not name are counted by the access log when they
    are recorded (missing.audit.access_log). Police intake is never counted."""

    def allow_request(self, request: Request, view: Any) -> bool:
        scope = getattr(view, "rate_limit_scope", None)
        if isinstance(scope, dict):
            scope = scope.get(request.method)
        if scope is None and request.method == "GET" and isinstance(view, ListModelMixin):
            scope = "list"
        if scope is None:
            return True
        # Over the limit `charge` raises RateLimited, DRF's Throttled: DRF answers it with 429,
        # Retry-After and a `detail` naming the limit (returning False would lose the name).
        charge(request, scope, now=timezone.now())
        return True


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """django-axes' lockout answer (AXES_LOCKOUT_CALLABLE): the GOV.UK page, 429 with
    Retry-After. Unlike axes' default it never echoes the username, nor answers JSON with a
    permissive CORS header."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    response = render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
