"""Reads for return interviews. Every list declares its joins (no query per row); every read
goes through `visible_to`, so an interviewer sees only the interviews assigned to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import (
    Exists,
    Min,
    OuterRef,
    Prefetch,
    QuerySet,
)

from interviews import figures
from interviews.models import (
    EDITABLE_STATUSES,
    FACTOR_KIND_PLURALS,
    ContactAttempt,
    Factor,
    FactorKind,
    InterviewEpisode,
    InterviewFactor,
    ReturnInterview,
)
from missing.models import (
    INTERVIEW_PENDING_STATES,
    Child,
    EpisodeState,
    MissingEpisode,
)


def interviews_visible(user: Any) -> QuerySet[ReturnInterview]:
    return ReturnInterview.objects.visible_to(user)


def _with_covered(qs: QuerySet[ReturnInterview]) -> QuerySet[ReturnInterview]:
    return qs.prefetch_related(
        Prefetch(
            "covered",
            figures.link_answers(
                InterviewEpisode.objects.select_related("episode").order_by(
                    "episode__last_seen_at", "pk"
                )
            ),
        )
    )


def interview_queue(user: Any) -> QuerySet[ReturnInterview]:
    """An interviewer's own open interviews, soonest due first (two queries: the interviews
    with their child and earliest due time; the episodes they cover)."""
    return _with_covered(
        interviews_visible(user)
        .filter(interviewer=user, status__in=EDITABLE_STATUSES)
        .select_related("child")
        .annotate(due_at=Min("covered__episode__interview_due_at"))
        .order_by("due_at", "pk")
    )


def interview_list(user: Any, *, open_only: bool = False) -> QuerySet[ReturnInterview]:
    """Interviews the user may see, soonest due first, with child and interviewer (two queries)."""
    qs = interviews_visible(user)
    if open_only:
        qs = qs.exclude(status="signed_off")
    return _with_covered(
        qs.select_related("child", "interviewer", "interviewer_organisation")
        .annotate(due_at=Min("covered__episode__interview_due_at"))
        .order_by("due_at", "pk")
    )


def episodes_to_arrange(user: Any) -> QuerySet[MissingEpisode]:
    """Returned episodes no interview covers yet, soonest due first (one query)."""
    return (
        MissingEpisode.objects.visible_to(user)
        .filter(state__in=INTERVIEW_PENDING_STATES)
        .filter(~Exists(InterviewEpisode.objects.filter(episode=OuterRef("pk"))))
        .with_related()
        .order_by("interview_due_at", "pk")
    )


def interview_detail(user: Any, interview_id: int) -> ReturnInterview:
    """One interview with everything its pages show (a query each: the interview and its
    people; covered episodes; attempts; factors; the places and people the child named).
    Raises DoesNotExist if not visible."""
    return (
        _with_covered(interviews_visible(user))
        .select_related(
            "child",
            "interviewer",
            "interviewer_organisation",
            "assigned_by",
            "independence_exception_by",
            "completed_by",
            "signed_off_by",
        )
        .prefetch_related(
            Prefetch("attempts", ContactAttempt.objects.select_related("recorded_by")),
            Prefetch("factors", InterviewFactor.objects.select_related("factor")),
            "mentions",
        )
        .get(pk=interview_id)
    )


def coverable_episodes(child: Child) -> QuerySet[MissingEpisode]:
    """The child's returned episodes no interview covers yet (may be added to one)."""
    return (
        MissingEpisode.objects.filter(child=child, state__in=INTERVIEW_PENDING_STATES)
        .filter(~Exists(InterviewEpisode.objects.filter(episode=OuterRef("pk"))))
        .order_by("last_seen_at", "pk")
    )


def all_factors() -> QuerySet[Factor]:
    return Factor.objects.order_by("kind", "order", "label")


def episode_interview_link(episode_id: int) -> InterviewEpisode | None:
    return (
        figures.link_answers(InterviewEpisode.objects.all())
        .select_related("interview", "interview__interviewer")
        .filter(episode_id=episode_id)
        .first()
    )


# --------------------------------------------------------------------------------------------
# Figures: per episode, never per interview
# --------------------------------------------------------------------------------------------


def episode_answers(user: Any) -> QuerySet[MissingEpisode]:
    """Every returned, not cancelled episode the user may see, with its own answers as the
    figures count them (`answer_offered`, `answer_accepted`, `answer_refused`, `answer_held`,
    `answer_held_within_72h` of its own return, `answer_independence_exception`: see
    interviews.figures.ANSWERS) and its interview (None if none). One query; one row per
    episode, so an interview covering three episodes counts three."""
    return figures.with_answers(
        MissingEpisode.objects.visible_to(user)
        .filter(returned_at__isnull=False)
        .exclude(state=EpisodeState.CANCELLED)
        .select_related("child", "interview_link__interview__interviewer_organisation")
        .order_by("returned_at", "pk")
    )


# --------------------------------------------------------------------------------------------
# The child's history: episodes and interviews in time order, and the pattern of factors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryItem:
    at: datetime
    kind: str  # "episode" or "interview"
    episode: MissingEpisode | None = None
    interview: ReturnInterview | None = None


@dataclass(frozen=True)
class FactorCount:
    factor: Factor
    count: int
    # The interviews (dates) it was picked in, oldest first.
    picked_in: list[ReturnInterview]


@dataclass
class ChildHistory:
    items: list[HistoryItem]
    patterns: dict[str, list[FactorCount]]

    @property
    def pattern_sections(self) -> list[tuple[str, list[FactorCount]]]:
        return [(FACTOR_KIND_PLURALS[kind], rows) for kind, rows in self.patterns.items()]


def child_history(user: Any, child_id: int) -> ChildHistory:
    """Every episode and interview of the child the user may see, in time order, with the
    push and pull factors and harms ranked across all their interviews (three queries: the
    episodes; the interviews with their factors; the factors)."""
    episodes = list(
        MissingEpisode.objects.visible_to(user)
        .filter(child_id=child_id)
        .select_related("police_grade")
        .order_by("last_seen_at", "pk")
    )
    interviews = list(
        interviews_visible(user)
        .filter(child_id=child_id)
        .select_related("interviewer")
        .prefetch_related(
            Prefetch("factors", InterviewFactor.objects.select_related("factor")),
            "covered",
        )
        .order_by("created_at", "pk")
    )
    items = [HistoryItem(at=e.last_seen_at, kind="episode", episode=e) for e in episodes]
    for interview in interviews:
        when = interview.held_at or interview.completed_at or interview.planned_at
        items.append(
            HistoryItem(at=when or interview.created_at, kind="interview", interview=interview)
        )
    items.sort(key=lambda item: (item.at, item.kind == "interview"))
    counts: dict[int, FactorCount] = {}
    for interview in interviews:
        for pick in interview.factors.all():
            row = counts.get(pick.factor_id)
            if row is None:
                row = counts[pick.factor_id] = FactorCount(pick.factor, 0, [])
            counts[pick.factor_id] = FactorCount(
                row.factor, row.count + 1, [*row.picked_in, interview]
            )
    patterns: dict[str, list[FactorCount]] = {kind: [] for kind in FactorKind.values}
    for row in sorted(counts.values(), key=lambda r: (-r.count, r.factor.order, r.factor.label)):
        patterns[row.factor.kind].append(row)
    return ChildHistory(items=items, patterns=patterns)
