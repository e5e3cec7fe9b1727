"""Reads for escalation: what has fallen due, who is on duty, and what the pages list.

"What is due" is one query per rule on an indexed deadline column of the episode (review_due_at,
last_seen_at, interview_due_at), limited to open episodes: its cost follows the open caseload,
never the history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import (
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
)

from missing.cases import clocks
from missing.models import (
    INTERVIEW_PENDING_STATES,
    OPEN_STATES,
    OVERSIGHT_ROLES,
    CaseAccessGrant,
    EpisodeState,
    MissingEpisode,
    Role,
    User,
    council_scope,
    is_regional,
)
from notifications.models import (
    AdminAlert,
    Duty,
    Escalation,
    EscalationRule,
    OnCallShift,
    Recipient,
    SmsMessage,
    Trigger,
)

EpisodeFilter = Callable[[QuerySet[MissingEpisode], datetime], QuerySet[MissingEpisode]]

# --------------------------------------------------------------------------------------------
# The conditions each trigger watches. One function per rule, so a rule is refined in one place.
# --------------------------------------------------------------------------------------------


def episodes_review_outstanding(
    qs: QuerySet[MissingEpisode], now: datetime
) -> QuerySet[MissingEpisode]:
    """A manager review is due (first oversight, or the next review while still missing)."""
    return qs.filter(state__in=OPEN_STATES).filter(review_due_at__isnull=False)


def episodes_still_missing(qs: QuerySet[MissingEpisode], now: datetime) -> QuerySet[MissingEpisode]:
    return qs.filter(state=EpisodeState.MISSING)


def episodes_interview_not_arranged(
    qs: QuerySet[MissingEpisode], now: datetime
) -> QuerySet[MissingEpisode]:
    """The child is back and no time and place for the return interview are agreed, nor is it
    recorded as held or not held (the episode's own interview facts, kept by the core)."""
    return qs.filter(state__in=INTERVIEW_PENDING_STATES, interview_arranged_at__isnull=True)


def episodes_interview_not_held(
    qs: QuerySet[MissingEpisode], now: datetime
) -> QuerySet[MissingEpisode]:
    """The child is back and the return interview is neither held nor recorded as not held
    (refused, no contact, a manager's decision not to hold one)."""
    return qs.filter(
        state__in=INTERVIEW_PENDING_STATES, interview_held_at__isnull=True, interview_outcome=""
    )


def episodes_interview_due_soon(
    qs: QuerySet[MissingEpisode], now: datetime
) -> QuerySet[MissingEpisode]:
    """Not held and not yet due: once overdue, the overdue rule takes over."""
    return episodes_interview_not_held(qs, now).filter(interview_due_at__gt=now)


@dataclass(frozen=True)
class TriggerSpec:
    # The episode column the rule's offset counts from; its value identifies one firing.
    clock: str
    # Episodes for which the alert still stands at `now`.
    condition: EpisodeFilter
    # clock + offset <= now, written so an index on a stored deadline serves it.
    due: Callable[[timedelta, datetime], Q]


TRIGGERS: dict[str, TriggerSpec] = {
    Trigger.REVIEW_OVERDUE: TriggerSpec(
        "review_due_at",
        episodes_review_outstanding,
        lambda offset, now: Q(review_due_at__lte=now - offset),
    ),
    Trigger.STILL_MISSING: TriggerSpec(
        "last_seen_at",
        episodes_still_missing,
        lambda offset, now: Q(last_seen_at__lte=now - offset),
    ),
    # Counted from the return, but filtered on interview_due_at (= returned_at + 72 h, indexed).
    Trigger.INTERVIEW_NOT_ARRANGED: TriggerSpec(
        "returned_at",
        episodes_interview_not_arranged,
        lambda offset, now: (
            Q(interview_due_at__lte=now - offset + clocks.INTERVIEW_WINDOW)
            & Q(returned_at__lte=now - offset)
        ),
    ),
    Trigger.INTERVIEW_DUE_SOON: TriggerSpec(
        "interview_due_at",
        episodes_interview_due_soon,
        lambda offset, now: Q(interview_due_at__lte=now - offset),
    ),
    Trigger.INTERVIEW_OVERDUE: TriggerSpec(
        "interview_due_at",
        episodes_interview_not_held,
        lambda offset, now: Q(interview_due_at__lte=now - offset),
    ),
}


Levels = dict[int, list[str]]  # {level: [recipient, …]}


def rules_with_steps() -> list[tuple[EscalationRule, Levels]]:
    """Every rule with its levels, in one query: the rules LEFT JOIN their steps, one row per
    step. A rule with no step is kept, with no levels (the sweep raises a "no levels" alert for
    it); inactive rules too (the sweep walks their open escalations to the end)."""
    rules: dict[int, tuple[EscalationRule, Levels]] = {}
    rows = EscalationRule.objects.annotate(
        sweep_level=F("steps__level"), sweep_recipient=F("steps__recipient")
    ).order_by("pk", "sweep_level", "sweep_recipient")
    for rule in rows:
        _, levels = rules.setdefault(rule.pk, (rule, {}))
        if rule.sweep_level is not None:
            levels.setdefault(rule.sweep_level, []).append(rule.sweep_recipient)
    return list(rules.values())


def newly_due(rule: EscalationRule, *, now: datetime, limit: int) -> list[tuple[int, datetime]]:
    """(episode id, clock value) for each episode whose clock + offset has passed, whose alert
    still stands, and that has no escalation for this clock value yet."""
    spec = TRIGGERS[rule.trigger]
    raised = Escalation.objects.filter(
        rule=rule, episode=OuterRef("pk"), clock_at=OuterRef(spec.clock)
    )
    qs = (
        spec.condition(MissingEpisode.objects.all(), now)
        .filter(spec.due(rule.offset, now))
        .exclude(Exists(raised))
        .order_by(spec.clock, "pk")
    )
    return list(qs.values_list("pk", spec.clock)[:limit])


def cleared_escalations(rule: EscalationRule, *, now: datetime) -> QuerySet[Escalation]:
    """Open escalations of `rule` whose alert no longer stands: reviewed, returned, closed,
    cancelled, or the clock moved (a new review time is a new escalation)."""
    spec = TRIGGERS[rule.trigger]
    stands = spec.condition(MissingEpisode.objects.filter(pk=OuterRef("episode_id")), now).filter(
        **{spec.clock: OuterRef("clock_at")}
    )
    return Escalation.objects.filter(rule=rule, state=Escalation.State.OPEN).exclude(Exists(stands))


# --------------------------------------------------------------------------------------------
# Who is told
# --------------------------------------------------------------------------------------------


def _council_staff(council_id: int | None, via: str = "") -> Q:
    """Whose ladder an episode climbs (decision 0067): on a regional installation only the staff
    of the episode's council (`MissingEpisode.council`, the owning council, also for an episode
    shared out of area); on a single-council installation everyone, as before."""
    return Q(**{f"{via}council_id": council_id}) if is_regional() else Q()


def _of_council(users: list[User], council_id: int | None) -> list[User]:
    """`_council_staff` in memory, for the sweep's people read once per batch."""
    if not is_regional():
        return users
    return [user for user in users if user.council_id == council_id]


def on_duty(duty: str, *, at: datetime, council_id: int | None = None) -> list[User]:
    """Whoever the rota has on `duty` at `at` (overlapping shifts: all of them); on a regional
    installation, of `council_id` only."""
    shifts = (
        OnCallShift.objects.filter(
            duty=duty, starts_at__lte=at, ends_at__gt=at, user__is_active=True
        )
        .filter(_council_staff(council_id, "user__"))
        .select_related("user")
        .order_by("starts_at", "pk")
    )
    return [shift.user for shift in shifts]


def heads_of_service(*, at: datetime, council_id: int | None = None) -> list[User]:
    on_call = on_duty(Duty.HEAD_OF_SERVICE, at=at, council_id=council_id)
    if on_call:
        return on_call
    heads = User.objects.filter(_council_staff(council_id), role=Role.HEAD_OF_SERVICE)
    return list(heads.filter(is_active=True).order_by("pk"))


def team_managers(episode: MissingEpisode, *, at: datetime) -> list[User]:
    """Managers of the child's allocated team; with no team or no manager, the duty manager."""
    team_id = episode.child.allocated_team_id
    council = _council_staff(episode.council_id)
    if team_id is not None:
        managers = list(
            User.objects.filter(
                council, team_id=team_id, role=Role.MANAGER, is_active=True
            ).order_by("pk")
        )
        if managers:
            return managers
    return on_duty(Duty.DUTY_MANAGER, at=at, council_id=episode.council_id)


def episode_interviewers(episode: MissingEpisode) -> list[User]:
    """The interviewer(s) assigned to the episode's return interview.

    Assigning an interviewer (interviews.services) grants them the episode and unassigning,
    sign-off or cancellation revokes it, so a live grant to an interviewer is the assignment as
    the core sees it; this app reads that rather than import the interviews app.
    """
    grants = CaseAccessGrant.objects.filter(
        episode=episode, revoked_at__isnull=True, user__role=Role.INTERVIEWER
    )
    return list(User.objects.filter(is_active=True, pk__in=grants.values("user_id")).order_by("pk"))


def resolve_recipients(recipient: str, *, episode: MissingEpisode, at: datetime) -> list[User]:
    if recipient == Recipient.DUTY_MANAGER:
        return on_duty(Duty.DUTY_MANAGER, at=at, council_id=episode.council_id)
    if recipient == Recipient.HEAD_OF_SERVICE:
        return heads_of_service(at=at, council_id=episode.council_id)
    if recipient == Recipient.TEAM_MANAGER:
        return team_managers(episode, at=at)
    if recipient == Recipient.INTERVIEWER:
        return episode_interviewers(episode)
    raise ValueError(recipient)


# --------------------------------------------------------------------------------------------
# Acknowledgement
# --------------------------------------------------------------------------------------------


def may_acknowledge_any(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.has_role(OVERSIGHT_ROLES)


def acknowledgeable(user: User, *, episode_id: int) -> QuerySet[Escalation]:
    """Open escalations of the episode that `user` may acknowledge: managers and heads of service
    any; anyone else (an interviewer) only those they were texted about."""
    qs = Escalation.objects.filter(episode_id=episode_id, state=Escalation.State.OPEN)
    if may_acknowledge_any(user):
        # On a regional installation, the escalations of episodes the user's council sees.
        return qs.filter(council_scope(user, "episode__"))
    if not user.is_active:
        return qs.none()
    return qs.filter(Exists(SmsMessage.objects.filter(escalation=OuterRef("pk"), recipient=user)))


# --------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------


def escalation_list(
    *, open_only: bool = False, episode_id: int | None = None, user: Any = None
) -> QuerySet[Escalation]:
    """Escalations, newest first, with rule, acknowledger and every text with its recipient:
    two queries per page whatever its length (the rows; the texts). With `user`, those of the
    episodes the user's council sees (a regional installation, `council_scope`)."""
    qs = Escalation.objects.select_related("rule", "acknowledged_by").prefetch_related(
        Prefetch(
            "texts",
            SmsMessage.objects.select_related("recipient").order_by("level", "pk"),
        )
    )
    if user is not None:
        qs = qs.filter(council_scope(user, "episode__"))
    if open_only:
        qs = qs.filter(state=Escalation.State.OPEN)
    if episode_id is not None:
        qs = qs.filter(episode_id=episode_id)
    return qs.order_by("-raised_at", "-pk")


def outbox_messages() -> QuerySet[SmsMessage]:
    """Texts the outbox backend 'sent' (the embedded default), newest first."""
    return (
        SmsMessage.objects.filter(backend="outbox")
        .select_related("recipient")
        .order_by("-created_at", "-pk")
    )


def open_alerts() -> QuerySet[AdminAlert]:
    return AdminAlert.objects.filter(resolved_at__isnull=True).order_by("-created_at", "-pk")


def resolved_alerts(limit: int = 20) -> QuerySet[AdminAlert]:
    return (
        AdminAlert.objects.filter(resolved_at__isnull=False)
        .select_related("resolved_by")
        .order_by("-resolved_at", "-pk")[:limit]
    )


# --------------------------------------------------------------------------------------------
# The sweep's reads: a fixed number of statements whatever the number of rules, levels and items
# --------------------------------------------------------------------------------------------


def due_for_rules(
    rules: list[EscalationRule], *, now: datetime
) -> QuerySet[MissingEpisode, tuple[int, int, str, datetime]] | None:
    """Every newly due firing of the given rules as one statement: one UNION ALL arm per rule,
    each `newly_due`'s query on its indexed deadline, with values (sweep_rule, pk, clock,
    deadline). None when there is no rule."""
    arms = []
    for rule in rules:
        spec = TRIGGERS[rule.trigger]
        raised = Escalation.objects.filter(
            rule_id=rule.pk, episode=OuterRef("pk"), clock_at=OuterRef(spec.clock)
        )
        arms.append(
            spec.condition(MissingEpisode.objects.all(), now)
            .filter(spec.due(rule.offset, now))
            .exclude(Exists(raised))
            .annotate(
                sweep_rule=Value(rule.pk, output_field=IntegerField()),
                sweep_clock=F(spec.clock),
                sweep_deadline=ExpressionWrapper(
                    F(spec.clock) + Value(rule.offset, output_field=DurationField()),
                    output_field=DateTimeField(),
                ),
            )
            .values_list("sweep_rule", "pk", "sweep_clock", "sweep_deadline")
            .order_by()
        )
    if not arms:
        return None
    return arms[0].union(*arms[1:], all=True) if len(arms) > 1 else arms[0]


def cleared_for_rules(rules: list[EscalationRule], *, now: datetime) -> QuerySet[Escalation]:
    """`cleared_escalations` for every rule at once: one condition per trigger (at most five),
    whatever the number of rules."""
    by_trigger: dict[str, list[int]] = {}
    for rule in rules:
        by_trigger.setdefault(rule.trigger, []).append(rule.pk)
    cleared: Q = Q(pk__in=[])
    for trigger, rule_ids in by_trigger.items():
        spec = TRIGGERS[trigger]
        stands = spec.condition(
            MissingEpisode.objects.filter(pk=OuterRef("episode_id")), now
        ).filter(**{spec.clock: OuterRef("clock_at")})
        cleared |= Q(rule_id__in=rule_ids) & Q(~Exists(stands))
    return Escalation.objects.filter(state=Escalation.State.OPEN).filter(cleared)


@dataclass
class SweepRecipients:
    """Everyone a batch of escalations could tell, read once per batch in three queries (the
    rota; heads of service and the batch's team managers; the batch's interviewers) and then
    resolved per escalation and level in memory, with `resolve_recipients`'s rules. On a
    regional installation each escalation is resolved among its episode's council's staff, in
    memory from the same reads: the query count does not grow with the councils (0067)."""

    on_duty: dict[str, list[User]]
    heads: list[User]
    managers_by_team: dict[int, list[User]]
    interviewers_by_episode: dict[int, list[User]]

    def resolve(
        self,
        recipient: str,
        *,
        episode_id: int,
        team_id: int | None,
        council_id: int | None = None,
    ) -> list[User]:
        def duty(name: str) -> list[User]:
            return _of_council(self.on_duty.get(name, []), council_id)

        if recipient == Recipient.DUTY_MANAGER:
            return duty(Duty.DUTY_MANAGER)
        if recipient == Recipient.HEAD_OF_SERVICE:
            return duty(Duty.HEAD_OF_SERVICE) or _of_council(self.heads, council_id)
        if recipient == Recipient.TEAM_MANAGER:
            managers = self.managers_by_team.get(team_id, []) if team_id is not None else []
            return _of_council(managers, council_id) or duty(Duty.DUTY_MANAGER)
        if recipient == Recipient.INTERVIEWER:
            return self.interviewers_by_episode.get(episode_id, [])
        raise ValueError(recipient)


def _marks(values: set[int]) -> tuple[str, list[int]]:
    """An IN list's placeholders and values; never empty (NULL matches nothing)."""
    ordered = sorted(values)
    return (", ".join(["%s"] * len(ordered)) or "NULL"), ordered


def sweep_recipients(*, episode_ids: set[int], team_ids: set[int], at: datetime) -> SweepRecipients:
    """Everyone a batch could tell, in one statement: a UNION ALL of whoever the rota has on
    duty at `at` (with the duty and the shift, to keep the rota's order), the heads of service
    and the batch's teams' managers, and the batch's episodes' interviewers (with the grant),
    each row a User tagged with why it is there. Raw SQL through `User.objects.raw`: built with
    the ORM (three annotated querysets and a union) it cost 5 ms of Python a sweep, more than
    the statement takes to run (issue 15)."""
    users = connection.ops.quote_name(User._meta.db_table)
    shift = connection.ops.quote_name(OnCallShift._meta.db_table)
    grant = connection.ops.quote_name(CaseAccessGrant._meta.db_table)
    when = DateTimeField().get_db_prep_value(at, connection)
    teams, team_params = _marks(team_ids)
    episodes, episode_params = _marks(episode_ids)
    # Typed NULLs in the first arm: PostgreSQL reads the later arms' untyped ones by them.
    sql = (
        f"SELECT u.*, 'duty' AS sweep_kind, s.duty AS sweep_duty, "  # noqa: S608 - our tables
        "CAST(NULL AS bigint) AS sweep_episode, s.starts_at AS sweep_at, s.id AS sweep_seq "
        f"FROM {shift} s JOIN {users} u ON u.id = s.user_id "
        "WHERE u.is_active AND s.starts_at <= %s AND s.ends_at > %s "
        "UNION ALL SELECT u.*, 'staff', '', NULL, NULL, 0 "
        f"FROM {users} u WHERE u.is_active "
        f"AND (u.role = %s OR (u.role = %s AND u.team_id IN ({teams}))) "
        "UNION ALL SELECT u.*, 'interviewer', '', g.episode_id, NULL, g.id "
        f"FROM {grant} g JOIN {users} u ON u.id = g.user_id WHERE u.is_active AND u.role = %s "
        f"AND g.revoked_at IS NULL AND g.episode_id IN ({episodes})"
    )
    params = [
        when, when, Role.HEAD_OF_SERVICE, Role.MANAGER, *team_params, Role.INTERVIEWER,
        *episode_params,
    ]  # fmt: skip
    rows: list[Any] = list(User.objects.raw(sql, params))  # Users, tagged as above
    on_duty: dict[str, list[User]] = {}
    for user in sorted((u for u in rows if u.sweep_kind == "duty"), key=_shift_order):
        on_duty.setdefault(user.sweep_duty, []).append(user)
    heads: list[User] = []
    managers_by_team: dict[int, list[User]] = {}
    for user in sorted((u for u in rows if u.sweep_kind == "staff"), key=lambda u: u.pk):
        if user.role == Role.HEAD_OF_SERVICE:
            heads.append(user)
        if user.role == Role.MANAGER and user.team_id in team_ids:
            managers_by_team.setdefault(user.team_id, []).append(user)
    interviewers: dict[int, list[User]] = {}
    for user in sorted(
        (u for u in rows if u.sweep_kind == "interviewer"), key=lambda u: (u.pk, u.sweep_seq)
    ):
        people = interviewers.setdefault(user.sweep_episode, [])
        if all(other.pk != user.pk for other in people):
            people.append(user)
    return SweepRecipients(on_duty, heads, managers_by_team, interviewers)


def _shift_order(user: Any) -> tuple[datetime, int]:
    return (user.sweep_at, user.sweep_seq)
