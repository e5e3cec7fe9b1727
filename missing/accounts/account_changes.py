"""Separation of duties for account changes (issue 14 item 3).

Three changes would let one person take over another's access: a role that grants case access,
a password set by someone other than the user, and a second-factor reset (the lost-phone case).
Each becomes an `AccountChange` request that takes effect only when a second person, an active
head of service, approves it. Neither the person who asked nor the person it is about may
approve or refuse it. Every path asks through here: the Django admin (role field, password form,
second-factor action), the management commands (create_staff, changepassword,
reset_second_factor) and any page built later.

- A role change that does not grant more access (removing it, or between roles that read no
  child) applies at once and is recorded as approved: removing access is always safe.
- Bootstrap: a new install has no head of service to approve anything. On the command line,
  while no active head of service exists (other than the account itself), changes apply at once
  and are recorded as approved `via="bootstrap"`: the deployer, who already holds the server,
  creates the first head of service. From then on the command line asks like everyone else.
- Approving applies the change in the same transaction. A new password or a reset second factor
  changes the user's credential hash (password, role, second-factor generation), which already
  ends their sessions and API tokens (missing.accounts.auth.credentials_unchanged): no second revocation
  path. A granted role changes the hash too: old sessions and tokens end.
- Every request and every decision writes an access-log row (`request` / `decide`), and the
  subject sees each decided change once, in a banner after their next sign-in.

See docs/decisions/0054-separation-of-duties-for-account-changes.md.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from missing.accounts import second_factor
from missing.accounts.security import is_verified, second_factor_relaxed
from missing.audit import access_log as audit
from missing.cases.errors import Conflict, InvalidInput, NotAllowed
from missing.cases.transitions import run_transition
from missing.models import (
    AccessAction,
    AccountChange,
    AccountChangeKind,
    AccountChangeState,
    Council,
    Role,
    User,
    grants_case_access,
    is_regional,
    may_decide_account_changes,
)

logger = logging.getLogger(__name__)

# How a request was made (AccountChange.requested_via).
VIA_ADMIN = "admin"
VIA_COMMAND_LINE = "command line"
VIA_BOOTSTRAP = "bootstrap"

# Sign-in notice: the ids still to show in this session (set once per signed-in session).
NOTICE_SESSION_KEY = "account_change_notices"

# The approvals page's history: the newest this many decided requests.
HISTORY_SHOWN = 100


def _log(change: AccountChange, *, action: str, actor: User | None, now: datetime) -> None:
    audit.record_account_change(
        actor=actor,
        action=action,
        reference=change.reference,
        detail={
            "kind": change.kind,
            "subject": change.subject_id,
            "state": change.state,
            "via": change.requested_via,
            **({"role": change.payload["role"]} if change.kind == AccountChangeKind.ROLE else {}),
        },
        now=now,
    )


def bootstrap_open(*, subject: User | None) -> bool:
    """True while the service has no active head of service other than `subject`: nobody could
    approve, so the command line may apply changes at once (the first head of service)."""
    others = User.objects.filter(role=Role.HEAD_OF_SERVICE, is_active=True)
    if subject is not None and subject.pk is not None:
        others = others.exclude(pk=subject.pk)
    return not others.exists()


def _apply(change: AccountChange, *, actor: User | None, now: datetime) -> None:
    """Make the approved change on the account (inside the caller's transaction)."""
    subject = change.subject
    if change.kind == AccountChangeKind.ROLE:
        role = change.payload["role"]
        fields: dict[str, Any] = {"role": role}
        if role in Role.values and grants_case_access(from_role="", to_role=role):
            # A case role and the Django admin do not go together: administrators see no
            # child's record, case staff do not administer accounts (one person, one side).
            fields |= {"is_staff": False, "is_superuser": False}
        User.objects.filter(pk=subject.pk).update(**fields)
    elif change.kind == AccountChangeKind.PASSWORD:
        User.objects.filter(pk=subject.pk).update(password=change.payload["password_hash"])
    elif change.kind == AccountChangeKind.COUNCIL:
        User.objects.filter(pk=subject.pk).update(council_id=change.payload["council_id"])
    else:
        second_factor.second_factor_reset(actor=actor, user=subject, now=now)
    subject.refresh_from_db()
    logger.info(
        "Account change %s (%s) applied to user %s", change.reference, change.kind, subject.pk
    )


def _create(
    *,
    kind: str,
    subject: User,
    actor: User | None,
    via: str,
    payload: dict[str, Any],
    now: datetime,
) -> AccountChange:
    """Record a request; it replaces any pending request of the same kind for the account (the
    newer one is what the requester means now). Applies at once on the bootstrap path."""
    if via == VIA_COMMAND_LINE and bootstrap_open(subject=subject):
        via = VIA_BOOTSTRAP
    with transaction.atomic():
        for older in AccountChange.objects.select_for_update().filter(
            subject=subject, kind=kind, state=AccountChangeState.PENDING
        ):
            older.cancel(at=now, reason="Replaced by a newer request.")
            older.version += 1
            older.updated_at = now
            older.save()
            _log(older, action=AccessAction.ACCOUNT_DECISION, actor=actor, now=now)
        change = AccountChange.objects.create(
            kind=kind,
            subject=subject,
            requested_by=actor,
            requested_via=via,
            requested_at=now,
            payload=payload,
            updated_at=now,
        )
        _log(change, action=AccessAction.ACCOUNT_REQUEST, actor=actor, now=now)
        if via == VIA_BOOTSTRAP:
            _settle(change, reason="Bootstrap: no head of service existed to approve.", now=now)
    return change


def _settle(change: AccountChange, *, reason: str, now: datetime) -> None:
    """Approve with no second person (bootstrap, or a change that removes access) and apply."""
    change.approve(by=None, at=now, reason=reason)
    change.decided_by = None
    change.version += 1
    change.updated_at = now
    change.save()
    _apply(change, actor=None, now=now)
    _log(change, action=AccessAction.ACCOUNT_DECISION, actor=None, now=now)


def account_role_change(
    *, actor: User | None, subject: User, role: str, via: str, now: datetime
) -> AccountChange | None:
    """Ask to give `subject` the role `role`. A role that grants more case access waits for a
    head of service; any other change applies at once (recorded as approved). None: no change.
    `actor` is None from the command line."""
    if role and role not in Role.values:
        raise InvalidInput("Unknown role.", field_errors={"role": ["Choose a role from the list."]})
    current = User.objects.values_list("role", flat=True).get(pk=subject.pk)
    if role == current:
        return None
    payload = {"role": role, "from_role": current}
    if grants_case_access(from_role=current, to_role=role):
        return _create(
            kind=AccountChangeKind.ROLE,
            subject=subject,
            actor=actor,
            via=via,
            payload=payload,
            now=now,
        )
    return _apply_at_once(
        kind=AccountChangeKind.ROLE, subject=subject, actor=actor, via=via, payload=payload, now=now
    )


def _apply_at_once(
    *,
    kind: str,
    subject: User,
    actor: User | None,
    via: str,
    payload: dict[str, Any],
    now: datetime,
) -> AccountChange:
    """A change that grants no more access: recorded as asked and applied at once."""
    with transaction.atomic():
        change = AccountChange.objects.create(
            kind=kind,
            subject=subject,
            requested_by=actor,
            requested_via=via,
            requested_at=now,
            payload=payload,
            updated_at=now,
        )
        _log(change, action=AccessAction.ACCOUNT_REQUEST, actor=actor, now=now)
        _settle(change, reason="Grants no more access: applied at once.", now=now)
    return change


def account_council_change(
    *, actor: User | None, subject: User, council: Council | None, via: str, now: datetime
) -> AccountChange | None:
    """Ask to move `subject` to `council` on a regional installation (decision 0070): it opens
    that council's children to them, so it waits for a head of service of that council. Taking
    the council away grants nothing: applied at once, recorded as approved. None: no change.
    (The first council of an account is set with it, in the admin: its role waits anyway.)"""
    current_id = User.objects.values_list("council_id", flat=True).get(pk=subject.pk)
    new_id = council.pk if council is not None else None
    if new_id == current_id:
        return None
    current = Council.objects.filter(pk=current_id).first() if current_id else None
    payload = {
        "council_id": new_id,
        "council_name": council.name if council is not None else "",
        "from_council_id": current_id,
        "from_council_name": current.name if current is not None else "",
    }
    if council is not None:
        return _create(
            kind=AccountChangeKind.COUNCIL,
            subject=subject,
            actor=actor,
            via=via,
            payload=payload,
            now=now,
        )
    return _apply_at_once(
        kind=AccountChangeKind.COUNCIL,
        subject=subject,
        actor=actor,
        via=via,
        payload=payload,
        now=now,
    )


def account_password_set(
    *, actor: User | None, subject: User, password_hash: str, via: str, now: datetime
) -> AccountChange:
    """Ask to set `subject`'s password to the one hashed in `password_hash` (made by the
    caller with make_password: the password itself never reaches this table). For a password
    set by someone else; a user changing their own password does not come here."""
    if actor is not None and actor.pk == subject.pk:
        raise NotAllowed("Your own password is not an account change for approval.")
    return _create(
        kind=AccountChangeKind.PASSWORD,
        subject=subject,
        actor=actor,
        via=via,
        payload={"password_hash": password_hash},
        now=now,
    )


def account_second_factor_reset(
    *, actor: User | None, subject: User, via: str, now: datetime
) -> AccountChange:
    """Ask to reset `subject`'s second factor (lost phone): on approval their authenticator and
    recovery codes go, their sessions and API tokens end, and they set up a new one."""
    return _create(
        kind=AccountChangeKind.SECOND_FACTOR,
        subject=subject,
        actor=actor,
        via=via,
        payload={},
        now=now,
    )


def _locked(change_id: int) -> AccountChange:
    change = (
        AccountChange.objects.select_for_update()
        .select_related("subject")
        .filter(pk=change_id)
        .first()
    )
    if change is None:
        raise Conflict(f"AC-{change_id} does not exist.")
    return change


def _too_old(change: AccountChange, *, now: datetime) -> bool:
    return change.requested_at + settings.ACCOUNT_CHANGE_MAX_AGE <= now


def _expire(change: AccountChange, *, now: datetime) -> None:
    change.expire(at=now)
    change.version += 1
    change.updated_at = now
    change.save()
    _log(change, action=AccessAction.ACCOUNT_DECISION, actor=None, now=now)


def account_changes_expire(*, now: datetime) -> int:
    """Expire pending requests older than settings.ACCOUNT_CHANGE_MAX_AGE; returns how many.
    Each is locked and rechecked, so a request approved meanwhile is left alone."""
    cutoff = now - settings.ACCOUNT_CHANGE_MAX_AGE
    stale = list(
        AccountChange.objects.filter(
            state=AccountChangeState.PENDING, requested_at__lte=cutoff
        ).values_list("pk", flat=True)
    )
    expired = 0
    for change_id in stale:
        with transaction.atomic():
            change = _locked(change_id)
            if change.state == AccountChangeState.PENDING and _too_old(change, now=now):
                _expire(change, now=now)
                expired += 1
    return expired


def _decide(
    *,
    actor: User,
    change_id: int,
    action: str,
    reason: str,
    now: datetime,
    expected_version: int | None,
) -> AccountChange:
    def authorise(change: AccountChange) -> None:
        if change.requested_by_id == actor.pk:
            raise NotAllowed(f"{change.reference}: you asked for it, so someone else decides it.")
        if change.subject_id == actor.pk:
            raise NotAllowed(
                f"{change.reference} is about your own account: someone else decides it."
            )
        if (
            change.kind == AccountChangeKind.COUNCIL
            and is_regional()
            and actor.council_id != change.payload.get("council_id")
        ):
            raise NotAllowed(
                f"{change.reference} opens another council's children: a head of service of "
                "that council decides it."
            )

    def record(change: AccountChange, from_state: str) -> None:
        if action == "approve":
            _apply(change, actor=actor, now=now)
        _log(change, action=AccessAction.ACCOUNT_DECISION, actor=actor, now=now)

    def already(change: AccountChange) -> str:
        by = f" by {change.decided_by.username}" if change.decided_by is not None else ""
        return f"{change.reference} was already {change.get_state_display().lower()}{by}."

    expired = False
    with transaction.atomic():
        change = _locked(change_id)
        if change.state != AccountChangeState.PENDING and may_decide_account_changes(change, actor):
            # Said before the version check: a second approver learns who decided, not only
            # that the page was stale.
            raise Conflict(already(change))
        if change.state == AccountChangeState.PENDING and _too_old(change, now=now):
            _expire(change, now=now)
            expired = True
        else:
            run_transition(
                change,
                action=action,
                actor=actor,
                now=now,
                label=f"{action} account changes",
                kwargs={"by": actor, "at": now, "reason": reason},
                expected_version=expected_version,
                authorise=authorise,
                refused=already,
                record=record,
            )
    if expired:
        # Raised outside the transaction, so the expiry itself is kept.
        raise Conflict(f"{change.reference} waited too long and has expired: ask again.")
    return change


def account_change_approve(
    *,
    actor: User,
    change_id: int,
    reason: str = "",
    now: datetime,
    expected_version: int | None = None,
) -> AccountChange:
    """A head of service approves a pending request (not their own, not about themselves) and
    it takes effect at once. 403 for anyone else; 409 when already decided or expired."""
    return _decide(
        actor=actor,
        change_id=change_id,
        action="approve",
        reason=reason.strip(),
        now=now,
        expected_version=expected_version,
    )


def account_change_refuse(
    *,
    actor: User,
    change_id: int,
    reason: str,
    now: datetime,
    expected_version: int | None = None,
) -> AccountChange:
    """A head of service refuses a pending request, saying why (the requester and the subject
    read it); nothing changes on the account."""
    if not reason.strip():
        raise InvalidInput(
            "Say why the change is refused.",
            field_errors={"reason": ["Enter the reason for refusing"]},
        )
    return _decide(
        actor=actor,
        change_id=change_id,
        action="refuse",
        reason=reason.strip(),
        now=now,
        expected_version=expected_version,
    )


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


def account_changes_pending() -> QuerySet[AccountChange]:
    """Pending requests, oldest first (the approvals page; one query with the people)."""
    return (
        AccountChange.objects.with_people()
        .filter(state=AccountChangeState.PENDING)
        .order_by("requested_at", "pk")
    )


def account_changes_history(*, limit: int = HISTORY_SHOWN) -> QuerySet[AccountChange]:
    """The newest decided (or cancelled, expired, applied at once) requests."""
    return (
        AccountChange.objects.with_people()
        .exclude(state=AccountChangeState.PENDING)
        .order_by("-decided_at", "-pk")[:limit]
    )


def note_sign_in_notices(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    """At sign-in (Django's `user_logged_in`, connected in MissingConfig.ready): keep in the new
    session the ids of the decided changes to this account not yet acknowledged, so pages look
    them up only while there are some (one query per page then, none otherwise)."""
    if request is None or not hasattr(request, "session"):
        return
    request.session[NOTICE_SESSION_KEY] = list(
        AccountChange.objects.filter(subject=user, acknowledged_at__isnull=True)
        .exclude(state=AccountChangeState.PENDING)
        .values_list("pk", flat=True)
    )


def sign_in_notices(request: HttpRequest) -> list[AccountChange]:
    """The changes noted at sign-in that the user has not acknowledged, for the banner. Not
    shown before the second factor: a password alone does not learn what happened."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    session = getattr(request, "session", None)
    ids = session.get(NOTICE_SESSION_KEY) if session is not None else None
    if not ids or not (second_factor_relaxed() or is_verified(user)):
        return []
    return list(
        AccountChange.objects.with_people()
        .filter(pk__in=ids, subject=user, acknowledged_at__isnull=True)
        .order_by("decided_at", "pk")
    )


def sign_in_notices_acknowledge(request: HttpRequest, *, now: datetime) -> int:
    """The user has read the notice: it is not shown again, in this session or any other."""
    ids = request.session.get(NOTICE_SESSION_KEY) or []
    request.session[NOTICE_SESSION_KEY] = []
    return AccountChange.objects.filter(
        pk__in=ids, subject=request.user, acknowledged_at__isnull=True
    ).update(acknowledged_at=now)
