"""Synthetic case data at national scale, written with bulk COPY (PostgreSQL) for the benchmarks.

Shape, from "Scale" in docs/domain.md: a heavy tail of repeat runners (6% of children account for
a third of episodes; most episodes are a repeat), a looked-after share, two police notifications
per episode (reported missing, found) and a regrade now and then, a manager's oversight decision
per episode, return interviews (some covering two episodes of one child) with push/pull factors
and harms, and a live open caseload in every state whose clocks are green, amber and overdue.
The open caseload is drawn from its own fixed seed and does not depend on the number of
episodes, so the board can be compared at 10,000 and at 1,000,000 historical episodes.

Every row respects the model's constraints: one still-missing episode per child, no overlapping
episodes, returns after last seen. Rows are written with explicit primary keys and every
sequence is moved past them afterwards, so the application can insert normally.

Call `generate(episodes=N)` on an empty case database (reference data from the migrations only);
`bench/run.py` does. Not a management command on purpose: nothing here belongs in production.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import connection, models, transaction

from interviews.models import (
    ContactAttempt,
    Factor,
    FactorKind,
    InterviewEpisode,
    InterviewFactor,
    ReturnInterview,
)
from missing.cases import clocks
from missing.models import (
    CaseAccessGrant,
    Child,
    EpisodeEvent,
    MissingEpisode,
    Organisation,
    OversightDecision,
    PoliceForce,
    PoliceNotification,
    RiskGrade,
    Role,
    Team,
    User,
)
from notifications.models import Duty, OnCallShift

# The clock every benchmark reads: the data's "now" (the tests' fixed now, too).
BENCH_NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
HISTORY_START = datetime(2016, 4, 1, tzinfo=UTC)
# Historical episodes end at least this long before now, so they are closed and signed off.
HISTORY_END = BENCH_NOW - timedelta(days=21)
DEFAULT_OPEN_PER_STATE = 300
OPEN_SEED = 20260610

FIRST_NAMES = [
    "Alex", "Sam", "Jordan", "Taylor", "Casey", "Riley", "Morgan", "Jamie", "Charlie", "Robin",
    "Frankie", "Rowan", "Kai", "Ellis", "Harley", "Jesse", "Quinn", "Remy", "Sky", "Toni",
]  # fmt: skip
SURNAME_STEMS = [
    "Example", "Sample", "Test", "Demo", "Mock", "Fixture", "Dummy", "Placeholder", "Synth",
    "Proto", "Model", "Pattern", "Figure", "Record", "Draft", "Trial", "Pilot", "Stub",
]  # fmt: skip
SURNAME_ENDS = [
    "ton", "ford", "ley", "worth", "by", "ham", "field", "wood", "bury", "well", "stone",
    "brook", "dale", "more", "shaw", "croft", "combe", "wick", "thorpe", "gate",
]  # fmt: skip
PLACES = [
    "Town centre", "Railway station", "Bus station", "Retail park", "Friend's address",
    "Seafront", "Park", "Fast-food restaurant", "Shopping centre", "Relative's address",
    "Unknown address in London", "Hotel", "Industrial estate", "Canal towpath",
]  # fmt: skip


# --------------------------------------------------------------------------------------------
# Writing rows: COPY on PostgreSQL, executemany elsewhere (the SQLite smoke test)
# --------------------------------------------------------------------------------------------


class Table:
    """Rows for one model: every concrete column, the model's defaults for those not given."""

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields]
        self.columns = [f.column for f in self.fields]
        self.defaults: list[Any] = []
        for f in self.fields:
            if f.has_default():
                self.defaults.append(f.get_default())
            elif f.null:
                self.defaults.append(None)
            elif isinstance(f, models.CharField | models.TextField):
                self.defaults.append("")
            else:
                self.defaults.append(_REQUIRED)
        self.index = {f.attname: i for i, f in enumerate(self.fields)}
        self.required = [i for i, default in enumerate(self.defaults) if default is _REQUIRED]
        self.rows: list[list[Any]] = []

    def add(self, **values: Any) -> None:
        row = self.defaults.copy()
        index = self.index
        for name, value in values.items():
            row[index[name]] = value
        for i in self.required:  # a few columns, checked by identity (not == on every value)
            if row[i] is _REQUIRED:
                missing = [self.fields[i].attname for i, v in enumerate(row) if v is _REQUIRED]
                raise ValueError(f"{self.model.__name__}: no value for {missing}")
        self.rows.append(row)

    def flush(self) -> int:
        count = len(self.rows)
        if count:
            _write(self, self.rows)
        self.rows = []
        return count


_REQUIRED = object()


COPY_SECONDS = [0.0]  # time this process spent in COPY (the rest of a stream is Python)


def _write(table: Table, rows: list[list[Any]]) -> None:
    started = time.perf_counter()
    try:
        _copy(table, rows)
    finally:
        COPY_SECONDS[0] += time.perf_counter() - started


def _copy(table: Table, rows: list[list[Any]]) -> None:
    name = connection.ops.quote_name(table.model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in table.columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            json_cols = [i for i, f in enumerate(table.fields) if isinstance(f, models.JSONField)]
            with cursor.cursor.copy(f"COPY {name} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    for i in json_cols:
                        row[i] = json.dumps(row[i])
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(table.columns))
            adapted = [
                [_adapt(f, v) for f, v in zip(table.fields, row, strict=True)] for row in rows
            ]
            cursor.executemany(f"INSERT INTO {name} ({cols}) VALUES ({marks})", adapted)


def _adapt(f: models.Field, value: Any) -> Any:
    """What Django itself would send to a database without COPY (SQLite)."""
    if value is None:
        return None
    return f.get_db_prep_save(value, connection)


def _reset_sequences(model_list: Iterable[type[models.Model]]) -> None:
    """Move each id sequence past the rows written with explicit keys."""
    sql = connection.ops.sequence_reset_sql(_NoStyle(), list(model_list))
    with connection.cursor() as cursor:
        for statement in sql:
            cursor.execute(statement)


class _NoStyle:
    def __getattr__(self, name: str) -> Any:
        return lambda text: text


# --------------------------------------------------------------------------------------------
# The data
# --------------------------------------------------------------------------------------------


@dataclass
class Staff:
    managers: list[int]
    hos: list[int]
    ffd: list[int]
    interviewers: list[tuple[int, int]]  # (user id, organisation id)
    police: dict[int, int]  # force id -> API user id
    teams: list[int]


@dataclass
class Ids:
    """Next primary key per table (explicit keys make the cross-references cheap)."""

    next: dict[str, int] = field(default_factory=dict)

    by_model: dict[type[models.Model], int] = field(default_factory=dict)

    def take(self, model: type[models.Model]) -> int:
        value = self.by_model.get(model)  # keyed by the class: ~600,000 calls per 100,000 episodes
        if value is None:
            value = self.next.get(model._meta.label)
            if value is None:
                value = (
                    model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
                ) + 1
        self.by_model[model] = value + 1
        return value


def _staff(now: datetime) -> Staff:
    """Teams, managers, heads of service, interviewers in two charities, police API clients,
    and a rota with a duty manager and a head of service on call around now."""
    council, _ = Organisation.objects.get_or_create(
        name="Bench Council", defaults={"kind": "council"}
    )
    teams = [
        Team.objects.get_or_create(name=f"Bench team {n:02d}", defaults={"organisation": council})[
            0
        ]
        for n in range(1, 41)
    ]
    password = make_password(None)  # unusable: nobody signs in as these accounts
    managers, hos, ffd, interviewers = [], [], [], []
    police: dict[int, int] = {}

    def user(username: str, **kw: Any) -> User:
        return User.objects.get_or_create(username=username, defaults={"password": password, **kw})[
            0
        ]

    for n, team in enumerate(teams):
        managers.append(
            user(
                f"bench-manager-{n:02d}",
                role=Role.MANAGER,
                team=team,
                organisation=council,
                phone=f"+4477009{n:05d}",
            ).pk
        )
    for n in range(3):
        hos.append(user(f"bench-hos-{n}", role=Role.HEAD_OF_SERVICE, phone=f"+4477008{n:05d}").pk)
    for n in range(10):
        ffd.append(user(f"bench-ffd-{n}", role=Role.FFD, team=teams[0], organisation=council).pk)
    for org_n in range(2):
        org, _ = Organisation.objects.get_or_create(
            name=f"Bench interview provider {org_n + 1}", defaults={"kind": "provider"}
        )
        for n in range(15):
            u = user(f"bench-interviewer-{org_n}-{n:02d}", role=Role.INTERVIEWER, organisation=org)
            interviewers.append((u.pk, org.pk))
    for force in PoliceForce.objects.order_by("pk"):
        police[force.pk] = user(
            f"bench-police-{force.code}", role=Role.POLICE_SYSTEM, police_force=force
        ).pk
    if not OnCallShift.objects.filter(starts_at__lte=now, ends_at__gt=now).exists():
        start = now - timedelta(days=7)
        OnCallShift.objects.create(
            duty=Duty.DUTY_MANAGER,
            user_id=managers[0],
            starts_at=start,
            ends_at=now + timedelta(days=7),
        )
        OnCallShift.objects.create(
            duty=Duty.HEAD_OF_SERVICE,
            user_id=hos[0],
            starts_at=start,
            ends_at=now + timedelta(days=7),
        )
    return Staff(managers, hos, ffd, interviewers, police, [t.pk for t in teams])


def _episode_counts(children: int, episodes: int, rng: random.Random) -> list[int]:
    """How many episodes each child has: 6% heavy repeat runners hold a third of the episodes;
    of the rest about half go missing once. Sums to `episodes`; every child has at least one."""
    heavy = max(1, round(children * 0.06))
    per_heavy, remainder = divmod(episodes // 3, heavy)
    counts = [max(1, per_heavy + (i < remainder)) for i in range(heavy)]
    counts += [1] * (children - heavy)
    repeaters = list(range(heavy, children, 2)) or [0]
    extra = episodes - sum(counts)
    for _ in range(max(0, extra)):
        counts[rng.choice(repeaters)] += 1
    while sum(counts) > episodes:  # a tiny data set: trim the heaviest
        i = max(range(children), key=counts.__getitem__)
        if counts[i] == 1:
            break
        counts[i] -= 1
    return counts


def _random_at(rng: random.Random, start: datetime, end: datetime) -> datetime:
    span = (end - start).total_seconds()
    return start + timedelta(seconds=int(rng.random() * span))


def _duration(rng: random.Random) -> timedelta:
    """Most episodes last hours; one in eight more than a day; a few several days."""
    r = rng.random()
    if r < 0.55:
        hours = rng.uniform(1, 8)
    elif r < 0.875:
        hours = rng.uniform(8, 24)
    elif r < 0.97:
        hours = rng.uniform(24, 72)
    else:
        hours = rng.uniform(72, 240)
    return timedelta(seconds=int(hours * 3600))


@dataclass
class OpenSpec:
    state: str
    last_seen_at: datetime
    reviewed: bool
    review_due_at: datetime | None
    returned_at: datetime | None
    grade_code: str
    arranged: bool
    held: bool


def _open_caseload(per_state: int) -> list[OpenSpec]:
    """The live caseload: the same for every N (own seed). Clocks spread over overdue, amber
    and green, so the board, the escalation sweep and its floor all have work."""
    rng = random.Random(OPEN_SEED)
    grades = ["high", "medium", "medium", "low", "very_low"]
    within = {"high": 1, "medium": 4, "low": 24, "very_low": 24}
    specs = []
    for state in ("missing", "returned", "interview_arranged", "awaiting_sign_off"):
        for _ in range(per_state):
            grade = rng.choice(grades)
            if state == "missing":
                # At least 100 minutes ago: notified 90 minutes after last seen, never after now.
                seen = BENCH_NOW - timedelta(minutes=max(100, rng.randint(30, 96 * 60)))
                returned = None
            else:
                returned = BENCH_NOW - timedelta(minutes=rng.randint(30, 100 * 60))
                seen = returned - timedelta(minutes=rng.randint(60, 30 * 60))
            notified = seen + timedelta(minutes=90)
            reviewed = rng.random() < (0.5 if state == "missing" else 0.85)
            if not reviewed:
                due: datetime | None = notified + timedelta(hours=within[grade])
            elif state == "missing":
                due = BENCH_NOW + timedelta(minutes=rng.randint(-180, 600))
            else:
                due = None
            specs.append(
                OpenSpec(
                    state=state,
                    last_seen_at=seen,
                    reviewed=reviewed,
                    review_due_at=due,
                    returned_at=returned,
                    grade_code=grade,
                    arranged=state in ("interview_arranged", "awaiting_sign_off"),
                    held=state == "awaiting_sign_off",
                )
            )
    return specs


def generate(
    *,
    episodes: int,
    children: int | None = None,
    open_per_state: int = DEFAULT_OPEN_PER_STATE,
    seed: int = 5,
    log: Any = None,
    streams: int = 1,
) -> dict[str, int]:
    """Write `episodes` episodes (open caseload included) for `children` children (default 30%
    of the episodes, as nationally). Returns rows written per table. The caller runs ANALYZE
    once it has added what it needs.

    streams=1 (the smoke test; any backend): one transaction, foreign keys checked at commit.
    streams>1 (PostgreSQL, outside a transaction; `bench/run.py`): the children are shared
    between `streams` processes with the same number of episodes each, each COPYing through its
    own connection with its own id range and random stream, row triggers off; the tables' (and
    their history tables') secondary indexes, unique and foreign-key constraints are dropped
    first; after the load the history rows the triggers would have written are written in one
    INSERT … SELECT per table, and the indexes and constraints built again, on two connections
    (each foreign key validated by one join rather than a trigger per row), see `_bulk_load`."""
    log = log or (lambda message: None)
    children = children or max(4 * open_per_state, round(episodes * 0.3))
    if episodes < children or 4 * open_per_state > children:
        raise ValueError("Need at least one episode per child and a child per open episode.")
    if streams > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block:
        return _generate_parallel(episodes, children, open_per_state, seed, log, streams)
    with transaction.atomic():
        rng = random.Random(seed)
        plan = _plan(episodes, children, open_per_state, rng)
        written = _write_children(plan, range(children), rng, Ids(), log)
        _reset_sequences(BULK_MODELS)
    return written


# The tables the generator fills, in dependency order.
BULK_MODELS: list[type[models.Model]] = [
    Child,
    MissingEpisode,
    PoliceNotification,
    OversightDecision,
    EpisodeEvent,
    CaseAccessGrant,
    ReturnInterview,
    InterviewEpisode,
    InterviewFactor,
    ContactAttempt,
]
# Stream k writes ids from k * ID_STRIDE + 1 in every table (a stream writes < 10 M rows a table).
ID_STRIDE = 100_000_000


@dataclass
class Plan:
    """Everything the streams share, drawn once before they start."""

    staff: Staff
    grades: dict[str, RiskGrade]
    grade_pick: list[str]
    forces: list[int]
    factors: dict[str, list[int]]
    counts: list[int]
    open_for: dict[int, OpenSpec]
    surnames: list[str]
    span_days: int


def _plan(episodes: int, children: int, open_per_state: int, rng: random.Random) -> Plan:
    staff = _staff(BENCH_NOW)
    counts = _episode_counts(children, episodes, rng)
    open_specs = _open_caseload(open_per_state)
    # Open episodes go to light children spread through the list (a child's latest episode).
    open_for: dict[int, OpenSpec] = {}
    stride = max(1, children // max(1, len(open_specs)))
    for n, spec in enumerate(open_specs):
        open_for[(n * stride + stride // 2) % children] = spec
    return Plan(
        staff=staff,
        grades={g.code: g for g in RiskGrade.objects.all()},
        grade_pick=(
            ["high"] * 10
            + ["medium"] * 50
            + ["low"] * 30
            + ["very_low"] * 5
            + ["no_apparent_risk"] * 5
        ),
        forces=list(staff.police),
        factors={
            kind: list(Factor.objects.filter(kind=kind).values_list("pk", flat=True))
            for kind in FactorKind.values
        },
        counts=counts,
        open_for=open_for,
        surnames=[s + e for s in SURNAME_STEMS for e in SURNAME_ENDS],
        span_days=(HISTORY_END - HISTORY_START).days,
    )


_PLAN: Plan | None = None  # set before the streams fork; each reads it


def _generate_parallel(
    episodes: int, children: int, open_per_state: int, seed: int, log: Any, streams: int
) -> dict[str, int]:
    import multiprocessing

    global _PLAN
    with transaction.atomic():
        _PLAN = _plan(episodes, children, open_per_state, random.Random(seed))
    written = {m._meta.label: 0 for m in BULK_MODELS}
    started = time.perf_counter()
    with _bulk_load(BULK_MODELS, log):
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        connection.close()  # each stream opens its own
        procs = [
            ctx.Process(target=_stream, args=(k, streams, seed, queue, log)) for k in range(streams)
        ]
        for proc in procs:
            proc.start()
        results = [queue.get() for _ in procs]
        for proc in procs:
            proc.join()
        failed = [r for r in results if isinstance(r, str)]
        if failed or any(proc.exitcode for proc in procs):
            raise RuntimeError(f"a generator stream failed: {failed}")
        for result in results:
            for label, count in result.items():
                written[label] += count
        log(f"bench: streams done in {time.perf_counter() - started:.0f}s")
    _reset_sequences(BULK_MODELS)
    _PLAN = None
    return written


def _share(counts: list[int], streams: int) -> list[list[int]]:
    """The children each stream writes: each child in turn to the stream holding the fewest
    episodes so far, so the streams do the same work (the repeat runners are not evenly spread
    by index: striping by index once gave one stream 69% of the episodes)."""
    shares: list[list[int]] = [[] for _ in range(streams)]
    load = [0] * streams
    for child, count in enumerate(counts):
        k = load.index(min(load))
        shares[k].append(child)
        load[k] += count
    return shares


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process on this machine (PostgreSQL's backend too when the
    server is local; 0 when it is not): what a stream cost whatever else the machine was doing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stream(k: int, streams: int, seed: int, queue: Any, log: Any) -> None:
    """One stream (a forked process): its share of the children (`_share`: the same number of
    episodes in each stream), its own ids, random stream and connection, one transaction, row
    triggers off."""
    import traceback

    try:
        ids = Ids(next={m._meta.label: k * ID_STRIDE + 1 for m in BULK_MODELS})
        started = time.perf_counter()
        with transaction.atomic():
            # Row triggers off: the history they would write is written in bulk afterwards
            # (`history_fills`, queued by `_bulk_load` before the streams start).
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
                cursor.execute("SELECT pg_backend_pid()")
                backend = cursor.fetchone()[0]
            rng = random.Random(seed * 1000 + k + 1)
            written = _write_children(_PLAN, _share(_PLAN.counts, streams)[k], rng, ids, log)
        total = time.perf_counter() - started
        server_cpu = _cpu_seconds(backend)  # before the connection closes and its backend exits
        connection.close()
        log(
            f"bench: stream {k} took {total:.0f}s: {COPY_SECONDS[0]:.0f}s in COPY, "
            f"{total - COPY_SECONDS[0]:.0f}s making rows and committing; CPU: "
            f"{_cpu_seconds(os.getpid()):.0f}s here, {server_cpu:.0f}s in PostgreSQL"
        )
        queue.put(written)
    except BaseException:  # reported to the parent, which raises
        queue.put(traceback.format_exc())
        raise


@dataclass(frozen=True)
class HistoryFill:
    """What a table's row-level insert trigger (pghistory's) writes, as one set-based statement."""

    table: str
    history_table: str
    sql: str


_TRIGGER_INSERT = re.compile(
    r'INSERT INTO "(?P<history>\w+)" \((?P<columns>[^)]*)\) VALUES \((?P<values>.*)\); RETURN NULL;',
    re.DOTALL,
)


def history_fills(tables: list[str]) -> list[HistoryFill]:
    """For each user-defined AFTER INSERT row trigger on `tables`, the INSERT … SELECT writing
    what the trigger writes for every row of the table. The streams load with triggers off
    (session_replication_role = replica: one PL/pgSQL call and one history row with its nine
    indexes per loaded row is most of COPY's time); these statements then write the same history
    rows in bulk. A trigger of any other shape stops the generation rather than being skipped."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT t.tgrelid::regclass::text, t.tgname, p.prosrc
               FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
               WHERE t.tgrelid = ANY(%s::regclass[]) AND NOT t.tgisinternal
                 AND t.tgtype & 4 = 4 AND t.tgenabled <> 'D'
               ORDER BY 1, 2""",  # tgtype bit 2: INSERT
            [tables],
        )
        found = cursor.fetchall()
    fills = []
    for table, name, source in found:
        match = _TRIGGER_INSERT.search(source)
        if match is None:
            raise RuntimeError(f"bench: trigger {name} on {table} is not a history insert")
        # No pghistory context while the generator loads: the trigger's context call answers
        # NULL then (and opens a subtransaction per row to find that out).
        values = match["values"].replace("NEW.", "src.").replace("_pgh_attach_context()", "NULL")
        fills.append(
            HistoryFill(
                table=table,
                history_table=match["history"],
                sql=(
                    f'INSERT INTO "{match["history"]}" ({match["columns"]}) '
                    f"SELECT {values} FROM {table} src"
                ),
            )
        )
    return fills


class _bulk_load:
    """Drop the tables' secondary indexes, unique and foreign-key constraints, and build them
    again on exit (also after a failure). The statements to rebuild them are committed to
    `bench_pending_ddl` before anything is dropped, so a killed run is repaired by the next."""

    def __init__(self, model_list: list[type[models.Model]], log: Any) -> None:
        self.tables = [m._meta.db_table for m in model_list]
        self.log = log

    def __enter__(self) -> None:
        restore_pending_ddl(self.log)
        history = history_fills(self.tables)
        # The history tables are loaded too (by one INSERT … SELECT each, after the streams):
        # their indexes are dropped and built again with the others'.
        tables = self.tables + [fill.history_table for fill in history]
        with connection.cursor() as cursor:
            cursor.execute(
                """SELECT 'ALTER TABLE ' || conrelid::regclass || ' DROP CONSTRAINT '
                          || quote_ident(conname),
                          'ALTER TABLE ' || conrelid::regclass || ' ADD CONSTRAINT '
                          || quote_ident(conname) || ' ' || pg_get_constraintdef(oid),
                          CASE contype WHEN 'f' THEN 3 ELSE 2 END
                   FROM pg_constraint
                   WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('f', 'u')
                   ORDER BY contype = 'u', conname""",
                [tables],
            )
            constraints = cursor.fetchall()  # foreign keys dropped first, rebuilt last
            cursor.execute(
                """SELECT 'DROP INDEX ' || i.indexrelid::regclass, pg_get_indexdef(i.indexrelid), 1
                   FROM pg_index i
                   WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                   ORDER BY 1""",
                [tables],
            )
            indexes = cursor.fetchall()
            with transaction.atomic():
                cursor.execute(
                    "CREATE TABLE IF NOT EXISTS bench_pending_ddl "
                    "(seq serial PRIMARY KEY, phase int NOT NULL, statement text NOT NULL)"
                )
                for _, create, phase in [(None, f.sql, 0) for f in history] + constraints + indexes:
                    cursor.execute(
                        "INSERT INTO bench_pending_ddl (phase, statement) VALUES (%s, %s)",
                        [phase, create],
                    )
                for drop, _, _ in constraints + indexes:
                    cursor.execute(drop)
        self.log(
            f"bench: {len(indexes)} indexes, {len(constraints)} constraints dropped; "
            f"{len(history)} history tables filled after the load"
        )

    def __exit__(self, *exc: object) -> None:
        restore_pending_ddl(self.log)


# The table a pending statement builds on: a history fill's target, an index's or a constraint's
# table. Statements on one table run in order on one connection; different tables in parallel.
_RELATION = re.compile(
    r'^(?:INSERT INTO "|CREATE (?:UNIQUE )?INDEX \S+ ON (?:ONLY )?|ALTER TABLE (?:ONLY )?)"?(?:public\.)?"?(\w+)'
)


def restore_pending_ddl(log: Any, workers: int = 2) -> None:
    """Build what `_bulk_load` dropped: the history fills, indexes and unique constraints table by
    table on `workers` connections at once (the largest tables first), then the foreign keys one
    after another (each locks two tables). Each statement commits with the removal of its row
    from `bench_pending_ddl`, so a run killed here resumes where it stopped."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_pending_ddl') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return
        cursor.execute(
            """SELECT p.seq, p.phase, p.statement FROM bench_pending_ddl p ORDER BY phase, seq"""
        )
        pending = cursor.fetchall()
        if not pending:
            return
        log(f"bench: building {len(pending)} indexes and constraints")
        by_table: dict[str, list[tuple[int, str]]] = {}
        for seq, phase, statement in pending:
            if phase < 3:
                match = _RELATION.match(statement)
                by_table.setdefault(match[1] if match else "", []).append((seq, statement))
        cursor.execute(
            "SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relname = ANY(%s)",
            [list(by_table)],
        )
        size = dict(cursor.fetchall())
    started = time.perf_counter()
    groups = sorted(by_table, key=lambda table: size.get(table, 0), reverse=True)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        took = [t for done in pool.map(_build, [by_table[g] for g in groups]) for t in done]
    tables_done = time.perf_counter() - started
    took += _build([(seq, st) for seq, phase, st in pending if phase >= 3], close=False)
    log(
        f"bench: built in {time.perf_counter() - started:.0f}s ({tables_done:.0f}s history and "
        f"indexes on {workers} connections, then the foreign keys); slowest:"
    )
    for seconds, statement in sorted(took, reverse=True)[:8]:
        log(f"  {seconds:6.1f}s {statement[:110]}")


def _build(statements: list[tuple[int, str]], close: bool = True) -> list[tuple[float, str]]:
    """Run pending statements in order, each committed with the removal of its row. In a worker
    thread (its own connection, closed at the end) or the caller's (`close=False`)."""
    took = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '256MB'")
            for seq, statement in statements:
                began = time.perf_counter()
                with transaction.atomic():
                    cursor.execute(statement)
                    cursor.execute("DELETE FROM bench_pending_ddl WHERE seq = %s", [seq])
                took.append((time.perf_counter() - began, statement))
            cursor.execute("RESET maintenance_work_mem")
    finally:
        if close:
            connection.close()
    return took


def _write_children(
    plan: Plan, which: Sequence[int], rng: random.Random, ids: Ids, log: Any
) -> dict[str, int]:
    """The plan's children numbered in `which`, each with its episodes, notifications, decisions, events,
    interviews and grants, COPYed in chunks."""
    staff, grades, grade_pick, forces = plan.staff, plan.grades, plan.grade_pick, plan.forces
    factors, counts, open_for = plan.factors, plan.counts, plan.open_for
    surnames, span_days = plan.surnames, plan.span_days
    t_child = Table(Child)
    t_ep = Table(MissingEpisode)
    t_note = Table(PoliceNotification)
    t_dec = Table(OversightDecision)
    t_ev = Table(EpisodeEvent)
    t_grant = Table(CaseAccessGrant)
    t_int = Table(ReturnInterview)
    t_ie = Table(InterviewEpisode)
    t_if = Table(InterviewFactor)
    t_att = Table(ContactAttempt)
    tables = [t_child, t_ep, t_note, t_dec, t_ev, t_grant, t_int, t_ie, t_if, t_att]
    written = {t.model._meta.label: 0 for t in tables}

    def flush(force: bool = False) -> None:
        if force or len(t_ep.rows) >= 20000:
            for t in tables:
                written[t.model._meta.label] += t.flush()

    for done, c in enumerate(which, start=1):
        child_id = ids.take(Child)
        looked_after = rng.random() < 0.45
        cpp = not looked_after and rng.random() < 0.2
        cin = not looked_after and not cpp and rng.random() < 0.35
        team = rng.choice(staff.teams)
        force_id = forces[c % len(forces)]
        spec = open_for.get(c)
        n_eps = counts[c]
        n_hist = n_eps - (1 if spec else 0)
        # The child's active years: up to three years, ending by HISTORY_END.
        if spec is not None:
            win_end = min(HISTORY_END, spec.last_seen_at - timedelta(days=2))
        else:
            win_end = HISTORY_START + timedelta(days=rng.randint(60, span_days))
        win_start = max(HISTORY_START, win_end - timedelta(days=rng.randint(30, 3 * 365)))
        first_seen = win_start
        age_then = rng.uniform(10.5, 16.5)
        dob = (first_seen - timedelta(days=int(age_then * 365.25))).date()
        t_child.add(
            id=child_id,
            council_child_id=f"BC{child_id:08d}" if rng.random() < 0.9 else None,
            first_name=rng.choice(FIRST_NAMES),
            last_name=rng.choice(surnames),
            date_of_birth=dob,
            gender=rng.choice(["Female", "Male", "Female", "Male", "Non-binary"]),
            ever_looked_after=looked_after,
            allocated_team_id=team,
            placement=f"Bench placement {rng.randint(1, 400)}" if looked_after else "",
            created_at=first_seen,
        )
        starts = sorted({_random_at(rng, win_start, win_end) for _ in range(n_hist)})
        while len(starts) < n_hist:  # two draws in the same second: extremely rare
            starts = sorted({*starts, _random_at(rng, win_start, win_end)})
        child_eps: list[tuple[int, datetime, datetime | None]] = []
        mark = len(t_ep.rows)
        for k, start in enumerate(starts):
            # No overlaps: each episode ends before the next one starts.
            limit = (starts[k + 1] if k + 1 < len(starts) else win_end + timedelta(days=1)) - start
            end = start + min(max(_duration(rng), timedelta(minutes=20)), limit * 0.8)
            ep = _historic_episode(
                rng,
                ids,
                staff,
                grades,
                grade_pick,
                t_ep,
                t_note,
                t_dec,
                t_ev,
                child_id=child_id,
                force_id=force_id,
                start=start,
                end=end,
                looked_after=looked_after,
                cpp=cpp,
                cin=cin,
                dob=dob,
            )
            if ep is not None:
                child_eps.append(ep)
        _interviews(
            rng,
            ids,
            staff,
            factors,
            child_id,
            child_eps,
            t_ep,
            t_ep.rows[mark:],
            t_ev,
            t_int,
            t_ie,
            t_if,
            t_att,
            t_grant,
        )
        if spec is not None:
            _open_episode(
                ids,
                staff,
                grades,
                spec,
                t_ep,
                t_note,
                t_dec,
                t_ev,
                t_int,
                t_ie,
                t_grant,
                child_id=child_id,
                force_id=force_id,
                looked_after=looked_after,
                cpp=cpp,
                cin=cin,
                dob=dob,
            )
        if done % 50000 == 0:
            log(f"  {done} children")
        flush()
    flush(force=True)
    return written


def _outcome(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.66:
        return "held"
    if r < 0.80:
        return "child_refused"
    if r < 0.83:
        return "carer_refused"
    if r < 0.93:
        return "no_contact"
    return "not_held_decision"


def _historic_episode(
    rng: random.Random,
    ids: Ids,
    staff: Staff,
    grades: dict[str, RiskGrade],
    grade_pick: list[str],
    t_ep: Table,
    t_note: Table,
    t_dec: Table,
    t_ev: Table,
    *,
    child_id: int,
    force_id: int,
    start: datetime,
    end: datetime,
    looked_after: bool,
    cpp: bool,
    cin: bool,
    dob: date,
) -> tuple[int, datetime, datetime | None] | None:
    """A closed (or cancelled) episode with its notifications, decision and events."""
    ep_id = ids.take(MissingEpisode)
    grade = grades[rng.choice(grade_pick)]
    reported = start + timedelta(minutes=rng.randint(20, 180))
    notified = reported + timedelta(minutes=rng.randint(5, 60))
    returned = end
    manager = rng.choice(staff.managers)
    within_target = rng.random() < 0.85
    window = grade.review_within
    reviewed_at = notified + (
        window * rng.uniform(0.1, 0.95) if within_target else window * rng.uniform(1.05, 3)
    )
    cancelled = rng.random() < 0.01
    place = rng.choice(PLACES)
    ref = f"B{ep_id:09d}"
    age = start.date().year - dob.year
    common = {
        "id": ep_id,
        "child_id": child_id,
        "kind": "A" if looked_after and rng.random() < 0.25 else "M",
        "police_force_id": force_id,
        "police_reference": ref,
        "police_grade_id": grade.pk,
        "last_seen_at": start,
        "last_seen_place": rng.choice(PLACES),
        "reported_at": reported,
        "notified_at": notified,
        "reported_by": "Carer",
        "looked_after": looked_after,
        "child_protection_plan": cpp,
        "child_in_need": cin,
        "flag_sexual_exploitation": rng.random() < 0.08,
        "flag_criminal_exploitation": rng.random() < 0.10,
        "flag_mental_health": rng.random() < 0.12,
        "flag_aged_13_or_under": age <= 13,
        "manager_risk": rng.choice(["high", "medium", "medium", "low"]),
        "first_reviewed_at": reviewed_at,
        # What the review was due by, kept once it is done (the figures' reviews within target).
        "first_review_due_at": notified + window,
        "created_at": notified,
    }
    police_user = staff.police[force_id]
    _notification(
        ids,
        t_note,
        police_user,
        force_id,
        ref,
        "reported_missing",
        notified,
        child_id,
        ep_id,
        grade.pk,
        start,
        reported,
    )
    t_dec.add(
        id=ids.take(OversightDecision),
        episode_id=ep_id,
        decided_by_id=manager,
        decided_at=reviewed_at,
        risk=common["manager_risk"],
        rationale="Reviewed on the board.",
        inform_social_worker=True,
        inform_placement=looked_after,
    )
    t_ev.add(
        id=ids.take(EpisodeEvent),
        episode_id=ep_id,
        at=notified,
        actor_id=police_user,
        action="opened",
        to_state="missing",
    )
    if cancelled:
        t_ep.add(
            **common, state="cancelled", cancelled_reason="Logged in error.", updated_at=reviewed_at
        )
        t_ev.add(
            id=ids.take(EpisodeEvent),
            episode_id=ep_id,
            at=reviewed_at,
            actor_id=manager,
            action="cancel",
            from_state="missing",
            to_state="cancelled",
        )
        return None
    _notification(
        ids,
        t_note,
        police_user,
        force_id,
        ref,
        "found",
        returned,
        child_id,
        ep_id,
        None,
        None,
        None,
        found_at=returned,
        found_place=place,
    )
    if rng.random() < 0.1:
        _notification(
            ids,
            t_note,
            police_user,
            force_id,
            ref,
            "risk_regraded",
            notified + (returned - notified) / 2,
            child_id,
            ep_id,
            grade.pk,
            None,
            None,
        )
    common.update(
        returned_at=returned,
        found_place=place,
        found_by="Police",
        prevention_interview_done=rng.random() < 0.8,
        interview_due_at=clocks.interview_due_at(returned),
    )
    t_ep.add(**common, state="closed", updated_at=returned)  # completed by _interviews
    return (ep_id, start, returned)


def _notification(
    ids: Ids,
    t_note: Table,
    user_id: int,
    force_id: int,
    ref: str,
    kind: str,
    at: datetime,
    child_id: int,
    ep_id: int,
    grade_id: int | None,
    last_seen: datetime | None,
    reported: datetime | None,
    **extra: Any,
) -> None:
    note_id = ids.take(PoliceNotification)
    t_note.add(
        id=note_id,
        police_force_id=force_id,
        police_reference=ref,
        kind=kind,
        sequence=1,
        received_at=at,
        received_by_id=user_id,
        missing_kind="M",
        last_seen_at=last_seen,
        reported_at=reported,
        risk_grade_id=grade_id,
        raw_payload={"reference": ref, "kind": kind},
        payload_hash=hashlib.sha256(f"{note_id}".encode()).hexdigest(),
        match_status="matched",
        child_id=child_id,
        episode_id=ep_id,
        **extra,
    )


def _interviews(
    rng: random.Random,
    ids: Ids,
    staff: Staff,
    factors: dict[str, list[int]],
    child_id: int,
    child_eps: list[tuple[int, datetime, datetime | None]],
    t_ep: Table,
    ep_rows: list[list[Any]],
    t_ev: Table,
    t_int: Table,
    t_ie: Table,
    t_if: Table,
    t_att: Table,
    t_grant: Table,
) -> None:
    """Return interviews for a child's closed episodes: one per episode, or one covering two
    when the child went missing again within two days of returning. Completes each episode's
    interview and sign-off columns (its row is still in t_ep's buffer)."""
    rows = {row[t_ep.index["id"]]: row for row in ep_rows}
    k = 0
    while k < len(child_eps):
        group = [child_eps[k]]
        if (
            k + 1 < len(child_eps)
            and child_eps[k + 1][1] - (child_eps[k][2] or child_eps[k][1]) < timedelta(days=2)
            and rng.random() < 0.8
        ):
            group.append(child_eps[k + 1])
        k += len(group)
        last_return = group[-1][2] or group[-1][1]
        outcome = _outcome(rng)
        within = rng.random() < 0.62
        held_at = (
            last_return + timedelta(hours=rng.uniform(4, 70) if within else rng.uniform(73, 240))
            if outcome == "held"
            else None
        )
        decided = held_at or last_return + timedelta(hours=rng.uniform(24, 120))
        signed = decided + timedelta(hours=rng.uniform(2, 96))
        manager = rng.choice(staff.managers)
        interviewer, org = rng.choice(staff.interviewers)
        int_id = None
        if outcome != "not_held_decision":
            int_id = ids.take(ReturnInterview)
            exception = rng.random() < 0.03
            created = group[0][2] or group[0][1]
            t_int.add(
                id=int_id,
                child_id=child_id,
                status="signed_off",
                created_at=created,
                created_by_id=manager,
                updated_at=signed,
                interviewer_id=interviewer,
                interviewer_organisation_id=org,
                assigned_at=created,
                assigned_by_id=manager,
                independence="exception" if exception else "confirmed",
                independence_exception_reason="The child asked for their key worker."
                if exception
                else "",
                independence_exception_by_id=manager if exception else None,
                planned_at=held_at,
                outcome=outcome,
                held_at=held_at,
                held_place="Home" if held_at else "",
                seen_alone=True if held_at else None,
                account_where=rng.choice(PLACES) if held_at else "",
                completed_at=decided,
                completed_by_id=interviewer,
                signed_off_at=signed,
                signed_off_by_id=manager,
                follow_up_update_safety_plan=held_at is not None,
            )
            t_att.add(
                id=ids.take(ContactAttempt),
                interview_id=int_id,
                at=created + timedelta(hours=2),
                method="phone",
                outcome="arranged" if held_at else "no_answer",
                offered=True,
                recorded_at=created + timedelta(hours=2),
                recorded_by_id=interviewer,
            )
            if held_at is not None:
                picked: set[int] = set()
                for kind in ("push", "pull", "harm"):
                    for _ in range(rng.choice([0, 1, 1, 2])):
                        if factors[kind]:
                            picked.add(rng.choice(factors[kind]))
                for factor_id in picked:
                    t_if.add(id=ids.take(InterviewFactor), interview_id=int_id, factor_id=factor_id)
        for ep_id, _start, returned in group:
            row = rows[ep_id]
            row[t_ep.index["interview_arranged_at"]] = held_at
            row[t_ep.index["interview_held_at"]] = held_at
            row[t_ep.index["interview_outcome"]] = outcome
            row[t_ep.index["interview_reference"]] = f"I-{int_id}" if int_id else ""
            row[t_ep.index["signed_off_at"]] = signed
            row[t_ep.index["signed_off_by_id"]] = manager
            row[t_ep.index["updated_at"]] = signed
            t_ev.add(
                id=ids.take(EpisodeEvent),
                episode_id=ep_id,
                at=signed,
                actor_id=manager,
                action="sign_off",
                from_state="awaiting_sign_off",
                to_state="closed",
            )
            if int_id is not None:
                t_ie.add(
                    id=ids.take(InterviewEpisode),
                    interview_id=int_id,
                    episode_id=ep_id,
                    added_at=returned,
                    offered_at=(returned or signed) + timedelta(hours=2),
                    accepted={"held": True, "child_refused": False, "carer_refused": False}.get(
                        outcome
                    ),
                )
                t_grant.add(
                    id=ids.take(CaseAccessGrant),
                    episode_id=ep_id,
                    user_id=interviewer,
                    granted_at=returned,
                    revoked_at=signed,
                )


def _open_episode(
    ids: Ids,
    staff: Staff,
    grades: dict[str, RiskGrade],
    spec: OpenSpec,
    t_ep: Table,
    t_note: Table,
    t_dec: Table,
    t_ev: Table,
    t_int: Table,
    t_ie: Table,
    t_grant: Table,
    *,
    child_id: int,
    force_id: int,
    looked_after: bool,
    cpp: bool,
    cin: bool,
    dob: date,
) -> None:
    ep_id = ids.take(MissingEpisode)
    grade = grades[spec.grade_code]
    seen = spec.last_seen_at
    notified = seen + timedelta(minutes=90)
    ref = f"B{ep_id:09d}"
    police_user = staff.police[force_id]
    manager = staff.managers[ep_id % len(staff.managers)]
    interviewer, org = staff.interviewers[ep_id % len(staff.interviewers)]
    # Reviewed half-way through the grade's time, and never after now.
    reviewed_at = (
        min(notified + grade.review_within / 2, BENCH_NOW - timedelta(minutes=5))
        if spec.reviewed
        else None
    )
    returned = spec.returned_at
    values: dict[str, Any] = {
        "id": ep_id,
        "child_id": child_id,
        "state": spec.state,
        "kind": "M",
        "police_force_id": force_id,
        "police_reference": ref,
        "police_grade_id": grade.pk,
        "last_seen_at": seen,
        "last_seen_place": "Town centre",
        "reported_at": notified,
        "notified_at": notified,
        "looked_after": looked_after,
        "child_protection_plan": cpp,
        "child_in_need": cin,
        "flag_aged_13_or_under": seen.year - dob.year <= 13,
        "manager_risk": "medium" if spec.reviewed else "",
        "first_reviewed_at": reviewed_at,
        "first_review_due_at": notified + grade.review_within if spec.reviewed else None,
        "review_due_at": spec.review_due_at,
        "created_at": notified,
        "updated_at": notified,
    }
    _notification(
        ids,
        t_note,
        police_user,
        force_id,
        ref,
        "reported_missing",
        notified,
        child_id,
        ep_id,
        grade.pk,
        seen,
        notified,
    )
    t_ev.add(
        id=ids.take(EpisodeEvent),
        episode_id=ep_id,
        at=notified,
        actor_id=police_user,
        action="opened",
        to_state="missing",
    )
    if reviewed_at is not None:
        t_dec.add(
            id=ids.take(OversightDecision),
            episode_id=ep_id,
            decided_by_id=manager,
            decided_at=reviewed_at,
            risk="medium",
            rationale="Reviewed on the board.",
            next_review_at=spec.review_due_at,
        )
    if returned is not None:
        values.update(
            returned_at=returned,
            found_place="Home",
            found_by="Police",
            interview_due_at=clocks.interview_due_at(returned),
        )
        _notification(
            ids,
            t_note,
            police_user,
            force_id,
            ref,
            "found",
            returned,
            child_id,
            ep_id,
            None,
            None,
            None,
            found_at=returned,
            found_place="Home",
        )
    if spec.arranged:
        int_id = ids.take(ReturnInterview)
        held_at = returned + timedelta(hours=20) if spec.held and returned else None
        held_at = min(held_at, BENCH_NOW - timedelta(minutes=10)) if held_at else None
        arranged_at = returned + timedelta(hours=2) if returned else notified
        values.update(interview_arranged_at=arranged_at)
        if held_at is not None:
            values.update(
                interview_held_at=held_at,
                interview_outcome="held",
                interview_reference=f"I-{int_id}",
            )
        t_int.add(
            id=int_id,
            child_id=child_id,
            status="completed" if held_at else "arranged",
            created_at=arranged_at,
            created_by_id=manager,
            updated_at=arranged_at,
            interviewer_id=interviewer,
            interviewer_organisation_id=org,
            assigned_at=arranged_at,
            assigned_by_id=manager,
            independence="confirmed",
            planned_at=arranged_at + timedelta(hours=18),
            outcome="held" if held_at else "",
            held_at=held_at,
            completed_at=held_at,
            completed_by_id=interviewer if held_at else None,
        )
        t_ie.add(
            id=ids.take(InterviewEpisode),
            interview_id=int_id,
            episode_id=ep_id,
            added_at=arranged_at,
            offered_at=arranged_at,
            accepted=True,
        )
        t_grant.add(
            id=ids.take(CaseAccessGrant),
            episode_id=ep_id,
            user_id=interviewer,
            granted_at=arranged_at,
        )
    t_ep.add(**values)
