"""The access log (ASVS 5.0 L3 16.3.2) and the request context of the change history.

Every read and every change of a child's records writes an `AccessLog` row in the same
transaction as the request (`ATOMIC_REQUESTS`): a view that fails rolls its rows back with
everything else it did. See docs/decisions/0041-access-log.md for the granularity.

- `AuditContextMiddleware` sets, for each request, who is acting, the route name and the client
  address (`current()`), and on PostgreSQL opens a django-pghistory context carrying the user
  and the route name (never the query string) so the change history says who changed what.
- Reads: views call `record_access(request, action=VIEW|LIST, ...)` once they know what they
  show: one row per child for a detail page, one row per list with the ids shown.
- Exports: `record_export(request, child_ids=..., rows=...)` (other apps' download views).
- Limits: every read recorded here by a GET counts against the rate limits (a detail read
  "read", a list "list", a download "export"), unless its route counted it already; a detail
  read of one child also counts towards the insider-misuse alert (missing.audit.misuse). See
  docs/decisions/0057-read-limits-and-misuse-alerts.md.
- Changes: the services' own central helpers call `record_change(child_id=..., reference=...)`
  (the episode timeline writer in `missing.cases.services`, the interview version bump in
  `interviews.services`), so a change is logged wherever it comes from (page or API) without a
  call in each view. Outside a request (Celery, commands) there is no person to log: nothing is
  written, and commands that touch children (retention) write their own rows.

- Refusals: `AuditContextMiddleware` writes one `refuse` row for every signed-in request it sees
  refused (403, 404 from a route that resolved, 429, or a step-up sent back for a fresh code),
  with the route, the ids the URL asked for and the status, after the view's transaction has
  rolled back, so the row stays (issue 14 item 2, ASVS 5.0 16.3.2). See decision 0048.

Nothing here writes a name: children are integer ids, records their references.
"""

from __future__ import annotations

import contextvars
import ipaddress
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import pghistory
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils import timezone

from missing.accounts.security import charge, client_ip
from missing.audit import misuse
from missing.models import AccessAction, AccessLog

logger = logging.getLogger(__name__)

# Answers that refuse access. 401 is the API's "who are you" to a request with no (valid)
# credential: no user, so nothing to log per user; such probes show in the server's access log.
REFUSED_STATUSES = frozenset({403, 404, 429})
# Set on the request by a check that refused without an error status (the step-up redirect).
REFUSAL_ATTRIBUTE = "access_refused"

# Reads that count against the rate limits when the route did not count them up front
# (missing.accounts.security.charge): a GET that shows a record, a list or a download. A POST that
# changes a record and shows it back (police intake among them) is not a harvest.
READ_METHODS = frozenset({"GET", "HEAD"})
READ_SCOPES: dict[str, str] = {
    AccessAction.VIEW: "read",
    AccessAction.LIST: "list",
    AccessAction.EXPORT: "export",
}

# Requests with these methods may change records: only they carry a change-history context.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


_UNSET: Any = object()


class AccessContext:
    """Who is acting, for this request. The user is read from the request when a row is
    written, not when the request starts: a token-authenticated API call knows its user only
    once DRF has authenticated it (DRF then sets it on the underlying request). The route and
    the client address are worked out then too, and once: most requests write no row, and by
    then Django has resolved the URL (no second resolve())."""

    def __init__(
        self,
        request: HttpRequest | None,
        route: str | None = None,
        client_address: str | None = _UNSET,
        user: Any = None,
    ) -> None:
        self.request = request
        self._route = route
        self._client_address = client_address
        self.user = user
        # (child id, reference) pairs already logged as changed in this request: one row each.
        self.changed: set[tuple[int | None, str]] = set()

    @property
    def route(self) -> str:
        if self._route is None:
            self._route = route_name(self.request) if self.request is not None else ""
        return self._route

    @property
    def client_address(self) -> str | None:
        if self._client_address is _UNSET:
            self._client_address = (
                client_address(self.request) if self.request is not None else None
            )
        return self._client_address

    def acting_user(self) -> Any:
        user = self.user
        if user is None and self.request is not None:
            user = getattr(self.request, "user", None)
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        return user


_current: contextvars.ContextVar[AccessContext | None] = contextvars.ContextVar(
    "missing_access_context", default=None
)


def current() -> AccessContext | None:
    """The acting request's context, or None outside a request (Celery, commands)."""
    return _current.get()


def route_name(request: HttpRequest) -> str:
    """The URL's name (e.g. `episode_detail`), never its path or query string."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return ""
    return match.view_name or ""


def client_address(request: HttpRequest) -> str | None:
    """The client's address as the sign-in lockout and the rate limits see it
    (missing.accounts.security.client_ip: X-Forwarded-For only behind settings.TRUSTED_PROXY_COUNT
    proxies), stored only when it is a valid address."""
    return _valid_ip(client_ip(request))


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _user_id(request: HttpRequest) -> int | None:
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


class AuditContextMiddleware:
    """Sets the request's `AccessContext` and, on PostgreSQL, its pghistory context."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(settings.STATIC_URL):
            return self.get_response(request)
        context = AccessContext(request=request)
        token = _current.set(context)
        try:
            if request.method in UNSAFE_METHODS and connection.vendor == "postgresql":
                # pghistory injects the context into each statement with set_config(), which
                # only PostgreSQL has; its triggers exist only there too. The route joins it in
                # process_view, once Django has resolved the URL.
                with pghistory.context(user=_user_id(request)):
                    response = self.get_response(request)
            else:
                response = self.get_response(request)
            # Here the view's transaction (ATOMIC_REQUESTS) has committed or rolled back: a
            # refusal row written now stays whatever the view did.
            record_refusal(context, response=response)
            return response
        finally:
            _current.reset(token)

    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if request.method in UNSAFE_METHODS and connection.vendor == "postgresql":
            pghistory.context(route=route_name(request))
        return None


def bind_user(user: Any) -> None:
    """An API request authenticated by token: name the user in the change history too (the
    middleware saw an anonymous request). A no-op outside a pghistory context."""
    if connection.vendor == "postgresql" and getattr(user, "pk", None) is not None:
        pghistory.context(user=user.pk)


def _context_of(request_or_context: HttpRequest | AccessContext | Any) -> AccessContext:
    if isinstance(request_or_context, AccessContext):
        return request_or_context
    # A DRF Request wraps the HttpRequest; its user is the authenticated one.
    underlying = getattr(request_or_context, "_request", request_or_context)
    context = current()
    if context is not None and context.request is underlying:
        return context
    return AccessContext(request=underlying)


def _ids(child_ids: Iterable[int | None]) -> list[int]:
    return sorted({int(i) for i in child_ids if i is not None})


def record_access(
    request_or_context: HttpRequest | AccessContext | Any,
    *,
    action: str,
    child_ids: Iterable[int | None] = (),
    reference: str = "",
    rows: int | None = None,
    now: datetime | None = None,
) -> AccessLog | None:
    """Write one access row for this request (in its transaction): `access_row`, saved."""
    row = access_row(
        request_or_context,
        action=action,
        child_ids=child_ids,
        reference=reference,
        rows=rows,
        now=now,
    )
    if row is not None:
        row.save()
    return row


def access_row(
    request_or_context: HttpRequest | AccessContext | Any,
    *,
    action: str,
    child_ids: Iterable[int | None] = (),
    reference: str = "",
    rows: int | None = None,
    now: datetime | None = None,
) -> AccessLog | None:
    """The access row for this request, not yet saved (record_access saves it; a service may
    write it in one statement with its own row, see record_change).

    One child id: a detail row (`child_id`), shown in "who has looked at this child". Several,
    or a list or export: one row with `child_ids` and `rows` (how many records were shown or
    exported). A list that showed no child writes nothing: it disclosed no one's records.
    """
    context = _context_of(request_or_context)
    at = now or timezone.now()
    if context.request is not None and context.request.method in READ_METHODS:
        scope = READ_SCOPES.get(action)
        if scope is not None:
            # Every read of child data counts against a limit, even on a route that does not
            # name one; a route that counted up front is not counted twice. Over the limit this
            # raises RateLimited: the request's transaction rolls back and the answer is 429.
            charge(context.request, scope, now=at)
    ids = _ids(child_ids)
    if action in (AccessAction.LIST, AccessAction.EXPORT):
        if not ids and not rows and action == AccessAction.LIST:
            return None
        single = None
    else:
        single = ids[0] if len(ids) == 1 else None
    user = context.acting_user()
    if action == AccessAction.VIEW and single is not None and user is not None:
        misuse.note_read(
            user_id=user.pk, child_id=single, now=at, council_id=getattr(user, "council_id", None)
        )
    return AccessLog(
        at=at,
        user=user,
        role=getattr(user, "role", "") or "",
        action=action,
        child_id=single,
        child_ids=ids if single is None else [],
        reference=reference,
        route=context.route[:100],
        client_address=context.client_address,
        rows=rows,
    )


def record_view(
    request: HttpRequest | Any, *, child_id: int | None, reference: str = ""
) -> AccessLog | None:
    """A page or API answer showed one child's record (a child, an episode, an interview), or a
    notification still awaiting its match (no child id yet: its reference says which)."""
    if child_id is None and not reference:
        return None
    return record_access(
        request,
        action=AccessAction.VIEW,
        child_ids=[child_id] if child_id is not None else [],
        reference=reference,
    )


def record_list(request: HttpRequest | Any, *, child_ids: Iterable[int | None]) -> AccessLog | None:
    """A list showed these rows (one child id per row shown; None for a row about no known
    child yet, such as a held notification): one access row for the whole list, with the
    distinct ids and how many rows were shown."""
    shown = list(child_ids)
    return record_access(request, action=AccessAction.LIST, child_ids=shown, rows=len(shown))


def record_export(
    request: HttpRequest | Any,
    *,
    rows: int,
    child_ids: Iterable[int | None] = (),
    reference: str = "",
) -> AccessLog | None:
    """A download (CSV, spreadsheet, national return): one row with its row count and, where
    the rows are about named children, their ids. `reference` names the export (e.g.
    "SSDA903 2025-26"). Call it before streaming the body, inside the view."""
    return record_access(
        request,
        action=AccessAction.EXPORT,
        child_ids=child_ids,
        rows=rows,
        reference=reference,
    )


def record_change(*, child_id: int | None, reference: str, now: datetime | None = None) -> None:
    """A service changed a child's record: one row per (child, record) per request. Called
    from the services' central helpers; a no-op outside a request."""
    row = change_row(child_id=child_id, reference=reference, now=now)
    if row is not None:
        row.save()


def change_row(
    *, child_id: int | None, reference: str, now: datetime | None = None
) -> AccessLog | None:
    """record_change's row, not yet saved: the caller writes it (with its own row, in one
    statement where it can). None outside a request, or when this request already has it."""
    context = current()
    if context is None or context.acting_user() is None:
        return None
    key = (child_id, reference)
    if key in context.changed:
        return None
    context.changed.add(key)
    return access_row(
        context,
        action=AccessAction.CHANGE,
        child_ids=[child_id] if child_id is not None else [],
        reference=reference,
        now=now,
    )


def asked_ids(request: HttpRequest) -> dict[str, int]:
    """The record ids the URL asked for (its integer path arguments, e.g. {"pk": 7})."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return {}
    return {key: value for key, value in match.kwargs.items() if isinstance(value, int)}


def record_refusal(context: AccessContext, *, response: HttpResponse) -> AccessLog | None:
    """One `refuse` row (and a log line) for a signed-in request that was refused.

    Refused: 403 (role, organisation, a password-only session, an API step-up), 404 from a
    route that resolved (need-to-know hides a record as absent), 429 (rate limits), or a check
    that marked the request (`REFUSAL_ATTRIBUTE`: the export step-up sending the user back for a
    code). Anonymous requests write no row (nobody to hold to account, and unauthenticated
    scanners must not be able to grow the table): they get the log line only. The row holds the
    route name, the URL's ids in `reference` and `detail`, the status and the client address:
    no path or query string, no name."""
    request = context.request
    if request is None:
        return None
    reason = getattr(request, REFUSAL_ATTRIBUTE, None)
    status = response.status_code
    if reason is None and status not in REFUSED_STATUSES:
        return None
    route = context.route
    if not route:
        return None  # an unknown URL: a 404 that refused no record
    asked = asked_ids(request)
    reference = ",".join(f"{key}={value}" for key, value in sorted(asked.items()))[:40]
    user = context.acting_user()
    logger.warning(
        "Access refused: route=%s status=%s reason=%s user=%s asked=%s",
        route,
        status,
        reason or "",
        getattr(user, "pk", None),
        reference,
    )
    if user is None:
        return None
    return AccessLog.objects.create(
        at=timezone.now(),
        user=user,
        role=getattr(user, "role", "") or "",
        action=AccessAction.REFUSE,
        reference=reference,
        route=route[:100],
        client_address=context.client_address,
        detail={"status": status, "asked": asked, **({"reason": reason} if reason else {})},
    )


def record_account_change(
    *, actor: Any, action: str, reference: str, detail: dict[str, Any], now: datetime
) -> AccessLog:
    """An account change asked for or decided (separation of duties, missing.accounts.account_changes):
    one row naming the person who acted (None on the command line), the request's reference
    (AC-12) and, in `detail`, its kind, the account's id, the state it reached and how it was
    asked. No child is involved; no password or hash is written."""
    context = current()
    return AccessLog.objects.create(
        at=now,
        user=actor,
        role=getattr(actor, "role", "") or "",
        action=action,
        reference=reference,
        route=context.route[:100] if context is not None else "",
        client_address=context.client_address if context is not None else None,
        detail=detail,
    )
