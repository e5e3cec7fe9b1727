"""The SSD import on a generated extract: bad rows reported by file, line and field; a re-run
changes nothing; a dry run writes nothing; imported history reaches both national returns."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.core.management import call_command

from bench.ssd_extract import nhs_number, rows, write_tables
from interviews.returns import annex_a, ssda903
from missing.models import Child, EpisodeState, LegalStatusPeriod, MissingEpisode
from ssd import importer
from ssd.models import ImportRow, ImportRun

TODAY = date(2026, 6, 10)
NOW = datetime(2026, 6, 10, 12, 0, tzinfo=importer.clocks.LONDON)


def _run(tables, actor, *, dry_run=False):
    files = {}
    import csv
    import io

    for table, table_rows in tables.items():
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=importer.FIELDS[table])
        writer.writeheader()
        writer.writerows(table_rows)
        files[table] = buffer.getvalue()
    return importer.run_import(
        files=files, actor=actor, now=NOW, origin="command", source="test", dry_run=dry_run
    )


def _problems(report):
    return {(r.table, r.line, p["field"]) for r in report.rejected for p in r.problems}


@pytest.fixture
def extract():
    tables = rows(30, seed=1, today=TODAY)
    person = tables["ssd_person"]
    # Line numbers: the header is line 1, so row i is line i + 2.
    person[1]["pers_dob"] = "2019-02-30"  # bad date, line 3
    person[2]["pers_sex"] = "X"  # unknown code, line 4
    person.append(dict(person[4]))  # duplicate key, last line
    cla = tables["ssd_cla_episodes"]
    cla.append(
        {
            "clae_cla_episode_id": "CLA-bad",
            "clae_person_id": "",  # missing id
            "clae_cla_episode_start_date": "2025-01-01",
            "clae_cla_episode_ceased": "",
        }
    )
    tables["ssd_cp_plans"].append(
        {
            "cppl_cp_plan_id": "CP-bad",
            "cppl_person_id": person[0]["pers_person_id"],
            "cppl_cp_plan_start_date": "2025-05-01",
            "cppl_cp_plan_end_date": "2025-04-01",  # end before start
        }
    )
    return tables


def test_bad_rows_are_reported_by_file_line_and_field(db, manager, extract):
    report = _run(extract, manager)
    problems = _problems(report)
    assert ("ssd_person", 3, "pers_dob") in problems
    assert ("ssd_person", 4, "pers_sex") in problems
    assert ("ssd_person", len(extract["ssd_person"]) + 1, "pers_person_id") in problems
    assert ("ssd_cla_episodes", len(extract["ssd_cla_episodes"]) + 1, "clae_person_id") in problems
    assert ("ssd_cp_plans", len(extract["ssd_cp_plans"]) + 1, "cppl_cp_plan_end_date") in problems
    # Rejected children are not created; every other child is.
    assert Child.objects.count() == 28, report.rejected
    # Every row received is kept, the rejected ones with their problems.
    run = ImportRun.objects.get()
    assert run.rows.count() == sum(len(t) for t in extract.values())
    rejected = run.rows.filter(outcome=ImportRow.Outcome.REJECTED)
    assert {(r.table, r.line) for r in rejected} >= {("ssd_person", 3), ("ssd_person", 4)}
    assert rejected.get(table="ssd_person", line=3).problems[0]["field"] == "pers_dob"


def test_a_rerun_changes_nothing(db, manager, extract):
    _run(extract, manager)
    counts = (
        Child.objects.count(),
        LegalStatusPeriod.objects.count(),
        MissingEpisode.objects.count(),
    )
    report = _run(extract, manager)
    assert report.children_changed == []
    assert all(c["created"] == 0 and c["updated"] == 0 for c in report.counts.values())
    assert counts == (
        Child.objects.count(),
        LegalStatusPeriod.objects.count(),
        MissingEpisode.objects.count(),
    )


def test_a_changed_row_updates_the_record_it_made(db, manager):
    tables = rows(10, seed=2, today=TODAY)
    _run(tables, manager)
    la = tables["ssd_cla_episodes"][0]
    la["clae_cla_episode_ceased"] = "2026-01-01"
    report = _run(tables, manager)
    assert report.counts["ssd_cla_episodes"]["updated"] == 1
    period = LegalStatusPeriod.objects.get(
        source_key=f"ssd_cla_episodes:{la['clae_cla_episode_id']}"
    )
    assert period.end_date == date(2026, 1, 1)
    child = Child.objects.get(council_child_id=la["clae_person_id"])
    assert report.children_changed == [child.reference]


def test_dry_run_writes_nothing(db, manager, extract):
    report = _run(extract, manager, dry_run=True)
    assert report.counts["ssd_person"]["created"] == 28
    assert Child.objects.count() == 0
    assert ImportRun.objects.count() == 0
    assert ImportRow.objects.count() == 0
    assert MissingEpisode.objects.count() == 0


def test_a_child_is_matched_by_nhs_number(db, manager):
    number = nhs_number(5)
    child = Child.objects.create(
        first_name="Sam", last_name="Exampleton", nhs_number=number, created_at=NOW
    )
    tables = {
        "ssd_person": [
            {
                "pers_person_id": "LCS42",
                "pers_sex": "F",
                "pers_dob": "2012-04-15",
                "pers_common_child_id": number,
            }
        ]
    }
    report = _run(tables, manager)
    child.refresh_from_db()
    assert child.council_child_id == "LCS42"
    assert child.date_of_birth == date(2012, 4, 15)
    assert report.counts["ssd_person"]["updated"] == 1
    assert Child.objects.count() == 1


def _looked_after_child_with_history():
    return {
        "ssd_person": [
            {
                "pers_person_id": "LA1",
                "pers_sex": "M",
                "pers_dob": "2011-05-01",
                "pers_common_child_id": "",
            }
        ],
        "ssd_cla_episodes": [
            {
                "clae_cla_episode_id": "E1",
                "clae_person_id": "LA1",
                "clae_cla_episode_start_date": "2024-01-10",
                "clae_cla_episode_ceased": "",
            }
        ],
        "ssd_professionals": [
            {
                "prof_professional_id": "P1",
                "prof_staff_id": "",
                "prof_professional_name": "Pat Exampleton",
            }
        ],
        "ssd_involvements": [
            {
                "invo_involvements_id": "I1",
                "invo_person_id": "LA1",
                "invo_professional_id": "P1",
                "invo_professional_team": "Children in Care 2",
                "invo_involvement_start_date": "2024-01-10",
                "invo_involvement_end_date": "",
            }
        ],
        "ssd_missing": [
            {
                "miss_table_id": "M1",
                "miss_la_person_id": "LA1",
                "miss_mis_epi_start": "2025-10-04 22:00",
                "miss_mis_epi_type": "M",
                "miss_mis_epi_end": "2025-10-05 08:30",
                "miss_mis_epi_rhi_offered": "Yes",
                "miss_mis_epi_rhi_accepted": "Yes",
            },
            {
                "miss_table_id": "M2",
                "miss_la_person_id": "LA1",
                "miss_mis_epi_start": "2026-02-01",
                "miss_mis_epi_type": "A",
                "miss_mis_epi_end": "2026-02-01",
                "miss_mis_epi_rhi_offered": "No",
                "miss_mis_epi_rhi_accepted": "",
            },
        ],
    }


def test_imported_history_is_closed_and_reaches_both_returns(db, manager):
    report = _run(_looked_after_child_with_history(), manager)
    assert report.rejected == []
    child = Child.objects.get(council_child_id="LA1")
    assert child.ever_looked_after
    assert child.social_worker_name == "Pat Exampleton"
    assert child.allocated_team.name == "Children in Care 2"
    episodes = list(child.episodes.order_by("last_seen_at"))
    assert [e.state for e in episodes] == [EpisodeState.CLOSED] * 2
    assert all(e.looked_after for e in episodes)
    assert [e.police_reference for e in episodes] == ["SSD:M1", "SSD:M2"]
    assert episodes[0].interview_outcome == "held"
    assert episodes[0].interview_due_at is None  # history: no clocks

    rows_903 = list(ssda903.ssda903_missing_rows(2025))  # April 2025 - March 2026
    assert [r[0] for r in rows_903] == ["LA1", "LA1"]
    assert [r[2] for r in rows_903] == ["M", "A"]

    rows_annex = [row for _, row in annex_a._children(date(2026, 3, 31))]
    assert rows_annex == [["LA1", "1", "1", "Y", "Y"]]


def test_a_still_missing_row_is_refused_as_not_history(db, manager):
    tables = _looked_after_child_with_history()
    tables["ssd_missing"][1]["miss_mis_epi_end"] = ""
    tables["ssd_missing"][0]["miss_mis_epi_type"] = "Z"
    report = _run(tables, manager)
    assert _problems(report) == {
        ("ssd_missing", 2, "miss_mis_epi_type"),
        ("ssd_missing", 3, "miss_mis_epi_end"),
    }
    assert MissingEpisode.objects.count() == 0


def test_the_command_prints_the_report(db, manager, tmp_path, capsys, extract):
    write_tables(tmp_path, extract)
    call_command("import_ssd", str(tmp_path), "--as", manager.username, "--dry-run")
    out = capsys.readouterr().out
    assert "Dry run: nothing was written." in out
    assert "ssd_person.csv line 3: pers_dob:" in out
    assert Child.objects.count() == 0


def test_an_interviewer_may_not_import(db, interviewer):
    with pytest.raises(importer.ImportRefused):
        _run({"ssd_person": []}, interviewer)


def test_the_sync_is_off_without_a_folder(db, settings):
    from ssd.tasks import sync_from_case_system

    settings.SSD_SYNC_DIR = ""
    assert sync_from_case_system() is None
    assert ImportRun.objects.count() == 0


def test_the_sync_imports_the_changed_since_extract(db, settings, manager, tmp_path):
    from ssd.tasks import sync_from_case_system

    write_tables(tmp_path, _looked_after_child_with_history())
    settings.SSD_SYNC_DIR = str(tmp_path)
    settings.SSD_SYNC_USER = manager.username
    first = sync_from_case_system()
    assert first["children_changed"] == 1
    second = sync_from_case_system()
    assert second["children_changed"] == 0
    run = ImportRun.objects.get(pk=second["run"])
    assert run.origin == "sync"
    assert run.changed_since is not None
    assert "ssd-sync" in settings.CELERY_BEAT_SCHEDULE
