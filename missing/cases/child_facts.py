"""The child's facts (NHS number, council child id, social worker, team, placement) and their
legal-status periods: every write, and the one function that turns periods into an episode's
legal-status snapshot. See docs/decisions/0046-child-facts-and-legal-status.md.

Who may write: FFD practitioners, managers and heads of service (`FACTS_ROLES`). Every service
takes the acting user and `now` (read once by the caller), locks the child's row first (the
same order as `services.episode_open`, so a period change and an opening episode never
deadlock), and writes its access-log row; the change history is pghistory's (PostgreSQL).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from types import EllipsisType, MappingProxyType
from typing import Any, cast

import pghistory
from django.db import IntegrityError, connection, transaction
from django.db.models import Field, Q, QuerySet

from missing.audit import access_log as audit
from missing.cases import clocks, nhs
from missing.cases.errors import Conflict, InvalidInput, require_roles, require_version
from missing.models import (
    CASE_READERS,
    Child,
    EpisodeEvent,
    LegalStatus,
    LegalStatusPeriod,
    MissingEpisode,
    Role,
    Team,
    User,
    is_regional,
)

# FFD and managers (heads of service included); interviewers, administrators and police
# systems are refused.
FACTS_ROLES = CASE_READERS

# The facts edited on the child's page and through PATCH /api/children/{id}/.
FACT_FIELDS = (
    "nhs_number",
    "council_child_id",
    "social_worker",
    "social_worker_name",
    "allocated_team",
    "placement",
    "placement_area",
    "responsible_council",
    "host_council",
)
REASON_MAX = 5000
EARLIEST_DATE = date(1900, 1, 1)


def _require_role(actor: User) -> None:
    require_roles(actor, FACTS_ROLES, label="change a child's facts")


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Give a reason.", field_errors={"reason": ["Enter the reason."]})
    if len(reason) > REASON_MAX:
        raise InvalidInput(
            "The reason is too long.",
            field_errors={"reason": [f"Use at most {REASON_MAX} characters."]},
        )
    return reason


def _history_reason(reason: str) -> AbstractContextManager[Any]:
    """Put the reason on the change history's context (PostgreSQL: pghistory's context needs
    set_config), so the history shows why each change was made."""
    if connection.vendor != "postgresql":
        return nullcontext()
    return pghistory.context(reason=reason)


def _locked_child(child_id: int) -> Child:
    child = Child.objects.select_for_update().filter(pk=child_id).first()
    if child is None:
        raise Conflict(f"Child C-{child_id} was merged into another record or erased meanwhile.")
    return child


# --------------------------------------------------------------------------------------------
# Legal status: the snapshot of an episode
# --------------------------------------------------------------------------------------------


def legal_status_on(periods: Iterable[LegalStatusPeriod], day: date) -> dict[str, bool]:
    """{status: in force on `day`} for the three statuses, from the child's periods."""
    periods = list(periods)
    return {
        status: any(p.status == status and p.in_force_on(day) for p in periods)
        for status in LegalStatus.values
    }


def episode_snapshot(*, child_id: int, last_seen_at: datetime) -> dict[str, bool]:
    """An episode's legal-status snapshot: the periods in force on the Europe/London date the
    child was last seen (a child last seen at 00:30 BST on 1 May is counted on 1 May)."""
    day = clocks.london_date(last_seen_at)
    return legal_status_on(LegalStatusPeriod.objects.filter(child_id=child_id).in_force(day), day)


def _recompute(child: Child, *, actor: User | None, now: datetime, because: str) -> list[str]:
    """Bring every episode's snapshot of `child` and the retention flag in line with the
    periods, in the caller's transaction (the child's row is locked). Returns the references
    of the episodes whose snapshot changed; each gets a timeline entry."""
    periods = list(LegalStatusPeriod.objects.filter(child_id=child.pk))
    changed = []
    episodes = MissingEpisode.objects.filter(child_id=child.pk).only(
        "pk", "state", "last_seen_at", "looked_after", "child_protection_plan", "child_in_need"
    )
    for episode in episodes.order_by("last_seen_at"):
        snapshot = legal_status_on(periods, clocks.london_date(episode.last_seen_at))
        if all(getattr(episode, status) == value for status, value in snapshot.items()):
            continue
        MissingEpisode.objects.filter(pk=episode.pk).update(**snapshot, updated_at=now)
        held = [LegalStatus(s).label.lower() for s, value in snapshot.items() if value]
        EpisodeEvent.objects.create(
            episode_id=episode.pk,
            at=now,
            actor=actor,
            action="legal_status_updated",
            from_state=episode.state,
            to_state=episode.state,
            reason=f"{because}: on the day it started the child was "
            + (", ".join(held) if held else "none of looked after, on a plan, in need")
            + ".",
        )
        audit.record_change(child_id=child.pk, reference=episode.reference, now=now)
        changed.append(episode.reference)
    # Retention: kept as a looked-after child's record while any looked-after period is on
    # record (a period removed as recorded in error no longer counts).
    ever = any(p.status == LegalStatus.LOOKED_AFTER for p in periods)
    if child.ever_looked_after != ever:
        Child.objects.filter(pk=child.pk).update(ever_looked_after=ever)
        child.ever_looked_after = ever
    return changed


def recompute_after_merge(child: Child, *, actor: User, now: datetime, because: str) -> None:
    """missing.cases.merge moved another record's periods and episodes onto `child` (locked)."""
    _recompute(child, actor=actor, now=now, because=f"{because}: records merged")


# --------------------------------------------------------------------------------------------
# Legal-status periods: add, change (end, correct), remove
# --------------------------------------------------------------------------------------------


def _validate_period(
    *,
    child_id: int,
    status: str,
    start_date: date,
    end_date: date | None,
    now: datetime,
    exclude_id: int | None = None,
) -> None:
    errors: dict[str, list[str]] = {}
    today = clocks.london_date(now)
    if status not in LegalStatus.values:
        errors["status"] = ["Choose looked after, child protection plan or child in need."]
    if start_date < EARLIEST_DATE or start_date > today:
        errors["start_date"] = ["The start date must be a real date, today or earlier."]
    if end_date is not None:
        if end_date < EARLIEST_DATE or end_date > today:
            errors["end_date"] = ["The end date must be a real date, today or earlier."]
        elif end_date <= start_date:
            errors["end_date"] = ["The end date must be after the start date."]
    if not errors:
        others = LegalStatusPeriod.objects.filter(child_id=child_id, status=status)
        if exclude_id is not None:
            others = others.exclude(pk=exclude_id)
        # Two periods of one status cross when each starts before the other ends.
        crossing = others.filter(Q(end_date__isnull=True) | Q(end_date__gt=start_date))
        if end_date is not None:
            crossing = crossing.filter(start_date__lt=end_date)
        other = crossing.order_by("start_date").first()
        if other is not None:
            until = f" to {other.end_date:%d/%m/%Y}" if other.end_date else " (not ended)"
            errors["start_date"] = [
                f"This overlaps {other.reference}, {other.get_status_display().lower()} from "
                f"{other.start_date:%d/%m/%Y}{until}. End or correct that period instead."
            ]
    if errors:
        raise InvalidInput("The legal-status period has errors.", field_errors=errors)


@dataclass(frozen=True)
class PeriodData:
    """A legal-status period as the user records it (`end_date` None: still in force)."""

    status: str
    start_date: date
    end_date: date | None = None
    reason: str = ""


def legal_status_period_add(
    data: PeriodData,
    /,
    *,
    actor: User,
    child_id: int,
    now: datetime,
    expected_version: int | None = None,
) -> LegalStatusPeriod:
    """Record a legal-status period (FFD, managers). The child's episodes that started while it
    was in force get the status in their snapshot, in the same transaction. `expected_version`
    is the child's (a period is added to the child's record as read)."""
    _require_role(actor)
    reason = _reason(data.reason)
    with transaction.atomic(), _history_reason(reason):
        child = _locked_child(child_id)
        require_version(child, expected_version)
        _validate_period(
            child_id=child.pk,
            status=data.status,
            start_date=data.start_date,
            end_date=data.end_date,
            now=now,
        )
        period = LegalStatusPeriod.objects.create(
            child=child,
            status=data.status,
            start_date=data.start_date,
            end_date=data.end_date,
            source=LegalStatusPeriod.Source.MANUAL,
            reason=reason,
            recorded_by=actor,
            recorded_at=now,
        )
        audit.record_change(child_id=child.pk, reference=period.reference, now=now)
        _recompute(child, actor=actor, now=now, because=f"{period.reference} recorded")
    return period


def _child_of_period(period_id: int) -> int:
    child_id = (
        LegalStatusPeriod.objects.filter(pk=period_id).values_list("child_id", flat=True).first()
    )
    if child_id is None:
        raise Conflict(f"LS-{period_id} was removed meanwhile. Reload the child's record.")
    return child_id


def _locked_period(child: Child, period_id: int) -> LegalStatusPeriod:
    period = LegalStatusPeriod.objects.select_for_update().filter(pk=period_id, child=child).first()
    if period is None:
        raise Conflict(f"LS-{period_id} is no longer on {child.reference}'s record.")
    return period


@dataclass(frozen=True)
class PeriodChangeData:
    """An end or a correction of a period: None (`status`, `start_date`) and `...`
    (`end_date`) keep the period's value; `end_date=None` reopens the period."""

    reason: str = ""
    status: str | None = None
    start_date: date | None = None
    end_date: date | EllipsisType | None = ...


def legal_status_period_change(
    data: PeriodChangeData,
    /,
    *,
    actor: User,
    period_id: int,
    now: datetime,
    expected_version: int | None = None,
) -> LegalStatusPeriod:
    """End a period (`end_date`) or correct it (status, dates), with a reason (FFD, managers).
    Values left out keep the period's (`end_date=None` reopens it). The snapshots of the
    child's episodes are recomputed in the same transaction."""
    _require_role(actor)
    reason = _reason(data.reason)
    status, start_date, end_date = data.status, data.start_date, data.end_date
    child_id = _child_of_period(period_id)
    with transaction.atomic(), _history_reason(reason):
        child = _locked_child(child_id)
        period = _locked_period(child, period_id)
        require_version(period, expected_version)
        new_status = status if status is not None else period.status
        new_start = start_date if start_date is not None else period.start_date
        new_end = period.end_date if isinstance(end_date, EllipsisType) else end_date
        _validate_period(
            child_id=child.pk,
            status=new_status,
            start_date=new_start,
            end_date=new_end,
            now=now,
            exclude_id=period.pk,
        )
        period.status = new_status
        period.start_date = new_start
        period.end_date = new_end
        period.reason = reason
        period.recorded_by = actor
        period.recorded_at = now
        period.version += 1
        period.save()
        audit.record_change(child_id=child.pk, reference=period.reference, now=now)
        _recompute(child, actor=actor, now=now, because=f"{period.reference} changed")
    return period


@dataclass(frozen=True)
class PeriodRemoveData:
    """Why the period was recorded in error."""

    reason: str = ""


def legal_status_period_remove(
    data: PeriodRemoveData,
    /,
    *,
    actor: User,
    period_id: int,
    now: datetime,
    expected_version: int | None = None,
) -> None:
    """Remove a period recorded in error, with a reason (FFD, managers). A period that ended is
    ended, not removed. The reason is written on the row before it goes, so the change history
    keeps it; the snapshots are recomputed in the same transaction."""
    _require_role(actor)
    reason = _reason(data.reason)
    child_id = _child_of_period(period_id)
    with transaction.atomic(), _history_reason(reason):
        child = _locked_child(child_id)
        period = _locked_period(child, period_id)
        require_version(period, expected_version)
        reference = period.reference
        LegalStatusPeriod.objects.filter(pk=period.pk).update(
            reason=f"Removed: {reason}", recorded_by=actor, recorded_at=now
        )
        period.delete()
        audit.record_change(child_id=child.pk, reference=reference, now=now)
        _recompute(child, actor=actor, now=now, because=f"{reference} removed")


# --------------------------------------------------------------------------------------------
# The child's facts
# --------------------------------------------------------------------------------------------


def _same_council(child: Child) -> QuerySet[Child]:
    """The records an identifier must be unique among: the child's council's on a regional
    installation (decision 0070: another council may hold the same child under the same NHS
    number or id, and is not named here); every record on a single-council one."""
    if not is_regional():
        return Child.objects.all()
    if child.council_id is None:
        return Child.objects.filter(council__isnull=True)
    return Child.objects.filter(council_id=child.council_id)


def _fact_errors(child: Child, changes: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if changes.get("nhs_number"):
        number = changes["nhs_number"]
        problem = nhs.problem(number)
        if problem:
            errors["nhs_number"] = [problem]
        else:
            other = _same_council(child).filter(nhs_number=number).exclude(pk=child.pk).first()
            if other is not None:
                errors["nhs_number"] = [
                    f"Child {other.reference} has this NHS number. If they are the same child, "
                    "merge the two records."
                ]
    if changes.get("council_child_id"):
        other = (
            _same_council(child)
            .filter(council_child_id=changes["council_child_id"])
            .exclude(pk=child.pk)
            .first()
        )
        if other is not None:
            errors["council_child_id"] = [
                f"Child {other.reference} has this council child id. If they are the same "
                "child, merge the two records."
            ]
    worker = changes.get("social_worker", child.social_worker)
    if (
        "social_worker" in changes
        and worker is not None
        and (not worker.is_active or worker.role in (Role.POLICE_SYSTEM, Role.ADMIN))
    ):
        errors["social_worker"] = ["Choose an active member of staff."]
    name = changes.get("social_worker_name", child.social_worker_name)
    if worker is not None and name:
        errors.setdefault("social_worker_name", []).append(
            "Leave the name blank when the social worker is a user of the system."
        )
    for field in FACT_FIELDS:
        value = changes.get(field)
        limit = cast(Field, Child._meta.get_field(field)).max_length
        if isinstance(value, str) and limit is not None and len(value) > limit:
            errors.setdefault(field, []).append(f"Use at most {limit} characters.")
    return errors


@dataclass(frozen=True)
class FactsData:
    """The facts the user changes (`changes`: FACT_FIELDS given to their new values, those
    left out keep theirs; a user or None for `social_worker`, a Team or None for
    `allocated_team`; the NHS number with or without spaces), with the reason. `changes` is
    copied read-only: the caller's dict changing later does not change the data object."""

    changes: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "changes", MappingProxyType(dict(self.changes)))


def child_update_facts(
    data: FactsData,
    /,
    *,
    actor: User,
    child_id: int,
    now: datetime,
    expected_version: int | None = None,
) -> Child:
    """Change the child's facts, with a reason (`FactsData`). FFD, managers and heads of
    service. 409 on a stale version."""
    _require_role(actor)
    reason = _reason(data.reason)
    unknown = sorted(set(data.changes) - set(FACT_FIELDS))
    if unknown:
        raise InvalidInput(
            "Unknown fields.", field_errors={name: ["This fact cannot be set."] for name in unknown}
        )
    changes = dict(data.changes)
    for field in FACT_FIELDS:
        if isinstance(changes.get(field), str):
            changes[field] = changes[field].strip()
    if "nhs_number" in changes:
        changes["nhs_number"] = nhs.normalise(changes["nhs_number"] or "") or None
    if "council_child_id" in changes:
        changes["council_child_id"] = changes["council_child_id"] or None
    if changes.get("allocated_team") is not None and not isinstance(
        changes["allocated_team"], Team
    ):
        raise InvalidInput("Unknown team.", field_errors={"allocated_team": ["Choose a team."]})
    with transaction.atomic(), _history_reason(reason):
        child = _locked_child(child_id)
        require_version(child, expected_version)
        errors = _fact_errors(child, changes)
        if errors:
            raise InvalidInput("The child's facts have errors.", field_errors=errors)
        changed = [name for name, value in changes.items() if getattr(child, name) != value]
        if not changed:
            return child
        for name in changed:
            setattr(child, name, changes[name])
        child.version += 1
        try:
            with transaction.atomic():
                child.save(update_fields=[*changed, "version"])
        except IntegrityError:
            # Another record of this council took the identifier since the check above.
            raise Conflict(
                "Another child's record has just been given this NHS number or council child "
                "id. Reload the page and check."
            ) from None
        audit.record_change(child_id=child.pk, reference=child.reference, now=now)
    return child


def recompute_after_import(child: Child, *, actor: User, now: datetime, because: str) -> list[str]:
    """ssd.importer wrote `child`'s (locked) legal-status periods in bulk: bring its episodes'
    snapshots and the retention flag in line, once per child (not per period)."""
    return _recompute(child, actor=actor, now=now, because=because)
