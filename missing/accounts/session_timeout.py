"""The idle time-out, seen from the person's side (issue 13 item 2; WCAG 2.2.1 Timing adjustable).

- **A warning before it.** Every signed-in page carries the idle limit; `static/js/
  session-timeout.js` asks `session_status` (a passive request: it never counts as activity)
  how long is left and, two minutes before the end, opens a dialog with "Stay signed in", which
  posts to `session_keep_alive`.
- **A form sent after it keeps what was typed.** When the idle sign-out ends a session, the new
  (signed-out) session remembers whose it was. A form then posted from a page of that session
  (CSRF-checked: this runs after Django's CSRF check) is kept in that session, server-side,
  while the view sends the person to sign in. Signing in keeps the session's data (Django's
  `login()` cycles the id of a session with no user in it). Back on the same address, the same
  person is shown "Send what you typed" — the kept fields as a form posted to the same address,
  so the view validates it as ever (errors, version clashes). Anyone else signing in on that
  browser never sees it: it is dropped. Nothing is replayed without the person's click.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from missing.accounts import security

View = Callable[..., HttpResponse]

# Session keys.
TIMED_OUT_USER = "timed_out_user"
KEPT_FORM = "kept_form"
# A kept form older than this is dropped rather than offered.
KEPT_FORM_MAX_AGE_SECONDS = 12 * 3600
# Never keep more than this many characters of one form in a session.
KEPT_FORM_MAX_CHARS = 200_000
# Posts never kept: the sign-in steps themselves and signing out.
NEVER_KEPT = security.SECOND_FACTOR_EXEMPT_URL_NAMES | {"second_factor_confirm"}


def remember_timed_out_user(request: HttpRequest, *, user_pk: int) -> None:
    """Called by SessionTimeoutMiddleware right after the idle sign-out."""
    request.session[TIMED_OUT_USER] = user_pk


def _keepable(request: HttpRequest, view_func: View) -> bool:
    if request.method != "POST" or request.user.is_authenticated:
        return False
    if TIMED_OUT_USER not in request.session:
        return False
    if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        return False  # scripts (the tablet's autosave) deal with a refusal themselves
    match = request.resolver_match
    return bool(match and match.url_name not in NEVER_KEPT)


class KeptFormMiddleware:
    """Keeps a form posted after the idle sign-out, and offers it back after the same person
    signs in again. After CsrfViewMiddleware (process_view runs after its check) and the
    second-factor middleware (so only a fully signed-in session is offered the form)."""

    def __init__(self, get_response: View) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        kept = request.session.get(KEPT_FORM) if hasattr(request, "session") else None
        if kept and request.user.is_authenticated:
            if kept.get("user") != request.user.pk:
                del request.session[KEPT_FORM]  # someone else signed in: never theirs to see
            elif request.method == "GET" and request.path == kept.get("path"):
                del request.session[KEPT_FORM]
                request.session.pop(TIMED_OUT_USER, None)
                age = timezone.now().timestamp() - kept.get("at", 0)
                if age <= KEPT_FORM_MAX_AGE_SECONDS:
                    return render(
                        request,
                        "registration/kept_form.html",
                        {"action": kept["path"], "pairs": kept["pairs"]},
                    )
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: View, view_args: Any, view_kwargs: Any
    ) -> None:
        if not _keepable(request, view_func):
            return None
        pairs = [
            (name, value)
            for name, values in request.POST.lists()
            if name != "csrfmiddlewaretoken"
            for value in values
        ]
        if sum(len(name) + len(value) for name, value in pairs) > KEPT_FORM_MAX_CHARS:
            return None
        request.session[KEPT_FORM] = {
            "user": request.session[TIMED_OUT_USER],
            "path": request.path,
            "pairs": pairs,
            "at": timezone.now().timestamp(),
        }
        return None


def _remaining_seconds(request: HttpRequest) -> int:
    if not request.user.is_authenticated:
        return 0
    now = timezone.now().timestamp()
    last = request.session.get(security.LAST_ACTIVITY_AT, 0)
    signed_in = request.session.get(security.SIGNED_IN_AT, 0)
    idle_left = settings.SESSION_IDLE_TIMEOUT.total_seconds() - (now - last)
    absolute_left = settings.SESSION_ABSOLUTE_TIMEOUT.total_seconds() - (now - signed_in)
    return max(0, math.ceil(min(idle_left, absolute_left)))


@require_GET
def session_status(request: HttpRequest) -> JsonResponse:
    """How long this session has left. Asked with ?refresh=auto, so asking is not activity."""
    return JsonResponse({"remaining": _remaining_seconds(request)})


@require_POST
def session_keep_alive(request: HttpRequest) -> JsonResponse:
    """ "Stay signed in": the person is here. Refused (401) once the session has ended."""
    if not request.user.is_authenticated:
        return JsonResponse({"remaining": 0, "detail": "You have been signed out."}, status=401)
    request.session[security.LAST_ACTIVITY_AT] = timezone.now().timestamp()
    return JsonResponse({"remaining": _remaining_seconds(request)})
