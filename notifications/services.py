"""Every write of the escalation system. Tasks, views and the command call these and nothing else.

The flow (docs/decisions/0010-escalation-ladder.md):

1. `escalation_sweep(now=…)`, run by beat every minute, resolves escalations whose alert no longer
   stands, raises an escalation for each newly due clock (unique per rule, episode and clock
   value), climbs each unacknowledged escalation whose `next_level_at` has passed one level (rows
   claimed with `select_for_update(skip_locked=True)`), writing one SmsMessage row per recipient
   before anything is sent, and hands each new row to the `send_sms` task after commit.
2. `sms_send(sms_id=…)` claims the row with a guarded UPDATE, asks Twilio first whether an
   earlier attempt already went through when that is unknown, sends, and records the SID.
3. Twilio's status callbacks (`sms_record_status`) move a text's status forward only; an inbound
   `ACK <n>` (`inbound_sms_receive`) or the web page (`escalation_acknowledge`) stops the ladder.

`now` is always passed in: the caller reads the clock once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, Field, Model, OuterRef, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.db.models.sql import UpdateQuery
from django.urls import reverse

from missing.cases.errors import Conflict, NotAllowed
from missing.models import (
    Child,
    Council,
    MissingEpisode,
    MisuseAlert,
    Role,
    User,
    council_scope,
    is_regional,
)
from notifications import selectors, texts
from notifications.models import (
    AdminAlert,
    CouncilAlert,
    Escalation,
    EscalationRule,
    InboundSms,
    Recipient,
    SmsMessage,
)
from notifications.transport import (
    TWILIO_STATUS,
    PermanentSmsError,
    SendResult,
    TransientSmsError,
    Transport,
    get_transport,
)

logger = logging.getLogger(__name__)

# Texts handed back per sweep by the redispatch.
SWEEP_BATCH = 200
# Escalations climbed per transaction; more than this due at once (hours of downtime) take
# further batches in the same sweep, up to MAX_BATCHES.
CLIMB_BATCH = 1000
MAX_BATCHES = 1000
# Rows per INSERT statement (SQLite allows 32,766 parameters; texts have 13 columns).
INSERT_CHUNK = 1000

Status = SmsMessage.Status
# States a worker may claim a text from.
CLAIMABLE = (Status.PENDING, Status.RETRY)
# States the sweep watches for a lost task (see SmsMessage.redispatch_at).
WATCHED = (Status.PENDING, Status.SUBMITTING, Status.RETRY)
# A text in one of these states will never reach its recipient.
DEAD = (Status.FAILED, Status.UNDELIVERED, Status.CANCELLED)
# Status callbacks only move forward: a replayed or late callback cannot undo a later status.
RANK: dict[str, int] = {
    Status.PENDING: 0,
    Status.SUBMITTING: 0,
    Status.RETRY: 0,
    Status.CANCELLED: 0,
    Status.QUEUED: 10,
    Status.SENDING: 20,
    Status.SENT: 30,
    Status.DELIVERED: 40,
    Status.UNDELIVERED: 40,
    Status.FAILED: 40,
}


def _seconds(name: str) -> timedelta:
    return timedelta(seconds=getattr(settings, name))


def retry_delay(attempt: int) -> timedelta:
    """Backoff after failed attempt number `attempt` (1, 2, …): 30 s, 1 min, 2 min … capped."""
    base = settings.SMS_RETRY_BASE_SECONDS * 2 ** max(0, attempt - 1)
    return timedelta(seconds=min(base, settings.SMS_RETRY_MAX_SECONDS))


def status_callback_url(sms_id: int) -> str:
    """Built from PUBLIC_BASE_URL, not the request's Host, so the signature Twilio computes
    over it matches what we verify behind a TLS-terminating proxy."""
    return settings.PUBLIC_BASE_URL + reverse("notifications:twilio_status", args=[sms_id])


def _enqueue_sends(sms_ids: list[int]) -> None:
    """Hand texts to the worker once the rows are committed. If the broker is down the rows stay
    pending and the sweep hands them over again (`redispatch_at`)."""
    from notifications.tasks import send_sms  # tasks import services: import at call time

    for sms_id in sms_ids:
        transaction.on_commit(partial(send_sms.delay, sms_id), robust=True)


def _alert(
    *,
    key: str,
    kind: str,
    message: str,
    now: datetime,
    escalation: Escalation | None = None,
    sms: SmsMessage | None = None,
) -> AdminAlert:
    """One open alert per key. Messages name staff and episode references, never a child."""
    try:
        with transaction.atomic():
            alert, _ = AdminAlert.objects.get_or_create(
                key=key,
                resolved_at=None,
                defaults={
                    "kind": kind,
                    "message": message[:300],
                    "escalation": escalation,
                    "sms": sms,
                    "created_at": now,
                },
            )
    except IntegrityError:
        alert = AdminAlert.objects.get(key=key, resolved_at=None)
    return alert


def _cancel_unsent(escalation_ids: list[int], *, now: datetime) -> int:
    """Texts not yet handed to Twilio for escalations that stopped are not sent."""
    return SmsMessage.objects.filter(escalation_id__in=escalation_ids, status__in=CLAIMABLE).update(
        status=Status.CANCELLED, status_updated_at=now, redispatch_at=None
    )


# --------------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    resolved: int = 0
    raised: int = 0
    climbed: int = 0
    texts: int = 0
    redispatched: int = 0
    sms_ids: list[int] = field(default_factory=list)


def escalation_sweep(*, now: datetime) -> SweepResult:
    """One pass of the escalation ladder (beat every minute; `manage.py run_escalations`).

    A system action, no acting user. Safe to run twice at once, late, or after hours of downtime:
    everything that fell due meanwhile is raised once and climbs at most one level per sweep.

    A fixed number of statements whatever the number of rules, levels and due items (issue 15):
    the rules with their steps (1). On PostgreSQL one statement then resolves what cleared,
    cancels the unsent texts of stopped escalations, raises everything newly due for every rule
    (INSERT … SELECT of one UNION ALL … ON CONFLICT DO NOTHING) and says whether any climb or
    lost text is due (1; `_resolve_and_raise`); elsewhere those are three statements and the
    climb and the redispatch always look. Then, when due: the escalations to climb, claimed with
    SKIP LOCKED (1), everyone they could tell read once (1), their texts written with one INSERT
    … ON CONFLICT DO NOTHING, their levels with one UPDATE and any administrator alerts with one
    INSERT (on PostgreSQL one statement; elsewhere 2, +1 for alerts); the texts whose task was
    lost (1, +1). Idle, 2 statements on PostgreSQL; one due item or hundreds, 5. Only more than
    CLIMB_BATCH escalations due at once (hours of downtime) take a second batch.
    """
    result = SweepResult()
    ladder = selectors.rules_with_steps()
    rules = [rule for rule, _ in ladder]
    if connection.vendor == "postgresql":
        due = _resolve_and_raise(rules, now=now)
    else:
        due = _Due(
            resolved=_resolve_cleared(rules, now=now),
            raised=_raise_due(rules, now=now),
            climb=True,
            redispatch=True,
        )
    result.resolved, result.raised = due.resolved, due.raised
    steps = {rule.pk: levels for rule, levels in ladder}
    by_id = {rule.pk: rule for rule in rules}
    # Level 1 of a raised escalation is due at once, whether or not the check saw the new row.
    if due.climb or due.raised:
        for _ in range(MAX_BATCHES):
            if not _climb_batch(steps, by_id, now=now, result=result):
                break
    if due.redispatch:
        result.redispatched = _redispatch(now=now)
    if result.raised or result.texts or result.resolved or result.redispatched:
        logger.info(
            "Escalation sweep: %s resolved, %s raised, %s climbed, %s texts, %s redispatched",
            result.resolved,
            result.raised,
            result.climbed,
            result.texts,
            result.redispatched,
        )
    return result


def _insert_sql(model: type[Model], rows: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    """INSERT … VALUES of the rows (keyed by field name) ON CONFLICT DO NOTHING RETURNING the id:
    a row that would break a unique constraint is skipped."""
    fields = [cast(Field, model._meta.get_field(name)) for name in rows[0]]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    pk = connection.ops.quote_name(model._meta.pk.column)
    marks = ", ".join("(" + ", ".join(["%s"] * len(fields)) + ")" for _ in rows)
    params = [
        model_field.get_db_prep_save(row[model_field.name], connection)
        for row in rows
        for model_field in fields
    ]
    sql = f"INSERT INTO {table} ({columns}) VALUES {marks} ON CONFLICT DO NOTHING RETURNING {pk}"  # noqa: S608 - names from the model
    return sql, params


def _insert_ignoring_conflicts(
    model: type[Model], rows: list[dict[str, Any]], *, first: tuple[str, list[Any]] = ("", [])
) -> list[int]:
    """INSERT the rows in one statement per INSERT_CHUNK rows (`_insert_sql`); `first` is put
    before the first chunk's INSERT (data-modifying CTEs on PostgreSQL). Returns the ids of the
    rows written."""
    ids: list[int] = []
    prefix, prefix_params = first
    for start in range(0, len(rows), INSERT_CHUNK):
        sql, params = _insert_sql(model, rows[start : start + INSERT_CHUNK])
        with connection.cursor() as cursor:
            cursor.execute(prefix + sql, prefix_params + params)
            ids += [row[0] for row in cursor.fetchall()]
        prefix, prefix_params = "", []
    if prefix:  # no rows: the CTEs alone
        with connection.cursor() as cursor:
            cursor.execute(prefix + "SELECT 1 WHERE false", prefix_params)
    return ids


def _write_climb(batch: Sequence[Escalation], writes: _Writes) -> list[int]:
    """PostgreSQL: a climb batch's writes in one statement (per INSERT_CHUNK texts): the levels
    (UPDATE … FROM VALUES) and the administrator alerts (INSERT … ON CONFLICT DO NOTHING) as
    data-modifying CTEs of the texts' INSERT. Returns the ids of the texts written."""
    esc = connection.ops.quote_name(Escalation._meta.db_table)
    marks = ", ".join(["(%s::bigint, %s::integer, %s::timestamptz)"] * len(batch))
    ctes = [
        f"sweep_levels AS (UPDATE {esc} SET level = v.level, next_level_at = v.next "  # noqa: S608 - our table
        f"FROM (VALUES {marks}) AS v(id, level, next) WHERE {esc}.id = v.id)"
    ]
    params: list[Any] = [value for e in batch for value in (e.pk, e.level, e.next_level_at)]
    if writes.alerts:
        alerts = [
            {
                "key": alert.key,
                "kind": alert.kind,
                "message": alert.message,
                "escalation": alert.escalation_id,
                "created_at": alert.created_at,
            }
            for alert in writes.alerts.values()
        ]
        sql, args = _insert_sql(AdminAlert, alerts)
        ctes.append(f"sweep_alerts AS ({sql})")
        params += args
    return _insert_ignoring_conflicts(
        SmsMessage, writes.texts, first=(f"WITH {', '.join(ctes)} ", params)
    )


@dataclass(frozen=True)
class _Due:
    """What the first part of the sweep did, and whether the climb and the redispatch must look."""

    resolved: int
    raised: int
    climb: bool
    redispatch: bool


def _cleared(rules: list[EscalationRule], *, now: datetime) -> QuerySet[Escalation] | None:
    """Every rule's open escalations whose alert no longer stands; None when there is no rule."""
    return selectors.cleared_for_rules(rules, now=now) if rules else None


RESOLVE = {"state": Escalation.State.RESOLVED, "next_level_at": None}
CANCEL = {"status": Status.CANCELLED, "redispatch_at": None}


def _stopped_unsent(*, resolved: Q | None = None) -> QuerySet[SmsMessage]:
    """Texts not yet handed to Twilio whose escalation stopped (or is in `resolved`), on the small
    partial index of unsent texts. A misuse alert's text has no ladder: it always goes."""
    stopped: Q = ~Q(
        Exists(Escalation.objects.filter(pk=OuterRef("escalation_id"), state=Escalation.State.OPEN))
    )
    if resolved is not None:
        stopped |= resolved
    return SmsMessage.objects.filter(
        status__in=CLAIMABLE, redispatch_at__isnull=False, escalation__isnull=False
    ).filter(stopped)


def _resolve_cleared(rules: list[EscalationRule], *, now: datetime) -> int:
    """Every rule's open escalations whose alert no longer stands, in one UPDATE; then the texts
    not yet handed to Twilio for any escalation that stopped are not sent (one UPDATE)."""
    cleared = _cleared(rules, now=now)
    with transaction.atomic():
        resolved = 0 if cleared is None else cleared.update(**RESOLVE, resolved_at=now)
        _stopped_unsent().update(**CANCEL, status_updated_at=now)
    return resolved


RAISE_COLUMNS = (
    "rule", "episode", "clock_at", "deadline_at", "next_level_at", "raised_at", "level", "state",
    "acknowledged_via",
)  # fmt: skip


def _raise_sql(rules: list[EscalationRule], *, now: datetime) -> tuple[str, list[Any]] | None:
    """Everything newly due for every active rule raised in one statement: INSERT … SELECT of
    the UNION ALL … ON CONFLICT DO NOTHING RETURNING 1. Unique (rule, episode, clock_at): what a
    concurrent sweep raised first is skipped. None when no rule is active."""
    due = selectors.due_for_rules([rule for rule in rules if rule.active], now=now)
    if due is None:
        return None
    select, params = due.query.get_compiler(connection=connection).as_sql()
    table = connection.ops.quote_name(Escalation._meta.db_table)
    columns = ", ".join(
        connection.ops.quote_name(cast(Field, Escalation._meta.get_field(name)).column)
        for name in RAISE_COLUMNS
    )
    # Level 1 is due at once (next_level_at = the deadline): the climb tells it in this sweep.
    # WHERE true: SQLite's grammar needs it between INSERT … SELECT and ON CONFLICT.
    sql = (
        f"INSERT INTO {table} ({columns}) "  # noqa: S608 - names from the model
        f"SELECT due.sweep_rule, due.pk, due.sweep_clock, due.sweep_deadline, "
        f"due.sweep_deadline, %s, 0, %s, '' FROM ({select}) due WHERE true "
        f"ON CONFLICT DO NOTHING RETURNING 1"
    )
    raised_at = Escalation._meta.get_field("raised_at").get_db_prep_save(now, connection)
    return sql, [raised_at, Escalation.State.OPEN, *params]


def _raise_due(rules: list[EscalationRule], *, now: datetime) -> int:
    raising = _raise_sql(rules, now=now)
    if raising is None:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(*raising)
        return len(cursor.fetchall())


def _sql(qs: QuerySet[Any], *, update: dict[str, Any] | None = None) -> tuple[str, list[Any]]:
    """A queryset's SELECT, or with `update` its UPDATE, as SQL and parameters."""
    if update is None:
        sql, params = qs.query.get_compiler(connection=connection).as_sql()
    else:
        query = cast(UpdateQuery, qs.query.chain(UpdateQuery))
        query.add_update_values(update)
        sql, params = query.get_compiler(connection=connection).as_sql()
    return sql, list(params)


def _resolve_and_raise(rules: list[EscalationRule], *, now: datetime) -> _Due:
    """PostgreSQL: `_resolve_cleared`, `_raise_due` and whether a climb or a redispatch is due, in
    one statement of data-modifying CTEs (`_resolve_and_raise_sql`)."""
    sql, params = _resolve_and_raise_cached(rules, now=now)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        resolved, raised, climb, lost = cursor.fetchone()
    return _Due(resolved, raised, climb, lost)


# `_resolve_and_raise_sql` per ladder. Building and compiling its querysets takes longer than
# PostgreSQL takes to run it (about 10 ms of Python a sweep at 1,000,000 episodes), and only the
# ladder shapes it: `now` enters as datetime parameters alone, each `now` plus a constant
# (thresholds, `raised_at`, `resolved_at`). So it is compiled once at a fixed moment and each
# sweep moves those parameters by `now - _COMPILED_AT`; an administrator's edit to any rule is
# a new key. tests/notifications/test_sweep_queries.py checks it against a fresh compile.
_COMPILED: dict[tuple[Any, ...], tuple[str, list[Any]]] = {}
_COMPILED_AT = datetime(2000, 1, 1, tzinfo=UTC)


def _resolve_and_raise_cached(
    rules: list[EscalationRule], *, now: datetime
) -> tuple[str, list[Any]]:
    key = (
        connection.alias,
        tuple((rule.pk, rule.trigger, rule.offset, rule.active) for rule in rules),
    )
    if key not in _COMPILED:
        if len(_COMPILED) > 32:  # ladders edited many times in one process: start again
            _COMPILED.clear()
        _COMPILED[key] = _resolve_and_raise_sql(rules, now=_COMPILED_AT)
    sql, params = _COMPILED[key]
    moved = now - _COMPILED_AT
    return sql, [p + moved if isinstance(p, datetime) else p for p in params]


def _resolve_and_raise_sql(rules: list[EscalationRule], *, now: datetime) -> tuple[str, list[Any]]:
    """One statement: resolve what cleared, cancel the unsent texts of stopped escalations, raise
    what is newly due, and say whether a climb or a lost text is due. Its CTEs share one
    snapshot, so the texts of escalations resolved by the same statement are found by their
    RETURNING ids, and the climb check cannot see the rows just raised (the caller climbs
    whenever any was raised: level 1 is due at once). Each UNION arm and NOT EXISTS is answered
    on its indexed deadline column or primary key; a data-modifying statement never starts
    parallel workers (which cost more than the plain SELECT they would serve)."""
    esc = connection.ops.quote_name(Escalation._meta.db_table)
    ctes: list[str] = []
    params: list[Any] = []

    def cte(name: str, sql: str, args: list[Any]) -> None:
        ctes.append(f"{name} AS ({sql})")
        params.extend(args)

    cleared = _cleared(rules, now=now)
    if cleared is None:
        cte("sweep_resolved", f"SELECT id FROM {esc} WHERE false", [])  # noqa: S608 - our table
    else:
        sql, args = _sql(cleared, update={**RESOLVE, "resolved_at": now})
        cte("sweep_resolved", f"{sql} RETURNING {esc}.id", args)
    resolved = Q(escalation_id__in=RawSQL("SELECT id FROM sweep_resolved", ()))
    sql, args = _sql(
        _stopped_unsent(resolved=resolved), update={**CANCEL, "status_updated_at": now}
    )
    cte("sweep_cancelled", f"{sql} RETURNING 1", args)
    raising = _raise_sql(rules, now=now)
    if raising is not None:
        cte("sweep_raised", *raising)
    climb, climb_args = _sql(
        Escalation.objects.filter(state=Escalation.State.OPEN, next_level_at__lte=now).values("pk")
    )
    lost, lost_args = _sql(
        SmsMessage.objects.filter(status__in=WATCHED, redispatch_at__lte=now).values("pk")
    )
    raised = "(SELECT count(*) FROM sweep_raised)" if raising is not None else "0"
    sql = (
        f"WITH {', '.join(ctes)} SELECT (SELECT count(*) FROM sweep_resolved), {raised}, "  # noqa: S608 - compiled querysets
        f"EXISTS ({climb}), EXISTS ({lost})"
    )
    return sql, [*params, *climb_args, *lost_args]


@dataclass
class _Writes:
    """What one climb batch writes, gathered in memory and then written in bulk."""

    texts: list[dict[str, Any]] = field(default_factory=list)
    alerts: dict[str, AdminAlert] = field(default_factory=dict)

    def alert(self, *, key: str, kind: str, message: str, now: datetime, escalation: Escalation):
        """One open alert per key (the first wins, as `_alert`'s get_or_create)."""
        self.alerts.setdefault(
            key,
            AdminAlert(
                key=key, kind=kind, message=message[:300], escalation=escalation, created_at=now
            ),
        )


def _climb_batch(
    steps: dict[int, dict[int, list[str]]],
    rules: dict[int, EscalationRule],
    *,
    now: datetime,
    result: SweepResult,
) -> bool:
    """Climb one batch of escalations whose next level is due; False when no further batch is
    needed."""
    with transaction.atomic():
        batch = _claim(now=now)
        if not batch:
            return False
        people = selectors.sweep_recipients(
            episode_ids={e.episode_id for e in batch},
            team_ids={e.sweep_team_id for e in batch if e.sweep_team_id is not None},
            at=now,
        )
        writes = _Writes()
        for escalation in batch:
            escalation.rule = rules[escalation.rule_id]
            _climb(escalation, steps[escalation.rule_id], people, writes, now=now)
        if connection.vendor == "postgresql":
            sms_ids = _write_climb(batch, writes)
        else:
            if writes.alerts:
                AdminAlert.objects.bulk_create(writes.alerts.values(), ignore_conflicts=True)
            sms_ids = _insert_ignoring_conflicts(SmsMessage, writes.texts)
            Escalation.objects.bulk_update(batch, ["level", "next_level_at"])
        result.climbed += len(batch)
        result.texts += len(sms_ids)
        result.sms_ids += sms_ids
        _enqueue_sends(sms_ids)
    return len(batch) == CLIMB_BATCH


def _claim(*, now: datetime) -> list[Any]:
    """Up to CLIMB_BATCH open escalations whose next level is due, oldest first, each with its
    child's allocated team and (whose ladder it climbs on a regional installation, 0067) the
    episode's council and its ONS code. Another sweep's rows are skipped, not waited for: it is
    telling them already (FOR UPDATE SKIP LOCKED; SQLite serialises writers instead). Raw SQL
    through `Escalation.objects.raw`, compiled once per process: the annotated queryset cost
    1.5 ms of Python a sweep (issue 15)."""
    sql = _CLAIM_SQL.get(connection.alias)
    if sql is None:
        name = connection.ops.quote_name
        episode, child, council = MissingEpisode._meta, Child._meta, Council._meta
        lock = " FOR UPDATE OF x SKIP LOCKED" if connection.features.has_select_for_update else ""
        sql = _CLAIM_SQL[connection.alias] = (
            f"SELECT x.*, c.allocated_team_id AS sweep_team_id, "  # noqa: S608 - our tables
            "e.council_id AS sweep_council_id, k.ons_code AS sweep_council_ons "
            f"FROM {name(Escalation._meta.db_table)} x "
            f"JOIN {name(episode.db_table)} e ON e.id = x.episode_id "
            f"JOIN {name(child.db_table)} c ON c.id = e.child_id "
            f"LEFT JOIN {name(council.db_table)} k ON k.id = e.council_id "
            "WHERE x.state = %s AND x.next_level_at <= %s "
            f"ORDER BY x.next_level_at, x.id LIMIT %s{lock}"
        )
    at = Escalation._meta.get_field("next_level_at").get_db_prep_value(now, connection)
    return list(Escalation.objects.raw(sql, [Escalation.State.OPEN, at, CLIMB_BATCH]))


_CLAIM_SQL: dict[str, str] = {}


def _climb(
    escalation: Escalation,
    levels: dict[int, list[str]],
    people: selectors.SweepRecipients,
    writes: _Writes,
    *,
    now: datetime,
) -> None:
    """Tell the next level up. A level with nobody reachable is skipped to the one above it."""
    level = escalation.level
    if not levels:
        writes.alert(
            key=f"no-steps:{escalation.rule_id}",
            kind=AdminAlert.Kind.NO_RECIPIENT,
            message=f"Escalation rule '{escalation.rule.name}' has no levels: nobody is told.",
            now=now,
            escalation=escalation,
        )
    while True:
        higher = sorted(n for n in levels if n > level)
        if not higher:
            escalation.next_level_at = None
            break
        level = higher[0]
        rows = _texts_for_level(escalation, level, levels[level], people, writes, now=now)
        further = len(higher) > 1
        if rows or not further:
            writes.texts += rows
            escalation.next_level_at = now + escalation.rule.ack_within if further else None
            break
    escalation.level = level


def _of_council_text(escalation: Escalation) -> str:
    """ " of council E06000035" on a regional installation (whose rota lacks someone: its ONS
    code, never a child); nothing on a single-council one, whose message is unchanged."""
    if not is_regional():
        return ""
    ons = getattr(escalation, "sweep_council_ons", None)
    return f" of council {ons}" if ons else " (the episode has no council)"


def _texts_for_level(
    escalation: Escalation,
    level: int,
    recipients: list[str],
    people: selectors.SweepRecipients,
    writes: _Writes,
    *,
    now: datetime,
) -> list[dict[str, Any]]:
    """One SmsMessage row per person to tell at `level` (written before anything is sent)."""
    found: dict[int, User] = {}
    for recipient in recipients:
        users = people.resolve(
            recipient,
            episode_id=escalation.episode_id,
            team_id=escalation.sweep_team_id,  # type: ignore[attr-defined]  # the sweep annotates it
            council_id=escalation.sweep_council_id,  # type: ignore[attr-defined]
        )
        # No interviewer yet is casework, not an administrator's problem: the team manager is
        # told at the same level.
        if not users and recipient != Recipient.INTERVIEWER:
            writes.alert(
                key=f"no-recipient:{escalation.pk}:{level}:{recipient}",
                kind=AdminAlert.Kind.NO_RECIPIENT,
                message=(
                    f"{escalation.episode_reference}, {escalation.rule.name}, level {level}: "
                    f"nobody to tell as {Recipient(recipient).label.lower()}"
                    f"{_of_council_text(escalation)}. Check the on-call rota."
                ),
                now=now,
                escalation=escalation,
            )
        for user in users:
            found.setdefault(user.pk, user)
    body = texts.escalation_text(
        trigger=escalation.rule.trigger,
        episode_id=escalation.episode_id,
        clock_at=escalation.clock_at,
        level=level,
        now=now,
    )
    rows: list[dict[str, Any]] = []
    for user in found.values():
        if not user.phone:
            writes.alert(
                key=f"no-phone:{user.pk}",
                kind=AdminAlert.Kind.NO_PHONE,
                message=(
                    f"{user.username} ({user.role_label}) has no phone number: "
                    "escalation texts cannot reach them."
                ),
                now=now,
                escalation=escalation,
            )
            continue
        rows.append(
            {
                "escalation": escalation.pk,
                "recipient": user.pk,
                "level": level,
                "to": user.phone,
                "body": body,
                "backend": "",
                "status": Status.PENDING,
                "attempts": 0,
                "needs_check": False,
                "created_at": now,
                "redispatch_at": now + _seconds("SMS_REDISPATCH_AFTER_SECONDS"),
                "error_code": "",
                "error_detail": "",
            }
        )
    return rows


def _redispatch(*, now: datetime) -> int:
    """Hand texts whose task was lost back to the worker.

    A text still pending or waiting to retry past its `redispatch_at` lost its task (broker
    down, worker killed before the retry ran). A text still `submitting` past its
    `redispatch_at` was claimed longer ago than any live attempt can take (SMS_RECLAIM_AFTER
    exceeds the Twilio timeouts): its worker died mid-send, so whether Twilio has the message is
    unknown, and the next attempt checks before it sends. One SELECT, and one UPDATE when any.
    """
    with transaction.atomic():
        rows = list(
            SmsMessage.objects.filter(status__in=WATCHED, redispatch_at__lte=now)
            .select_for_update(skip_locked=True)
            .order_by("redispatch_at", "pk")[:SWEEP_BATCH]
        )
        for sms in rows:
            if sms.status == Status.SUBMITTING:
                sms.status = Status.RETRY
                sms.needs_check = True
                sms.status_updated_at = now
            sms.redispatch_at = now + _seconds("SMS_REDISPATCH_AFTER_SECONDS")
        if rows:
            SmsMessage.objects.bulk_update(
                rows, ["status", "needs_check", "status_updated_at", "redispatch_at"]
            )
        _enqueue_sends([sms.pk for sms in rows])
    return len(rows)


# --------------------------------------------------------------------------------------------
# Sending one text
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendOutcome:
    # sent | failed | retry | cancelled | skipped
    result: str
    retry_in: timedelta | None = None


def sms_send(*, sms_id: int, now: datetime, transport: Transport | None = None) -> SendOutcome:
    """Send one text (the `send_sms` task). Never sends a text twice.

    Call outside a transaction: the claim must be committed before Twilio is called, so a
    killed worker leaves a `submitting` row for the sweep to find. A duplicate or late task
    finds the row already claimed or sent and does nothing.
    """
    sms = SmsMessage.objects.select_related("escalation", "council_alert").filter(pk=sms_id).first()
    if sms is None or sms.status not in CLAIMABLE:
        return SendOutcome("skipped")
    # A misuse alert's text has no ladder to stop: it goes whatever happens next.
    if sms.escalation is not None and sms.escalation.state != Escalation.State.OPEN:
        _cancel_unsent([sms.escalation.pk], now=now)
        return SendOutcome("cancelled")
    # Another council's text is not sent once that council acknowledged the alert.
    if sms.council_alert is not None and sms.council_alert.acknowledged_at is not None:
        SmsMessage.objects.filter(pk=sms.pk, status__in=CLAIMABLE).update(
            status=Status.CANCELLED, status_updated_at=now, redispatch_at=None
        )
        return SendOutcome("cancelled")
    transport = transport or get_transport()
    attempt = sms.attempts + 1
    claimed = SmsMessage.objects.filter(pk=sms.pk, status=sms.status, attempts=sms.attempts).update(
        status=Status.SUBMITTING,
        attempts=attempt,
        claimed_at=now,
        first_attempt_at=Coalesce(F("first_attempt_at"), Value(now)),
        redispatch_at=now + _seconds("SMS_RECLAIM_AFTER_SECONDS"),
        backend=transport.name,
        status_updated_at=now,
    )
    if not claimed:
        return SendOutcome("skipped")
    # Only this attempt's claim may record its outcome: if the sweep reclaimed the row
    # meanwhile, the next attempt's check finds what this one did.
    mine = SmsMessage.objects.filter(pk=sms.pk, status=Status.SUBMITTING, attempts=attempt)
    try:
        result = _attempt(sms, transport, now=now)
    except PermanentSmsError as exc:
        _record_failure(sms, mine, kind=AdminAlert.Kind.SMS_FAILED, exc=exc, now=now)
        return SendOutcome("failed")
    except TransientSmsError as exc:
        if attempt >= settings.SMS_MAX_ATTEMPTS:
            _record_failure(sms, mine, kind=AdminAlert.Kind.SMS_GAVE_UP, exc=exc, now=now)
            return SendOutcome("failed")
        delay = retry_delay(attempt)
        mine.update(
            status=Status.RETRY,
            needs_check=sms.needs_check or exc.uncertain,
            error_code=exc.code,
            error_detail=exc.detail[:200],
            status_updated_at=now,
            redispatch_at=now + delay + _seconds("SMS_REDISPATCH_AFTER_SECONDS"),
        )
        logger.warning(
            "SMS %s attempt %s: %s; retry in %ss", sms.pk, attempt, exc.detail, delay.seconds
        )
        return SendOutcome("retry", retry_in=delay)
    mine.update(
        status=result.status,
        sid=result.sid,
        sent_at=now,
        status_updated_at=now,
        redispatch_at=None,
        error_code="",
        error_detail="",
    )
    return SendOutcome("sent")


def _attempt(sms: SmsMessage, transport: Transport, *, now: datetime) -> SendResult:
    """Ask first when an earlier attempt may have gone through, then send. Raises only
    PermanentSmsError or TransientSmsError."""
    try:
        if sms.needs_check:
            found = transport.find_sent(to=sms.to, body=sms.body, since=sms.first_attempt_at or now)
            if found is not None:
                logger.info("SMS %s: an earlier attempt went through (%s)", sms.pk, found.sid)
                return found
        return transport.send(to=sms.to, body=sms.body, status_callback=status_callback_url(sms.pk))
    except (PermanentSmsError, TransientSmsError):
        raise
    except Exception as exc:
        # A bug or an answer nobody foresaw must not leave the text stuck or lost: retried as
        # an uncertain failure (the next attempt checks before it sends) until SMS_MAX_ATTEMPTS.
        logger.exception("SMS %s: unexpected error while sending", sms.pk)
        raise TransientSmsError(f"unexpected {type(exc).__name__}", uncertain=True) from exc


def _record_failure(
    sms: SmsMessage,
    mine: QuerySet[SmsMessage],
    *,
    kind: str,
    exc: PermanentSmsError | TransientSmsError,
    now: datetime,
) -> None:
    code, detail = exc.code, exc.detail
    mine.update(
        status=Status.FAILED,
        error_code=code,
        error_detail=detail[:200],
        status_updated_at=now,
        redispatch_at=None,
    )
    logger.warning("SMS %s failed for good: %s", sms.pk, detail)
    _text_failed(sms, kind=kind, detail=detail, now=now)


def _text_failed(sms: SmsMessage, *, kind: str, detail: str, now: datetime) -> None:
    """Tell an administrator; and if nobody at this level can now be reached, do not wait for the
    acknowledgement time: the next sweep tells the level above."""
    recipient = sms.recipient if sms.recipient_id is not None else None
    who = f"{recipient.username} ({recipient.role_label})" if recipient else "a staff member"
    if sms.escalation is not None:
        about = f"E-{sms.escalation.episode_id}"
    elif sms.council_alert_id is not None:
        alert = CouncilAlert.objects.select_related("council").get(pk=sms.council_alert_id)
        who = f"the out-of-hours phone of {alert.council.name}"
        about = f"E-{alert.episode_id}"
    else:
        about = f"insider-misuse alert {sms.misuse_alert_id}"
    _alert(
        key=f"sms:{sms.pk}",
        kind=kind,
        message=(
            f"Text {sms.pk} to {who} about {about} was not delivered: "
            f"{detail}. Check their phone number."
        ),
        now=now,
        escalation=sms.escalation,
        sms=sms,
    )
    escalation_id = sms.escalation_id
    if escalation_id is None:
        return
    alive = (
        SmsMessage.objects.filter(escalation_id=escalation_id, level=sms.level)
        .exclude(status__in=DEAD)
        .exists()
    )
    if not alive:
        Escalation.objects.filter(
            pk=escalation_id,
            state=Escalation.State.OPEN,
            level=sms.level,
            next_level_at__gt=now,
        ).update(next_level_at=now)


# --------------------------------------------------------------------------------------------
# Twilio webhooks (the views verify the signature first)
# --------------------------------------------------------------------------------------------


def sms_record_status(
    *, sms_id: int, message_sid: str, twilio_status: str, error_code: str, now: datetime
) -> bool:
    """A status callback from Twilio: move the text's status forward, never back. A replayed,
    duplicated or out-of-order callback changes nothing. True when the status changed."""
    new = TWILIO_STATUS.get(twilio_status)
    if new is None or not message_sid:
        return False
    lower = [status for status, rank in RANK.items() if rank < RANK[new]]
    changes: dict[str, object] = {
        "status": new,
        "sid": message_sid,
        "status_updated_at": now,
        "redispatch_at": None,
    }
    if error_code:
        changes["error_code"] = error_code[:20]
    updated = (
        SmsMessage.objects.filter(pk=sms_id, status__in=lower)
        .filter(Q(sid=message_sid) | Q(sid__isnull=True))
        .update(**changes)
    )
    if updated and new in (Status.FAILED, Status.UNDELIVERED):
        sms = SmsMessage.objects.select_related("escalation").get(pk=sms_id)
        _text_failed(
            sms,
            kind=AdminAlert.Kind.SMS_FAILED,
            detail=f"Twilio status {twilio_status}, error {error_code or '-'}",
            now=now,
        )
    return bool(updated)


ACK_PATTERN = re.compile(r"^\s*ACK\s*(?:E\s*-?\s*)?(\d{1,12})\s*[.!]?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class InboundResult:
    outcome: str
    # The confirmation to answer with (TwiML <Message>), or None for an empty answer.
    reply: str | None
    replay: bool = False


def _inbound_result(record: InboundSms, *, replay: bool) -> InboundResult:
    reply = None
    if record.outcome == InboundSms.Outcome.ACKNOWLEDGED and record.episode_id is not None:
        reply = texts.ack_reply(record.episode_id, record.acknowledged)
    return InboundResult(outcome=record.outcome, reply=reply, replay=replay)


def inbound_sms_receive(
    *, message_sid: str, from_number: str, body: str, now: datetime
) -> InboundResult:
    """An inbound text. `ACK <n>` from a registered phone acknowledges the open escalations of
    episode E-<n> that its owner may acknowledge (managers and heads of service: all; others:
    those they were texted about), which stops their ladders. Anything else is ignored and
    logged without the number or the text. Keyed on Twilio's MessageSid: a replay acts once."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = InboundSms.objects.create(
                    message_sid=message_sid,
                    received_at=now,
                    outcome=InboundSms.Outcome.NOT_UNDERSTOOD,
                )
        except IntegrityError:
            existing = InboundSms.objects.get(message_sid=message_sid)
            logger.info("Inbound SMS %s replayed: no action", message_sid)
            return _inbound_result(existing, replay=True)

        senders = list(
            User.objects.filter(phone=from_number, is_active=True).exclude(phone="").order_by("pk")
        )
        match = ACK_PATTERN.match(body)
        if not senders:
            record.outcome = InboundSms.Outcome.UNKNOWN_NUMBER
        elif match is None:
            record.outcome = InboundSms.Outcome.NOT_UNDERSTOOD
            record.sender = senders[0]
        else:
            episode_id = int(match.group(1))
            record.sender = senders[0]
            record.outcome = InboundSms.Outcome.UNKNOWN_REFERENCE
            for user in senders:
                ids = list(
                    selectors.acknowledgeable(user, episode_id=episode_id).values_list(
                        "pk", flat=True
                    )
                )
                count = _acknowledge(ids, actor=user, via=Escalation.Via.SMS, now=now)
                if count:
                    record.sender = user
                    record.outcome = InboundSms.Outcome.ACKNOWLEDGED
                    record.episode_id = episode_id
                    record.acknowledged = count
                    break
        if match is not None and record.outcome != InboundSms.Outcome.ACKNOWLEDGED:
            # Another council's out-of-hours phone answering its alert's text (decision 0070);
            # the number may also be a member of staff's (a duty phone) with no escalation.
            episode_id = int(match.group(1))
            count = _council_acknowledge(from_number, episode_id=episode_id, now=now)
            if count:
                record.outcome = InboundSms.Outcome.ACKNOWLEDGED
                record.episode_id = episode_id
                record.acknowledged = count
        record.save(update_fields=["outcome", "sender", "episode", "acknowledged"])
    if record.outcome == InboundSms.Outcome.ACKNOWLEDGED:
        logger.info(
            "Inbound SMS %s: %s escalation(s) of E-%s acknowledged by user %s",
            message_sid,
            record.acknowledged,
            record.episode_id,
            record.sender_id,
        )
    else:
        logger.info("Inbound SMS %s ignored: %s", message_sid, record.get_outcome_display())
    return _inbound_result(record, replay=False)


def _council_acknowledge(from_number: str, *, episode_id: int, now: datetime) -> int:
    """`ACK <n>` from a council's out-of-hours phone (the directory's number) acknowledges that
    council's alerts about episode E-<n> not yet acknowledged, as its email link would."""
    from notifications.council_alerts import council_alert_acknowledge  # it imports this module

    ids = list(
        CouncilAlert.objects.filter(
            episode_id=episode_id,
            council__out_of_hours_phone=from_number,
            acknowledged_at__isnull=True,
        )
        .exclude(council__out_of_hours_phone="")
        .values_list("pk", flat=True)
    )
    for alert_id in ids:
        council_alert_acknowledge(
            alert_id=alert_id, name="the out-of-hours phone, by text (ACK)", now=now
        )
    return len(ids)


def _acknowledge(ids: list[int], *, actor: User, via: str, now: datetime) -> int:
    if not ids:
        return 0
    count = Escalation.objects.filter(pk__in=ids, state=Escalation.State.OPEN).update(
        state=Escalation.State.ACKNOWLEDGED,
        acknowledged_at=now,
        acknowledged_by=actor,
        acknowledged_via=via,
        next_level_at=None,
    )
    _cancel_unsent(ids, now=now)
    return count


# --------------------------------------------------------------------------------------------
# The web pages
# --------------------------------------------------------------------------------------------


def escalation_acknowledge(*, actor: User, escalation_id: int, now: datetime) -> Escalation:
    """Acknowledge one escalation on the web page, which stops its ladder. Managers and heads of
    service any; anyone else only one they were texted about."""
    escalation = Escalation.objects.get(pk=escalation_id)
    texted = SmsMessage.objects.filter(escalation=escalation, recipient=actor).exists()
    if not (selectors.may_acknowledge_any(actor) or (actor.is_active and texted)):
        raise NotAllowed("You cannot acknowledge this escalation.")
    if (
        not texted
        and not MissingEpisode.objects.filter(
            council_scope(actor), pk=escalation.episode_id
        ).exists()
    ):
        # Another council's episode on a regional installation: as if it did not exist.
        raise Escalation.DoesNotExist
    with transaction.atomic():
        if not _acknowledge([escalation_id], actor=actor, via=Escalation.Via.WEB, now=now):
            escalation.refresh_from_db()
            raise Conflict(f"This escalation is already {escalation.get_state_display().lower()}.")
    escalation.refresh_from_db()
    return escalation


def alert_resolve(*, actor: User, alert_id: int, now: datetime) -> AdminAlert:
    """An administrator marks an alert dealt with (a phone number fixed, a rota gap filled)."""
    if not actor.has_role(frozenset({Role.ADMIN})):
        raise NotAllowed("Only administrators resolve SMS alerts.")
    updated = AdminAlert.objects.filter(pk=alert_id, resolved_at__isnull=True).update(
        resolved_at=now, resolved_by=actor
    )
    if not updated:
        raise Conflict("This alert is already resolved.")
    return AdminAlert.objects.get(pk=alert_id)


# --------------------------------------------------------------------------------------------
# Insider-misuse alerts (missing.audit.misuse, through settings.MISUSE_ALERT_HANDLERS)
# --------------------------------------------------------------------------------------------


def misuse_alert_texts(alert: MisuseAlert) -> list[int]:
    """Text every active head of service with a phone about `alert`, in the alert's own
    transaction: one row per recipient (unique per alert and recipient, so the alert is never
    texted twice), handed to the worker once it commits, sent like every other text. A head of
    service without a phone gets an administrator alert instead, as a rota gap does. On a
    regional installation, the heads of service of the person's own council only (0070)."""
    now = alert.raised_at
    heads = list(
        User.objects.filter(role=Role.HEAD_OF_SERVICE, is_active=True)
        .filter(council_scope(alert.user, shared=False))
        .order_by("pk")
    )
    body = texts.misuse_text(
        alert_id=alert.pk,
        username=alert.user.username,
        count=alert.distinct_children,
        window_start=alert.window_start,
    )
    rows = []
    for head in heads:
        if not head.phone:
            _alert(
                key=f"misuse-phone:{head.pk}",
                kind=AdminAlert.Kind.NO_PHONE,
                message=f"{head.username} (head of service) has no phone number for "
                "insider-misuse alerts.",
                now=now,
            )
            continue
        rows.append(
            SmsMessage(
                misuse_alert=alert,
                level=1,
                recipient=head,
                to=head.phone,
                body=body,
                created_at=now,
                redispatch_at=now + _seconds("SMS_REDISPATCH_AFTER_SECONDS"),
            )
        )
    if not rows:
        _alert(
            key=f"misuse:{alert.pk}",
            kind=AdminAlert.Kind.NO_RECIPIENT,
            message=f"Insider-misuse alert {alert.pk}: no head of service to text.",
            now=now,
        )
        return []
    ids = [sms.pk for sms in SmsMessage.objects.bulk_create(rows)]
    _enqueue_sends(ids)
    return ids
