"""The figures page's numbers: a pure read layer (no writes, no clock reads, no caching).

Every figure is a conditional count over one of two cohorts of episodes, defined once here and
used both for the count and for the list of episodes behind it (`figure_episodes`), so a
drill-down always lists exactly what the figure counted:

- **started**: episodes whose child was last seen (the episode start) in the period;
- **returned**: episodes whose child came back in the period. The interview figures follow the
  return, because the 72-hour clock starts there (DfE 2014): an episode returned on 31 March
  and interviewed on 2 April counts in March, as offered, held and (if so) within 72 hours.

Cancelled episodes (logged in error) never count. The period is a range of Europe/London
calendar dates; the instants are compared in UTC. See docs/decisions/0032-figures-definitions.md.

The counts run in the database, a few queries whatever the number of episodes: one aggregate
per cohort pair, one for repeat children, and (on SQLite only) one for the median.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import (
    Aggregate,
    BooleanField,
    Case,
    CharField,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import ExtractDay, ExtractMonth, ExtractYear

from interviews.models import (
    Independence,
    InterviewEpisode,
    InterviewFactor,
    InterviewMention,
    MentionKind,
)
from missing.cases.clocks import LONDON, london_date, london_midnight
from missing.models import EpisodeState, InterviewOutcome, MissingEpisode

# Age at the episode's start (last seen), in whole years: band -> (label, lowest, highest).
AGE_BANDS: dict[str, tuple[str, int, int | None]] = {
    "0-10": ("10 or under", 0, 10),
    "11-13": ("11 to 13", 11, 13),
    "14-15": ("14 or 15", 14, 15),
    "16-17": ("16 or 17", 16, 17),
    "18+": ("18 or over", 18, None),
}
AGE_UNKNOWN = "unknown"

# From the episode's own snapshot (the status the child had when it started), in precedence
# order: a looked-after child on a plan counts once, as looked after.
LEGAL_STATUSES: dict[str, str] = {
    "looked_after": "Looked after",
    "child_protection": "Child protection plan",
    "child_in_need": "Child in need",
    "other": "Other",
}

NOT_HELD_OUTCOMES = tuple(o for o in InterviewOutcome if o != InterviewOutcome.HELD)


# --------------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureFilters:
    """What to count: Europe/London dates `period_start`..`period_end` (both inclusive), and
    optionally the child's allocated team, their age band at the episode's start, their legal
    status then, and the interview provider (the organisation of the interview's interviewer)."""

    period_start: date
    period_end: date
    team_id: int | None = None
    age_band: str | None = None
    legal_status: str | None = None
    provider_id: int | None = None
    # A regional installation (decision 0066): the council whose figures these are; each counts
    # the episodes it is responsible for (`MissingEpisode.figures_council`). None: every episode.
    council_id: int | None = None

    def __post_init__(self) -> None:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        if self.age_band is not None and self.age_band not in (*AGE_BANDS, AGE_UNKNOWN):
            raise ValueError(f"unknown age band {self.age_band!r}")
        if self.legal_status is not None and self.legal_status not in LEGAL_STATUSES:
            raise ValueError(f"unknown legal status {self.legal_status!r}")

    @property
    def start(self) -> datetime:
        return london_midnight(self.period_start)

    @property
    def end(self) -> datetime:
        """Exclusive: the first instant after the period."""
        return london_midnight(self.period_end + timedelta(days=1))


def _day_key(prefix: str, *, tz: ZoneInfo | None) -> Any:
    """yyyymmdd as an integer; the difference of two such keys, divided by 10,000 and rounded
    down, is a whole age in years (birthdays counted by calendar date)."""
    kwargs: dict[str, Any] = {"tzinfo": tz} if tz else {}
    return (
        ExtractYear(prefix, **kwargs) * 10000
        + ExtractMonth(prefix, **kwargs) * 100
        + ExtractDay(prefix, **kwargs)
    )


def _age_band_q(band: str) -> tuple[dict[str, Any], Q]:
    if band == AGE_UNKNOWN:
        return {}, Q(child__date_of_birth__isnull=True)
    _, low, high = AGE_BANDS[band]
    alias = {
        "age_key": _day_key("last_seen_at", tz=LONDON) - _day_key("child__date_of_birth", tz=None)
    }
    q = Q(age_key__gte=low * 10000)
    if high is not None:
        q &= Q(age_key__lt=(high + 1) * 10000)
    return alias, q


def _legal_status_q(status: str) -> Q:
    if status == "looked_after":
        return Q(looked_after=True)
    if status == "child_protection":
        return Q(looked_after=False, child_protection_plan=True)
    if status == "child_in_need":
        return Q(looked_after=False, child_protection_plan=False, child_in_need=True)
    return Q(looked_after=False, child_protection_plan=False, child_in_need=False)


def _filtered(filters: FigureFilters) -> QuerySet[MissingEpisode]:
    """Episodes (not cancelled) matching the filters other than the period."""
    qs = MissingEpisode.objects.exclude(state=EpisodeState.CANCELLED)
    if filters.council_id is not None:
        qs = qs.filter(figures_council_id=filters.council_id)
    if filters.team_id is not None:
        qs = qs.filter(child__allocated_team_id=filters.team_id)
    if filters.age_band is not None:
        alias, q = _age_band_q(filters.age_band)
        qs = qs.alias(**alias).filter(q) if alias else qs.filter(q)
    if filters.legal_status is not None:
        qs = qs.filter(_legal_status_q(filters.legal_status))
    if filters.provider_id is not None:
        qs = qs.filter(interview_link__interview__interviewer_organisation_id=filters.provider_id)
    return qs


def _started(start: datetime, end: datetime) -> Q:
    return Q(last_seen_at__gte=start, last_seen_at__lt=end)


def _returned(start: datetime, end: datetime) -> Q:
    return Q(returned_at__gte=start, returned_at__lt=end)


# --------------------------------------------------------------------------------------------
# The figures, each defined once
# --------------------------------------------------------------------------------------------

# Each episode's own answers, defined once. The figures count them; the drill-downs, the
# interview CSV (/interviews/export.csv), the interview pages and the API read them through
# `with_answers` / `link_answers`, so no stored flag can drift from what is counted (the
# link's stored `held` and `held_within_72h` were removed for that reason).
HELD = Q(interview_outcome=InterviewOutcome.HELD)
# Elapsed hours from the episode's own return: `interview_due_at` is returned_at + 72 h in
# UTC, fixed when the return is recorded, so a clock change does not move it.
HELD_WITHIN_72H = HELD & Q(interview_held_at__lte=F("interview_due_at"))
# The link's first offer; a held or refused interview was offered even if no offer was logged
# as an attempt (a refusal at the door).
OFFERED = Q(interview_link__offered_at__isnull=False) | Q(
    interview_outcome__in=[
        InterviewOutcome.HELD,
        InterviewOutcome.CHILD_REFUSED,
        InterviewOutcome.CARER_REFUSED,
    ]
)
ACCEPTED = Q(interview_link__accepted=True) | HELD
REFUSED = Q(interview_outcome=InterviewOutcome.CHILD_REFUSED) | (
    Q(interview_link__accepted=False) & ~HELD
)
HELD_UNDER_EXCEPTION = HELD & Q(interview_link__interview__independence=Independence.EXCEPTION)
# The first manager review by the time the police grade set (kept once done).
REVIEWED_ON_TIME = Q(first_reviewed_at__lte=F("first_review_due_at"))
TIMED = HELD & Q(interview_held_at__isnull=False)

# The per-episode answers, by the name they are read under (`answer_<name>`).
ANSWERS: dict[str, Q] = {
    "offered": OFFERED,
    "accepted": ACCEPTED,
    "refused": REFUSED,
    "held": HELD,
    "held_within_72h": HELD_WITHIN_72H,
    "independence_exception": HELD_UNDER_EXCEPTION,
    "reviewed_on_time": REVIEWED_ON_TIME,
}


def _path(name: str, prefix: str, own: str) -> str:
    return name.removeprefix(own) if own and name.startswith(own) else prefix + name


def _prefixed(node: Any, prefix: str, own: str = "") -> Any:
    """`node` (a Q, a lookup pair or an F) with every field path starting at `prefix`: the
    same condition, read from a related model (an InterviewEpisode reads its episode's).
    Paths through `own` (the way back to the reading model) are read on it directly."""
    if isinstance(node, Q):
        copy = Q()
        copy.connector, copy.negated = node.connector, node.negated
        copy.children = [_prefixed(child, prefix, own) for child in node.children]
        return copy
    if isinstance(node, F):
        return F(_path(node.name, prefix, own))
    if isinstance(node, tuple):
        lookup, value = node
        return (_path(lookup, prefix, own), _prefixed(value, prefix, own))
    return node


def answer_expressions(prefix: str = "", own: str = "") -> dict[str, Case]:
    """`answer_<name>` (a boolean) for each per-episode answer, read through `prefix`."""
    return {
        f"answer_{name}": Case(
            When(_prefixed(q, prefix, own), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
        for name, q in ANSWERS.items()
    }


def with_answers(episodes: QuerySet[MissingEpisode]) -> QuerySet[MissingEpisode]:
    """The episodes with their own answers as the figures count them (`answer_held`, ...)."""
    return episodes.annotate(**answer_expressions())


def link_answers(links: QuerySet[InterviewEpisode]) -> QuerySet[InterviewEpisode]:
    """An interview's covered episodes with each episode's answers as the figures count them."""
    return links.annotate(**answer_expressions("episode__", own="interview_link__"))


@dataclass(frozen=True)
class FigureDef:
    key: str
    label: str
    cohort: str  # "started" or "returned"
    # The condition within the cohort; given `now` (only "overdue" needs it).
    where: Callable[[datetime], Q]
    # Counted as distinct children rather than episodes.
    per_child: bool = False


def _always(q: Q) -> Callable[[datetime], Q]:
    return lambda now: q


FIGURES: dict[str, FigureDef] = {
    f.key: f
    for f in (
        FigureDef("episodes", "Episodes", "started", _always(Q())),
        FigureDef("children", "Children", "started", _always(Q()), per_child=True),
        FigureDef(
            "still_missing", "Still missing", "started", _always(Q(returned_at__isnull=True))
        ),
        FigureDef(
            "reviewed",
            "Reviewed by a manager",
            "started",
            _always(Q(first_reviewed_at__isnull=False)),
        ),
        FigureDef(
            "reviewed_within_target",
            "Reviewed within the target time",
            "started",
            _always(REVIEWED_ON_TIME),
        ),
        FigureDef("returns", "Returns", "returned", _always(Q())),
        FigureDef(
            "children_returned", "Children who returned", "returned", _always(Q()), per_child=True
        ),
        FigureDef(
            "offered",
            "Interviews offered",
            "returned",
            _always(OFFERED),
        ),
        FigureDef(
            "accepted",
            "Interviews accepted",
            "returned",
            _always(ACCEPTED),
        ),
        FigureDef(
            "refused",
            "Refused by the child",
            "returned",
            _always(REFUSED),
        ),
        FigureDef("held", "Interviews held", "returned", _always(HELD)),
        FigureDef(
            "held_within_72h",
            "Held within 72 hours of the return",
            "returned",
            _always(HELD_WITHIN_72H),
        ),
        FigureDef(
            "children_held_within_72h",
            "Children interviewed within 72 hours of a return",
            "returned",
            _always(HELD_WITHIN_72H),
            per_child=True,
        ),
        *(
            FigureDef(
                f"not_held_{outcome.value}",
                outcome.label,
                "returned",
                _always(Q(interview_outcome=outcome)),
            )
            for outcome in NOT_HELD_OUTCOMES
        ),
        FigureDef(
            "awaiting_outcome",
            "No outcome recorded yet",
            "returned",
            _always(Q(interview_outcome="")),
        ),
        FigureDef(
            "awaiting_overdue",
            "No outcome yet and past 72 hours",
            "returned",
            lambda now: Q(interview_outcome="", interview_due_at__lte=now),
        ),
        FigureDef(
            "independence_exceptions",
            "Held by an interviewer who is not independent (recorded exception)",
            "returned",
            _always(HELD_UNDER_EXCEPTION),
        ),
    )
}
# Figures computed by their own query, with their drill-down defined below.
REPEAT_CHILDREN = "repeat_children"
REPEAT_EPISODES = "repeat_episodes"
MEDIAN = "median_hours_to_interview"
SPECIAL_FIGURES = {
    REPEAT_CHILDREN: "Children missing more than once",
    REPEAT_EPISODES: "Episodes of children missing more than once",
    MEDIAN: "Interviews timed (for the median)",
}
FIGURE_KEYS = frozenset({*FIGURES, *SPECIAL_FIGURES})
PER_CHILD_FIGURES = frozenset({*(k for k, f in FIGURES.items() if f.per_child), REPEAT_CHILDREN})
COHORT_OF = {
    **{key: figure.cohort for key, figure in FIGURES.items()},
    REPEAT_CHILDREN: "started",
    REPEAT_EPISODES: "started",
    MEDIAN: "returned",
}


def figure_label(key: str) -> str:
    return FIGURES[key].label if key in FIGURES else SPECIAL_FIGURES[key]


# What the page, its downloads and the API show, in order: (section title, note, [(figure
# key, the figure it is a share of, or None)]). The median follows the interview figures.
SECTIONS: list[tuple[str, str, list[tuple[str, str | None]]]] = [
    (
        "Episodes and children",
        "Counted by when the episode started (the child was last seen) in the period.",
        [
            ("episodes", None),
            ("children", None),
            (REPEAT_CHILDREN, "children"),
            (REPEAT_EPISODES, "episodes"),
            ("still_missing", "episodes"),
        ],
    ),
    (
        "Return interviews",
        "Counted by when the child came back in the period, whenever the interview was held.",
        [
            ("returns", None),
            ("children_returned", None),
            ("offered", "returns"),
            ("accepted", "returns"),
            ("held", "returns"),
            ("held_within_72h", "returns"),
            ("children_held_within_72h", "children_returned"),
            ("refused", "returns"),
            *((f"not_held_{o.value}", "returns") for o in NOT_HELD_OUTCOMES),
            ("awaiting_outcome", "returns"),
            ("awaiting_overdue", "returns"),
            ("independence_exceptions", "held"),
        ],
    ),
    (
        "Manager oversight",
        "Counted by when the episode started; the target is the review time the police risk "
        "grade set when the first review was due.",
        [("reviewed", "episodes"), ("reviewed_within_target", "episodes")],
    ),
]
SHARE_OF: dict[str, str | None] = {key: whole for _, _, keys in SECTIONS for key, whole in keys}
MEDIAN_SECTION = "Return interviews"
MEDIAN_LABEL = "Median time from return to interview"


def percent(part: int, whole: int) -> int | None:
    """A share as the page shows it: a whole percentage, None when there is nothing to share."""
    return round(100 * part / whole) if whole else None


@dataclass(frozen=True)
class FigureLine:
    """One figure as shown: its number, what it counts (episodes or children), and its share of
    another figure (`share_of`, `percent`)."""

    section: str
    key: str
    label: str
    value: int
    counts: str  # "episodes" or "children"
    share_of: str | None
    percent: int | None


# --------------------------------------------------------------------------------------------
# The median (PostgreSQL: percentile_cont in the aggregate; SQLite: the middle rows)
# --------------------------------------------------------------------------------------------


class PercentileCont(Aggregate):
    """percentile_cont(0.5): the median, interpolated, as PostgreSQL computes it."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


class EpochHours(Func):
    """Hours in a PostgreSQL interval."""

    template = "(EXTRACT(EPOCH FROM %(expressions)s) / 3600.0)::double precision"
    output_field = FloatField()


def _return_to_interview() -> ExpressionWrapper:
    return ExpressionWrapper(
        F("interview_held_at") - F("returned_at"), output_field=DurationField()
    )


def _median_hours_sqlite(returned: QuerySet[MissingEpisode], n: int) -> float | None:
    """The exact median of n values, reading only the middle one or two rows in order."""
    if n == 0:
        return None
    low = (n - 1) // 2
    middle = list(
        returned.filter(TIMED)
        .annotate(gap=_return_to_interview())
        .order_by("gap", "pk")
        .values_list("gap", flat=True)[low : low + (1 if n % 2 else 2)]
    )
    return sum(g.total_seconds() for g in middle) / len(middle) / 3600


# --------------------------------------------------------------------------------------------
# compute_figures
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """The period's figures: `counts` by figure key (FIGURES, the repeat figures and "timed",
    the number of held interviews the median is over), also read as attributes
    (`figures.held_within_72h`), and the median in hours (None when nothing was held)."""

    filters: FigureFilters
    counts: dict[str, int]
    median_hours_to_interview: float | None

    def __getattr__(self, name: str) -> Any:
        counts = self.__dict__.get("counts", {})
        if name in counts:
            return counts[name]
        raise AttributeError(name)

    def share(self, part: str, whole: str) -> float | None:
        return self.counts[part] / self.counts[whole] if self.counts[whole] else None

    def lines(self) -> list[FigureLine]:
        """Every counted figure in the page's order, with its share (the median apart)."""
        return [
            FigureLine(
                section=section,
                key=key,
                label=figure_label(key),
                value=self.counts[key],
                counts="children" if key in PER_CHILD_FIGURES else "episodes",
                share_of=whole,
                percent=percent(self.counts[key], self.counts[whole]) if whole else None,
            )
            for section, _, keys in SECTIONS
            for key, whole in keys
        ]

    @property
    def not_held(self) -> dict[str, int]:
        """Episodes returned in the period whose interview was not held, by why."""
        return {o.value: self.counts[f"not_held_{o.value}"] for o in NOT_HELD_OUTCOMES}


def _cohort_q(cohort: str, filters: FigureFilters) -> Q:
    return (_started if cohort == "started" else _returned)(filters.start, filters.end)


def compute_figures(filters: FigureFilters, *, now: datetime) -> Figures:
    """Every figure for the period (see the module docstring for what each counts).

    Queries: one aggregate over the period's episodes (both cohorts; on PostgreSQL it also
    takes the median), one for repeat children, and on SQLite one for the median's middle rows.
    Constant whatever the number of episodes; the period's rows are found by the indexes on
    last_seen_at and returned_at."""
    qs = _filtered(filters)
    started = _cohort_q("started", filters)
    returned = _cohort_q("returned", filters)
    aggregates: dict[str, Any] = {}
    for key, figure in FIGURES.items():
        where = (started if figure.cohort == "started" else returned) & figure.where(now)
        aggregates[key] = (
            Count("child_id", distinct=True, filter=where)
            if figure.per_child
            else Count("pk", filter=where)
        )
    aggregates["timed"] = Count("pk", filter=returned & TIMED)
    postgres = connection.vendor == "postgresql"
    if postgres:
        aggregates[MEDIAN] = PercentileCont(
            EpochHours(_return_to_interview()), filter=returned & TIMED
        )
    counts = qs.filter(started | returned).aggregate(**aggregates)
    median = counts.pop(MEDIAN, None)
    timed = counts.pop("timed")
    if not postgres:
        median = _median_hours_sqlite(qs.filter(returned), timed)
    counts["timed"] = timed
    repeat = _repeat_children(qs.filter(started)).aggregate(
        children=Count("child_id"), episodes=Sum("n")
    )
    counts[REPEAT_CHILDREN] = repeat["children"] or 0
    counts[REPEAT_EPISODES] = repeat["episodes"] or 0
    return Figures(
        filters=filters,
        counts={k: int(v or 0) for k, v in counts.items()},
        median_hours_to_interview=None if median is None else float(median),
    )


def _repeat_children(started: QuerySet[MissingEpisode]) -> QuerySet[Any]:
    """Children with two or more episodes starting in the period (and their episode count)."""
    return started.order_by().values("child_id").annotate(n=Count("pk")).filter(n__gte=2)


def figure_episodes(
    filters: FigureFilters, figure_key: str, *, now: datetime
) -> QuerySet[MissingEpisode]:
    """The episodes behind one figure, in time order: exactly the rows it counted (for a
    per-child figure, the episodes of the children it counted). Raises KeyError for an
    unknown figure."""
    if figure_key not in FIGURE_KEYS:
        raise KeyError(figure_key)
    cohort = COHORT_OF[figure_key]
    qs = _filtered(filters).filter(_cohort_q(cohort, filters))
    if figure_key in FIGURES:
        qs = qs.filter(FIGURES[figure_key].where(now))
    elif figure_key in (REPEAT_CHILDREN, REPEAT_EPISODES):
        qs = qs.filter(child_id__in=_repeat_children(qs).values("child_id"))
    else:
        qs = qs.filter(TIMED)
    order = "last_seen_at" if cohort == "started" else "returned_at"
    return qs.order_by(order, "pk")


# --------------------------------------------------------------------------------------------
# The monthly trend
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendMonth:
    month: date  # its first day
    returns: int
    held_within_72h: int
    episodes: int
    reviewed_within_target: int

    @property
    def held_share(self) -> float | None:
        return self.held_within_72h / self.returns if self.returns else None

    @property
    def review_share(self) -> float | None:
        return self.reviewed_within_target / self.episodes if self.episodes else None


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def monthly_trend(filters: FigureFilters, *, months: int = 12, now: datetime) -> list[TrendMonth]:
    """Per calendar month (Europe/London), the `months` months up to the period's last month
    (never past the current one): the share of returns interviewed within 72 hours, and the
    share of episodes reviewed within the target time. The filters other than the period
    apply. One query: a conditional count per month and measure."""
    today = london_date(now)
    last = min(filters.period_end, today).replace(day=1)
    firsts = [add_months(last, -i) for i in range(months - 1, -1, -1)]
    bounds = [(london_midnight(m), london_midnight(add_months(m, 1))) for m in firsts]
    aggregates: dict[str, Any] = {}
    for i, (start, end) in enumerate(bounds):
        aggregates[f"r{i}"] = Count("pk", filter=_returned(start, end))
        aggregates[f"h{i}"] = Count("pk", filter=_returned(start, end) & HELD_WITHIN_72H)
        aggregates[f"e{i}"] = Count("pk", filter=_started(start, end))
        aggregates[f"v{i}"] = Count(
            "pk",
            filter=_started(start, end) & REVIEWED_ON_TIME,
        )
    whole_start, whole_end = bounds[0][0], bounds[-1][1]
    row = (
        _filtered(filters)
        .filter(_started(whole_start, whole_end) | _returned(whole_start, whole_end))
        .aggregate(**aggregates)
    )
    return [
        TrendMonth(
            month=m,
            returns=row[f"r{i}"],
            held_within_72h=row[f"h{i}"],
            episodes=row[f"e{i}"],
            reviewed_within_target=row[f"v{i}"],
        )
        for i, m in enumerate(firsts)
    ]


# --------------------------------------------------------------------------------------------
# Patterns: factors, hotspots, people and places that recur across children
# --------------------------------------------------------------------------------------------

HOTSPOT_LIMIT = 30
ASSOCIATE_LIMIT = 30


class NormalisedName(Func):
    """SQL twin of interviews.models.normalise_name for an episode's free-text found place:
    lower case, trimmed, whitespace runs as one space. (SQLite has no regular expressions: there
    runs of spaces inside a name are not collapsed; the embedded default is for small sites.)"""

    output_field = CharField()
    template = "LOWER(TRIM(%(expressions)s))"

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template=r"LOWER(TRIM(REGEXP_REPLACE(%(expressions)s, '\s+', ' ', 'g')))",
            **extra,
        )


@dataclass(frozen=True)
class FactorRow:
    kind: str
    code: str
    label: str
    interviews: int
    children: int


@dataclass(frozen=True)
class NameRow:
    key: str
    name: str  # one spelling as written (the first in alphabetical order)
    children: int
    mentions: int


@dataclass
class Patterns:
    factors: dict[str, list[FactorRow]] = field(default_factory=dict)
    hotspots: list[NameRow] = field(default_factory=list)
    associates: list[NameRow] = field(default_factory=list)

    @property
    def recurring_places(self) -> list[NameRow]:
        return [row for row in self.hotspots if row.children >= 2]


def _covering_interviews(returned: QuerySet[MissingEpisode]) -> Exists:
    """The interview (OuterRef "interview_id") covers an episode returned in the period."""
    return Exists(
        InterviewEpisode.objects.filter(
            interview_id=OuterRef("interview_id"), episode__in=returned.values("pk")
        )
    )


def patterns(filters: FigureFilters, *, now: datetime) -> Patterns:
    """What the children said, for the period's returns (the filters apply): push factors,
    pull factors and harms ranked by how many interviews picked them; hotspots (places
    children were found, from the episode, or said they went or stayed, from the interview)
    grouped by normalised name and ranked by how many different children; and people named by
    two or more different children. Three queries."""
    returned = _filtered(filters).filter(_cohort_q("returned", filters))
    result = Patterns(factors={kind: [] for kind in ("push", "pull", "harm")})
    factor_rows = (
        InterviewFactor.objects.filter(_covering_interviews(returned))
        .values("factor__kind", "factor__code", "factor__label")
        .annotate(
            interviews=Count("interview_id", distinct=True),
            children=Count("interview__child_id", distinct=True),
        )
        .order_by("factor__kind", "-interviews", "-children", "factor__label")
    )
    for row in factor_rows:
        result.factors.setdefault(row["factor__kind"], []).append(
            FactorRow(
                kind=row["factor__kind"],
                code=row["factor__code"],
                label=row["factor__label"],
                interviews=row["interviews"],
                children=row["children"],
            )
        )

    found = (
        returned.exclude(found_place="")
        .order_by()
        .values(
            place_key=NormalisedName("found_place"),
            place_name=F("found_place"),
            who=F("child_id"),
        )
    )
    mentioned = (
        InterviewMention.objects.filter(kind=MentionKind.PLACE)
        .filter(_covering_interviews(returned))
        .order_by()
        .values(
            place_key=F("normalised_name"),
            place_name=F("name"),
            who=F("interview__child_id"),
        )
    )
    union = found.union(mentioned, all=True)
    sql, params = union.query.get_compiler(using=union.db).as_sql()
    with connection.cursor() as cursor:
        # The inner SQL is Django's own compilation of the two querysets above, with its
        # parameters passed separately: no user input is formatted into the statement.
        cursor.execute(
            f"SELECT u.place_key, MIN(u.place_name), COUNT(DISTINCT u.who), COUNT(*) "  # noqa: S608
            f"FROM ({sql}) u GROUP BY u.place_key ORDER BY 3 DESC, 4 DESC, 1 LIMIT %s",
            [*params, HOTSPOT_LIMIT],
        )
        result.hotspots = [NameRow(k, name, c, n) for k, name, c, n in cursor.fetchall()]

    associates = (
        InterviewMention.objects.filter(kind=MentionKind.ASSOCIATE)
        .filter(_covering_interviews(returned))
        .order_by()
        .values("normalised_name")
        .annotate(
            name=Min("name"),
            children=Count("interview__child_id", distinct=True),
            mentions=Count("pk"),
        )
        .filter(children__gte=2)
        .order_by("-children", "-mentions", "normalised_name")[:ASSOCIATE_LIMIT]
    )
    result.associates = [
        NameRow(r["normalised_name"], r["name"], r["children"], r["mentions"]) for r in associates
    ]
    return result
