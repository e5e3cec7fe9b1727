"""Retention: when a child's records are erased, and the erasure itself.

Each child carries a retention class (`Child.retention_class`):
- looked after at any time (the child's own flag, `ever_looked_after`, or any episode recorded
  while they were looked after): kept until the 75th birthday (Care Planning, Placement and
  Case Review (England) Regulations 2010, reg. 50). Once looked after, always looked after.
- every other child: until the birthday the council sets as data (`RetentionPolicy`,
  default 25: local policy, editable in the admin).

A child with no date of birth is never erased automatically (the date cannot be worked out);
the dry run lists them for a person to decide. Nothing is erased while the child has an open
episode: a child who goes missing again keeps their whole file.

The core cannot import the apps built on it, so they register erasers in
settings.RETENTION_ERASERS (dotted paths): each takes the child and episode ids and deletes
what it holds about them, returning counts per record type. The core's own eraser runs last
(its rows are what the others point at). Each child is erased in its own transaction, with one
AccessLog row (action "erase", the counts, no personal data): the log keeps no names, so it
stays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

# pghistory makes the *History event models at run time: mypy cannot see them.
from missing.models import (  # type: ignore[attr-defined]
    OPEN_STATES,
    AccessAction,
    AccessLog,
    CaseAccessGrant,
    Child,
    ChildHistory,
    ChildMerge,
    EpisodeEvent,
    EpisodeHistory,
    LegalStatus,
    LegalStatusPeriod,
    LegalStatusPeriodHistory,
    MissingEpisode,
    OversightDecision,
    OversightDecisionHistory,
    PoliceNotification,
    RetentionClass,
    RetentionPolicy,
    RiskMeetingTask,
)

Eraser = Callable[..., dict[str, int]]


def current_policy() -> RetentionPolicy:
    """The council's policy row, or the defaults when an administrator has not set one."""
    return RetentionPolicy.objects.order_by("pk").first() or RetentionPolicy()


def birthday(dob: date, age: int) -> date:
    """The day a child born on `dob` turns `age`. A 29 February birthday falls on 1 March in
    a common year (the day after 28 February, as the law counts it for ages)."""
    try:
        return dob.replace(year=dob.year + age)
    except ValueError:
        return date(dob.year + age, 3, 1)


def _born_on_or_before(today: date, age: int) -> date:
    """The latest date of birth of a child who has reached `age` by `today`."""
    try:
        return today.replace(year=today.year - age)
    except ValueError:  # today is 29 February: someone born on 29 Feb turns `age` on 1 March
        return date(today.year - age, 2, 28)


@dataclass(frozen=True)
class Candidate:
    child_id: int
    retention_class: str
    until: date | None
    reason: str

    @property
    def reference(self) -> str:
        return f"C-{self.child_id}"


def _looked_after_ever() -> Q:
    episode_looked_after = MissingEpisode.objects.filter(child=OuterRef("pk"), looked_after=True)
    periods = LegalStatusPeriod.objects.filter(
        child=OuterRef("pk"), status=LegalStatus.LOOKED_AFTER
    )
    return Q(ever_looked_after=True) | Q(Exists(periods)) | Q(Exists(episode_looked_after))


def _without_open_episode(qs: QuerySet[Child]) -> QuerySet[Child]:
    open_episodes = MissingEpisode.objects.filter(child=OuterRef("pk"), state__in=OPEN_STATES)
    return qs.exclude(Exists(open_episodes))


def due_for_erasure(*, now: datetime, limit: int | None = None) -> list[Candidate]:
    """Children whose retention has ended and who have no open episode, oldest first.

    Two indexed range scans on the date of birth (child_dob_idx): the cost follows the children
    past their date, not the whole register."""
    today = timezone.localdate(now)
    policy = current_policy()
    other_age = policy.other_until_age
    la_age = RetentionPolicy.LOOKED_AFTER_UNTIL_AGE
    looked_after = _without_open_episode(
        Child.objects.filter(date_of_birth__lte=_born_on_or_before(today, la_age))
    )
    others = _without_open_episode(
        Child.objects.filter(date_of_birth__lte=_born_on_or_before(today, other_age)).exclude(
            _looked_after_ever()
        )
    )
    found: dict[int, Candidate] = {}
    for child_id, dob in looked_after.values_list("pk", "date_of_birth"):
        if dob is None:  # not reached: the filter is on the date of birth
            continue
        found[child_id] = Candidate(
            child_id,
            RetentionClass.LOOKED_AFTER,
            birthday(dob, la_age),
            # No date in the reason: it would give the date of birth away in the log.
            f"looked after at some time: past the {la_age}th birthday",
        )
    for child_id, dob in others.values_list("pk", "date_of_birth"):
        if dob is None:  # not reached: the filter is on the date of birth
            continue
        found.setdefault(
            child_id,
            Candidate(
                child_id,
                RetentionClass.OTHER,
                birthday(dob, other_age),
                f"never looked after: past the {other_age}th birthday (local policy)",
            ),
        )
    candidates = sorted(found.values(), key=lambda c: (c.until or today, c.child_id))
    return candidates[:limit] if limit is not None else candidates


def kept_without_date_of_birth() -> QuerySet[Child]:
    """Children whose retention date cannot be worked out: a person must decide."""
    return Child.objects.filter(date_of_birth__isnull=True).order_by("pk")


def erasers() -> list[Eraser]:
    """The other apps' erasers (settings.RETENTION_ERASERS), then the core's own."""
    return [import_string(path) for path in getattr(settings, "RETENTION_ERASERS", [])] + [
        erase_core
    ]


def erase_core(*, child_ids: list[int], episode_ids: list[int]) -> dict[str, int]:
    """The core's rows about these children, dependants first, then their change history
    (after the rows: deleting a tracked row writes a last history event)."""
    counts = {
        "access grants": CaseAccessGrant.objects.filter(episode_id__in=episode_ids).delete()[0],
        "timeline events": EpisodeEvent.objects.filter(episode_id__in=episode_ids).delete()[0],
        "oversight decisions": OversightDecision.objects.filter(
            episode_id__in=episode_ids
        ).delete()[0],
        "police notifications": PoliceNotification.objects.filter(
            Q(child_id__in=child_ids) | Q(episode_id__in=episode_ids)
        ).delete()[0],
        "strategy / risk meeting tasks": RiskMeetingTask.objects.filter(
            child_id__in=child_ids
        ).delete()[0],
        "episodes": MissingEpisode.objects.filter(pk__in=episode_ids).delete()[0],
        # The record of a merge into this child (the removed child's id and reference, counts).
        "child merge records": ChildMerge.objects.filter(kept_child_id__in=child_ids).delete()[0],
        "legal-status periods": LegalStatusPeriod.objects.filter(child_id__in=child_ids).delete()[
            0
        ],
        "children": Child.objects.filter(pk__in=child_ids).delete()[0],
    }
    counts["change history"] = (
        EpisodeHistory.objects.filter(pgh_obj_id__in=episode_ids).delete()[0]
        + OversightDecisionHistory.objects.filter(episode_id__in=episode_ids).delete()[0]
        + ChildHistory.objects.filter(pgh_obj_id__in=child_ids).delete()[0]
        + LegalStatusPeriodHistory.objects.filter(child_id__in=child_ids).delete()[0]
    )
    return counts


@dataclass(frozen=True)
class Erased:
    child_id: int
    counts: dict[str, int]


def erase_child(*, child_id: int, now: datetime, reason: str) -> Erased | None:
    """Erase one child and everything about them, across apps, in one transaction, with its
    AccessLog row. None (nothing touched) if an episode opened since the candidates were
    listed: the child is locked first, so a notification cannot open one half-way."""
    with transaction.atomic():
        child = Child.objects.select_for_update().filter(pk=child_id).first()
        if child is None:
            return None
        episodes = MissingEpisode.objects.filter(child_id=child_id)
        if episodes.filter(state__in=OPEN_STATES).exists():
            return None
        episode_ids = list(episodes.values_list("pk", flat=True))
        counts: dict[str, int] = {}
        for eraser in erasers():
            for name, number in eraser(child_ids=[child_id], episode_ids=episode_ids).items():
                counts[name] = counts.get(name, 0) + number
        AccessLog.objects.create(
            at=now,
            user=None,
            role="",
            action=AccessAction.ERASE,
            child_id=child_id,
            reference=f"C-{child_id}",
            route="apply_retention",
            rows=sum(counts.values()),
            detail={"reason": reason, "counts": counts},
        )
    return Erased(child_id, counts)


def describe(counts: dict[str, Any]) -> str:
    return ", ".join(f"{number} {name}" for name, number in counts.items() if number)
