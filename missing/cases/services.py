"""Every write to the core records. Views, the API, commands and tasks call these and nothing else.

Each service takes the acting user and `now` explicitly (the clock is read once, by the caller),
runs in one transaction, and raises a `missing.cases.errors` exception when a rule refuses. An
operation a user's input reaches takes that input as one frozen dataclass, positional-only, then
keyword-only context: `episode_cancel(data, /, *, actor, episode_id, now, expected_version)`.
The web form and the API serializer each build the data object in their `to_data()`
(docs/decisions/0063-operations-take-data-objects.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Lower
from django.db.models.sql import InsertQuery

from missing.audit import access_log as audit
from missing.cases import child_facts, clocks, nhs, rules, transitions
from missing.cases.errors import (
    ChildGone,
    Conflict,
    EpisodeOverlap,
    InvalidInput,
    NotAllowed,
    require_roles,
    require_version,
)
from missing.cases.prebuilt import Prebuilt, PrebuiltInsert, insert_statement
from missing.models import (
    CASE_READERS,
    INTAKE_ROLES,
    OVERSIGHT_ROLES,
    ApiToken,
    CaseAccessGrant,
    Child,
    ChildMerge,
    Council,
    EpisodeEvent,
    EpisodeState,
    Heartbeat,
    InterviewHolder,
    InterviewOutcome,
    ManagerRisk,
    MissingEpisode,
    NotificationKind,
    Organisation,
    OversightDecision,
    PoliceForce,
    PoliceNotification,
    RepeatMissingRule,
    RiskGrade,
    RiskMeetingTask,
    Role,
    Team,
    User,
    installation_councils,
    is_regional,
)

# How far ahead a manager may set the next review while a child is missing.
MAX_REVIEW_INTERVAL = timedelta(days=7)

D = TypeVar("D")


def data_from(cls: type[D], values: Mapping[str, Any]) -> D:
    """The data object `cls` (one of the frozen dataclasses below) from a form's `cleaned_data`
    or a serializer's `validated_data`: the keys it names, the rest (`version`, …) ignored. A key
    absent from `values` takes the dataclass's default. Each adapter's `to_data()` calls this,
    so input reaches an operation through one data object, never argument by argument."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{name: value for name, value in values.items() if name in names})


# --------------------------------------------------------------------------------------------
# Intake: police notifications
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationData:
    """A notification as police give it, already type-checked by a form or serializer."""

    police_force: PoliceForce
    police_reference: str
    kind: str
    sequence: int = 1
    child_first_name: str = ""
    child_last_name: str = ""
    child_date_of_birth: Any = None
    child_gender: str = ""
    council_child_id: str = ""
    # Ten digits, spaces removed (missing.cases.nhs); checked here whatever the channel.
    nhs_number: str = ""
    missing_kind: str = ""
    last_seen_at: datetime | None = None
    last_seen_place: str = ""
    reported_at: datetime | None = None
    risk_grade: RiskGrade | None = None
    circumstances: str = ""
    reported_by: str = ""
    found_at: datetime | None = None
    found_place: str = ""
    found_by: str = ""
    prevention_interview_done: bool | None = None
    # Police intelligence marked restricted: managers and heads of service only.
    restricted_intelligence: str = ""
    # The ONS code of the council it is sent to, on a regional installation (decision 0066);
    # blank: the council of the user who logs it, or of the incident's earlier notifications.
    council: str = ""


@dataclass(frozen=True)
class IntakeResult:
    notification: PoliceNotification
    created: bool


_DATA_FIELDS = dataclasses.fields(NotificationData)


def _notification_hash(data: NotificationData) -> str:
    """A digest of the notification's meaning, not its spelling: a retry that omits a default
    (sequence 1) or orders keys differently is the same notification."""
    # The fields as they are (dataclasses.asdict would deep-copy the force and grade rows
    # only to replace them by their ids: a police feed paid that per request, issue 15).
    fields = {
        name: (value.pk if hasattr(value, "pk") else value)
        for name, value in ((field.name, getattr(data, field.name)) for field in _DATA_FIELDS)
    }
    fields["police_force"] = data.police_force.pk
    fields["risk_grade"] = data.risk_grade.pk if data.risk_grade else None
    for optional in ("restricted_intelligence", "nhs_number", "council"):
        if not fields[optional]:
            # Absent, as before the field existed: a retry of an older notification matches.
            del fields[optional]
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _validate_notification(data: NotificationData, *, now: datetime) -> None:
    """Rules that hold whatever the channel; raises InvalidInput naming every bad field."""
    errors: dict[str, list[str]] = {}

    def need(field: str, label: str) -> None:
        if getattr(data, field) in (None, ""):
            errors.setdefault(field, []).append(f"Enter {label}.")

    def not_future(field: str, label: str) -> None:
        value = getattr(data, field)
        if value is not None and value > now:
            errors.setdefault(field, []).append(f"{label} cannot be in the future.")

    if data.kind == NotificationKind.REPORTED_MISSING:
        need("child_first_name", "the child's first name")
        need("child_last_name", "the child's last name")
        need("last_seen_at", "when the child was last seen")
        need("reported_at", "when the child was reported missing")
        need("risk_grade", "the police risk grade")
    elif data.kind == NotificationKind.FOUND:
        need("found_at", "when the child was found or returned")
    elif data.kind == NotificationKind.RISK_REGRADED:
        need("risk_grade", "the new police risk grade")
    not_future("last_seen_at", "Last seen")
    not_future("reported_at", "Reported time")
    not_future("found_at", "Found time")
    if data.child_date_of_birth is not None and data.child_date_of_birth > now.date():
        errors.setdefault("child_date_of_birth", []).append(
            "Date of birth cannot be in the future."
        )
    if data.last_seen_at and data.reported_at and data.reported_at < data.last_seen_at:
        errors.setdefault("reported_at", []).append("Reported time cannot be before last seen.")
    if data.last_seen_at and data.found_at and data.found_at < data.last_seen_at:
        errors.setdefault("found_at", []).append("Found time cannot be before last seen.")
    if data.nhs_number:
        problem = nhs.problem(data.nhs_number)
        if problem:
            errors.setdefault("nhs_number", []).append(problem)
    if data.risk_grade is not None and not data.risk_grade.active:
        errors.setdefault("risk_grade", []).append("This risk grade is no longer in use.")
    for f in dataclasses.fields(NotificationData):
        value = getattr(data, f.name)
        if isinstance(value, str):
            limit = getattr(PoliceNotification._meta.get_field(f.name), "max_length", None)
            if limit is not None and len(value) > limit:
                errors.setdefault(f.name, []).append(f"Use at most {limit} characters.")
    if errors:
        raise InvalidInput("The notification has errors.", field_errors=errors)


def notification_receive(
    data: NotificationData,
    /,
    *,
    actor: User,
    payload: dict[str, Any],
    now: datetime,
    savepoint: bool = True,
) -> IntakeResult:
    """Log a police notification, then apply it to its episode (FFD, managers, police systems).

    Every notification that passes validation is stored first, whatever order it arrives in and
    whatever state its episode is in; what it does is then decided and written on it
    (`match_status`, `outcome_detail`): applied, held for FFD to confirm the child, waiting for
    the incident's reported-missing notification, kept on the record, or put to FFD as a
    discrepancy. Only the same (force, reference, kind, sequence) with different details is a
    409; the same notification again returns the one stored and changes nothing.

    Race-free on PostgreSQL: one incident's notifications, and notifications that may be about
    the same child, are serialised by transaction-scoped advisory locks (decision 0045).

    `savepoint=False` when the caller rolls its whole transaction back on any error (the API:
    DRF's exception handler does under ATOMIC_REQUESTS): the work then runs in the caller's
    transaction without a SAVEPOINT and RELEASE of its own. A caller that carries on after a
    refusal (the web form shows it) keeps the default.
    """
    require_roles(actor, INTAKE_ROLES, label="log police notifications")
    if actor.role == Role.POLICE_SYSTEM and actor.police_force_id != data.police_force.pk:
        raise NotAllowed("This API client may only send notifications for its own force.")
    _validate_notification(data, now=now)
    council = _intake_council(actor=actor, data=data)
    digest = _notification_hash(data)
    key = {
        "police_force": data.police_force,
        "police_reference": data.police_reference,
        "kind": data.kind,
        "sequence": data.sequence,
    }

    with transaction.atomic(savepoint=savepoint):
        locked = _advisory_locks(_incident_key(data.police_force.pk, data.police_reference))
        # The incident's episode is found before the INSERT, so the row is written linked (and,
        # for an update, settled): no UPDATE after it. Locked, with its grade, as
        # _apply_to_episode has always locked it; in the same query, whether this very
        # notification is stored already (a retry).
        stored = PoliceNotification.objects.filter(**key)
        episode: MissingEpisode | None = _INCIDENT_EPISODE.first(
            force=data.police_force.pk,
            reference=data.police_reference,
            kind=data.kind,
            sequence=data.sequence,
        )
        if episode is None:
            existing = stored.first()
        else:
            already = getattr(episode, "already")  # noqa: B009 - the annotation
            existing = None if already is None else stored.get(pk=already)
        if existing is not None:
            existing.police_force = data.police_force  # its key's force: not read again
            return _repeat(existing, data=data, digest=digest)
        if episode is None:
            episode = _linked_episode(data.police_force.pk, data.police_reference)
        fields: dict[str, Any] = dict(
            key,
            received_at=now,
            received_by=actor,
            child_first_name=data.child_first_name,
            child_last_name=data.child_last_name,
            child_date_of_birth=data.child_date_of_birth,
            child_gender=data.child_gender,
            council_child_id=data.council_child_id,
            nhs_number=data.nhs_number,
            missing_kind=data.missing_kind,
            last_seen_at=data.last_seen_at,
            last_seen_place=data.last_seen_place,
            reported_at=data.reported_at,
            risk_grade=data.risk_grade,
            circumstances=data.circumstances,
            reported_by=data.reported_by,
            found_at=data.found_at,
            found_place=data.found_place,
            found_by=data.found_by,
            prevention_interview_done=data.prevention_interview_done,
            restricted_intelligence=data.restricted_intelligence,
            council=council,
            raw_payload=payload,
            payload_hash=digest,
            match_status=PoliceNotification.MatchStatus.MATCHED,
        )
        if episode is not None:
            fields.update(episode=episode, child_id=episode.child_id)
            if data.kind == NotificationKind.UPDATE:
                fields["outcome_detail"] = UPDATE_APPLIED
        if locked:
            # Under the incident's advisory lock no other transaction can insert this key (every
            # insert takes the lock first): no savepoint around the INSERT is needed.
            notification = _NOTIFICATION_INSERT.create(**fields)
        else:
            try:
                with transaction.atomic():
                    notification = _NOTIFICATION_INSERT.create(**fields)
            except IntegrityError:
                # Without advisory locks (SQLite) a concurrent retry of this very post may win;
                # the unique index made us wait for its commit, so the row is there.
                return _repeat(PoliceNotification.objects.get(**key), data=data, digest=digest)
        # What the row says, so _settle writes only what differs (an update: nothing).
        notification._as_stored = _settled_fields(notification)  # type: ignore[attr-defined]
        if episode is not None:
            _apply_to_episode(notification, episode.pk, actor=actor, now=now, episode=episode)
        else:
            _apply_notification(notification, actor=actor, now=now)
    return IntakeResult(notification=notification, created=True)


def _intake_council(*, actor: User, data: NotificationData) -> Council | None:
    """The council a notification is for (decision 0066). Single-council installation: the one
    council (None when not configured). Regional: the council named (`council`, an ONS code of
    this installation), else the user's, else the council of the incident's earlier
    notifications; staff may log notifications for their own council only. Refused with an
    error naming the `council` field when none of these says which council it is."""
    codes = installation_councils()
    if not is_regional():
        if data.council and codes and data.council not in codes:
            raise InvalidInput(
                "Unknown council.",
                field_errors={"council": ["This installation does not serve that council."]},
            )
        return Council.objects.filter(ons_code=codes[0]).first() if codes else None
    code = data.council
    if not code and actor.council_id is not None:
        return actor.council
    if not code:
        earlier = (
            PoliceNotification.objects.filter(
                police_force=data.police_force,
                police_reference=data.police_reference,
                council__isnull=False,
            )
            .select_related("council")
            .order_by("pk")
            .first()
        )
        if earlier is not None:
            return earlier.council
        raise InvalidInput(
            "Say which council the notification is for.",
            field_errors={
                "council": ["Enter the ONS code of the council this notification is for."]
            },
        )
    council = Council.objects.filter(ons_code=code).first() if code in codes else None
    if council is None:
        raise InvalidInput(
            "Unknown council.",
            field_errors={
                "council": [
                    f"Use the ONS code of a council this installation serves: {', '.join(codes)}."
                ]
            },
        )
    if actor.council_id is not None and actor.council_id != council.pk:
        raise InvalidInput(
            "Another council's notification.",
            field_errors={"council": ["You can log notifications for your own council only."]},
        )
    return council


def _repeat(existing: PoliceNotification, *, data: NotificationData, digest: str) -> IntakeResult:
    if existing.payload_hash != digest:
        raise Conflict(
            f"Notification {data.police_reference} ({data.kind}, sequence {data.sequence}) "
            "was already received with different details. Send a new sequence number "
            "for an update."
        )
    return IntakeResult(notification=existing, created=False)


def _incident_key(police_force_id: int, police_reference: str) -> str:
    return f"incident:{police_force_id}:{police_reference}"


def _identity_keys(
    first_name: str, last_name: str, council_child_id: str, nhs_number: str = ""
) -> list[str]:
    # Candidates always share the last name (child_match_candidates), so one lock per last name
    # covers every notification that could match the same child; the NHS number and the
    # council id cover a differently spelt name with the same identifier.
    keys = [f"child-name:{last_name.strip().lower()}"]
    if council_child_id:
        keys.append(f"child-id:{council_child_id}")
    if nhs_number:
        keys.append(f"child-nhs:{nhs_number}")
    return keys


def _advisory_locks(*keys: str) -> bool:
    """Serialise work on one incident or one child's identity across transactions, until commit.

    PostgreSQL only (SQLite has one writer at a time anyway): says whether the locks were taken.
    Keys are taken in sorted order and always after the incident's own key, so two transactions
    never wait on each other in a cycle.
    """
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        for key in sorted(set(keys)):
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])
    return True


def _episode_id_for_incident(police_force_id: int, police_reference: str) -> int | None:
    """The episode an incident's notifications go to: the one opened under its reference, or
    the one an earlier notification of the incident was linked to (a second force's report of a
    child already missing; its later 'found' belongs to the same episode)."""
    own = (
        MissingEpisode.objects.filter(
            police_force_id=police_force_id, police_reference=police_reference
        )
        .values_list("pk", flat=True)
        .first()
    )
    if own is not None:
        return own
    return _linked_episode_id(police_force_id, police_reference)


def _linked_episode_id(police_force_id: int, police_reference: str) -> int | None:
    return (
        PoliceNotification.objects.filter(
            police_force_id=police_force_id,
            police_reference=police_reference,
            episode__isnull=False,
        )
        .values_list("episode_id", flat=True)
        .first()
    )


def _locked_episodes() -> QuerySet[MissingEpisode]:
    return MissingEpisode.objects.select_for_update(of=("self",)).select_related("police_grade")


def _incident_episode(
    force: int, reference: str, kind: str, sequence: int
) -> QuerySet[MissingEpisode]:
    stored = PoliceNotification.objects.filter(
        police_force=force, police_reference=reference, kind=kind, sequence=sequence
    )
    return (
        _locked_episodes()
        .annotate(already=Subquery(stored.values("pk")[:1]))
        .filter(police_force=force, police_reference=reference)
        .order_by("pk")[:1]
    )


# The incident's episode, locked with its grade, and whether this very notification is stored
# already (`already`): compiled once, as every notification of a police feed reads it (issue 15).
# The notification's INSERT, compiled once (issue 15): PoliceNotification has no save() of its own
# and no field that sets itself on save (auto_now), and the project has no save signals.
_NOTIFICATION_INSERT: PrebuiltInsert[PoliceNotification] = PrebuiltInsert(PoliceNotification)

_INCIDENT_EPISODE: Prebuilt[MissingEpisode] = Prebuilt(
    _incident_episode, force=int, reference=str, kind=str, sequence=int
)


def _linked_episode(police_force_id: int, police_reference: str) -> MissingEpisode | None:
    """The episode an earlier notification of an incident that has none of its own was linked
    to (a second force's report of a child already missing), locked with its grade."""
    linked = _linked_episode_id(police_force_id, police_reference)
    return None if linked is None else _locked_episodes().get(pk=linked)


# What an update applied to its episode says; written with the row (notification_receive).
UPDATE_APPLIED = "Added to the timeline."
SETTLED_FIELDS = ("match_status", "outcome_detail", "differences", "child_id", "episode_id")


def _settled_fields(notification: PoliceNotification) -> tuple[Any, ...]:
    return tuple(getattr(notification, name) for name in SETTLED_FIELDS)


def _settle(
    notification: PoliceNotification,
    status: str,
    detail: str,
    *,
    differences: dict[str, Any] | None = None,
) -> None:
    notification.match_status = status
    notification.outcome_detail = detail
    notification.differences = differences or {}
    settled = _settled_fields(notification)
    if getattr(notification, "_as_stored", None) == settled:
        return  # the row already says so (notification_receive wrote it with its INSERT)
    notification.save(
        update_fields=["match_status", "outcome_detail", "differences", "child", "episode"]
    )
    notification._as_stored = settled  # type: ignore[attr-defined]


def _apply_notification(notification: PoliceNotification, *, actor: User, now: datetime) -> None:
    """A notification whose incident has no episode yet (notification_receive found none)."""
    if (
        _waiting(notification)
        .filter(match_status=PoliceNotification.MatchStatus.AWAITING_MATCH)
        .exists()
    ):
        _settle(
            notification,
            PoliceNotification.MatchStatus.AWAITING_MATCH,
            "The incident's first notification waits for the Family Front Door to confirm the "
            "child; this one is applied after it, in order.",
        )
        return
    kind = notification.kind
    if kind == NotificationKind.REPORTED_MISSING or (
        kind == NotificationKind.FOUND and not _missing_opening_details(notification)
    ):
        _match_or_hold(notification, actor=actor, now=now)
        return
    _settle(
        notification,
        PoliceNotification.MatchStatus.AWAITING_REPORT,
        f"No episode has police reference {notification.police_reference} yet. Kept, and "
        "applied when the incident's reported-missing notification arrives.",
    )


def _waiting(notification: PoliceNotification) -> QuerySet[PoliceNotification]:
    """The incident's notifications held until its episode exists, oldest first."""
    return (
        PoliceNotification.objects.filter(
            police_force_id=notification.police_force_id,
            police_reference=notification.police_reference,
            match_status__in=[
                PoliceNotification.MatchStatus.AWAITING_MATCH,
                PoliceNotification.MatchStatus.AWAITING_REPORT,
            ],
        )
        .exclude(pk=notification.pk)
        .select_related("risk_grade")
        .order_by("received_at", "pk")
    )


OPENING_DETAILS = (
    ("child_first_name", "the child's first name"),
    ("child_last_name", "the child's last name"),
    ("last_seen_at", "when the child was last seen"),
    ("risk_grade", "the police risk grade"),
)


def _missing_opening_details(notification: PoliceNotification) -> list[str]:
    return [field for field, _ in OPENING_DETAILS if getattr(notification, field) in (None, "")]


def child_match_candidates(
    *, first_name: str, last_name: str, date_of_birth: Any, council_id: int | None = None
) -> list[Child]:
    """Children who may be the one police describe: same last name and date of birth, or same
    first and last name. Never merged silently: a practitioner confirms or rejects. On a
    regional installation, only the children of the notification's council (`council_id`)."""
    last = last_name.strip().lower()
    if not last:
        return []
    by_name = Q(first_lower=first_name.strip().lower())
    match = by_name if date_of_birth is None else (Q(date_of_birth=date_of_birth) | by_name)
    return list(
        _council_children(council_id)
        .annotate(last_lower=Lower("last_name"), first_lower=Lower("first_name"))
        .filter(last_lower=last)
        .filter(match)
        .order_by("pk")[:20]
    )


def _council_children(council_id: int | None) -> QuerySet[Child]:
    """The children a notification to `council_id` may be about: on a regional installation that
    council's only (decision 0066); every child otherwise."""
    if not is_regional():
        return Child.objects.all()
    return _of_council(Child.objects.all(), council_id)


def _of_council(children: QuerySet[Child], council_id: int | None) -> QuerySet[Child]:
    if council_id is None:
        return children.filter(council__isnull=True)
    return children.filter(council_id=council_id)


def _match_or_hold(notification: PoliceNotification, *, actor: User, now: datetime) -> None:
    # One child, one record: a second notification about the same new child waits here for the
    # first to commit, then finds the child it created (matched, or held for FFD to confirm).
    _advisory_locks(
        *_identity_keys(
            notification.child_first_name,
            notification.child_last_name,
            notification.council_child_id,
            notification.nhs_number,
        )
    )
    # NHS number first (the consistent identifier), then the council's id, then the name.
    for field in ("nhs_number", "council_child_id"):
        value = getattr(notification, field)
        child = (
            _council_children(notification.council_id).filter(**{field: value}).first()
            if value
            else None
        )
        if child is not None:
            _open_from_notification(notification, child=child, actor=actor, now=now)
            return
    candidates = child_match_candidates(
        first_name=notification.child_first_name,
        last_name=notification.child_last_name,
        date_of_birth=notification.child_date_of_birth,
        council_id=notification.council_id,
    )
    if candidates:
        _settle(
            notification,
            PoliceNotification.MatchStatus.AWAITING_MATCH,
            "Held: the name and date of birth match a child already known. The Family Front "
            "Door confirms which child it is about.",
        )
        return
    child = _child_create_from(notification, now=now)
    _open_from_notification(notification, child=child, actor=actor, now=now)


def _child_create_from(notification: PoliceNotification, *, now: datetime) -> Child:
    """A new child from what police gave. With a council id this is a get-or-create under the
    unique constraint: a child created meanwhile under the same id is the one meant."""
    fields = {
        "first_name": notification.child_first_name,
        "last_name": notification.child_last_name,
        "date_of_birth": notification.child_date_of_birth,
        "gender": notification.child_gender,
        "council_id": notification.council_id,
        "created_at": now,
    }
    identifiers = {
        "nhs_number": notification.nhs_number or None,
        "council_child_id": notification.council_child_id or None,
    }
    # The identifiers are unique per council (decision 0070): another council's record of the
    # same child under the same NHS number or id does not stop this council's.
    if not any(identifiers.values()):
        return Child.objects.create(**identifiers, **fields)
    try:
        with transaction.atomic():
            return Child.objects.create(**identifiers, **fields)
    except IntegrityError:
        # Created meanwhile under one of the identifiers (NHS number first, as in matching).
        by_identifier = Q()
        for field, value in identifiers.items():
            if value:
                by_identifier |= Q(**{field: value})
        found = _council_children(notification.council_id).filter(by_identifier)
        return found.order_by("pk").first()  # type: ignore[return-value]


@dataclass(frozen=True)
class MatchData:
    """Which child a held notification is about: a candidate's id, or None for a new child."""

    child_id: int | None = None


def notification_resolve_match(
    data: MatchData, /, *, actor: User, notification_id: int, now: datetime
) -> PoliceNotification:
    """A practitioner confirms which child a held notification is about (`data.child_id`, one of
    the candidates), or rejects them all (None: a new child is created). FFD, managers."""
    require_roles(
        actor, INTAKE_ROLES - {Role.POLICE_SYSTEM}, label="match notifications to children"
    )
    child_id = data.child_id
    with transaction.atomic():
        incident = (
            PoliceNotification.objects.filter(pk=notification_id)
            .values_list("police_force_id", "police_reference")
            .get()
        )
        _advisory_locks(_incident_key(*incident))
        notification = (
            # of=self: the grade is a nullable (outer) join, which PostgreSQL cannot lock.
            PoliceNotification.objects.select_for_update(of=("self",))
            .select_related("risk_grade", "police_force")
            .get(pk=notification_id)
        )
        if notification.match_status != PoliceNotification.MatchStatus.AWAITING_MATCH:
            raise Conflict(f"{notification.reference} has already been matched.")
        earlier = (
            _waiting(notification)
            .filter(
                match_status=PoliceNotification.MatchStatus.AWAITING_MATCH,
                pk__lt=notification.pk,
            )
            .first()
        )
        if earlier is not None or _episode_id_for_incident(*incident) is not None:
            first = earlier.reference if earlier else "the incident's first notification"
            raise Conflict(f"{notification.reference} waits for {first}; match that one.")
        if child_id is None:
            _advisory_locks(
                *_identity_keys(
                    notification.child_first_name,
                    notification.child_last_name,
                    notification.council_child_id,
                    notification.nhs_number,
                )
            )
            child = _child_create_from(notification, now=now)
        else:
            candidate_ids = {
                c.pk
                for c in child_match_candidates(
                    first_name=notification.child_first_name,
                    last_name=notification.child_last_name,
                    date_of_birth=notification.child_date_of_birth,
                    council_id=notification.council_id,
                )
            }
            if child_id not in candidate_ids:
                raise InvalidInput(
                    "Choose one of the children offered.",
                    field_errors={"child": ["Choose one of the children offered, or a new child."]},
                )
            child = Child.objects.get(pk=child_id)
        _open_from_notification(notification, child=child, actor=actor, now=now)
    return notification


def _open_from_notification(
    notification: PoliceNotification, *, child: Child, actor: User, now: datetime
) -> None:
    """Open the incident's episode for `child`, then apply, in order, the incident's
    notifications that waited for it (this one last, when it is a 'found' that opens and closes
    the episode). A child already missing, or an overlap, links the notification to that episode
    for FFD to review instead of refusing it."""
    grade = notification.risk_grade  # the callers checked the opening details
    try:
        episode = _episode_open_following_merges(
            actor=actor,
            child=child,
            police_force=notification.police_force,
            police_reference=notification.police_reference,
            grade=grade,
            kind=notification.missing_kind or MissingEpisode.Kind.MISSING,
            last_seen_at=notification.last_seen_at,
            last_seen_place=notification.last_seen_place,
            reported_at=notification.reported_at or notification.received_at,
            notified_at=notification.received_at,
            circumstances=notification.circumstances,
            reported_by=notification.reported_by,
            restricted_intelligence=notification.restricted_intelligence,
            now=now,
        )
    except EpisodeOverlap as clash:
        other: MissingEpisode = clash.episode
        child = other.child
        notification.child = child
        notification.episode = other
        detail = (
            f"Child {child.reference} is already missing in episode {other.reference}"
            if other.returned_at is None
            else f"This report overlaps episode {other.reference} of child {child.reference}"
        )
        detail += (
            f" (police reference {other.police_reference}). The notification is linked to that "
            "episode, and later notifications under its reference go there too: the Family "
            "Front Door confirms it is the same incident."
        )
        _needs_review(notification, other, detail=detail, actor=actor, now=now)
        if notification.restricted_intelligence:
            _add_restricted_intelligence(other.pk, notification)
        return
    notification.child = episode.child
    notification.episode = episode
    waiting = list(_waiting(notification))
    if notification.kind == NotificationKind.FOUND:
        waiting.append(notification)
    else:
        _settle(
            notification,
            PoliceNotification.MatchStatus.MATCHED,
            f"Opened episode {episode.reference}.",
        )
    for later in waiting:
        _apply_to_episode(later, episode.pk, actor=actor, now=now)


def _episode_open_following_merges(*, child: Child, **fields: Any) -> MissingEpisode:
    """episode_open, for a child that FFD may be merging into another record at this moment: the
    notification then goes to the record the child was merged into, never nowhere."""
    for _ in range(3):
        try:
            return episode_open(child=child, **fields)
        except ChildGone:
            kept_id = (
                ChildMerge.objects.filter(removed_child_id=child.pk)
                .values_list("kept_child_id", flat=True)
                .first()
            )
            if kept_id is None:
                raise
            child = Child.objects.get(pk=kept_id)
    return episode_open(child=child, **fields)


# The episode's fields a notification speaks to, and where the notification says them.
FOUND_FIELDS = (
    ("returned_at", "found_at", "found / return time"),
    ("found_place", "found_place", "found place"),
    ("found_by", "found_by", "found by"),
    ("prevention_interview_done", "prevention_interview_done", "police prevention interview"),
)
REPORT_FIELDS = (
    ("last_seen_at", "last_seen_at", "last seen time"),
    ("last_seen_place", "last_seen_place", "last seen place"),
    ("reported_at", "reported_at", "reported time"),
    ("police_grade", "risk_grade", "police risk grade"),
    ("kind", "missing_kind", "missing or away"),
    ("circumstances", "circumstances", "circumstances"),
    ("reported_by", "reported_by", "reported by"),
)
NOTIFICATION_SOURCE = {field: source for field, source, _ in FOUND_FIELDS + REPORT_FIELDS}
# A blank on the record is filled from police without review: nothing recorded is overwritten.
# The clocks' fields (times, grade) are never blank on an opened episode, so never filled here.
FILLABLE_BLANKS = frozenset(
    {
        "found_place",
        "found_by",
        "prevention_interview_done",
        "last_seen_place",
        "circumstances",
        "reported_by",
    }
)


def _apply_to_episode(
    notification: PoliceNotification,
    episode_id: int,
    *,
    actor: User,
    now: datetime,
    episode: MissingEpisode | None = None,
) -> None:
    """Apply one notification to its episode, or keep it on the episode's record (and put it to
    FFD when it differs): never refused for the episode's state. `episode`: already locked in
    this transaction with its police grade (notification_receive), so not read again."""
    if episode is None:
        episode = (
            MissingEpisode.objects.select_for_update(of=("self",))
            .select_related("police_grade")
            .get(pk=episode_id)
        )
    notification.child_id = episode.child_id
    notification.episode = episode
    kind = notification.kind
    if kind == NotificationKind.FOUND:
        _apply_found(notification, episode, actor=actor, now=now)
    elif kind == NotificationKind.REPORTED_MISSING:
        _reconcile(notification, episode, REPORT_FIELDS, actor=actor, now=now)
    elif kind == NotificationKind.RISK_REGRADED:
        _apply_regrade(notification, episode, actor=actor, now=now)
    else:
        _event(
            episode,
            actor=actor,
            now=now,
            action="police_update",
            from_state=episode.state,
            reason=notification.circumstances,
        )
        _settle(notification, PoliceNotification.MatchStatus.MATCHED, UPDATE_APPLIED)
    if notification.restricted_intelligence:
        _add_restricted_intelligence(episode.pk, notification)


def _apply_found(
    notification: PoliceNotification, episode: MissingEpisode, *, actor: User, now: datetime
) -> None:
    # Required for a 'found' (_validate_notification).
    found_at = cast(datetime, notification.found_at)
    if episode.state == EpisodeState.CANCELLED:
        _needs_review(
            notification,
            episode,
            detail=f"Episode {episode.reference} was cancelled as logged in error, and police "
            "have now sent a found notification for it. Kept on its record for review.",
            actor=actor,
            now=now,
        )
    elif episode.state == EpisodeState.MISSING and found_at < episode.last_seen_at:
        _needs_review(
            notification,
            episode,
            detail="Police give a found time before the child was last seen: not applied. "
            "The child is still recorded as missing.",
            actor=actor,
            now=now,
        )
    elif episode.state == EpisodeState.MISSING:
        _transition(
            episode_id=episode.pk,
            actor=actor,
            action="record_return",
            now=now,
            reason=f"Police found notification {notification.reference}",
            kwargs={
                "returned_at": found_at,
                "found_place": notification.found_place,
                "found_by": notification.found_by,
                "prevention_interview_done": notification.prevention_interview_done,
            },
        )
        _settle(
            notification,
            PoliceNotification.MatchStatus.MATCHED,
            f"Return recorded on episode {episode.reference}.",
        )
    else:
        # The return is on record already (FFD recorded it, or another 'found' came first).
        _reconcile(notification, episode, FOUND_FIELDS, actor=actor, now=now)


def _apply_regrade(
    notification: PoliceNotification, episode: MissingEpisode, *, actor: User, now: datetime
) -> None:
    grade = cast(
        RiskGrade, notification.risk_grade
    )  # required for a regrade (_validate_notification)
    if episode.is_open:
        episode_regrade(
            RegradeData(grade=grade),
            actor=actor,
            episode_id=episode.pk,
            now=now,
            received_at=notification.received_at,
        )
        _settle(notification, PoliceNotification.MatchStatus.MATCHED, "Police grade changed.")
        return
    # A closed or cancelled episode has no clock for a grade to move: kept on its record.
    detail = (
        f"Episode {episode.reference} is {episode.get_state_display().lower()}: the new police "
        f"grade ({grade.label}) is kept on its record and changes nothing."
    )
    _kept(notification, episode, detail=detail, actor=actor, now=now)


def _json_value(value: Any) -> Any:
    if isinstance(value, RiskGrade):
        return value.code
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _reconcile(
    notification: PoliceNotification,
    episode: MissingEpisode,
    fields: tuple[tuple[str, str, str], ...],
    *,
    actor: User,
    now: datetime,
) -> None:
    """A notification about facts the episode already holds (a late 'reported missing', a 'found'
    after the return was recorded): fill the record's blanks from it, and put every difference
    to FFD. Nothing recorded is overwritten without a person deciding."""
    filled: dict[str, Any] = {}
    differences: dict[str, Any] = {}
    for field, source, label in fields:
        police = getattr(notification, source)
        recorded = getattr(episode, field)
        if police in (None, "") or police == recorded:
            continue
        if recorded in (None, "") and field in FILLABLE_BLANKS:
            filled[field] = police
            continue
        differences[field] = {
            "label": label,
            "recorded": _json_value(recorded),
            "police": _json_value(police),
        }
    labels = {field: label for field, _, label in fields}
    if filled:
        for field, value in filled.items():
            setattr(episode, field, value)
        episode.version += 1
        episode.updated_at = now
        episode.save(update_fields=[*filled, "version", "updated_at"])
        _event(
            episode,
            actor=actor,
            now=now,
            action="police_details_added",
            from_state=episode.state,
            reason=f"From {notification.reference}: "
            + ", ".join(labels[field] for field in filled)
            + ".",
        )
    if differences:
        _needs_review(
            notification,
            episode,
            detail=f"Differs from episode {episode.reference}'s record: "
            + ", ".join(d["label"] for d in differences.values())
            + ". Kept for the Family Front Door to review; nothing recorded was changed.",
            differences=differences,
            actor=actor,
            now=now,
        )
    elif filled:
        _settle(
            notification,
            PoliceNotification.MatchStatus.MATCHED,
            f"Added to episode {episode.reference}: "
            + ", ".join(labels[field] for field in filled)
            + ".",
        )
    else:
        detail = f"Kept on episode {episode.reference}'s record: it matches what is recorded."
        _kept(notification, episode, detail=detail, actor=actor, now=now)


def _needs_review(
    notification: PoliceNotification,
    episode: MissingEpisode,
    *,
    detail: str,
    actor: User,
    now: datetime,
    differences: dict[str, Any] | None = None,
) -> None:
    """Kept on the episode, and put to FFD: it differs from the record or could not apply."""
    _on_record(
        notification,
        episode,
        status=PoliceNotification.MatchStatus.NEEDS_REVIEW,
        action="police_discrepancy",
        detail=detail,
        differences=differences,
        actor=actor,
        now=now,
    )


def _kept(
    notification: PoliceNotification,
    episode: MissingEpisode,
    *,
    detail: str,
    actor: User,
    now: datetime,
) -> None:
    """Kept on the episode's record; it changes nothing there."""
    _on_record(
        notification,
        episode,
        status=PoliceNotification.MatchStatus.RECORDED,
        action="police_notification_kept",
        detail=detail,
        actor=actor,
        now=now,
    )


def _on_record(
    notification: PoliceNotification,
    episode: MissingEpisode,
    *,
    status: str,
    action: str,
    detail: str,
    actor: User,
    now: datetime,
    differences: dict[str, Any] | None = None,
) -> None:
    # On the episode's timeline, so whoever opens the episode sees what police said.
    _event(
        episode,
        actor=actor,
        now=now,
        action=action,
        from_state=episode.state,
        reason=f"{notification.reference}: {detail}",
    )
    _settle(notification, status, detail, differences=differences)


def _add_restricted_intelligence(episode_id: int, notification: PoliceNotification) -> None:
    """Append a later notification's restricted intelligence to the episode's: police add to
    what they know; nothing earlier is overwritten."""
    episode = MissingEpisode.objects.select_for_update(of=("self",)).get(pk=episode_id)
    entry = f"[{notification.reference}] {notification.restricted_intelligence}"
    if entry in episode.restricted_intelligence:
        return  # the episode was opened from this notification
    episode.restricted_intelligence = (
        f"{episode.restricted_intelligence}\n\n{entry}"
        if episode.restricted_intelligence
        else entry
    )
    episode.save(update_fields=["restricted_intelligence"])


@dataclass(frozen=True)
class ReviewData:
    """FFD's review of a notification that differs from its episode: `applied` or `kept`."""

    decision: str
    note: str = ""


def notification_review(
    data: ReviewData, /, *, actor: User, notification_id: int, now: datetime
) -> PoliceNotification:
    """FFD reviews a notification that differs from its episode's record: apply the police
    details (`decision="applied"`) or keep the record as it is (`"kept"`, e.g. a second force's
    report confirmed as the same incident). FFD, managers and heads of service.

    Applying goes through the same rules as any edit: a return time not before last seen, no
    overlap with the child's other episodes, the 72-hour clock recomputed from a corrected
    return; a closed or cancelled episode is not changed (409)."""
    require_roles(actor, CASE_READERS, label="review police notifications")
    decision, note = data.decision, data.note
    Decision = PoliceNotification.ReviewDecision
    if decision not in Decision.values:
        raise InvalidInput(
            "Choose what to do.",
            field_errors={"decision": ["Choose to apply the police details or keep the record."]},
        )
    with transaction.atomic():
        notification = (
            PoliceNotification.objects.select_for_update(of=("self",))
            .select_related("risk_grade")
            .get(pk=notification_id)
        )
        if notification.match_status != PoliceNotification.MatchStatus.NEEDS_REVIEW:
            raise Conflict(f"{notification.reference} does not need a review (any more).")
        if decision == Decision.APPLIED:
            if not notification.differences:
                raise InvalidInput(
                    "Nothing to apply.",
                    field_errors={
                        "decision": [
                            "No recorded detail differs: choose to keep the record as it is."
                        ]
                    },
                )
            _apply_police_details(notification, actor=actor, now=now)
        notification.match_status = PoliceNotification.MatchStatus.REVIEWED
        notification.reviewed_at = now
        notification.reviewed_by = actor
        notification.review_decision = decision
        notification.review_note = note
        notification.save(
            update_fields=[
                "match_status",
                "reviewed_at",
                "reviewed_by",
                "review_decision",
                "review_note",
            ]
        )
        episode = MissingEpisode.objects.get(pk=notification.episode_id)
        _event(
            episode,
            actor=actor,
            now=now,
            action="police_review",
            from_state=episode.state,
            reason=f"{notification.reference}: {Decision(decision).label}."
            + (f" {note}" if note else ""),
        )
    return notification


def _apply_police_details(notification: PoliceNotification, *, actor: User, now: datetime) -> None:
    episode = (
        MissingEpisode.objects.select_for_update(of=("self",))
        .select_related("police_grade")
        .get(pk=notification.episode_id)
    )
    if episode.state in (EpisodeState.CLOSED, EpisodeState.CANCELLED):
        raise Conflict(
            f"{episode.reference} is {episode.get_state_display().lower()}: its record is no "
            "longer changed. Keep the record and add a note."
        )
    values = {
        field: getattr(notification, NOTIFICATION_SOURCE[field])
        for field in notification.differences
    }
    if "returned_at" in values and episode.state == EpisodeState.MISSING:
        # A return police report under another reference: record it as any return.
        _transition(
            episode_id=episode.pk,
            actor=actor,
            action="record_return",
            now=now,
            reason=f"Police found notification {notification.reference}, confirmed by FFD",
            kwargs={
                "returned_at": values["returned_at"],
                "found_place": notification.found_place,
                "found_by": notification.found_by,
                "prevention_interview_done": notification.prevention_interview_done,
            },
        )
        return
    last_seen = values.get("last_seen_at", episode.last_seen_at)
    returned = values.get("returned_at", episode.returned_at)
    if returned is not None and returned < last_seen:
        raise Conflict(
            f"Applying these details would put {episode.reference}'s return before the child "
            "was last seen. Keep the record, or correct it with the police first."
        )
    if "last_seen_at" in values or "returned_at" in values:
        overlapping = _overlapping_episode(
            child_id=episode.child_id,
            start=last_seen,
            end=returned,
            exclude_id=episode.pk,
        )
        if overlapping is not None:
            raise Conflict(
                f"Applying these details would make {episode.reference} overlap episode "
                f"{overlapping.reference} of the same child."
            )
    for field, value in values.items():
        setattr(episode, field, value)
    if "last_seen_at" in values:
        # Another start date may fall in other legal-status periods.
        for status, held in child_facts.episode_snapshot(
            child_id=episode.child_id, last_seen_at=last_seen
        ).items():
            setattr(episode, status, held)
    if "returned_at" in values and episode.interview_due_at is not None:
        # A corrected return restarts the 72-hour clock from the return police report.
        episode.interview_due_at = clocks.interview_due_at(values["returned_at"])
    episode.version += 1
    episode.updated_at = now
    episode.save()
    _event(
        episode,
        actor=actor,
        now=now,
        action="police_details_applied",
        from_state=episode.state,
        reason=f"From {notification.reference}: "
        + ", ".join(d["label"] for d in notification.differences.values())
        + ".",
    )


def _overlapping_episode(
    *, child_id: int, start: datetime, end: datetime | None, exclude_id: int | None = None
) -> MissingEpisode | None:
    """A non-cancelled episode of the child whose span crosses [start, end) (end None: still
    missing). The national validator refuses overlaps (SSDA903 rule 574)."""
    live = MissingEpisode.objects.filter(child_id=child_id).exclude(state=EpisodeState.CANCELLED)
    if exclude_id is not None:
        live = live.exclude(pk=exclude_id)
    crosses = Q(returned_at__isnull=True) | Q(returned_at__gt=start)
    if end is not None:
        crosses &= Q(last_seen_at__lt=end)
    return live.filter(crosses).order_by("last_seen_at").first()


def out_of_area_council(child: Child) -> Council | None:
    """The other council to tell when `child` goes missing: the host council when this
    installation's council (settings.COUNCIL_ONS_CODE) placed the child in another area, the
    responsible council when another council's child lives here. None when the child lives in
    the area of the council responsible for them, when a council in the child's facts names no
    council in the directory, or when the installation's own council is not configured. On a
    regional installation "ours" is the child's council (decision 0066)."""
    ours = child.council.ons_code if is_regional() and child.council else settings.COUNCIL_ONS_CODE
    if not ours or not child.host_council.strip() or not child.responsible_council.strip():
        return None
    named = Council.objects.resolve(child.host_council, child.responsible_council)
    host, responsible = named.get(child.host_council), named.get(child.responsible_council)
    if host is None or responsible is None or host.pk == responsible.pk:
        return None
    if responsible.ons_code == ours:
        return host
    if host.ons_code == ours:
        return responsible
    return None


def episode_open(
    *,
    actor: User,
    child: Child,
    police_force: PoliceForce,
    police_reference: str,
    grade: RiskGrade,
    kind: str,
    last_seen_at: datetime,
    last_seen_place: str,
    reported_at: datetime,
    notified_at: datetime,
    circumstances: str,
    reported_by: str,
    now: datetime,
    restricted_intelligence: str = "",
) -> MissingEpisode:
    """Open a missing episode for `child`. Refuses (409) an episode that would overlap another:
    the child is still missing in an earlier one, or its time span crosses one on record.
    The manager review falls due `grade.review_within` after the notification arrived."""
    with transaction.atomic():
        # Lock the child so two notifications for one child cannot both pass the overlap check.
        if Child.objects.select_for_update().filter(pk=child.pk).first() is None:
            # A merge (or retention) deleted the child while we waited for its lock.
            raise ChildGone(
                f"Child {child.reference} was merged into another record while this was being "
                "recorded. Try again."
            )
        live = MissingEpisode.objects.filter(child=child).exclude(state=EpisodeState.CANCELLED)
        still_missing = live.filter(returned_at__isnull=True).first()
        if still_missing is not None:
            raise EpisodeOverlap(
                f"Child {child.reference} is still missing in episode {still_missing.reference}. "
                "Record that return before a new episode; overlapping episodes are refused.",
                episode=still_missing,
            )
        overlapping = live.filter(
            Q(returned_at__gt=last_seen_at) | Q(last_seen_at__gte=last_seen_at)
        ).first()
        if overlapping is not None:
            raise EpisodeOverlap(
                f"This episode would overlap episode {overlapping.reference} of child "
                f"{child.reference}: a new episode must start after the last one ended.",
                episode=overlapping,
            )
        # The age on the London date the child went missing (a birthday is a London date).
        age = child.age_on(clocks.london_date(last_seen_at))
        # The legal status in force on the London date the child went missing, from the
        # child's periods (missing.cases.child_facts recomputes it if a period changes later).
        snapshot = child_facts.episode_snapshot(child_id=child.pk, last_seen_at=last_seen_at)
        other_council = out_of_area_council(child)
        episode = MissingEpisode.objects.create(
            child=child,
            kind=kind,
            police_force=police_force,
            police_reference=police_reference,
            police_grade=grade,
            last_seen_at=last_seen_at,
            last_seen_place=last_seen_place,
            reported_at=reported_at,
            notified_at=notified_at,
            circumstances=circumstances,
            reported_by=reported_by,
            restricted_intelligence=restricted_intelligence,
            **snapshot,
            placement=child.placement,
            responsible_council=child.responsible_council,
            host_council=child.host_council,
            out_of_area_council=other_council,
            council_id=child.council_id,
            # The figures count the episode for the council responsible for the child: the other
            # one when another council's child lives here (decision 0066).
            figures_council_id=(
                other_council.pk
                if other_council is not None
                and other_council.is_named_by(child.responsible_council)
                else child.council_id
            ),
            flag_aged_13_or_under=age is not None and age <= 13,
            review_due_at=clocks.review_due_at(notified_at, grade.review_within),
            created_at=now,
            updated_at=now,
        )
        _event(
            episode,
            actor=actor,
            now=now,
            action="opened",
            from_state="",
            reason=f"Police reference {police_reference}, graded {grade.label}",
        )
        # Live: a rule this episode fires (the Nth in D days, the child's age, ...) raises its
        # meeting task in this same transaction.
        repeat_rules_evaluate(episode=episode, now=now)
    return episode


# --------------------------------------------------------------------------------------------
# Transitions
# --------------------------------------------------------------------------------------------

TRANSITION_LABELS = {
    "record_return": "record the return",
    "review": "record an oversight decision",
    "regrade": "change the police grade",
    "arrange_interview": "arrange the return interview",
    "withdraw_arrangement": "withdraw the interview arrangement",
    "record_interview_outcome": "record the return interview's outcome",
    "sign_off": "sign the episode off",
    "cancel": "cancel the episode",
}


def role_may(user: User, action: str, episode: MissingEpisode | None = None) -> bool:
    """Whether `user`'s role may run the episode transition `action`: the transition's own
    `permission=`, asked whatever the episode's state (the service checks the state after).
    Without an episode, asked of an empty one: the permissions depend on the role alone."""
    method = getattr(episode if episode is not None else MissingEpisode(), action)
    return transitions.role_may(method, user)


def require_transition_role(*, actor: User, action: str) -> None:
    """Refuse (403) a user whose role may never run `action`, before looking at their input."""
    transitions.require_role(
        MissingEpisode(), action=action, actor=actor, label=TRANSITION_LABELS[action]
    )


def _event(
    episode: MissingEpisode,
    *,
    actor: User | None,
    now: datetime,
    action: str,
    from_state: str,
    reason: str,
) -> EpisodeEvent:
    # Every change to an episode passes here (its timeline): the access log's change row too,
    # written with the event in one statement.
    access = audit.change_row(child_id=episode.child_id, reference=episode.reference, now=now)
    event = EpisodeEvent(
        episode=episode,
        at=now,
        actor=actor,
        action=action,
        from_state=from_state,
        to_state=episode.state,
        reason=reason,
    )
    if access is None:
        event.save()
    else:
        _insert_together(access, event)
    return event


def _insert_together(first: models.Model, last: models.Model) -> None:
    """Two new rows in one statement on PostgreSQL (`WITH first AS (INSERT …) INSERT …`: one
    round trip, and pghistory's context injected once); elsewhere two INSERTs. Django builds
    each INSERT as save() would (defaults, auto_now, value preparation); `last` gets its id,
    `first` is written and left as it was (its id unread: never save it again)."""
    if connection.vendor != "postgresql":
        first.save()
        last.save()
        return
    statements: list[str] = []
    params: list[Any] = []
    for row in (first, last):
        # The SQL text is compiled once per model (issue 15); a row holding an expression is
        # built in full.
        built = insert_statement(row, connection.alias)
        if built is None:
            meta = row._meta
            query = InsertQuery(type(row))
            query.insert_values(
                [f for f in meta.local_concrete_fields if f is not meta.auto_field], [row]
            )
            ((statement, values),) = query.get_compiler(connection=connection).as_sql()
        else:
            statement, values = built
        statements.append(statement)
        params.extend(values)
    pk = connection.ops.quote_name(last._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH first AS ({statements[0]}) {statements[1]} RETURNING {pk}",
            params,
        )
        last.pk = cursor.fetchone()[0]
    last._state.adding = False
    last._state.db = connection.alias


def _transition(
    *,
    episode_id: int,
    actor: User,
    action: str,
    now: datetime,
    reason: str,
    kwargs: dict[str, Any],
    expected_version: int | None = None,
    validate: Callable[[MissingEpisode], None] | None = None,
) -> MissingEpisode:
    """Run one episode transition: lock, then `missing.cases.transitions.run_transition` (version,
    role and state checks, apply, save) with the episode's timeline row as its record.

    The row lock serialises racing requests on PostgreSQL; the version check refuses a stale
    form or API call (409) even when the state happens to be the same; and
    ConcurrentTransitionMixin's state-guarded UPDATE is the last line should both be bypassed.
    An interviewer may act only on an episode granted to them (their assignment).
    """
    with transaction.atomic():
        episode = (
            MissingEpisode.objects.select_for_update(of=("self",))
            # The child: a return checks the repeat-missing rules, which read the child's age.
            .select_related("police_grade", "child")
            .get(pk=episode_id)
        )

        def authorise(episode: MissingEpisode) -> None:
            if actor.role == Role.INTERVIEWER and not _has_live_grant(episode_id, actor):
                raise NotAllowed(f"{episode.reference} is not assigned to you.")

        def record(episode: MissingEpisode, from_state: str) -> None:
            _event(
                episode, actor=actor, now=now, action=action, from_state=from_state, reason=reason
            )

        transitions.run_transition(
            episode,
            action=action,
            actor=actor,
            now=now,
            label=TRANSITION_LABELS[action],
            kwargs=kwargs,
            expected_version=expected_version,
            authorise=authorise,
            validate=validate,
            unmet=lambda episode: _unmet_conditions(episode, action),
            record=record,
        )
        if action == "record_return":
            # Every return path (the form, the API, a police "found" notification) comes here:
            # the episode's length is now known, so the duration rule is checked with it.
            repeat_rules_evaluate(episode=episode, now=now)
    return episode


def _has_live_grant(episode_id: int, user: User) -> bool:
    return CaseAccessGrant.objects.filter(
        episode_id=episode_id, user=user, revoked_at__isnull=True
    ).exists()


def _unmet_conditions(episode: MissingEpisode, action: str) -> str:
    if action == "sign_off" and not episode.has_oversight():
        return (
            f"{episode.reference} has no manager oversight decision yet: record one "
            "before signing off."
        )
    return f"{episode.reference}: the conditions to {TRANSITION_LABELS[action]} are not met."


def _revoke_all_access(episode_id: int, *, now: datetime) -> int:
    """The episode is over: whoever was granted it for an interview loses it on their next
    request (minimum necessary access)."""
    return CaseAccessGrant.objects.filter(episode_id=episode_id, revoked_at__isnull=True).update(
        revoked_at=now
    )


@dataclass(frozen=True)
class ReturnData:
    """The child's return as FFD records it (a police 'found' notification carries its own)."""

    returned_at: datetime
    found_place: str = ""
    found_by: str = ""
    prevention_interview_done: bool | None = None


def episode_record_return(
    data: ReturnData,
    /,
    *,
    actor: User,
    episode_id: int,
    now: datetime,
    expected_version: int | None = None,
) -> MissingEpisode:
    """Record the child's return; the interview falls due 72 h later. FFD, managers."""
    require_transition_role(actor=actor, action="record_return")
    returned_at, found_by = data.returned_at, data.found_by
    errors: dict[str, list[str]] = {}
    if returned_at > now:
        errors["returned_at"] = ["Return time cannot be in the future."]
    last_seen = MissingEpisode.objects.values_list("last_seen_at", flat=True).get(pk=episode_id)
    if returned_at < last_seen:
        errors.setdefault("returned_at", []).append("Return time cannot be before last seen.")
    if errors:
        raise InvalidInput("The return has errors.", field_errors=errors)
    return _transition(
        episode_id=episode_id,
        actor=actor,
        action="record_return",
        now=now,
        expected_version=expected_version,
        reason=f"Found by {found_by}".strip() if found_by else "",
        kwargs={
            "returned_at": returned_at,
            "found_place": data.found_place,
            "found_by": found_by,
            "prevention_interview_done": data.prevention_interview_done,
        },
    )


@dataclass(frozen=True)
class DecisionData:
    risk: str
    rationale: str
    strategy_meeting: bool = False
    exploitation_screening: bool = False
    inform_social_worker: bool = False
    inform_placement: bool = False
    police_liaison: bool = False
    next_review_at: datetime | None = None


def episode_record_decision(
    data: DecisionData,
    /,
    *,
    actor: User,
    episode_id: int,
    now: datetime,
    expected_version: int | None = None,
) -> OversightDecision:
    """A manager's oversight decision: risk, rationale (required) and actions. While the child is
    still missing the next review falls due at `next_review_at`, or after the police grade's
    review time if none is given: a missing child is never left without a review due."""
    require_transition_role(actor=actor, action="review")
    errors: dict[str, list[str]] = {}
    if data.risk not in ManagerRisk.values:
        errors["risk"] = [f"Choose one of {', '.join(ManagerRisk.values)}."]
    if not data.rationale.strip():
        errors["rationale"] = ["Enter the rationale for the decision."]
    if data.next_review_at is not None:
        if data.next_review_at <= now:
            errors["next_review_at"] = ["The next review must be in the future."]
        elif data.next_review_at > now + MAX_REVIEW_INTERVAL:
            errors["next_review_at"] = ["The next review must be within 7 days."]
    if errors:
        raise InvalidInput("The decision has errors.", field_errors=errors)
    with transaction.atomic():
        current = MissingEpisode.objects.select_related("police_grade").get(pk=episode_id)
        next_review = data.next_review_at
        if next_review is None and current.state == EpisodeState.MISSING:
            next_review = clocks.review_due_at(now, current.police_grade.review_within)
        episode = _transition(
            episode_id=episode_id,
            actor=actor,
            action="review",
            now=now,
            expected_version=expected_version,
            reason=data.rationale,
            kwargs={"decided_at": now, "risk": data.risk, "next_review_at": next_review},
        )
        return OversightDecision.objects.create(
            episode=episode,
            decided_by=actor,
            decided_at=now,
            risk=data.risk,
            rationale=data.rationale,
            strategy_meeting=data.strategy_meeting,
            exploitation_screening=data.exploitation_screening,
            inform_social_worker=data.inform_social_worker,
            inform_placement=data.inform_placement,
            police_liaison=data.police_liaison,
            next_review_at=next_review if episode.state == EpisodeState.MISSING else None,
        )


@dataclass(frozen=True)
class RegradeData:
    """Police's new risk grade for the episode."""

    grade: RiskGrade


def episode_regrade(
    data: RegradeData,
    /,
    *,
    actor: User,
    episode_id: int,
    now: datetime,
    received_at: datetime | None = None,
    expected_version: int | None = None,
) -> MissingEpisode:
    """Police changed the risk grade (FFD, managers, police systems). While the child is missing a
    review falls due within the new grade's time from `received_at`, if that is sooner."""
    require_transition_role(actor=actor, action="regrade")
    grade = data.grade
    if not grade.active:
        raise InvalidInput(
            "Unknown grade.", field_errors={"risk_grade": ["This risk grade is no longer in use."]}
        )
    old = MissingEpisode.objects.select_related("police_grade").get(pk=episode_id).police_grade
    return _transition(
        episode_id=episode_id,
        actor=actor,
        action="regrade",
        now=now,
        expected_version=expected_version,
        reason=f"Police grade {old.label} → {grade.label}",
        kwargs={"grade": grade, "received_at": received_at or now},
    )


@dataclass(frozen=True)
class SignOffData:
    """The manager's sign-off note (required when the episode is flagged for exploitation)."""

    note: str = ""


def episode_sign_off(
    data: SignOffData,
    /,
    *,
    actor: User,
    episode_id: int,
    now: datetime,
    expected_version: int | None = None,
    from_interview_sign_off: bool = False,
) -> MissingEpisode:
    """A manager closes the episode once the interview is held or recorded as not held. Needs
    the return and at least one oversight decision. Interview access to it ends.

    When an interview record holds the outcome, the episode closes only through that
    interview's sign-off (`from_interview_sign_off`), where the manager reads the interview and
    records the follow-up decisions (DfE 2014: what is learned informs the safety plan).

    Here there is no follow-up decision to take, so an episode flagged for exploitation is
    signed off only with a note saying why nothing more is needed (issue 13: the manager decides
    knowingly); the interview's sign-off asks the same of its follow-up decisions."""
    require_transition_role(actor=actor, action="sign_off")
    note = data.note
    if not from_interview_sign_off:
        recorded_in = (
            MissingEpisode.objects.filter(pk=episode_id)
            .values_list("interview_reference", flat=True)
            .first()
        )
        if recorded_in:
            raise Conflict(
                f"E-{episode_id} is covered by return interview {recorded_in}: sign the interview "
                "off, with its follow-up decisions, to close the episode."
            )
    with transaction.atomic():
        episode = _transition(
            episode_id=episode_id,
            actor=actor,
            action="sign_off",
            now=now,
            expected_version=expected_version,
            reason=note,
            kwargs={"signed_off_at": now, "by": actor},
            validate=None if from_interview_sign_off else _require_note_if_flagged(note),
        )
        _revoke_all_access(episode_id, now=now)
    return episode


def exploitation_flags(episode: MissingEpisode) -> list[str]:
    """The exploitation flags the episode carries, in words ("Criminal exploitation")."""
    return [
        label
        for key, (field, label) in EPISODE_FLAG_FIELDS.items()
        if key != "mental_health" and getattr(episode, field)
    ]


def _require_note_if_flagged(note: str) -> Callable[[MissingEpisode], None]:
    def validate(episode: MissingEpisode) -> None:
        flags = exploitation_flags(episode)
        if flags and not note.strip():
            raise InvalidInput(
                "The sign-off has errors.",
                field_errors={
                    "note": [
                        f"{episode.reference} is flagged for {', '.join(flags).lower()}: enter "
                        "why no follow-up is needed before signing it off"
                    ]
                },
            )

    return validate


@dataclass(frozen=True)
class CancelData:
    """Why the episode is cancelled (logged in error): required."""

    reason: str


def episode_cancel(
    data: CancelData,
    /,
    *,
    actor: User,
    episode_id: int,
    now: datetime,
    expected_version: int | None = None,
) -> MissingEpisode:
    """A manager cancels an episode logged in error, with a reason. Nothing is deleted."""
    require_transition_role(actor=actor, action="cancel")
    reason = data.reason
    if not reason.strip():
        raise InvalidInput(
            "Give a reason.", field_errors={"reason": ["Enter why the episode is cancelled."]}
        )
    with transaction.atomic():
        episode = _transition(
            episode_id=episode_id,
            actor=actor,
            action="cancel",
            now=now,
            expected_version=expected_version,
            reason=reason,
            kwargs={"reason": reason},
        )
        _revoke_all_access(episode_id, now=now)
    return episode


# --------------------------------------------------------------------------------------------
# The return interview's milestones (called by the interviews app, which keeps the record)
# --------------------------------------------------------------------------------------------


def episode_arrange_interview(
    *,
    actor: User,
    episode_id: int,
    note: str,
    now: datetime,
    expected_version: int | None = None,
) -> MissingEpisode:
    """A time and place for the return interview are agreed: arrangers, or the interviewer the
    episode is granted to. Stops the "interview not arranged" escalation; the 72-hour clock
    runs on until the interview is held."""
    return _transition(
        episode_id=episode_id,
        actor=actor,
        action="arrange_interview",
        now=now,
        expected_version=expected_version,
        reason=note,
        kwargs={"arranged_at": now},
    )


def episode_withdraw_arrangement(
    *,
    actor: User,
    episode_id: int,
    reason: str,
    now: datetime,
    expected_version: int | None = None,
) -> MissingEpisode:
    """The arranged interview will not happen as planned: back to "interview to arrange"."""
    return _transition(
        episode_id=episode_id,
        actor=actor,
        action="withdraw_arrangement",
        now=now,
        expected_version=expected_version,
        reason=reason,
        kwargs={},
    )


@dataclass(frozen=True)
class OutcomeData:
    """The return interview's outcome: held (and when), or why not; a note for the timeline."""

    outcome: str
    held_at: datetime | None = None
    note: str = ""


def episode_record_interview_outcome(
    data: OutcomeData,
    /,
    *,
    actor: User,
    episode_id: int,
    now: datetime,
    expected_version: int | None = None,
    interview_reference: str = "",
) -> MissingEpisode:
    """The interview was held (when), or why it was not. The granted interviewer or a manager;
    only a manager may decide not to hold one. The episode then awaits a manager's sign-off."""
    require_transition_role(actor=actor, action="record_interview_outcome")
    outcome, held_at, note = data.outcome, data.held_at, data.note
    errors: dict[str, list[str]] = {}
    if outcome not in InterviewOutcome.values:
        errors["outcome"] = [f"Choose one of {', '.join(InterviewOutcome.values)}."]
    elif outcome == InterviewOutcome.NOT_HELD_DECISION and not actor.has_role(OVERSIGHT_ROLES):
        errors["outcome"] = ["Only a manager can decide not to hold the interview."]
    if outcome == InterviewOutcome.HELD:
        returned_at = MissingEpisode.objects.values_list("returned_at", flat=True).get(
            pk=episode_id
        )
        if held_at is None:
            errors["held_at"] = ["Enter when the interview was held."]
        elif held_at > now:
            errors["held_at"] = ["The interview time cannot be in the future."]
        elif returned_at is not None and held_at < returned_at:
            errors["held_at"] = ["The interview cannot be before the child's return."]
    elif held_at is not None:
        errors["held_at"] = ["An interview that was not held has no time held."]
    if errors:
        raise InvalidInput("The interview outcome has errors.", field_errors=errors)
    label = InterviewOutcome(outcome).label
    return _transition(
        episode_id=episode_id,
        actor=actor,
        action="record_interview_outcome",
        now=now,
        expected_version=expected_version,
        reason=f"{label}. {note}".strip() if note else label,
        kwargs={
            "outcome": outcome,
            "held_at": held_at,
            "interview_reference": interview_reference,
        },
    )


# --------------------------------------------------------------------------------------------
# Repeat-missing rules and strategy / risk meeting tasks
# --------------------------------------------------------------------------------------------

# The few flags a manager sets on an episode (the age flag follows the date of birth).
EPISODE_FLAG_FIELDS = {
    "sexual_exploitation": ("flag_sexual_exploitation", "Sexual exploitation"),
    "criminal_exploitation": ("flag_criminal_exploitation", "Criminal exploitation"),
    "mental_health": ("flag_mental_health", "Mental health"),
}


def _covering_tasks(rule: RepeatMissingRule) -> Any:
    """Tasks of `rule` that already answer for an episode (as OuterRef): one raised for that
    episode, an open one for the child, or a meeting held (done) since the episode began."""
    return RiskMeetingTask.objects.filter(rule=rule).filter(
        Q(episode=OuterRef("pk"))
        | Q(child=OuterRef("child"), status=RiskMeetingTask.Status.OPEN)
        | Q(child=OuterRef("child"), completed_at__gte=OuterRef("last_seen_at"))
    )


def _risk_task_raise(
    *, rule: RepeatMissingRule, episode: MissingEpisode, reason: str, now: datetime
) -> RiskMeetingTask | None:
    """Raise the meeting task unless one already covers the episode. Idempotent under races:
    the unique constraints (one open per child and rule; one per rule and episode) refuse a
    second insert, which on PostgreSQL waits for the first to commit; the savepoint keeps the
    caller's transaction alive and the change that raced simply raises nothing."""
    covered = (
        MissingEpisode.objects.filter(pk=episode.pk).filter(Exists(_covering_tasks(rule))).exists()
    )
    if covered:
        return None
    try:
        with transaction.atomic():
            task = RiskMeetingTask.objects.create(
                child_id=episode.child_id, rule=rule, episode=episode, reason=reason, raised_at=now
            )
    except IntegrityError:
        return None
    _event(
        episode,
        actor=None,
        now=now,
        action="risk_meeting_raised",
        from_state=episode.state,
        reason=f"{task.reference}: {reason}",
    )
    return task


def repeat_rules_evaluate(*, episode: MissingEpisode, now: datetime) -> list[RiskMeetingTask]:
    """Check every active repeat-missing rule against `episode` and raise a "strategy / risk
    meeting needed" task for each that fires and is not already covered. Called inside the
    transaction of the change (opening, return, flags), so the board shows it at once."""
    raised = []
    for rule in RepeatMissingRule.objects.filter(active=True):
        reason = rules.reason_if_fires(rule, episode, now=now)
        if reason:
            task = _risk_task_raise(rule=rule, episode=episode, reason=reason, now=now)
            if task is not None:
                raised.append(task)
    return raised


def repeat_duration_sweep(*, now: datetime) -> list[RiskMeetingTask]:
    """A child still missing past a duration rule needs a meeting before anyone records
    anything: run every minute by beat. Per active duration rule, one query on the partial
    still-missing index (sized to the open caseload) finds the episodes past the threshold and
    not yet covered; each is then locked and re-read, so a return that committed meanwhile is
    left to the return's own check. Idempotent: a second run, or a second beat, raises nothing.
    """
    raised = []
    for rule in RepeatMissingRule.objects.filter(
        active=True, kind=RepeatMissingRule.Kind.DURATION_OVER
    ):
        if rule.parameter_errors():
            continue
        threshold = now - timedelta(hours=rule.parameters["hours"])
        due_ids = list(
            MissingEpisode.objects.filter(state=EpisodeState.MISSING, last_seen_at__lt=threshold)
            .exclude(Exists(_covering_tasks(rule)))
            .order_by("last_seen_at")
            .values_list("pk", flat=True)
        )
        for episode_id in due_ids:
            with transaction.atomic():
                episode = (
                    MissingEpisode.objects.select_for_update(of=("self",))
                    .select_related("child")
                    .get(pk=episode_id)
                )
                if episode.state != EpisodeState.MISSING:
                    continue
                reason = rules.reason_if_fires(rule, episode, now=now)
                if reason:
                    task = _risk_task_raise(rule=rule, episode=episode, reason=reason, now=now)
                    if task is not None:
                        raised.append(task)
    return raised


@dataclass(frozen=True)
class FlagsData:
    """Every flag a manager sets on an episode: the episode's flags become exactly these."""

    sexual_exploitation: bool = False
    criminal_exploitation: bool = False
    mental_health: bool = False


def episode_set_flags(
    data: FlagsData,
    /,
    *,
    actor: User,
    episode_id: int,
    now: datetime,
    expected_version: int | None = None,
) -> MissingEpisode:
    """A manager records what is known of the episode: sexual or criminal exploitation, mental
    health (managers and heads of service). Changes go on the timeline and bump the version;
    an exploitation flag can fire its repeat-missing rule in the same transaction. Setting
    the flags it already has changes nothing. A cancelled episode (logged in error) is refused.
    """
    require_roles(actor, OVERSIGHT_ROLES, label="change an episode's flags")
    wanted = {key: getattr(data, key) for key in EPISODE_FLAG_FIELDS}
    with transaction.atomic():
        episode = (
            MissingEpisode.objects.select_for_update(of=("self",))
            .select_related("child")
            .get(pk=episode_id)
        )
        require_version(episode, expected_version)
        if episode.state == EpisodeState.CANCELLED:
            raise Conflict(f"{episode.reference} is cancelled: its flags cannot change.")
        changes = []
        for key, (field, label) in EPISODE_FLAG_FIELDS.items():
            if getattr(episode, field) != wanted[key]:
                setattr(episode, field, wanted[key])
                changes.append(f"{label}: {'flagged' if wanted[key] else 'no longer flagged'}.")
        if not changes:
            return episode
        episode.version += 1
        episode.updated_at = now
        episode.save(
            update_fields=[field for field, _ in EPISODE_FLAG_FIELDS.values()]
            + ["version", "updated_at"]
        )
        _event(
            episode,
            actor=actor,
            now=now,
            action="flags_changed",
            from_state=episode.state,
            reason=" ".join(changes),
        )
        repeat_rules_evaluate(episode=episode, now=now)
    return episode


@dataclass(frozen=True)
class HolderData:
    """Which council's provider holds an out-of-area child's return interview."""

    holder: str


def episode_set_interview_holder(
    data: HolderData,
    /,
    *,
    actor: User,
    episode_id: int,
    now: datetime,
    expected_version: int | None = None,
) -> MissingEpisode:
    """Record which council's provider holds the return interview of a child placed out of
    area, as the two councils agreed (managers and heads of service). Only an out-of-area
    episode has the choice; the change goes on the timeline and bumps the version."""
    require_roles(actor, OVERSIGHT_ROLES, label="record who holds the return interview")
    holder = data.holder
    if holder not in InterviewHolder.values:
        raise InvalidInput(
            "Choose who holds the return interview.",
            field_errors={"holder": ["Choose who holds the return interview."]},
        )
    with transaction.atomic():
        episode = MissingEpisode.objects.select_for_update(of=("self",)).get(pk=episode_id)
        require_version(episode, expected_version)
        if episode.out_of_area_council_id is None:
            raise Conflict(f"{episode.reference} is not an out-of-area episode.")
        if episode.state == EpisodeState.CANCELLED:
            raise Conflict(f"{episode.reference} is cancelled.")
        if episode.interview_holder == holder:
            return episode
        episode.interview_holder = holder
        episode.version += 1
        episode.updated_at = now
        episode.save(update_fields=["interview_holder", "version", "updated_at"])
        _event(
            episode,
            actor=actor,
            now=now,
            action="interview_holder",
            from_state=episode.state,
            reason=f"Return interview: {InterviewHolder(holder).label}.",
        )
    return episode


def episode_note_outside_contact(
    *, episode: MissingEpisode, action: str, reason: str, now: datetime
) -> EpisodeEvent:
    """A timeline entry for something done outside the system by someone with no account (another
    council acknowledging an alert): no actor, the reason says who. Apps built on the core
    write to the timeline through this, never by creating EpisodeEvent rows themselves."""
    return _event(
        episode, actor=None, now=now, action=action, from_state=episode.state, reason=reason
    )


@dataclass(frozen=True)
class MeetingOutcomeData:
    """The outcome of a strategy / risk meeting (or why none is needed): required."""

    outcome: str


def risk_task_complete(
    data: MeetingOutcomeData,
    /,
    *,
    actor: User,
    task_id: int,
    now: datetime,
    expected_version: int | None = None,
) -> RiskMeetingTask:
    """The meeting was held (or the manager decided one is not needed): record the outcome,
    which is required, and close the task. Managers and heads of service. A stale version or a
    task already completed is a 409. The child stays flagged while another task is open."""
    require_roles(actor, OVERSIGHT_ROLES, label="complete strategy / risk meeting tasks")
    outcome = data.outcome
    if not outcome.strip():
        raise InvalidInput(
            "Give the outcome.",
            field_errors={"outcome": ["Enter the outcome of the meeting."]},
        )
    with transaction.atomic():
        task = (
            RiskMeetingTask.objects.select_for_update(of=("self",))
            .select_related("episode", "completed_by")
            .get(pk=task_id)
        )
        if not task.is_open:
            by = task.completed_by.username if task.completed_by else "someone"
            raise Conflict(f"{task.reference} was already completed by {by}.")
        require_version(task, expected_version)
        task.status = RiskMeetingTask.Status.DONE
        task.completed_at = now
        task.completed_by = actor
        task.outcome = outcome.strip()
        task.version += 1
        task.save(update_fields=["status", "completed_at", "completed_by", "outcome", "version"])
        _event(
            task.episode,
            actor=actor,
            now=now,
            action="risk_meeting_done",
            from_state=task.episode.state,
            reason=f"{task.reference}: {task.outcome}",
        )
    return task


# --------------------------------------------------------------------------------------------
# Access grants (written by assignments in the interviews app)
# --------------------------------------------------------------------------------------------


def access_grant(*, episode: MissingEpisode, user: User, now: datetime) -> CaseAccessGrant:
    grant, _ = CaseAccessGrant.objects.get_or_create(
        episode=episode, user=user, revoked_at=None, defaults={"granted_at": now}
    )
    return grant


def access_revoke(*, episode: MissingEpisode, user: User, now: datetime) -> int:
    return CaseAccessGrant.objects.filter(episode=episode, user=user, revoked_at=None).update(
        revoked_at=now
    )


# --------------------------------------------------------------------------------------------
# Staff, API tokens and housekeeping
# --------------------------------------------------------------------------------------------


def api_token_create(*, user: User, scope: str, now: datetime) -> str:
    """Make a token for `user`; only its hash is kept. Returns the token: show it once.

    A personal (full-scope) token expires after settings.API_TOKEN_MAX_AGE; an intake token (a
    police system's feed) does not, so a force's integration never stops on a date. Either kind
    is bound to the user's credentials as they are now: a password change, a second-factor
    reset, a role change or deactivation ends it (missing.accounts.auth)."""
    raw = "mcr_" + secrets.token_urlsafe(32)
    ApiToken.objects.create(
        user=user,
        prefix=raw[:12],
        key_hash=hashlib.sha256(raw.encode()).hexdigest(),
        scope=scope,
        created_at=now,
        expires_at=now + settings.API_TOKEN_MAX_AGE if scope == ApiToken.Scope.FULL else None,
        credential_hash=user.get_session_auth_hash(),
    )
    return raw


def api_token_revoke(*, token: ApiToken, now: datetime) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)


def staff_create(
    *,
    username: str,
    role: str,
    now: datetime,
    password: str | None = None,
    organisation: str | None = None,
    team: str | None = None,
    phone: str = "",
    police_force: PoliceForce | None = None,
    hold_role: bool = False,
) -> User:
    """Create a staff (or police-system) account. Interviewers must belong to an organisation.

    `hold_role`: create the account with no role (no access) while `role` waits for a head of
    service's approval (missing.accounts.account_changes); the checks and the organisation's kind
    follow `role` all the same."""
    if role not in Role.values:
        raise InvalidInput(
            "Unknown role.", field_errors={"role": [f"Choose one of {', '.join(Role.values)}."]}
        )
    if role == Role.INTERVIEWER and not organisation:
        raise InvalidInput(
            "Interviewers belong to an organisation.",
            field_errors={"org": ["Give the interviewer's organisation."]},
        )
    if role == Role.POLICE_SYSTEM and police_force is None:
        raise InvalidInput(
            "A police system posts for one force.",
            field_errors={"force": ["Give the police force this system posts for."]},
        )
    if User.objects.filter(username=username).exists():
        raise Conflict(f"A user called {username} already exists.")
    try:
        return _staff_insert(
            username=username,
            role=role,
            now=now,
            password=password,
            organisation=organisation,
            team=team,
            phone=phone,
            police_force=police_force,
            hold_role=hold_role,
        )
    except IntegrityError:
        # Created by someone else between the check above and the insert.
        raise Conflict(f"A user called {username} already exists.") from None


def _staff_insert(
    *,
    username: str,
    role: str,
    now: datetime,
    password: str | None,
    organisation: str | None,
    team: str | None,
    phone: str,
    police_force: PoliceForce | None,
    hold_role: bool,
) -> User:
    with transaction.atomic():
        org = None
        if organisation:
            kind = (
                Organisation.Kind.PROVIDER
                if role == Role.INTERVIEWER
                else Organisation.Kind.COUNCIL
            )
            org, _ = Organisation.objects.get_or_create(name=organisation, defaults={"kind": kind})
        team_obj = None
        if team:
            if org is None:
                org, _ = Organisation.objects.get_or_create(name="Council")
            team_obj, _ = Team.objects.get_or_create(name=team, defaults={"organisation": org})
        user = User(
            username=username,
            role="" if hold_role else role,
            organisation=org,
            team=team_obj,
            phone=phone,
            police_force=police_force,
            date_joined=now,
            # Only administrators reach the Django admin, which holds reference data, not cases.
            is_staff=role == Role.ADMIN and not hold_role,
            is_superuser=role == Role.ADMIN and not hold_role,
        )
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save()
    return user


def heartbeat_record(*, name: str, now: datetime) -> None:
    Heartbeat.objects.update_or_create(name=name, defaults={"last_seen_at": now})
