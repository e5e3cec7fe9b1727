"""The importer's statements do not grow with its rows: 200 and 2,000 children (with placements
and linked identifiers) take the same number of queries, every batch held to one statement;
and a re-run of the same files changes nothing. PostgreSQL only: SQLite caps the parameters of
one statement, so Django splits its bulk writes there whatever the batch size."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.ssd_extract import add_placements_and_identifiers, rows
from missing.models import Child
from ssd import importer
from ssd.models import LinkedIdentifier
from tests.ssd.test_import import TODAY, _run

pytestmark = pytest.mark.slow


def _extract(children: int, tag: str) -> dict[str, list[dict[str, str]]]:
    """A generated extract whose ids all carry `tag`, so extracts of different sizes do not
    touch each other's records (no NHS numbers: the generator's would repeat)."""
    tables = rows(children, seed=5, today=TODAY)
    add_placements_and_identifiers(tables, seed=5, today=TODAY)
    for table_rows in tables.values():
        for row in table_rows:
            for name, value in row.items():
                if name == "pers_common_child_id":
                    row[name] = ""
                elif name.endswith("_id") and value:
                    row[name] = f"{tag}{value}"
                elif name == "link_identifier_value":
                    row[name] = tag + value[1:] if value.startswith("A") else f"{tag}{value}"
    return tables


def _queries(tables, actor) -> tuple[int, importer.Report]:
    with CaptureQueriesContext(connection) as captured:
        report = _run(tables, actor)
    return len(captured.captured_queries), report


def test_queries_do_not_grow_with_rows_and_a_rerun_changes_nothing(db, manager, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs DATABASE_URL=postgres://…: SQLite splits bulk writes by parameters")
    # One statement per batch: batches as big as the extract.
    monkeypatch.setattr(importer, "BATCH", 100_000)
    monkeypatch.setattr(importer, "UPDATE_BATCH", 100_000)
    _run(_extract(10, "W"), manager)  # the teams and the organisation, made once

    small, small_report = _queries(_extract(200, "S"), manager)
    large_tables = _extract(2000, "L")
    large, large_report = _queries(large_tables, manager)
    assert small_report.rejected == []
    assert large_report.rejected == []
    assert large_report.counts["ssd_person"]["created"] == 2000
    assert large_report.counts["ssd_cla_placement"]["updated"] > 0
    assert small == large

    before = (Child.objects.count(), LinkedIdentifier.objects.count())
    again, rerun = _queries(large_tables, manager)
    assert rerun.children_changed == []
    assert all(c["created"] == c["updated"] == 0 for c in rerun.counts.values())
    assert before == (Child.objects.count(), LinkedIdentifier.objects.count())
    assert again <= large
