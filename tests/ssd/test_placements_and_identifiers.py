"""ssd_cla_placement and ssd_linked_identifiers: the current placement becomes the child's
placement facts (the postcode district only); linked identifiers are kept and match the child
(a linked NHS number, a former id, a UPN an earlier import kept)."""

from __future__ import annotations

from bench.ssd_extract import nhs_number
from missing.models import Child
from ssd import importer
from ssd.models import LinkedIdentifier
from tests.ssd.test_import import NOW, _problems, _run


def _person(pid: str, nhs: str = "") -> dict[str, str]:
    return {
        "pers_person_id": pid,
        "pers_sex": "F",
        "pers_dob": "2012-04-15",
        "pers_common_child_id": nhs,
    }


def _placement(pid: str, key: str, start: str, end: str = "", **more: str) -> dict[str, str]:
    return {
        "clap_cla_placement_id": key,
        "clap_person_id": pid,
        "clap_cla_placement_start_date": start,
        "clap_cla_placement_provider": more.get("provider", "Oakfield Children's Home"),
        "clap_cla_placement_postcode": more.get("postcode", "LS6 2QT"),
        "clap_cla_placement_end_date": end,
    }


def _link(pid: str, key: str, kind: str, value: str, to: str = "") -> dict[str, str]:
    return {
        "link_table_id": key,
        "link_person_id": pid,
        "link_identifier_type": kind,
        "link_identifier_value": value,
        "link_valid_from_date": "",
        "link_valid_to_date": to,
    }


def test_the_current_placement_becomes_the_childs_placement(db, manager):
    tables = {
        "ssd_person": [_person("P1")],
        "ssd_cla_placement": [
            _placement(
                "P1", "PL1", "2024-01-01", "2025-03-01", provider="Old home", postcode="BD7 1DP"
            ),
            _placement("P1", "PL2", "2025-03-01"),
        ],
    }
    report = _run(tables, manager)
    assert report.rejected == []
    child = Child.objects.get(council_child_id="P1")
    assert (child.placement, child.placement_area) == ("Oakfield Children's Home", "LS6")
    assert report.counts["ssd_cla_placement"] == {
        "created": 0,
        "updated": 1,
        "unchanged": 1,
        "rejected": 0,
    }
    again = _run(tables, manager)
    assert again.counts["ssd_cla_placement"]["updated"] == 0
    assert again.children_changed == []


def test_host_and_placing_council_are_read_when_given(db, manager):
    files = {
        "ssd_person": "pers_person_id,pers_sex,pers_dob,pers_common_child_id\nP1,F,2012-04-15,\n",
        "ssd_cla_placement": (
            f"{','.join(importer.FIELDS['ssd_cla_placement'])},clap_cla_placement_la,"
            "clap_placing_la\nPL1,P1,2025-03-01,Oakfield,LS6 2QT,,Leeds,Bradford\n"
        ),
    }
    importer.run_import(files=files, actor=manager, now=NOW, origin="command", source="test")
    child = Child.objects.get(council_child_id="P1")
    assert (child.host_council, child.responsible_council) == ("Leeds", "Bradford")


def test_bad_placement_rows_are_reported(db, manager):
    tables = {
        "ssd_person": [_person("P1")],
        "ssd_cla_placement": [
            _placement("P1", "PL1", "2025-03-01", postcode="NOT A POSTCODE"),
            _placement("NOBODY", "PL2", "2025-03-01"),
            _placement("P1", "PL3", "2025-03-01", "2025-01-01"),
        ],
    }
    report = _run(tables, manager)
    assert _problems(report) == {
        ("ssd_cla_placement", 2, "clap_cla_placement_postcode"),
        ("ssd_cla_placement", 3, "clap_person_id"),
        ("ssd_cla_placement", 4, "clap_cla_placement_end_date"),
    }
    assert Child.objects.get(council_child_id="P1").placement == ""


def test_a_linked_nhs_number_matches_and_is_kept(db, manager):
    number = nhs_number(8)
    child = Child.objects.create(first_name="A", last_name="B", nhs_number=number, created_at=NOW)
    tables = {
        "ssd_person": [_person("LCS9")],
        "ssd_linked_identifiers": [_link("LCS9", "L1", "NHS Number", number)],
    }
    report = _run(tables, manager)
    assert report.rejected == []
    child.refresh_from_db()
    assert child.council_child_id == "LCS9"
    assert Child.objects.count() == 1
    kept = LinkedIdentifier.objects.get()
    assert (kept.child_id, kept.kind, kept.value) == (child.pk, "nhs_number", number)


def test_a_renumbered_child_is_found_by_its_former_id(db, manager):
    _run({"ssd_person": [_person("OLD1")]}, manager)
    child = Child.objects.get()
    tables = {
        "ssd_person": [_person("NEW1")],
        "ssd_linked_identifiers": [_link("NEW1", "L1", "Former ID", "OLD1", to="2026-01-01")],
    }
    report = _run(tables, manager)
    assert report.rejected == []
    child.refresh_from_db()
    assert child.council_child_id == "NEW1"
    assert Child.objects.count() == 1


def test_a_upn_an_earlier_import_kept_matches(db, manager):
    _run(
        {
            "ssd_person": [_person("A1")],
            "ssd_linked_identifiers": [_link("A1", "L1", "UPN", "A123456789012")],
        },
        manager,
    )
    child = Child.objects.get()
    report = _run(
        {
            "ssd_person": [_person("B1")],
            "ssd_linked_identifiers": [_link("B1", "L9", "Former UPN", "a123 4567 89012")],
        },
        manager,
    )
    assert report.rejected == []
    child.refresh_from_db()
    assert child.council_child_id == "B1"
    assert LinkedIdentifier.objects.filter(child=child).count() == 2


def test_bad_identifiers_are_reported(db, manager):
    tables = {
        "ssd_person": [_person("P1", nhs=nhs_number(1))],
        "ssd_linked_identifiers": [
            _link("P1", "L1", "UPN", "12345"),
            _link("P1", "L2", "NHS number", "1234567890"),
            _link("P1", "L3", "NHS number", nhs_number(2)),  # not the person's own
            _link("P1", "L4", "", "X"),
            _link("", "L5", "Legacy ID", "X"),
        ],
    }
    report = _run(tables, manager)
    assert _problems(report) == {
        ("ssd_linked_identifiers", 2, "link_identifier_value"),
        ("ssd_linked_identifiers", 3, "link_identifier_value"),
        ("ssd_linked_identifiers", 4, "link_identifier_value"),
        ("ssd_linked_identifiers", 5, "link_identifier_type"),
        ("ssd_linked_identifiers", 6, "link_person_id"),
    }
    assert LinkedIdentifier.objects.count() == 0


def test_the_published_name_of_the_looked_after_end_is_read(db, manager):
    files = {
        "ssd_person": "pers_person_id,pers_sex,pers_dob,pers_common_child_id\nP1,F,2012-04-15,\n",
        "ssd_cla_episodes": (
            "clae_cla_episode_id,clae_person_id,clae_cla_episode_start_date,"
            "clae_cla_episode_ceased_date\nE1,P1,2024-01-10,2025-02-01\n"
        ),
    }
    report = importer.run_import(
        files=files, actor=manager, now=NOW, origin="command", source="test"
    )
    assert report.rejected == []
    period = Child.objects.get(council_child_id="P1").legal_status_periods.get()
    assert str(period.end_date) == "2025-02-01"
