"""Every write to the core records. Views, the API, commands and tasks call these and nothing else.

Each service takes the acting user and `now` explicitly (the clock is read once, by the caller),
runs in one transaction, and raises a `missing.errors` exception when a rule refuses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Lower
from django_fsm import can_proceed

from missing import audit, clocks, rules
from missing.errors import Conflict, InvalidInput, NotAllowed, require_version
from missing.models import (
    INTAKE_ROLES,
    OVERSIGHT_ROLES,
    ApiToken,
    CaseAccessGrant,
    Child,
    EpisodeEvent,
    EpisodeState,
    Heartbeat,
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
)

# How far ahead a manager may set the next review while a child is missing.
MAX_REVIEW_INTERVAL = timedelta(days=7)


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


@dataclass(frozen=True)
class IntakeResult:
    notification: PoliceNotification
    created: bool


def _notification_hash(data: NotificationData) -> str:
    """A digest of the notification's meaning, not its spelling: a retry that omits a default
    (sequence 1) or orders keys differently is the same notification."""
    fields = {
        name: (value.pk if hasattr(value, "pk") else value)
        for name, value in dataclasses.asdict(data).items()
    }
    fields["police_force"] = data.police_force.pk
    fields["risk_grade"] = data.risk_grade.pk if data.risk_grade else None
    if not fields["restricted_intelligence"]:
        # Absent, as before the field existed: a retry of an older notification still matches.
        del fields["restricted_intelligence"]
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
    if data.risk_grade is not None and not data.risk_grade.active:
        errors.setdefault("risk_grade", []).append("This risk grade is no longer in use.")
    for f in dataclasses.fields(NotificationData):
        value = getattr(data, f.name)
        if isinstance(value, str):
            limit = PoliceNotification._meta.get_field(f.name).max_length
            if limit is not None and len(value) > limit:
                errors.setdefault(f.name, []).append(f"Use at most {limit} characters.")
    if errors:
        raise InvalidInput("The notification has errors.", field_errors=errors)


def notification_receive(
    *, actor: User, data: NotificationData, payload: dict[str, Any], now: datetime
) -> IntakeResult:
    """Log a police notification and apply it to its episode (FFD, managers, police systems).

    Idempotent on (force, reference, kind, sequence): the same notification again returns the
    one already stored and changes nothing; the same key with different details is a 409.
    A reported-missing notification is matched to a child (exact on the council's child id),
    or held for a practitioner to confirm when name and date of birth suggest candidates.
    """
    if not actor.has_role(INTAKE_ROLES):
        raise NotAllowed("Your role cannot log police notifications.")
    if actor.role == Role.POLICE_SYSTEM and actor.police_force_id != data.police_force.pk:
        raise NotAllowed("This API client may only send notifications for its own force.")
    _validate_notification(data, now=now)
    digest = _notification_hash(data)

    with transaction.atomic():
        try:
            with transaction.atomic():
                notification = PoliceNotification.objects.create(
                    police_force=data.police_force,
                    police_reference=data.police_reference,
                    kind=data.kind,
                    sequence=data.sequence,
                    received_at=now,
                    received_by=actor,
                    child_first_name=data.child_first_name,
                    child_last_name=data.child_last_name,
                    child_date_of_birth=data.child_date_of_birth,
                    child_gender=data.child_gender,
                    council_child_id=data.council_child_id,
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
                    raw_payload=payload,
                    payload_hash=digest,
                    match_status=PoliceNotification.MatchStatus.MATCHED,
                )
        except IntegrityError:
            # Someone (perhaps a concurrent retry of this very post) stored it first. On
            # PostgreSQL the unique index made us wait for their commit, so the row is there.
            existing = PoliceNotification.objects.get(
                police_force=data.police_force,
                police_reference=data.police_reference,
                kind=data.kind,
                sequence=data.sequence,
            )
            if existing.payload_hash != digest:
                raise Conflict(
                    f"Notification {data.police_reference} ({data.kind}, sequence {data.sequence}) "
                    "was already received with different details. Send a new sequence number "
                    "for an update."
                ) from None
            return IntakeResult(notification=existing, created=False)

        _apply_notification(notification, actor=actor, now=now)
    return IntakeResult(notification=notification, created=True)


def _episode_for_reference(notification: PoliceNotification) -> MissingEpisode | None:
    return MissingEpisode.objects.filter(
        police_force_id=notification.police_force_id,
        police_reference=notification.police_reference,
    ).first()


def _apply_notification(notification: PoliceNotification, *, actor: User, now: datetime) -> None:
    episode = _episode_for_reference(notification)
    kind = notification.kind
    if episode is None:
        earlier_waiting = PoliceNotification.objects.filter(
            police_force_id=notification.police_force_id,
            police_reference=notification.police_reference,
            match_status=PoliceNotification.MatchStatus.AWAITING_MATCH,
        ).exclude(pk=notification.pk)
        if earlier_waiting.exists():
            # The incident's first notification is waiting for a practitioner to confirm the
            # child; this one is applied in order when they do.
            _hold(notification)
            return
        if kind in (NotificationKind.RISK_REGRADED, NotificationKind.UPDATE):
            raise Conflict(
                f"No missing episode has police reference {notification.police_reference} for "
                "this force. Send the reported-missing notification first."
            )
        if kind == NotificationKind.FOUND:
            # Found with no earlier notification: the episode is opened and closed by this one.
            _require_opening_details(notification, found=True)
        _match_or_hold(notification, actor=actor, now=now)
        return

    notification.child_id = episode.child_id
    notification.episode = episode
    notification.save(update_fields=["child", "episode"])
    if kind == NotificationKind.REPORTED_MISSING:
        raise Conflict(
            f"Police reference {notification.police_reference} already has episode "
            f"{episode.reference}. Send updates as 'update' or 'risk_regraded'."
        )
    _apply_to_episode(notification, episode, actor=actor, now=now)


def _require_opening_details(notification: PoliceNotification, *, found: bool) -> None:
    errors: dict[str, list[str]] = {}
    for field, label in (
        ("child_first_name", "the child's first name"),
        ("child_last_name", "the child's last name"),
        ("last_seen_at", "when the child was last seen"),
        ("risk_grade", "the police risk grade"),
    ):
        if getattr(notification, field) in (None, ""):
            errors[field] = [
                f"Enter {label}: no missing episode has this police reference yet"
                + (", so this found notification opens one." if found else ".")
            ]
    if errors:
        raise InvalidInput("The notification has errors.", field_errors=errors)


def _apply_to_episode(
    notification: PoliceNotification, episode: MissingEpisode, *, actor: User, now: datetime
) -> None:
    kind = notification.kind
    if kind == NotificationKind.FOUND:
        if notification.found_at is not None and notification.found_at < episode.last_seen_at:
            raise InvalidInput(
                "The notification has errors.",
                field_errors={"found_at": ["Found time cannot be before the child was last seen."]},
            )
        _transition(
            episode_id=episode.pk,
            actor=actor,
            action="record_return",
            now=now,
            reason=f"Police found notification {notification.reference}",
            kwargs={
                "returned_at": notification.found_at,
                "found_place": notification.found_place,
                "found_by": notification.found_by,
                "prevention_interview_done": notification.prevention_interview_done,
            },
        )
    elif kind == NotificationKind.RISK_REGRADED:
        episode_regrade(
            actor=actor,
            episode_id=episode.pk,
            grade=notification.risk_grade,
            now=now,
            received_at=notification.received_at,
        )
    else:
        _event(
            episode,
            actor=actor,
            now=now,
            action="police_update",
            from_state=episode.state,
            reason=notification.circumstances,
        )
    if notification.restricted_intelligence:
        _add_restricted_intelligence(episode.pk, notification)


def _add_restricted_intelligence(episode_id: int, notification: PoliceNotification) -> None:
    """Append a later notification's restricted intelligence to the episode's: police add to
    what they know; nothing earlier is overwritten."""
    episode = MissingEpisode.objects.select_for_update(of=("self",)).get(pk=episode_id)
    entry = f"[{notification.reference}] {notification.restricted_intelligence}"
    episode.restricted_intelligence = (
        f"{episode.restricted_intelligence}\n\n{entry}"
        if episode.restricted_intelligence
        else entry
    )
    episode.save(update_fields=["restricted_intelligence"])


def _hold(notification: PoliceNotification) -> None:
    notification.match_status = PoliceNotification.MatchStatus.AWAITING_MATCH
    notification.save(update_fields=["match_status"])


def child_match_candidates(*, first_name: str, last_name: str, date_of_birth: Any) -> list[Child]:
    """Children who may be the one police describe: same last name and date of birth, or same
    first and last name. Never merged silently: a practitioner confirms or rejects."""
    last = last_name.strip().lower()
    if not last:
        return []
    by_name = Q(first_lower=first_name.strip().lower())
    match = by_name if date_of_birth is None else (Q(date_of_birth=date_of_birth) | by_name)
    return list(
        Child.objects.annotate(last_lower=Lower("last_name"), first_lower=Lower("first_name"))
        .filter(last_lower=last)
        .filter(match)
        .order_by("pk")[:20]
    )


def _match_or_hold(notification: PoliceNotification, *, actor: User, now: datetime) -> None:
    if notification.council_child_id:
        child = Child.objects.filter(council_child_id=notification.council_child_id).first()
        if child is not None:
            _open_from_notification(notification, child=child, actor=actor, now=now)
            return
    candidates = child_match_candidates(
        first_name=notification.child_first_name,
        last_name=notification.child_last_name,
        date_of_birth=notification.child_date_of_birth,
    )
    if candidates:
        _hold(notification)
        return
    child = _child_create_from(notification, now=now)
    _open_from_notification(notification, child=child, actor=actor, now=now)


def _child_create_from(notification: PoliceNotification, *, now: datetime) -> Child:
    return Child.objects.create(
        council_child_id=notification.council_child_id or None,
        first_name=notification.child_first_name,
        last_name=notification.child_last_name,
        date_of_birth=notification.child_date_of_birth,
        gender=notification.child_gender,
        created_at=now,
    )


def notification_resolve_match(
    *, actor: User, notification_id: int, child_id: int | None, now: datetime
) -> PoliceNotification:
    """A practitioner confirms which child a held notification is about (`child_id`, one of the
    candidates), or rejects them all (`child_id=None`: a new child is created). FFD, managers."""
    if not actor.has_role(INTAKE_ROLES - {Role.POLICE_SYSTEM}):
        raise NotAllowed("Your role cannot match notifications to children.")
    with transaction.atomic():
        notification = (
            # of=self: the grade is a nullable (outer) join, which PostgreSQL cannot lock.
            PoliceNotification.objects.select_for_update(of=("self",))
            .select_related("risk_grade", "police_force")
            .get(pk=notification_id)
        )
        if notification.match_status != PoliceNotification.MatchStatus.AWAITING_MATCH:
            raise Conflict(f"{notification.reference} has already been matched.")
        earlier = (
            PoliceNotification.objects.filter(
                police_force_id=notification.police_force_id,
                police_reference=notification.police_reference,
                match_status=PoliceNotification.MatchStatus.AWAITING_MATCH,
                pk__lt=notification.pk,
            )
            .order_by("pk")
            .first()
        )
        if earlier is not None or _episode_for_reference(notification) is not None:
            first = earlier.reference if earlier else "the incident's first notification"
            raise Conflict(f"{notification.reference} waits for {first}; match that one.")
        if child_id is None:
            child = _child_create_from(notification, now=now)
        else:
            candidate_ids = {
                c.pk
                for c in child_match_candidates(
                    first_name=notification.child_first_name,
                    last_name=notification.child_last_name,
                    date_of_birth=notification.child_date_of_birth,
                )
            }
            if child_id not in candidate_ids:
                raise InvalidInput(
                    "Choose one of the children offered.",
                    field_errors={"child": ["Choose one of the children offered, or a new child."]},
                )
            child = Child.objects.get(pk=child_id)
        notification.match_status = PoliceNotification.MatchStatus.MATCHED
        notification.save(update_fields=["match_status"])
        episode = _open_from_notification(notification, child=child, actor=actor, now=now)
        # Later notifications for the same incident that waited behind this one, in order.
        waiting = (
            PoliceNotification.objects.filter(
                police_force_id=notification.police_force_id,
                police_reference=notification.police_reference,
                match_status=PoliceNotification.MatchStatus.AWAITING_MATCH,
            )
            .select_related("risk_grade")
            .order_by("received_at", "pk")
        )
        for later in waiting:
            later.match_status = PoliceNotification.MatchStatus.MATCHED
            later.save(update_fields=["match_status"])
            later.child_id, later.episode = child.pk, episode
            later.save(update_fields=["child", "episode"])
            _apply_to_episode(later, episode, actor=actor, now=now)
    return notification


def _open_from_notification(
    notification: PoliceNotification, *, child: Child, actor: User, now: datetime
) -> MissingEpisode:
    grade = notification.risk_grade
    if grade is None or notification.last_seen_at is None:
        _require_opening_details(notification, found=notification.kind == NotificationKind.FOUND)
    episode = episode_open(
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
    notification.child = child
    notification.episode = episode
    notification.save(update_fields=["child", "episode"])
    if notification.kind == NotificationKind.FOUND:
        _apply_to_episode(notification, episode, actor=actor, now=now)
    return episode


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
        Child.objects.select_for_update().filter(pk=child.pk).first()
        live = MissingEpisode.objects.filter(child=child).exclude(state=EpisodeState.CANCELLED)
        still_missing = live.filter(returned_at__isnull=True).first()
        if still_missing is not None:
            raise Conflict(
                f"Child {child.reference} is still missing in episode {still_missing.reference}. "
                "Record that return before a new episode; overlapping episodes are refused."
            )
        overlapping = live.filter(
            Q(returned_at__gt=last_seen_at) | Q(last_seen_at__gte=last_seen_at)
        ).first()
        if overlapping is not None:
            raise Conflict(
                f"This episode would overlap episode {overlapping.reference} of child "
                f"{child.reference}: a new episode must start after the last one ended."
            )
        # The age on the London date the child went missing (a birthday is a London date).
        age = child.age_on(clocks.london_date(last_seen_at))
        if child.looked_after and not child.ever_looked_after:
            # Retention: once looked after, the record is kept as a looked-after child's.
            Child.objects.filter(pk=child.pk).update(ever_looked_after=True)
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
            looked_after=child.looked_after,
            child_protection_plan=child.child_protection_plan,
            child_in_need=child.child_in_need,
            placement=child.placement,
            responsible_council=child.responsible_council,
            host_council=child.host_council,
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
    meta = method._django_fsm  # type: ignore[attr-defined]
    return any(t.has_perm(method.__self__, user) for t in meta.transitions.values())  # type: ignore[attr-defined]


def require_transition_role(*, actor: User, action: str) -> None:
    """Refuse (403) a user whose role may never run `action`, before looking at their input."""
    if not role_may(actor, action):
        raise NotAllowed(f"Your role cannot {TRANSITION_LABELS[action]}.")


def _event(
    episode: MissingEpisode,
    *,
    actor: User | None,
    now: datetime,
    action: str,
    from_state: str,
    reason: str,
) -> EpisodeEvent:
    # Every change to an episode passes here (its timeline): the access log's change row too.
    audit.record_change(child_id=episode.child_id, reference=episode.reference, now=now)
    return EpisodeEvent.objects.create(
        episode=episode,
        at=now,
        actor=actor,
        action=action,
        from_state=from_state,
        to_state=episode.state,
        reason=reason,
    )


def _transition(
    *,
    episode_id: int,
    actor: User,
    action: str,
    now: datetime,
    reason: str,
    kwargs: dict[str, Any],
    expected_version: int | None = None,
) -> MissingEpisode:
    """Run one FSM transition: lock, check version, role and state, apply, save, record.

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
        method = getattr(episode, action)
        if not role_may(actor, action, episode):
            raise NotAllowed(f"Your role cannot {TRANSITION_LABELS[action]}.")
        if actor.role == Role.INTERVIEWER and not _has_live_grant(episode_id, actor):
            raise NotAllowed(f"{episode.reference} is not assigned to you.")
        require_version(episode, expected_version)
        if not can_proceed(method, check_conditions=False):
            raise Conflict(
                f"{episode.reference} is '{episode.get_state_display()}': you cannot "
                f"{TRANSITION_LABELS[action]} now."
            )
        if not can_proceed(method):
            raise Conflict(_unmet_conditions(episode, action))
        from_state = episode.state
        method(**kwargs)
        episode.version += 1
        episode.updated_at = now
        episode.save()
        _event(episode, actor=actor, now=now, action=action, from_state=from_state, reason=reason)
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


def episode_record_return(
    *,
    actor: User,
    episode_id: int,
    returned_at: datetime,
    found_place: str,
    found_by: str,
    prevention_interview_done: bool | None,
    now: datetime,
    expected_version: int | None = None,
) -> MissingEpisode:
    """Record the child's return; the interview falls due 72 h later. FFD, managers."""
    require_transition_role(actor=actor, action="record_return")
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
            "found_place": found_place,
            "found_by": found_by,
            "prevention_interview_done": prevention_interview_done,
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
    *,
    actor: User,
    episode_id: int,
    data: DecisionData,
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


def episode_regrade(
    *,
    actor: User,
    episode_id: int,
    grade: RiskGrade,
    now: datetime,
    received_at: datetime | None = None,
    expected_version: int | None = None,
) -> MissingEpisode:
    """Police changed the risk grade (FFD, managers, police systems). While the child is missing a
    review falls due within the new grade's time from `received_at`, if that is sooner."""
    require_transition_role(actor=actor, action="regrade")
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


def episode_sign_off(
    *,
    actor: User,
    episode_id: int,
    note: str,
    now: datetime,
    expected_version: int | None = None,
    from_interview_sign_off: bool = False,
) -> MissingEpisode:
    """A manager closes the episode once the interview is held or recorded as not held. Needs
    the return and at least one oversight decision. Interview access to it ends.

    When an interview record holds the outcome, the episode closes only through that
    interview's sign-off (`from_interview_sign_off`), where the manager reads the interview and
    records the follow-up decisions (DfE 2014: what is learned informs the safety plan)."""
    require_transition_role(actor=actor, action="sign_off")
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
        )
        _revoke_all_access(episode_id, now=now)
    return episode


def episode_cancel(
    *, actor: User, episode_id: int, reason: str, now: datetime, expected_version: int | None = None
) -> MissingEpisode:
    """A manager cancels an episode logged in error, with a reason. Nothing is deleted."""
    require_transition_role(actor=actor, action="cancel")
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


def episode_record_interview_outcome(
    *,
    actor: User,
    episode_id: int,
    outcome: str,
    held_at: datetime | None,
    note: str,
    now: datetime,
    expected_version: int | None = None,
    interview_reference: str = "",
) -> MissingEpisode:
    """The interview was held (when), or why it was not. The granted interviewer or a manager;
    only a manager may decide not to hold one. The episode then awaits a manager's sign-off."""
    require_transition_role(actor=actor, action="record_interview_outcome")
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


def episode_set_flags(
    *,
    actor: User,
    episode_id: int,
    sexual_exploitation: bool,
    criminal_exploitation: bool,
    mental_health: bool,
    now: datetime,
    expected_version: int | None = None,
) -> MissingEpisode:
    """A manager records what is known of the episode: sexual or criminal exploitation, mental
    health (managers and heads of service). Changes go on the timeline and bump the version;
    an exploitation flag can fire its repeat-missing rule in the same transaction. Setting
    the flags it already has changes nothing. A cancelled episode (logged in error) is refused.
    """
    if not actor.has_role(OVERSIGHT_ROLES):
        raise NotAllowed("Your role cannot change an episode's flags.")
    wanted = {
        "sexual_exploitation": sexual_exploitation,
        "criminal_exploitation": criminal_exploitation,
        "mental_health": mental_health,
    }
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


def risk_task_complete(
    *, actor: User, task_id: int, outcome: str, now: datetime, expected_version: int | None = None
) -> RiskMeetingTask:
    """The meeting was held (or the manager decided one is not needed): record the outcome,
    which is required, and close the task. Managers and heads of service. A stale version or a
    task already completed is a 409. The child stays flagged while another task is open."""
    if not actor.has_role(OVERSIGHT_ROLES):
        raise NotAllowed("Your role cannot complete strategy / risk meeting tasks.")
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
    """Make a token for `user`; only its hash is kept. Returns the token: show it once."""
    raw = "mcr_" + secrets.token_urlsafe(32)
    ApiToken.objects.create(
        user=user,
        prefix=raw[:12],
        key_hash=hashlib.sha256(raw.encode()).hexdigest(),
        scope=scope,
        created_at=now,
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
) -> User:
    """Create a staff (or police-system) account. Interviewers must belong to an organisation."""
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
            role=role,
            organisation=org,
            team=team_obj,
            phone=phone,
            police_force=police_force,
            date_joined=now,
            # Only administrators reach the Django admin, which holds reference data, not cases.
            is_staff=role == Role.ADMIN,
            is_superuser=role == Role.ADMIN,
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
