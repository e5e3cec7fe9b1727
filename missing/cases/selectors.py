"""Reads. Every list goes through a queryset method that declares its joins (no query per row)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection, models
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
    Window,
)
from django.db.models.functions import Least
from django.utils import timezone

from missing.cases import clocks
from missing.models import (
    INTERVIEW_PENDING_STATES,
    AccessLog,
    Child,
    EpisodeEvent,
    EpisodeState,
    LegalStatusPeriod,
    MissingEpisode,
    OversightDecision,
    PoliceNotification,
    RiskMeetingTask,
    age_on,
    child_full_name,
    current_clock,
    episode_reference,
    may_see_accountability,
)

# How many open strategy / risk meeting tasks the board lists (the rest are on /meetings/).
BOARD_MEETING_TASKS = 5

STAGES = (
    ("missing_unreviewed", "Missing – awaiting manager review"),
    ("missing_reviewed", "Missing – reviewed, next review due"),
    ("returned_unreviewed", "Returned – awaiting manager review"),
    # Key kept from before interviews were arranged in the system (API clients read it).
    ("returned_interview_due", "Returned – interview to arrange"),
    ("interview_arranged", "Interview arranged – not yet held"),
    ("awaiting_sign_off", "Interview done – awaiting sign-off"),
)
STAGE_LABELS = dict(STAGES)

_STAGE_AFTER_REVIEW = {
    EpisodeState.RETURNED: "returned_interview_due",
    EpisodeState.INTERVIEW_ARRANGED: "interview_arranged",
    EpisodeState.AWAITING_SIGN_OFF: "awaiting_sign_off",
}


def episode_stage(episode: MissingEpisode | BoardEpisode) -> str:
    """The board stage of an open episode. Until a manager has reviewed it, a returned
    episode's stage is that review, whatever the interview's progress: sign-off needs it."""
    reviewed = episode.first_reviewed_at is not None
    if episode.state == EpisodeState.MISSING:
        return "missing_reviewed" if reviewed else "missing_unreviewed"
    if not reviewed:
        return "returned_unreviewed"
    return _STAGE_AFTER_REVIEW[EpisodeState(episode.state)]


@dataclass(frozen=True)
class BoardRow:
    episode: BoardEpisode
    stage: str
    clock: str
    due_at: datetime | None
    rag: str
    left: timedelta | None

    @property
    def stage_label(self) -> str:
        return STAGE_LABELS[self.stage]

    @property
    def overdue(self) -> bool:
        return self.left is not None and self.left <= timedelta(0)


@dataclass
class Board:
    rows: list[BoardRow]
    awaiting_match: list[PoliceNotification]
    now: datetime
    # Notifications kept on an episode that differ from its record: FFD reviews them.
    to_review: list[PoliceNotification] = field(default_factory=list)
    # Found, regrade or update notifications whose incident has no episode yet.
    awaiting_report: list[PoliceNotification] = field(default_factory=list)
    stage_counts: dict[str, int] = field(default_factory=dict)
    # The oldest open meeting tasks (BOARD_MEETING_TASKS of them) and how many are open.
    meeting_tasks: list[RiskMeetingTask] = field(default_factory=list)
    meeting_task_count: int = 0

    @property
    def review_count(self) -> int:
        return len(self.to_review) + len(self.awaiting_report)

    @property
    def stages(self) -> list[tuple[str, str, int]]:
        return [(key, label, self.stage_counts.get(key, 0)) for key, label in STAGES]

    @property
    def overdue_count(self) -> int:
        return sum(1 for r in self.rows if r.rag == "red")


# The columns a board row reads (the page, BoardApi's BoardRowOut, the stage and the clock), in
# the order of BoardEpisode.from_tuple's arguments. The board reads every open episode as tuples
# into light rows (BoardEpisode, BoardChild, BoardGrade), not model instances: building three
# model instances a row was most of its time (issue 15, branch lists2). The light rows have
# __slots__: an attribute the API or the clocks read but left out is an AttributeError (the
# board's tests in test_api.py and test_selectors.py render every stage and clock); one the
# template reads renders as "" unless string_if_invalid is set, as
# test_board_and_episode_list_read_no_missing_attribute (tests/missing/test_views.py) sets it.
BOARD_COLUMNS = (
    "pk",
    "state",
    "first_reviewed_at",
    "review_due_at",
    "interview_due_at",
    "council_id",  # regional: the shared-episode label
    "out_of_area_council_id",
    "child_flagged",
    "child_id",
    "child__first_name",
    "child__last_name",
    "child__date_of_birth",
    "police_grade__code",
    "police_grade__label",
    "police_grade__review_within",
)


class BoardChild:
    """What a board row shows of the child."""

    __slots__ = ("date_of_birth", "first_name", "last_name", "pk")

    def __init__(
        self, pk: int, first_name: str, last_name: str, date_of_birth: date | None
    ) -> None:
        self.pk = pk
        self.first_name = first_name
        self.last_name = last_name
        self.date_of_birth = date_of_birth

    @property
    def full_name(self) -> str:
        return child_full_name(self.first_name, self.last_name)

    def age_on(self, day: date) -> int | None:
        return age_on(self.date_of_birth, day)


class BoardGrade:
    """What a board row shows of the police risk grade, and its review window."""

    __slots__ = ("code", "label", "review_within")

    def __init__(self, code: str, label: str, review_within: timedelta) -> None:
        self.code = code
        self.label = label
        self.review_within = review_within


class BoardEpisode:
    """An open episode as the board reads it: the attributes of a MissingEpisode that the board
    page, BoardRowOut, episode_stage and the clocks read, and no others."""

    __slots__ = (
        "child",
        "child_flagged",
        "council_id",
        "first_reviewed_at",
        "interview_due_at",
        "out_of_area_council_id",
        "pk",
        "police_grade",
        "review_due_at",
        "state",
    )

    def __init__(
        self,
        pk: int,
        state: str,
        first_reviewed_at: datetime | None,
        review_due_at: datetime | None,
        interview_due_at: datetime | None,
        council_id: int | None,
        out_of_area_council_id: int | None,
        child_flagged: bool,
        child: BoardChild,
        police_grade: BoardGrade,
    ) -> None:
        self.pk = pk
        self.state = state
        self.first_reviewed_at = first_reviewed_at
        self.review_due_at = review_due_at
        self.interview_due_at = interview_due_at
        self.council_id = council_id
        self.out_of_area_council_id = out_of_area_council_id
        self.child_flagged = child_flagged
        self.child = child
        self.police_grade = police_grade

    @classmethod
    def from_tuple(cls, row: tuple[Any, ...]) -> BoardEpisode:
        """From one tuple of board_episodes (BOARD_COLUMNS, in order)."""
        (pk, state, reviewed, review_due, interview_due, council, other, flagged, *rest) = row
        child_id, first, last, dob, code, label, within = rest
        return cls(
            pk,
            state,
            reviewed,
            review_due,
            interview_due,
            council,
            other,
            flagged,
            BoardChild(child_id, first, last, dob),
            BoardGrade(code, label, within),
        )

    @property
    def id(self) -> int:
        return self.pk

    @property
    def child_id(self) -> int:
        return self.child.pk

    @property
    def reference(self) -> str:
        return episode_reference(self.pk)

    def current_clock(self) -> tuple[str, datetime | None, timedelta]:
        return current_clock(self, self.police_grade.review_within)


def board_episodes(user: Any) -> QuerySet[MissingEpisode, tuple[Any, ...]]:
    """Open episodes with the due time of the clock that matters now, most urgent first, as
    tuples of BOARD_COLUMNS (BoardEpisode.from_tuple builds a row).

    One query, on the partial open-episode index: its cost follows the open caseload, not history.
    """
    return (
        MissingEpisode.objects.visible_to(user)
        .open()
        # Only ORDER BY reads it (alias, not annotate): one timestamp less a row to parse.
        .alias(
            clock_due_at=Case(
                # Both clocks run (back before the review was done): the earlier one first.
                When(
                    first_reviewed_at__isnull=True,
                    state__in=INTERVIEW_PENDING_STATES,
                    interview_due_at__isnull=False,
                    then=Least("review_due_at", "interview_due_at"),
                ),
                When(first_reviewed_at__isnull=True, then=F("review_due_at")),
                When(state__in=INTERVIEW_PENDING_STATES, then=F("interview_due_at")),
                # Awaiting sign-off: no clock runs, so it sorts after every clock.
                When(state=EpisodeState.AWAITING_SIGN_OFF, then=Value(None)),
                default=F("review_due_at"),
                output_field=DateTimeField(),
            )
        )
        .annotate(child_flagged=Exists(_open_tasks_of_child(user)))
        .order_by(F("clock_due_at").asc(nulls_last=True), "pk")
        # A board row shows no police force: no join to it.
        .values_list(*BOARD_COLUMNS)
    )


def _open_tasks_of_child(user: Any) -> QuerySet[RiskMeetingTask]:
    """As an Exists on an episode query: its child has an open meeting task ("flagged"), the
    derived flag; the partial unique index on open tasks (child first) answers it."""
    return RiskMeetingTask.objects.visible_to(user).open().filter(child=OuterRef("child"))


def open_meeting_tasks(user: Any) -> QuerySet[RiskMeetingTask]:
    """Open strategy / risk meeting tasks, oldest first, with what a list row shows. On the
    partial open-task index: the cost follows the open tasks, never the history."""
    return (
        RiskMeetingTask.objects.visible_to(user)
        .open()
        .select_related("child", "rule", "episode")
        .order_by("raised_at", "pk")
    )


def board_meeting_tasks(user: Any) -> tuple[list[RiskMeetingTask], int]:
    """The oldest few open tasks and how many are open, in one query: the count is a window
    over the whole filtered set, computed before the LIMIT."""
    rows = list(
        open_meeting_tasks(user)
        # What the board shows of a task: its child's name, the reason and when it was raised.
        .select_related(None)
        .select_related("child")
        .only("reason", "raised_at", "child__first_name", "child__last_name")
        .annotate(open_count=Window(Count("pk")))[:BOARD_MEETING_TASKS]
    )
    count: int = rows[0].open_count if rows else 0
    return list(rows), count


def notification_list(user: Any) -> QuerySet[PoliceNotification]:
    """Notifications the user may read, newest first, with the joins a list row needs."""
    return (
        PoliceNotification.objects.visible_to(user)
        .select_related("police_force", "risk_grade", "received_by", "council")
        .order_by("-received_at", "-pk")
    )


def notifications_awaiting_match(user: Any) -> QuerySet[PoliceNotification]:
    return notifications_needing_a_person(user).filter(
        match_status=PoliceNotification.MatchStatus.AWAITING_MATCH
    )


def notifications_to_review(user: Any) -> QuerySet[PoliceNotification]:
    return notifications_needing_a_person(user).filter(
        match_status=PoliceNotification.MatchStatus.NEEDS_REVIEW
    )


NEEDS_A_PERSON = (
    PoliceNotification.MatchStatus.AWAITING_MATCH,
    PoliceNotification.MatchStatus.NEEDS_REVIEW,
    PoliceNotification.MatchStatus.AWAITING_REPORT,
)


def notifications_needing_a_person(user: Any) -> QuerySet[PoliceNotification]:
    """Held, to review, or waiting for their incident's report: FFD's queue, oldest first. The
    partial indexes on received_at keep it sized to the open work, not to history.

    The filter is written as the two partial indexes' own conditions OR-ed (held; to review or
    awaiting the report), so PostgreSQL reads both with a BitmapOr. As one IN of the three
    statuses no partial index's condition matches it and it scans every notification ever
    received: 550 ms at 2,000,000 notifications, the board's slowest statement (issue 15)."""
    status = PoliceNotification.MatchStatus
    return (
        PoliceNotification.objects.visible_to(user)
        .filter(
            Q(match_status=status.AWAITING_MATCH)
            | Q(match_status__in=(status.NEEDS_REVIEW, status.AWAITING_REPORT))
        )
        .select_related("risk_grade", "police_force")
        .order_by("received_at", "pk")
    )


def split_by_status(
    notifications: list[PoliceNotification],
) -> dict[str, list[PoliceNotification]]:
    by_status: dict[str, list[PoliceNotification]] = {status: [] for status in NEEDS_A_PERSON}
    for notification in notifications:
        by_status[notification.match_status].append(notification)
    return by_status


RAG_SEVERITY = {"red": 3, "amber": 2, "green": 1, "grey": 0}


def worst_clock(
    episode: MissingEpisode | BoardEpisode, *, now: datetime
) -> tuple[str, datetime | None, timedelta]:
    """The clock the board shows: the one that matters now, except that while the review is
    still pending after the child's return both clocks run, and the worse of the two shows
    (red before amber before green; on a tie, the one due first). Issue 13 item 10: a return
    interview 8 hours overdue showed green while the review clock was green."""
    clock, due_at, window = episode.current_clock()
    if (
        clock == "review"
        and episode.state in INTERVIEW_PENDING_STATES
        and episode.interview_due_at is not None
    ):
        other = ("interview", episode.interview_due_at, clocks.INTERVIEW_WINDOW)

        def badness(c: tuple[str, datetime | None, timedelta]) -> tuple[int, float]:
            severity = RAG_SEVERITY[clocks.rag(due_at=c[1], window=c[2], now=now)]
            return (severity, -(c[1] - now).total_seconds() if c[1] else 0.0)

        if badness(other) > badness((clock, due_at, window)):
            return other
    return clock, due_at, window


def board(*, user: Any, now: datetime) -> Board:
    """The front-door board: three queries whatever the caseload (episodes, each marked when
    its child has an open meeting task; notifications held; the oldest open meeting tasks)."""
    rows = []
    counts: dict[str, int] = {}
    for values in board_episodes(user):
        episode = BoardEpisode.from_tuple(values)
        clock, due_at, window = worst_clock(episode, now=now)
        stage = episode_stage(episode)
        counts[stage] = counts.get(stage, 0) + 1
        rows.append(
            BoardRow(
                episode=episode,
                stage=stage,
                clock=clock,
                due_at=due_at,
                rag=clocks.rag(due_at=due_at, window=window, now=now),
                left=None if due_at is None else due_at - now,
            )
        )
    tasks, task_count = board_meeting_tasks(user)
    queue = split_by_status(list(notifications_needing_a_person(user)))
    return Board(
        rows=rows,
        awaiting_match=queue[PoliceNotification.MatchStatus.AWAITING_MATCH],
        to_review=queue[PoliceNotification.MatchStatus.NEEDS_REVIEW],
        awaiting_report=queue[PoliceNotification.MatchStatus.AWAITING_REPORT],
        now=now,
        stage_counts=counts,
        meeting_tasks=tasks,
        meeting_task_count=task_count,
    )


def episode_list(user: Any, *, state: str | None = None) -> QuerySet[MissingEpisode]:
    qs = MissingEpisode.objects.visible_to(user).with_related().order_by("-last_seen_at", "-pk")
    if state:
        qs = qs.filter(state=state)
    return qs


# The columns a row of the episode list page shows (templates/missing/episode_list.html), in the
# order of EpisodeListRow.from_tuple's arguments. The page reads them as tuples into light rows
# (EpisodeListRow), not model instances (issue 15, branch lists2); an attribute the template
# reads and the row lacks would render as "": test_board_and_episode_list_read_no_missing_attribute
# (tests/missing/test_views.py, every state) renders the page with string_if_invalid to catch it.
# The API's list serializes more, and reads selectors.episode_list whole.
EPISODE_LIST_COLUMNS = (
    "pk",
    "kind",
    "state",
    "last_seen_at",
    "returned_at",
    "council_id",  # regional: the shared-episode label
    "out_of_area_council_id",
    "child_id",
    "child__first_name",
    "child__last_name",
    "police_grade__label",
    "police_force__name",
)

_EPISODE_STATE_LABELS = dict(EpisodeState.choices)


class EpisodeListRow:
    """An episode as a row of the episode list page shows it."""

    __slots__ = (
        "child_id",
        "child_name",
        "council_id",
        "kind",
        "last_seen_at",
        "out_of_area_council_id",
        "pk",
        "police_force_name",
        "police_grade_label",
        "returned_at",
        "state",
    )

    def __init__(self, row: tuple[Any, ...]) -> None:
        """From one tuple of episode_list_rows (EPISODE_LIST_COLUMNS, in order)."""
        (
            self.pk,
            self.kind,
            self.state,
            self.last_seen_at,
            self.returned_at,
            self.council_id,
            self.out_of_area_council_id,
            self.child_id,
            first_name,
            last_name,
            self.police_grade_label,
            self.police_force_name,
        ) = row
        self.child_name = child_full_name(first_name, last_name)

    @property
    def reference(self) -> str:
        return episode_reference(self.pk)

    @property
    def state_label(self) -> str:
        """As MissingEpisode.get_state_display."""
        return str(_EPISODE_STATE_LABELS.get(self.state, self.state))


def episode_list_rows(user: Any, *, state: str | None = None) -> QuerySet[MissingEpisode]:
    """The episode list page's rows, to page with CappedPaginator(..., rows=episode_list_page):
    the paginator counts this queryset (its joins dropped with select_related) and reads the
    page's slice as tuples."""
    return episode_list(user, state=state)


def episode_list_page(objects: QuerySet[MissingEpisode]) -> list[EpisodeListRow]:
    """One page (a slice of episode_list_rows) as light rows of EPISODE_LIST_COLUMNS. The
    columns are chosen on the page's slice, not on episode_list_rows: values_list's joins would
    stay in the paginator's capped count (three joins over 10,001 rows: 25 ms at 1,000,000
    episodes, against none with select_related)."""
    return [EpisodeListRow(row) for row in objects.values_list(*EPISODE_LIST_COLUMNS)]


def episode_detail(user: Any, episode_id: int) -> MissingEpisode:
    """One episode with its decisions, timeline and notifications (four queries in all).
    Raises MissingEpisode.DoesNotExist for an episode the user may not see."""
    return (
        MissingEpisode.objects.visible_to(user)
        .with_related()
        .annotate(child_flagged=Exists(_open_tasks_of_child(user)))
        .prefetch_related(
            Prefetch("decisions", OversightDecision.objects.select_related("decided_by")),
            Prefetch("events", EpisodeEvent.objects.select_related("actor")),
            Prefetch(
                "notifications",
                PoliceNotification.objects.select_related("received_by").order_by(
                    "received_at", "pk"
                ),
            ),
        )
        .get(pk=episode_id)
    )


def child_list(
    user: Any, *, search: str = "", today: date | None = None, legal_status: bool = True
) -> QuerySet[Child]:
    """Children `user` may see, with their legal status today (three EXISTS subqueries on
    legal_status_child_idx, in the list's one query) unless `legal_status=False`: the search
    page shows none, and PostgreSQL runs the subqueries for every match before the sort picks
    the page (1,665 matches for a common prefix at 1,000,000 episodes: 2.9x the page by hand)."""
    qs = Child.objects.visible_to(user).order_by("last_name", "first_name", "pk")
    if legal_status:
        qs = qs.with_legal_status(today or clocks.london_date(timezone.now()))
    if search:
        term = search.strip()
        qs = qs.filter(last_name__istartswith=term) | qs.filter(council_child_id=term)
    return qs


def child_detail(
    user: Any, child_id: int, *, with_meeting_tasks: bool = False, today: date | None = None
) -> Child:
    """One child with their legal status today, the team and social worker (one query), the
    episodes the user may see (a second), the legal-status periods with who recorded them (a
    third), and the strategy / risk meeting tasks, open and past, when asked (a fourth: the
    child's page shows them)."""
    today = today or clocks.london_date(timezone.now())
    prefetches: list[Prefetch] = [
        Prefetch(
            "episodes",
            MissingEpisode.objects.visible_to(user).with_related().order_by("-last_seen_at"),
        ),
        Prefetch(
            "legal_status_periods",
            LegalStatusPeriod.objects.select_related("recorded_by").order_by("-start_date", "-pk"),
        ),
    ]
    if with_meeting_tasks:
        prefetches.append(
            Prefetch(
                "risk_tasks",
                RiskMeetingTask.objects.visible_to(user)
                .select_related("rule", "episode", "completed_by")
                .order_by("-raised_at", "-pk"),
            )
        )
    return (
        Child.objects.visible_to(user)
        .with_legal_status(today)
        .select_related("allocated_team", "social_worker")
        .prefetch_related(*prefetches)
        .get(pk=child_id)
    )


def startable_transitions(episode: MissingEpisode, user: Any) -> list[str]:
    """The transitions `user` may start on `episode` now: the state allows it, its conditions
    hold and the role may. Sign-off is left out once an interview record holds the outcome: it
    closes through the interview's sign-off (services.episode_sign_off refuses it otherwise).
    For display, in the web and the API alike; every service checks again."""
    names = [t.name for t in episode.get_available_user_state_transitions(user)]  # type: ignore[attr-defined]
    if episode.interview_reference:
        names = [name for name in names if name != "sign_off"]
    return names


# --------------------------------------------------------------------------------------------
# Accountability: who has looked at a child; what changed on an episode
# --------------------------------------------------------------------------------------------

ACCESS_PANEL_ROWS = 20
HISTORY_MAX_EVENTS = 300
# Bookkeeping columns every change touches: listing them would bury the real changes.
HISTORY_HIDDEN_FIELDS = frozenset({"version", "updated_at"})


def child_access_log(
    user: Any, child_id: int, *, limit: int = ACCESS_PANEL_ROWS
) -> list[AccessLog]:
    """The latest detail reads and changes of this child's records (one query, on
    access_child_idx), for "Who has looked at this child". Empty for anyone else."""
    return list(AccessLog.objects.visible_to(user).for_child(child_id)[:limit])


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    record: str
    what: str
    changes: list[FieldChange]
    user_id: int | None
    route: str
    who: str = ""
    reason: str = ""


def _display(value: Any) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        from django.utils import timezone

        return timezone.localtime(value).strftime("%a %-d %b %Y %H:%M")
    return str(value)


def history_entries(
    event_model: type[models.Model], events: QuerySet[Any], *, record: Callable[[Any], str]
) -> list[HistoryEntry]:
    """Field-by-field changes from django-pghistory's snapshots (one query): each update is
    compared with the previous snapshot of the same row. `record` names the row (E-34, …).
    Any tracked model's events will do, so the apps built on the core reuse it."""
    tracked = [
        f
        for f in event_model._meta.concrete_fields
        if not f.name.startswith("pgh_") and f.name not in HISTORY_HIDDEN_FIELDS
    ]
    previous: dict[int, dict[str, Any]] = {}
    entries = []
    for event in events.select_related("pgh_context").order_by("pgh_id")[:HISTORY_MAX_EVENTS]:
        snapshot = {str(f.verbose_name): getattr(event, f.attname) for f in tracked}
        before = previous.get(event.pgh_obj_id)
        label = event.pgh_label
        if label == "update" and before is not None:
            changes = [
                FieldChange(name, _display(before[name]), _display(value))
                for name, value in snapshot.items()
                if before[name] != value
            ]
            if not changes:
                previous[event.pgh_obj_id] = snapshot
                continue
        else:
            changes = []
        previous[event.pgh_obj_id] = snapshot
        metadata = event.pgh_context.metadata if event.pgh_context_id else {}
        entries.append(
            HistoryEntry(
                at=event.pgh_created_at,
                record=record(event),
                what={"insert": "Created", "update": "Changed", "delete": "Deleted"}.get(
                    label, label
                ),
                changes=changes,
                user_id=metadata.get("user"),
                route=metadata.get("route", ""),
                reason=metadata.get("reason", ""),
            )
        )
    return entries


def name_history_users(entries: list[HistoryEntry]) -> list[HistoryEntry]:
    """Put who made each change on the entries (one query for all of them)."""
    from missing.models import User

    users = User.objects.in_bulk({e.user_id for e in entries if e.user_id is not None})
    named = []
    for entry in entries:
        user = users.get(entry.user_id) if entry.user_id is not None else None
        who = (user.get_full_name() or user.username) if user else "System"
        named.append(dataclasses.replace(entry, who=who))
    return named


def episode_history(user: Any, episode_id: int) -> list[HistoryEntry]:
    """The change history of an episode and its oversight decisions, newest first (three
    queries: the episode's events, the decisions' events, the users). Managers and heads of
    service only; captured on PostgreSQL only (the triggers exist there)."""
    if not may_see_accountability(user) or connection.vendor != "postgresql":
        return []
    from missing.models import EpisodeHistory, OversightDecisionHistory  # type: ignore[attr-defined]  # pghistory

    entries = history_entries(
        EpisodeHistory,
        EpisodeHistory.objects.filter(pgh_obj_id=episode_id),
        record=lambda e: f"E-{e.pgh_obj_id}",
    ) + history_entries(
        OversightDecisionHistory,
        OversightDecisionHistory.objects.filter(episode_id=episode_id),
        record=lambda e: f"Decision {e.pgh_obj_id}",
    )
    entries.sort(key=lambda e: e.at, reverse=True)
    return name_history_users(entries)


def child_history(user: Any, child_id: int) -> list[HistoryEntry]:
    """The change history of a child's facts and legal-status periods, newest first, with the
    reason given for each change (three queries: the child's events, the periods' events, the
    users). Managers and heads of service only; captured on PostgreSQL only."""
    if not may_see_accountability(user) or connection.vendor != "postgresql":
        return []
    from missing.models import ChildHistory, LegalStatusPeriodHistory  # type: ignore[attr-defined]  # pghistory

    entries = history_entries(
        ChildHistory,
        ChildHistory.objects.filter(pgh_obj_id=child_id),
        record=lambda e: f"C-{e.pgh_obj_id}",
    ) + history_entries(
        LegalStatusPeriodHistory,
        LegalStatusPeriodHistory.objects.filter(child_id=child_id),
        record=lambda e: f"LS-{e.pgh_obj_id}",
    )
    entries.sort(key=lambda e: e.at, reverse=True)
    return name_history_users(entries)
