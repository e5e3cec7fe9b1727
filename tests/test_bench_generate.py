"""The parallel generator's pieces that the smoke test (one transaction, triggers on) does not
reach: the streams' shares of the work, and the history written in bulk after a load with row
triggers off, which must be the very rows the triggers would have written."""

from __future__ import annotations

import pytest
from django.db import connection

from bench import generate as gen
from missing.models import Child, MissingEpisode
from tests.factories import FIXED_NOW, ChildFactory
from tests.helpers import report_missing

pytestmark = pytest.mark.django_db

# What differs between two writes of the same row: the history row's own key and time.
OWN = {"pgh_id", "pgh_created_at"}


def test_the_streams_get_the_same_number_of_episodes() -> None:
    # The generator's own shape: the repeat runners first, then every second child a repeater.
    counts = [18] * 60 + [1, 3] * 470
    shares = gen._share(counts, 2)
    loads = [sum(counts[c] for c in share) for share in shares]
    assert sorted(c for share in shares for c in share) == list(range(len(counts)))
    assert abs(loads[0] - loads[1]) <= max(counts)
    # Striping by index, as before, would have given the even stream every repeater.
    assert abs(sum(counts[0::2]) - sum(counts[1::2])) > 10 * max(counts)


def _history(table: str) -> list[dict[str, object]]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{table}" ORDER BY pgh_obj_id, pgh_id')  # noqa: S608
        names = [c.name for c in cursor.description]
        return [
            {n: v for n, v in zip(names, row, strict=True) if n not in OWN}
            for row in cursor.fetchall()
        ]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL triggers")
def test_the_bulk_history_is_what_the_triggers_write(ffd) -> None:
    report_missing(
        actor=ffd, now=FIXED_NOW
    )  # a child and an episode, written through the application
    ChildFactory()
    tables = [Child._meta.db_table, MissingEpisode._meta.db_table]
    fills = gen.history_fills(tables)
    assert {f.table for f in fills} == set(tables)
    by_trigger = {f.history_table: _history(f.history_table) for f in fills}
    inserts = {
        f.history_table: [
            row for row in by_trigger[f.history_table] if row["pgh_label"] == "insert"
        ]
        for f in fills
    }
    assert all(inserts.values())
    with connection.cursor() as cursor:
        for fill in fills:
            cursor.execute(f'DELETE FROM "{fill.history_table}"')  # noqa: S608
            cursor.execute(fill.sql)
    for fill in fills:
        rows = _history(fill.history_table)
        # The bulk fill writes each row as it stands now; an insert trigger saw it as inserted.
        # Rows the application changed after inserting them differ in those columns only, so
        # compare the rows nobody changed since.
        unchanged = [r for r in inserts[fill.history_table] if r in rows]
        assert unchanged, f"{fill.history_table}: no row written as the trigger writes it"
        assert len(rows) == len({r["pgh_obj_id"] for r in inserts[fill.history_table]})


def test_a_pending_statement_is_grouped_by_its_table() -> None:
    assert gen._RELATION.match('INSERT INTO "missing_childhistory" ("id") SELECT 1')[1] == (
        "missing_childhistory"
    )
    assert (
        gen._RELATION.match(
            "CREATE INDEX event_episode_idx ON public.missing_episodeevent USING btree (episode_id)"
        )[1]
        == "missing_episodeevent"
    )
    assert (
        gen._RELATION.match(
            "ALTER TABLE missing_policenotification ADD CONSTRAINT n UNIQUE (police_force_id)"
        )[1]
        == "missing_policenotification"
    )
