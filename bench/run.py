"""Measure the operations that must stay fast at national scale, each against its floor.

    python bench/run.py --episodes 1000000          # or: make bench

Migrates the bench database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/missing_bench), generates the synthetic data set when the
database does not already hold exactly N episodes (bench/generate.py), then times each operation
(median of --repeat runs after --warmup runs) and, in the same run on the same database, its
floor: the fastest hand-written way to get the same answer. Prints one JSON object per line:

    {"name": ..., "episodes": N, "median_ms": ..., "floor_median_ms": ..., "ratio": ...,
     "queries": ...}

Writes (the sweep, intake) run in a transaction that is rolled back, so every repeat does the
same work and the data set is left as it was. See bench/README.md for each floor.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/missing_bench"
# A sweep ten minutes after the one that raised everything already due (beat runs one a minute).
SWEEP_AFTER = timedelta(minutes=10)
GROWTH_SMALL_EPISODES = 10_000


def _create_database_if_missing(url: str) -> None:
    """`make bench` on a fresh machine: create the bench database if the server lacks it."""
    import psycopg
    from psycopg import sql

    base, _, name = url.rpartition("/")
    try:
        psycopg.connect(url).close()
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


if __name__ == "__main__":  # pragma: no cover - the command line, before Django is set up
    sys.path.insert(0, str(ROOT))
    _url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if "--database-url" in sys.argv:
        _url = sys.argv[sys.argv.index("--database-url") + 1]
    os.environ["DATABASE_URL"] = _url
    _create_database_if_missing(_url)
    # The test settings: no DEBUG (no query log), texts to the outbox, Celery's memory broker.
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ["CELERY_BROKER_URL"] = "memory://"
    import django

    django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import generate as gen  # noqa: E402
from missing.cases import selectors, services  # noqa: E402
from missing.cases.clocks import london_midnight  # noqa: E402
from missing.models import (  # noqa: E402
    OPEN_STATES,
    ApiToken,
    Child,
    EpisodeState,
    MissingEpisode,
    Role,
    User,
)


@dataclass(frozen=True)
class Case:
    """One benchmark: the application's way and the floor, each a callable returning rows."""

    name: str
    app: Callable[[], Any]
    floor: Callable[[], Any]
    extra: dict[str, Any] | None = None


class Skip(Exception):
    """The operation is not available on this branch yet."""


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _p(moment: datetime) -> Any:
    """A datetime as a raw-SQL parameter, as the ORM would send it on this backend."""
    return connection.ops.adapt_datetimefield_value(moment)


def _fetch(sql: str, params: list[Any] | dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _rolled_back(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Run `fn` in a transaction that is then rolled back: every repeat does the same work."""

    def run() -> Any:
        with transaction.atomic():
            result = fn()
            transaction.set_rollback(True)
        return result

    return run


def _pg() -> bool:
    return connection.vendor == "postgresql"


def _manager() -> User:
    return User.objects.filter(role=Role.MANAGER, is_active=True).order_by("pk").first()


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# --------------------------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------------------------


def case_board(now: datetime) -> Case:
    """The front-door board (missing.cases.selectors.board) vs one hand-written query per list it
    shows: the open episodes with child, grade and force, ordered by the clock that matters and
    marked when the child has an open meeting task; the notifications needing a person (held,
    to review, awaiting the report); and the oldest open strategy / risk meeting tasks with how
    many are open."""
    user = _manager()
    open_states = tuple(str(state) for state in OPEN_STATES)
    marks = ", ".join(["%s"] * len(open_states))
    # The columns the app reads (selectors.BOARD_COLUMNS): a hand-written board reads no more.
    episodes_sql = f"""
        SELECT e.id, e.child_id, e.state, e.police_grade_id, e.first_reviewed_at,
               e.review_due_at, e.interview_due_at, e.council_id, e.out_of_area_council_id,
               c.id, c.first_name, c.last_name, c.date_of_birth,
               g.id, g.code, g.label, g.review_within,
               CASE WHEN e.first_reviewed_at IS NULL THEN e.review_due_at
                    WHEN e.state IN ('returned', 'interview_arranged') THEN e.interview_due_at
                    WHEN e.state = 'awaiting_sign_off' THEN NULL
                    ELSE e.review_due_at END AS clock_due_at,
               EXISTS (SELECT 1 FROM missing_riskmeetingtask t
                       WHERE t.child_id = e.child_id AND t.status = 'open') AS child_flagged
        FROM missing_missingepisode e
        JOIN missing_child c ON c.id = e.child_id
        JOIN missing_riskgrade g ON g.id = e.police_grade_id
        WHERE e.state IN ({marks})
        ORDER BY clock_due_at ASC NULLS LAST, e.id
    """
    if not _pg():  # SQLite has no NULLS LAST before 3.30's syntax in every build
        episodes_sql = episodes_sql.replace(
            "clock_due_at ASC NULLS LAST", "clock_due_at IS NULL, clock_due_at"
        )
    awaiting_sql = """
        SELECT n.*, g.*, f.* FROM missing_policenotification n
        LEFT JOIN missing_riskgrade g ON g.id = n.risk_grade_id
        JOIN missing_policeforce f ON f.id = n.police_force_id
        WHERE n.match_status = 'awaiting_match'
           OR n.match_status IN ('needs_review', 'awaiting_report')
        ORDER BY n.received_at, n.id
    """
    tasks_sql = """
        SELECT t.id, t.child_id, t.reason, t.raised_at, c.id, c.first_name, c.last_name,
               COUNT(*) OVER () AS open_count
        FROM missing_riskmeetingtask t
        JOIN missing_child c ON c.id = t.child_id
        WHERE t.status = 'open' ORDER BY t.raised_at, t.id LIMIT 5
    """

    def app() -> Any:
        result = selectors.board(user=user, now=now)
        return len(result.rows)

    def floor() -> Any:
        rows = len(_fetch(episodes_sql, list(open_states)))
        return rows + 0 * len(_fetch(awaiting_sql)) + 0 * len(_fetch(tasks_sql))

    return Case("board", app, floor)


def case_episode_list(now: datetime) -> Case:
    """The episode list's first page as the view builds it (missing.web.pagination.CappedPaginator
    over selectors.episode_list_rows) vs the page and the capped count by hand."""
    from missing.web.pagination import COUNT_CAP, CappedPaginator
    from missing.web.views import PAGE_SIZE

    user = _manager()

    def app() -> Any:
        page = CappedPaginator(
            selectors.episode_list_rows(user), PAGE_SIZE, rows=selectors.episode_list_page
        ).get_page(1)
        return [e.pk for e in page.object_list], page.paginator.count, page.paginator.capped

    def floor() -> Any:
        rows = _fetch(
            # The columns the page shows (selectors.EPISODE_LIST_COLUMNS), no more.
            """SELECT e.id, e.child_id, e.kind, e.state, e.police_force_id, e.police_grade_id,
                      e.last_seen_at, e.returned_at, e.out_of_area_council_id, e.council_id,
                      c.id, c.first_name, c.last_name, f.id, f.name, g.id, g.label
               FROM missing_missingepisode e
               JOIN missing_child c ON c.id = e.child_id
               JOIN missing_riskgrade g ON g.id = e.police_grade_id
               JOIN missing_policeforce f ON f.id = e.police_force_id
               ORDER BY e.last_seen_at DESC, e.id DESC LIMIT %s""",
            [PAGE_SIZE],
        )
        count = _fetch(
            "SELECT COUNT(*) FROM (SELECT 1 FROM missing_missingepisode LIMIT %s) s",
            [COUNT_CAP + 1],
        )
        return rows, count

    return Case("episode_list", app, floor)


def case_child_search(now: datetime) -> Case:
    """A last-name prefix search (selectors.child_list, as the child search page runs it) vs the
    same page by hand on the prefix index."""
    from missing.web.views import CHILD_SEARCH_LIMIT

    user = _manager()
    term = gen.SURNAME_STEMS[0] + gen.SURNAME_ENDS[0][:1]  # e.g. "Examplet": ~1/360 of children
    like = term.upper() + "%"

    def app() -> Any:
        rows = selectors.child_list(user, search=term, legal_status=False)  # as the page
        return [c.pk for c in rows[: CHILD_SEARCH_LIMIT + 1]]

    def floor() -> Any:
        return _fetch(
            """SELECT * FROM missing_child WHERE UPPER(last_name) LIKE %s OR council_child_id = %s
               ORDER BY last_name, first_name, id LIMIT %s""",
            [like, term, CHILD_SEARCH_LIMIT + 1],
        )

    return Case("child_search", app, floor)


def case_figures(now: datetime) -> Case:
    """A year's figures (interviews.figures.compute_figures) vs one hand-written statement giving
    the same answer by the same definitions (docs/decisions/0032-figures-definitions.md): the
    period's rows read once (started in it, or back in it; cancelled ones never), each row's
    cohorts computed once, every count a FILTER over them, repeat children from one GROUP BY,
    and the median hours from return to interview."""
    try:
        from interviews.figures import FigureFilters, compute_figures
    except ImportError as exc:
        raise Skip("interviews.figures not available") from exc
    start, end = date(2025, 4, 1), date(2026, 3, 31)
    lo, hi = london_midnight(start), london_midnight(end + timedelta(days=1))
    if _pg():
        median = (
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM "
            "interview_held_at - returned_at) / 3600.0) FILTER (WHERE back AND held_at_known)"
        )
    else:  # the SQLite smoke test: same shape, no percentile function
        median = "NULL"
    sql = f"""
        WITH eps AS (
            SELECT e.child_id, e.returned_at, e.first_reviewed_at, e.first_review_due_at,
                   e.interview_outcome AS outcome, e.interview_held_at, e.interview_due_at,
                   ie.offered_at, ie.accepted, ri.independence,
                   (e.last_seen_at >= %s AND e.last_seen_at < %s) AS started,
                   (e.returned_at >= %s AND e.returned_at < %s) AS back,
                   (e.interview_outcome = 'held' AND e.interview_held_at IS NOT NULL)
                       AS held_at_known
            FROM missing_missingepisode e
            LEFT JOIN interviews_interviewepisode ie ON ie.episode_id = e.id
            LEFT JOIN interviews_returninterview ri ON ri.id = ie.interview_id
            WHERE e.state <> 'cancelled'
              AND ((e.last_seen_at >= %s AND e.last_seen_at < %s)
                   OR (e.returned_at >= %s AND e.returned_at < %s))
        ), repeat AS (
            SELECT COUNT(*) AS children, SUM(n) AS episodes FROM (
                SELECT child_id, COUNT(*) AS n FROM eps WHERE started GROUP BY child_id
                HAVING COUNT(*) >= 2) r
        )
        SELECT COUNT(*) FILTER (WHERE started),
               COUNT(DISTINCT child_id) FILTER (WHERE started),
               COUNT(*) FILTER (WHERE started AND returned_at IS NULL),
               COUNT(*) FILTER (WHERE started AND first_reviewed_at IS NOT NULL),
               COUNT(*) FILTER (WHERE started AND first_reviewed_at <= first_review_due_at),
               COUNT(*) FILTER (WHERE back),
               COUNT(DISTINCT child_id) FILTER (WHERE back),
               COUNT(*) FILTER (WHERE back AND (offered_at IS NOT NULL
                                OR outcome IN ('held', 'child_refused', 'carer_refused'))),
               COUNT(*) FILTER (WHERE back AND (accepted OR outcome = 'held')),
               COUNT(*) FILTER (WHERE back AND (outcome = 'child_refused'
                                OR (NOT accepted AND outcome <> 'held'))),
               COUNT(*) FILTER (WHERE back AND outcome = 'held'),
               COUNT(*) FILTER (WHERE back AND outcome = 'held'
                                AND interview_held_at <= interview_due_at),
               COUNT(DISTINCT child_id) FILTER (WHERE back AND outcome = 'held'
                                AND interview_held_at <= interview_due_at),
               COUNT(*) FILTER (WHERE back AND outcome = 'child_refused'),
               COUNT(*) FILTER (WHERE back AND outcome = 'carer_refused'),
               COUNT(*) FILTER (WHERE back AND outcome = 'no_contact'),
               COUNT(*) FILTER (WHERE back AND outcome = 'not_held_decision'),
               COUNT(*) FILTER (WHERE back AND outcome = ''),
               COUNT(*) FILTER (WHERE back AND outcome = '' AND interview_due_at <= %s),
               COUNT(*) FILTER (WHERE back AND outcome = 'held' AND independence = 'exception'),
               COUNT(*) FILTER (WHERE back AND held_at_known),
               {median},
               (SELECT children FROM repeat), (SELECT episodes FROM repeat)
        FROM eps
    """
    params = [_p(lo), _p(hi)] * 4 + [_p(now)]

    def app() -> Any:
        return compute_figures(FigureFilters(period_start=start, period_end=end), now=now)

    def floor() -> Any:
        return _fetch(sql, params)

    return Case("figures", app, floor)


def case_export903(now: datetime) -> Case:
    """The SSDA903 Missing table for 2025-26 (interviews.returns.ssda903.ssda903_missing_rows) vs a
    hand-written SELECT of the same rows in the same order: looked-after children's episodes
    touching the year, dates as London dates (the end blank after 31 March), ordered by the
    council's child id and start."""
    try:
        from interviews.returns.ssda903 import ssda903_missing_rows
    except ImportError as exc:
        raise Skip("interviews.returns.ssda903 not available") from exc
    lo, hi = london_midnight(date(2025, 4, 1)), london_midnight(date(2026, 4, 1))
    local = "(({col}) AT TIME ZONE 'Europe/London')::date" if _pg() else "date({col})"
    sql = f"""
        SELECT c.council_child_id, c.id, c.date_of_birth, e.kind,
               {local.format(col="e.last_seen_at")},
               CASE WHEN e.returned_at < %s THEN {local.format(col="e.returned_at")} END
        FROM missing_missingepisode e JOIN missing_child c ON c.id = e.child_id
        WHERE e.looked_after AND e.state <> 'cancelled' AND e.last_seen_at < %s
          AND (e.returned_at IS NULL OR e.returned_at >= %s)
        ORDER BY c.council_child_id, c.id, e.last_seen_at, e.id
    """

    def app() -> Any:
        return sum(1 for _ in ssda903_missing_rows(2025))

    def floor() -> Any:
        return len(_fetch(sql, [_p(hi), _p(hi), _p(lo)]))

    return Case("export903", app, floor)


def case_sweep(now: datetime) -> Case:
    """One escalation sweep (notifications.services.escalation_sweep) ten minutes after the last,
    rolled back, vs the same work by hand in raw SQL, rolled back (`_sweep_floor`): raise what is
    newly due, read the recipients once, write the texts and the levels."""
    return _sweep_case("sweep", now + SWEEP_AFTER)


def case_sweep_idle(now: datetime) -> Case:
    """The same at the moment of the last sweep: nothing new is due, so the sweep only reads.
    What the minute-by-minute sweep costs when nothing happens."""
    return _sweep_case("sweep_idle", now)


SWEEP_CLAUSES = {
    "review_overdue": (
        "review_due_at",
        "e.state IN ('missing','returned','interview_arranged','awaiting_sign_off') "
        "AND e.review_due_at IS NOT NULL AND e.review_due_at <= %s",
    ),
    "still_missing": ("last_seen_at", "e.state = 'missing' AND e.last_seen_at <= %s"),
    "interview_not_arranged": (
        "returned_at",
        "e.state IN ('returned','interview_arranged') AND e.interview_arranged_at IS NULL "
        "AND e.interview_due_at <= %s AND e.returned_at <= %s",
    ),
    "interview_due_soon": (
        "interview_due_at",
        "e.state IN ('returned','interview_arranged') AND e.interview_held_at IS NULL "
        "AND e.interview_outcome = '' AND e.interview_due_at > %s AND e.interview_due_at <= %s",
    ),
    "interview_overdue": (
        "interview_due_at",
        "e.state IN ('returned','interview_arranged') AND e.interview_held_at IS NULL "
        "AND e.interview_outcome = '' AND e.interview_due_at <= %s",
    ),
}


# Per trigger, the alert still stands (the clock column must also still equal the escalation's
# clock_at): what the sweep resolves when it no longer does.
SWEEP_STANDS = {
    "review_overdue": (
        "review_due_at",
        "e.state IN ('missing','returned','interview_arranged','awaiting_sign_off') "
        "AND e.review_due_at IS NOT NULL",
    ),
    "still_missing": ("last_seen_at", "e.state = 'missing'"),
    "interview_not_arranged": (
        "returned_at",
        "e.state IN ('returned','interview_arranged') AND e.interview_arranged_at IS NULL",
    ),
    "interview_due_soon": (
        "interview_due_at",
        "e.state IN ('returned','interview_arranged') AND e.interview_held_at IS NULL "
        "AND e.interview_outcome = '' AND e.interview_due_at > %s",
    ),
    "interview_overdue": (
        "interview_due_at",
        "e.state IN ('returned','interview_arranged') AND e.interview_held_at IS NULL "
        "AND e.interview_outcome = ''",
    ),
}


def _due_arms(
    rules: list[tuple[int, str, timedelta]], at: datetime, *, deadline: bool = False
) -> tuple[list[str], list[Any]]:
    """Per active rule, its open episodes whose clock + offset has passed with no escalation for
    that clock value yet, each on its indexed deadline column: (rule_id, id, clock) and, with
    `deadline`, clock + offset."""
    from notifications.models import Escalation

    escalations = _table(Escalation)
    parts, params = [], []
    for rule_id, trigger, offset in rules:
        column, where = SWEEP_CLAUSES[trigger]
        threshold = at - offset
        if trigger == "interview_not_arranged":
            args = [threshold + timedelta(hours=72), threshold]
        elif trigger == "interview_due_soon":
            args = [at, threshold]
        else:
            args = [threshold]
        seconds = int(offset.total_seconds())
        extra = ""
        if deadline and _pg():
            extra = f", e.{column} + interval '{seconds} seconds' AS deadline"
        elif deadline:
            extra = f", datetime(e.{column}, '{seconds:+d} seconds') AS deadline"
        parts.append(
            f"SELECT {int(rule_id)} AS rule_id, e.id AS id, e.{column} AS clock{extra} "
            f"FROM missing_missingepisode e WHERE {where} AND NOT EXISTS (SELECT 1 FROM "
            f"{escalations} x WHERE x.rule_id = {int(rule_id)} AND x.episode_id = e.id "
            f"AND x.clock_at = e.{column})"
        )
        params += [_p(a) for a in args]
    return parts, params


def _sweep_case(name: str, at: datetime) -> Case:
    from notifications.models import Escalation, EscalationRule
    from notifications.services import escalation_sweep

    escalations = _table(Escalation)

    def idle_floor() -> Any:
        """What is due, read only: the newly due firings and the escalations to climb."""
        rules = EscalationRule.objects.filter(active=True).values_list("pk", "trigger", "offset")
        parts, params = _due_arms(list(rules), at)
        parts.append(
            f"SELECT x.rule_id, x.episode_id, x.clock_at FROM {escalations} x "
            "WHERE x.state = 'open' AND x.next_level_at IS NOT NULL AND x.next_level_at <= %s"
        )
        params.append(_p(at))
        return _fetch(" UNION ALL ".join(parts), params)

    app = _rolled_back(lambda: escalation_sweep(now=at))
    if name == "sweep_idle":
        return Case(name, app, idle_floor)
    return Case(name, app, _rolled_back(lambda: _sweep_floor(at)))


def _sweep_floor(at: datetime) -> int:
    """The busy sweep's work by hand, in the fewest statements: the rules with their steps (1);
    one statement of data-modifying CTEs resolving what cleared, cancelling the unsent texts of
    stopped escalations, raising every newly due firing (INSERT … SELECT of one UNION ALL … ON
    CONFLICT DO NOTHING RETURNING) and returning them with the open escalations whose next
    level is due, claimed FOR UPDATE SKIP LOCKED, each with its child's team (1); everyone they
    could tell, one UNION ALL of the rota, the heads of service, the teams' managers and the
    episodes' interviewers (1); the levels (UPDATE … FROM VALUES), the administrator alerts and
    the texts (INSERT … ON CONFLICT DO NOTHING) in one statement (1). SQLite (the smoke test)
    has no data-modifying CTEs: more statements there. Left out of what the application does:
    the lost-text check, a regional installation's council filter, the alerts' wording.
    Returns the number of texts written."""
    from missing.models import CaseAccessGrant
    from notifications import texts
    from notifications.models import (
        AdminAlert,
        Escalation,
        EscalationRule,
        EscalationStep,
        OnCallShift,
        SmsMessage,
    )

    pg = _pg()
    esc, user = _table(Escalation), _table(User)
    # The rules with their steps.
    ladder: dict[int, tuple[str, timedelta, dict[int, list[str]]]] = {}
    active: list[tuple[int, str, timedelta]] = []
    for rule_id, trigger, offset, ack, is_active, level, recipient in _fetch(
        f"SELECT r.id, r.trigger, r.{connection.ops.quote_name('offset')}, r.ack_within, "
        f"r.active, s.level, s.recipient FROM {_table(EscalationRule)} r "
        f"LEFT JOIN {_table(EscalationStep)} s ON s.rule_id = r.id "
        "ORDER BY r.id, s.level, s.recipient"
    ):
        if not pg:  # SQLite keeps durations as microseconds
            offset, ack = timedelta(microseconds=offset), timedelta(microseconds=ack)
        if rule_id not in ladder:
            ladder[rule_id] = (trigger, ack, {})
            if is_active:
                active.append((rule_id, trigger, offset))
        if level is not None:
            ladder[rule_id][2].setdefault(level, []).append(recipient)

    # Resolve what cleared and cancel the texts of stopped escalations (the application resolves
    # one escalation in this case); raise what is newly due; with it, everything whose next level
    # is due, and the child's team.
    by_trigger: dict[str, list[int]] = {}
    for rule_id, (trigger, _, _) in ladder.items():
        by_trigger.setdefault(trigger, []).append(rule_id)
    cleared, resolve_params = [], [_p(at)]
    for trigger, rule_ids in by_trigger.items():
        column, stands = SWEEP_STANDS[trigger]
        cleared.append(
            f"(x.rule_id IN ({', '.join(str(int(r)) for r in rule_ids)}) AND NOT EXISTS ("
            f"SELECT 1 FROM missing_missingepisode e WHERE e.id = x.episode_id "
            f"AND e.{column} = x.clock_at AND {stands}))"
        )
        resolve_params += [_p(at)] * stands.count("%s")
    resolving = (
        f"UPDATE {esc} AS x SET state = 'resolved', resolved_at = %s, next_level_at = NULL "
        f"WHERE x.state = 'open' AND ({' OR '.join(cleared) or 'false'}) RETURNING id"
    )
    cancelling = (
        f"UPDATE {_table(SmsMessage)} SET status = 'cancelled', status_updated_at = %s, "
        "redispatch_at = NULL WHERE status IN ('pending', 'retry') AND redispatch_at IS NOT NULL "
        "AND escalation_id IS NOT NULL AND ({resolved}NOT EXISTS (SELECT 1 FROM "
        f"{esc} y WHERE y.id = escalation_id AND y.state = 'open')) RETURNING 1"
    )
    parts, params = _due_arms(active, at, deadline=True)
    raising = (
        f"INSERT INTO {esc} (rule_id, episode_id, clock_at, deadline_at, next_level_at, "
        "raised_at, level, state, acknowledged_via) SELECT d.rule_id, d.id, d.clock, "
        f"d.deadline, d.deadline, %s, 0, 'open', '' FROM ({' UNION ALL '.join(parts)}) d "
        "WHERE true ON CONFLICT DO NOTHING"
    )
    raising_params = [_p(at), *params]
    climbing = (
        f"SELECT id, rule_id, episode_id, level, clock_at FROM {esc} "
        "WHERE state = 'open' AND next_level_at <= %s"
    )
    with_team = (
        "SELECT x.id, x.rule_id, x.episode_id, x.level, x.clock_at, c.allocated_team_id "
        "FROM ({rows}) x JOIN missing_missingepisode e ON e.id = x.episode_id "
        "JOIN missing_child c ON c.id = e.child_id"
    )
    if pg:
        due = _fetch(
            f"WITH resolved AS ({resolving}), "
            f"cancelled AS ({cancelling.format(resolved='escalation_id IN (SELECT id FROM resolved) OR ')}), "
            f"raised AS ({raising} RETURNING id, rule_id, episode_id, level, clock_at), "
            f"climbing AS ({climbing} FOR UPDATE SKIP LOCKED) "
            + with_team.format(rows="SELECT * FROM raised UNION ALL SELECT * FROM climbing")
            + " WHERE x.id NOT IN (SELECT id FROM resolved)",
            [*resolve_params, _p(at), *raising_params, _p(at)],
        )
    else:
        _fetch(resolving, resolve_params)
        _fetch(cancelling.format(resolved=""), [_p(at)])
        _fetch(raising + " RETURNING id", raising_params)
        due = _fetch(with_team.format(rows=climbing), [_p(at)])
    if not due:
        return 0

    # Everyone they could tell, in one statement.
    teams = sorted({row[5] for row in due if row[5] is not None}) or [0]
    episodes = sorted({row[2] for row in due})
    people: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for kind, key, user_id, phone in _fetch(
        f"SELECT 'duty', s.duty, u.id, u.phone FROM {_table(OnCallShift)} s "
        f"JOIN {user} u ON u.id = s.user_id WHERE s.starts_at <= %s AND s.ends_at > %s "
        "AND u.is_active "
        f"UNION ALL SELECT 'head', '', u.id, u.phone FROM {user} u "
        "WHERE u.role = %s AND u.is_active "
        f"UNION ALL SELECT 'team', CAST(u.team_id AS text), u.id, u.phone FROM {user} u "
        f"WHERE u.role = %s AND u.is_active AND u.team_id IN ({', '.join(['%s'] * len(teams))}) "
        f"UNION ALL SELECT 'interviewer', CAST(g.episode_id AS text), u.id, u.phone "
        f"FROM {_table(CaseAccessGrant)} g JOIN {user} u ON u.id = g.user_id "
        f"WHERE g.episode_id IN ({', '.join(['%s'] * len(episodes))}) "
        "AND g.revoked_at IS NULL AND u.role = %s AND u.is_active",
        [_p(at), _p(at), Role.HEAD_OF_SERVICE, Role.MANAGER, *teams, *episodes, Role.INTERVIEWER],
    ):
        people.setdefault((kind, key), []).append((user_id, phone))

    def resolve(recipient: str, episode_id: int, team_id: int | None) -> list[tuple[int, str]]:
        duty = people.get(("duty", "duty_manager"), [])
        if recipient == "duty_manager":
            return duty
        if recipient == "head_of_service":
            return people.get(("duty", "head_of_service")) or people.get(("head", ""), [])
        if recipient == "team_manager":
            return people.get(("team", str(team_id)), []) or duty
        return people.get(("interviewer", str(episode_id)), [])

    # Each escalation's next level with anyone to tell, in memory; an administrator alert for a
    # level with nobody to tell or a person with no phone, as the application writes them.
    sent: list[Any] = []
    levels: list[Any] = []
    alerts: dict[str, list[Any]] = {}
    redispatch = _p(at + timedelta(seconds=settings.SMS_REDISPATCH_AFTER_SECONDS))
    for escalation_id, rule_id, episode_id, level, clock_at, team_id in due:
        trigger, ack_within, steps = ladder[rule_id]
        if isinstance(clock_at, str):  # SQLite
            clock_at = datetime.fromisoformat(clock_at).replace(tzinfo=UTC)
        higher = sorted(n for n in steps if n > level)
        next_at = None
        for position, step in enumerate(higher):
            told: dict[int, str] = {}
            for recipient in steps[step]:
                found = resolve(recipient, episode_id, team_id)
                if not found and recipient != "interviewer":
                    key = f"no-recipient:{escalation_id}:{step}:{recipient}"
                    alerts[key] = [key, "no_recipient", "Nobody to tell.", escalation_id]
                for user_id, phone in found:
                    if phone:
                        told[user_id] = phone
                    else:
                        key = f"no-phone:{user_id}"
                        alerts[key] = [key, "no_phone", "No phone number.", escalation_id]
            level, further = step, position + 1 < len(higher)
            if told or not further:
                body = texts.escalation_text(
                    trigger=trigger, episode_id=episode_id, clock_at=clock_at, level=step, now=at
                )
                for user_id, phone in told.items():
                    sent += [escalation_id, user_id, step, phone, body, _p(at), redispatch]
                next_at = at + ack_within if further else None
                break
        levels += [escalation_id, level, _p(next_at) if next_at else None]

    # The levels, the alerts and the texts.
    next_level = "CAST(v.column3 AS timestamptz)" if pg else "v.column3"
    writes = [
        (
            f"UPDATE {esc} SET level = v.column2, next_level_at = {next_level} FROM (VALUES "
            + ", ".join(["(%s, %s, %s)"] * len(due))
            + f") AS v WHERE {esc}.id = v.column1 RETURNING 1",
            levels,
        )
    ]
    if alerts:
        writes.append(
            (
                f"INSERT INTO {_table(AdminAlert)} (key, kind, message, escalation_id, "
                "created_at) VALUES "
                + ", ".join(["(%s, %s, %s, %s, %s)"] * len(alerts))
                + " ON CONFLICT DO NOTHING RETURNING 1",
                [value for row in alerts.values() for value in (*row, _p(at))],
            )
        )
    if sent:
        writes.append(
            (
                f"INSERT INTO {_table(SmsMessage)} (escalation_id, recipient_id, level, "
                f"{connection.ops.quote_name('to')}, body, created_at, redispatch_at, backend, "
                "status, attempts, needs_check, error_code, error_detail) VALUES "
                + ", ".join(
                    ["(%s, %s, %s, %s, %s, %s, %s, '', 'pending', 0, false, '', '')"]
                    * (len(sent) // 7)
                )
                + " ON CONFLICT DO NOTHING RETURNING id",
                sent,
            )
        )
    if not pg:
        return len([_fetch(sql, params) for sql, params in writes][-1]) if sent else 0
    *ctes, (last, last_params) = writes
    prefix = ", ".join(f"w{n} AS ({sql})" for n, (sql, _) in enumerate(ctes))
    rows = _fetch(
        (f"WITH {prefix} " if ctes else "") + last,
        [value for _, params in ctes for value in params] + last_params,
    )
    return len(rows) if sent else 0


def case_intake(now: datetime) -> Case:
    """A police system's update notification through the whole API stack (middleware, DRF, token
    authentication, serializer, notification_receive) vs a minimal Django view inserting one row
    into the same table (bench.urls, which run() sets as ROOT_URLCONF). Both rolled back; both
    through django.test.Client."""
    # A bench police client whose force has a child still missing (reference data may hold forces,
    # such as the SSD import's, that the generator gives no episodes).
    clients = User.objects.filter(role=Role.POLICE_SYSTEM, username__startswith="bench-police-")
    episode = (
        MissingEpisode.objects.filter(
            state=EpisodeState.MISSING,
            police_force__in=clients.values("police_force"),
        )
        .order_by("pk")
        .first()
    )
    if episode is None:
        raise Skip("no open episode for a bench police client")
    police = (
        clients.filter(police_force=episode.police_force_id)
        .select_related("police_force")
        .order_by("pk")
        .first()
    )
    token = services.api_token_create(user=police, scope=ApiToken.Scope.INTAKE, now=now)
    # A busy feed's token was used within the minute: authentication then writes nothing.
    ApiToken.objects.filter(user=police).update(last_used_at=timezone.now())
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    body = json.dumps(
        {
            "police_force": police.police_force.code,
            "police_reference": episode.police_reference,
            "kind": "update",
            "sequence": 2,
            "circumstances": "Seen near the railway station at 21:40.",
        }
    )

    def app() -> Any:
        response = client.post("/api/notifications/", body, "application/json", **auth)
        if response.status_code != 201:
            raise RuntimeError(f"intake answered {response.status_code}: {response.content!r}")

    def floor() -> Any:
        response = client.post("/bench/floor-intake/", body, "application/json", **auth)
        if response.status_code != 201:
            raise RuntimeError(f"floor intake answered {response.status_code}")

    return Case("intake", _rolled_back(app), _rolled_back(floor))


CASES: dict[str, Callable[[datetime], Case]] = {
    "board": case_board,
    "figures": case_figures,
    "sweep": case_sweep,
    "sweep_idle": case_sweep_idle,
    "intake": case_intake,
    "export903": case_export903,
    "episode_list": case_episode_list,
    "child_search": case_child_search,
}


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


def _median_ms(fn: Callable[[], Any], *, repeat: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def _queries(fn: Callable[[], Any]) -> tuple[int, str | None]:
    """The call's query count (savepoints and the rollback are transaction control, not work)
    and the top node of its slowest statement's plan, e.g. "Nested Loop on
    missing_missingepisode (episode_review_due_idx) 3.2ms"."""
    with CaptureQueriesContext(connection) as captured:
        fn()
    work = [q for q in captured.captured_queries if not _is_tx(q["sql"])]
    slowest = max(work, key=lambda q: float(q["time"]), default=None)
    return len(work), _top_node(slowest) if slowest is not None else None


def _top_node(query: dict[str, str]) -> str | None:
    """EXPLAIN (not ANALYZE: nothing runs) of a captured statement: its plan's top node, the
    first relation and index it names, and the statement's time in this call."""
    if not _pg():
        return None
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("EXPLAIN (FORMAT JSON) " + query["sql"])
            plan = cursor.fetchone()[0][0]["Plan"]
            transaction.set_rollback(True)
    except Exception:  # a statement that cannot be explained alone (e.g. SET): no plan
        return None
    node, found = plan["Node Type"], {}
    stack = [plan]
    while stack and len(found) < 2:
        item = stack.pop(0)
        for key in ("Relation Name", "Index Name"):
            if key in item and key not in found:
                found[key] = item[key]
        stack += item.get("Plans", [])
    where = " on " + found["Relation Name"] if "Relation Name" in found else ""
    index = f" ({found['Index Name']})" if "Index Name" in found else ""
    return f"{node}{where}{index} {float(query['time']) * 1000:.1f}ms"


def _is_tx(sql: str) -> bool:
    head = sql.lstrip().split(" ", 1)[0].upper()
    return head in {"SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT"}


def measure(name: str, *, episodes: int, now: datetime, repeat: int, warmup: int) -> dict[str, Any]:
    try:
        case = CASES[name](now)
    except Skip as skip:
        return {"name": name, "episodes": episodes, "skipped": str(skip)}
    queries, plan = _queries(case.app)
    floor_queries, floor_plan = _queries(case.floor)
    # Interleave app and floor runs' warm-ups, then measure each.
    median = _median_ms(case.app, repeat=repeat, warmup=warmup)
    floor_median = _median_ms(case.floor, repeat=repeat, warmup=warmup)
    return {
        "name": name,
        "episodes": episodes,
        "median_ms": median,
        "floor_median_ms": floor_median,
        "ratio": round(median / floor_median, 2) if floor_median else None,
        "queries": queries,
        "floor_queries": floor_queries,
        "plan": plan,
        "floor_plan": floor_plan,
    }


def ensure_data(
    *, episodes: int, open_per_state: int, log: Callable[[str], None], streams: int = 1
) -> bool:
    """Generate the data set unless the database already holds exactly `episodes` episodes and
    this open caseload. True when it generated."""
    from notifications.models import Escalation

    if _pg() and not connection.in_atomic_block:
        gen.restore_pending_ddl(log)  # a generation killed mid-load left its indexes to build
    held = MissingEpisode.objects.count()
    if held == episodes and MissingEpisode.objects.open().count() == 4 * open_per_state:
        if not Escalation.objects.exists():  # generated, but interrupted before settling
            _settle(log)
        return False
    if held:
        log(f"bench: {held} episodes held, {episodes} wanted: clearing the case data")
        reset_case_data()
    log(f"bench: generating {episodes} episodes")
    start = time.perf_counter()
    written = gen.generate(
        episodes=episodes, open_per_state=open_per_state, log=log, streams=streams
    )
    log(f"bench: written {written} in {time.perf_counter() - start:.0f}s")
    _settle(log)
    log(f"bench: data ready in {time.perf_counter() - start:.0f}s")
    return True


def _settle(log: Callable[[str], None]) -> None:
    """Bring the data set to the steady state the sweep sees every minute: one real sweep at
    BENCH_NOW raises everything already due, and the texts it wrote count as delivered (else
    every later sweep hands them over again, which is recovery work). Then ANALYZE."""
    from notifications.models import SmsMessage
    from notifications.services import escalation_sweep

    log("bench: raising what is due")
    escalation_sweep(now=gen.BENCH_NOW)
    SmsMessage.objects.filter(status=SmsMessage.Status.PENDING).update(
        status=SmsMessage.Status.DELIVERED,
        backend="outbox",
        attempts=1,
        sent_at=gen.BENCH_NOW,
        status_updated_at=gen.BENCH_NOW,
        redispatch_at=None,
    )
    if _pg():
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def reset_case_data() -> None:
    """Empty every case table (never the reference data the migrations seed)."""
    from interviews.models import (
        ContactAttempt,
        InterviewEpisode,
        InterviewFactor,
        ReturnInterview,
    )
    from missing.models import (
        CaseAccessGrant,
        EpisodeEvent,
        OversightDecision,
        PoliceNotification,
    )
    from notifications.models import AdminAlert, Escalation, InboundSms, SmsMessage

    models = [AdminAlert, SmsMessage, InboundSms, Escalation, InterviewFactor, InterviewEpisode,
              ContactAttempt, ReturnInterview, CaseAccessGrant, EpisodeEvent, OversightDecision,
              PoliceNotification, MissingEpisode, Child]  # fmt: skip
    if _pg():
        tables = [_table(m) for m in models]
        # The history the generator's bulk fill wrote (pghistory's tables) goes with them.
        history = [
            f'"{f.history_table}"' for f in gen.history_fills([m._meta.db_table for m in models])
        ]
        names = ", ".join(tables + history)
        with connection.cursor() as cursor:
            # Inside a transaction (the smoke test's), deferred foreign-key checks still queued
            # would block TRUNCATE: run them now, then defer again.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    else:
        for model in models:
            model.objects.all()._raw_delete(model.objects.db)


def open_per_state_for(episodes: int) -> int:
    """The open caseload: 300 episodes in each open state, fewer only for a tiny data set."""
    return min(gen.DEFAULT_OPEN_PER_STATE, max(1, episodes // 30))


def run(
    *,
    episodes: int,
    names: list[str],
    repeat: int,
    warmup: int,
    open_per_state: int | None = None,
    log: Callable[[str], None] = lambda message: None,
    streams: int = 1,
) -> list[dict[str, Any]]:
    """Generate if needed, then measure each named case. For the command and the smoke test."""
    ensure_data(
        episodes=episodes,
        open_per_state=open_per_state or open_per_state_for(episodes),
        log=log,
        streams=streams,
    )
    if _pg() and not connection.in_atomic_block:
        # Every repeat of a write is rolled back, which leaves dead rows in the tables it wrote;
        # on a server with autovacuum off (as on the development machine) they pile up from run
        # to run and slow the next one. Cleared before measuring, so runs compare.
        with connection.cursor() as cursor:
            cursor.execute(
                "VACUUM ANALYZE notifications_escalation, notifications_smsmessage, "
                "notifications_adminalert, missing_policenotification, missing_episodeevent, "
                "missing_accesslog, missing_missingepisode"
            )
    # The intake floor's view lives in bench.urls; set once, outside every timed call.
    with override_settings(ROOT_URLCONF="bench.urls"):
        return [
            measure(name, episodes=episodes, now=gen.BENCH_NOW, repeat=repeat, warmup=warmup)
            for name in names
        ]


def _growth(board: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """board_growth: the board on a second database holding GROWTH_SMALL_EPISODES episodes and
    the same open caseload (its own process), against this run's board. Ratio = big / small."""
    small_url = args.small_database_url or _small_url(os.environ["DATABASE_URL"])
    command = [
        sys.executable, str(Path(__file__)), "--episodes", str(GROWTH_SMALL_EPISODES),
        "--database-url", small_url, "--only", "board", "--no-growth",
        "--repeat", str(args.repeat), "--warmup", str(args.warmup),
        "--open-per-state", str(args.open_per_state or open_per_state_for(args.episodes)),
    ]  # fmt: skip
    # Our own script with our own arguments.
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout  # noqa: S603
    small = json.loads(out.strip().splitlines()[-1])
    return {
        "name": "board_growth",
        "episodes": args.episodes,
        "median_ms": board["median_ms"],
        "floor_median_ms": small["median_ms"],
        "ratio": round(board["median_ms"] / small["median_ms"], 2),
        "queries": board["queries"],
        "small_episodes": GROWTH_SMALL_EPISODES,
        "small_queries": small["queries"],
    }


def _small_url(url: str) -> str:
    base, _, name = url.rpartition("/")
    return f"{base}/{name}_small"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated case names")
    parser.add_argument("--open-per-state", type=int, default=None)
    parser.add_argument("--database-url", default=None, help="default: $BENCH_DATABASE_URL")
    parser.add_argument("--small-database-url", default=None, help="for board_growth")
    parser.add_argument("--no-growth", action="store_true", help="skip board_growth")
    parser.add_argument(
        "--streams", type=int, default=2, help="parallel COPY streams when generating"
    )
    parser.add_argument(
        "--regenerate", action="store_true", help="clear and generate even if N episodes are held"
    )
    args = parser.parse_args(argv)
    if connection.vendor != "postgresql":
        parser.error("the benchmark measures PostgreSQL; set BENCH_DATABASE_URL")
    if "bench" not in connection.settings_dict["NAME"]:
        parser.error("refusing to touch a database whose name does not contain 'bench'")
    names = [n for n in args.only.split(",") if n] or list(CASES)
    unknown = set(names) - set(CASES)
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.regenerate:
        reset_case_data()
    rows = run(
        episodes=args.episodes,
        names=names,
        repeat=args.repeat,
        warmup=args.warmup,
        open_per_state=args.open_per_state,
        log=log,
        streams=args.streams,
    )
    for row in rows:
        print(json.dumps(row), flush=True)
    board = next((r for r in rows if r["name"] == "board" and "median_ms" in r), None)
    if board is not None and not args.no_growth:
        print(json.dumps(_growth(board, args)), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
