"""Whose children an SSD import creates (decision 0070): the one council on a single-council
installation; on a regional one the council named (`--council`, required by the command) or
the importing user's, matching and changing that council's children only."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.core.management import CommandError, call_command

from bench.ssd_extract import rows, write_tables
from missing.models import Child, Council, MissingEpisode, Role
from ssd import importer
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 6, 10)
NOW = datetime(2026, 6, 10, 12, 0, tzinfo=importer.clocks.LONDON)
A_CODE, B_CODE = "E06000035", "E10000016"  # Medway, Kent


@pytest.fixture
def extract(tmp_path):
    tables = rows(8, seed=3, today=TODAY)
    write_tables(tmp_path, tables)
    return tmp_path


def test_a_single_council_installation_gives_its_children_the_one_council(
    settings, manager, extract
):
    settings.COUNCIL_ONS_CODES = [A_CODE]
    call_command("import_ssd", str(extract), "--as", manager.username)
    a = Council.objects.get(ons_code=A_CODE)
    assert Child.objects.exists()
    assert set(Child.objects.values_list("council", flat=True)) == {a.pk}
    episodes = MissingEpisode.objects.all()
    assert episodes.exists()
    assert set(episodes.values_list("council", "figures_council")) == {(a.pk, a.pk)}
    with pytest.raises(CommandError, match=B_CODE):
        call_command("import_ssd", str(extract), "--as", manager.username, "--council", B_CODE)


def test_a_regional_import_needs_the_council_and_keeps_to_it(settings, extract):
    settings.COUNCIL_ONS_CODES = [A_CODE, B_CODE]
    a = Council.objects.get(ons_code=A_CODE)
    b = Council.objects.get(ons_code=B_CODE)
    manager_a = UserFactory(username="ssd-a", role=Role.MANAGER, council=a)
    manager_b = UserFactory(username="ssd-b", role=Role.MANAGER, council=b)
    with pytest.raises(CommandError, match="--council"):
        call_command("import_ssd", str(extract), "--as", manager_a.username)
    with pytest.raises(CommandError, match="E09000033"):
        call_command(
            "import_ssd", str(extract), "--as", manager_a.username, "--council", "E09000033"
        )
    with pytest.raises(CommandError, match="does not work for"):
        call_command("import_ssd", str(extract), "--as", manager_a.username, "--council", B_CODE)
    assert not Child.objects.exists()

    call_command("import_ssd", str(extract), "--as", manager_a.username, "--council", A_CODE)
    of_a = Child.objects.filter(council=a).count()
    assert of_a > 0
    assert of_a == Child.objects.count()
    assert set(MissingEpisode.objects.values_list("council", "figures_council")) == {(a.pk, a.pk)}
    # The same extract for council B (same ids, same NHS numbers): B's own records, A's left
    # alone, and every key kept apart (no clash on periods, identifiers or episodes).
    call_command("import_ssd", str(extract), "--as", manager_b.username, "--council", B_CODE)
    assert Child.objects.filter(council=b).count() == of_a
    assert Child.objects.filter(council=a).count() == of_a
    assert MissingEpisode.objects.filter(council=b).count() == (
        MissingEpisode.objects.filter(council=a).count()
    )
    # A re-run for A changes nothing of B's and adds nothing.
    before = Child.objects.count(), MissingEpisode.objects.count()
    report = importer.run_import(
        files=importer.read_folder(str(extract)),
        actor=manager_a,
        now=NOW,
        origin="command",
        source="test",
    )
    assert (Child.objects.count(), MissingEpisode.objects.count()) == before
    assert report.children_changed == []
