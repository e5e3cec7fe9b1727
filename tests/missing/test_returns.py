"""The SSDA903 Missing table: the export compared line by line with a file written by hand, the
DfE validator's rules refusing (nothing written), bad arguments, and query counts pinned."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command

from interviews.returns import ssda903 as returns
from missing.models import Child, MissingEpisode
from tests import validator903
from tests.factories import FIXED_NOW
from tests.returns_data import build_caseload, child, episode, utc

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "returns"
EXPECTED_2025 = (FIXTURES / "ssda903_missing_2025.csv").read_text().splitlines()


@pytest.fixture(autouse=True)
def _today():
    """Commands read the clock for "has this year begun": pin it to 10 June 2026."""
    with time_machine.travel(FIXED_NOW, tick=False):
        yield


@pytest.fixture
def caseload(ffd, manager, interviewer):
    return build_caseload(ffd=ffd, manager=manager, interviewer=interviewer)


def export(year: str, tmp_path: Path) -> list[str]:
    out = tmp_path / "missing.csv"
    call_command("export_ssda903_missing", "--year", year, "--out", str(out), stderr=io.StringIO())
    return out.read_text().splitlines()


def test_the_year_matches_the_file_written_by_hand(caseload, tmp_path):
    assert export("2025", tmp_path) == EXPECTED_2025


def test_rows_are_crlf_csv(caseload, tmp_path):
    export("2025", tmp_path)
    raw = (tmp_path / "missing.csv").read_bytes()
    assert raw.startswith(b"CHILD,DOB,MISSING,MIS_START,MIS_END\r\nLA1001,")
    assert raw.count(b"\r\n") == len(EXPECTED_2025)


def test_standard_output_carries_the_same_lines(caseload):
    out = io.StringIO()
    call_command("export_ssda903_missing", "--year", "2025", "--out", "-", stdout=out)
    assert out.getvalue().splitlines() == EXPECTED_2025


def test_the_previous_year_ends_the_carried_over_episode_nowhere(caseload, tmp_path):
    """Year 2024 (April 2024 – March 2025): LA1001's 28 March episode and LA1006's are still
    missing at its end, so their end is blank; LA1007's too. Nothing else touches it."""
    assert export("2024", tmp_path) == [
        "CHILD,DOB,MISSING,MIS_START,MIS_END",
        "LA1001,14/05/2010,M,28/03/2025,",
        "LA1006,03/03/2010,M,30/03/2025,31/03/2025",
        "LA1007,12/12/2009,M,15/03/2025,",
    ]


def test_the_rows_function_gives_the_rows_without_header(caseload):
    assert [",".join(r) for r in returns.ssda903_missing_rows(2025)] == EXPECTED_2025[1:]


# --------------------------------------------------------------------------------------------
# The validator's rules refuse, naming the episode and the rule, and nothing is written
# --------------------------------------------------------------------------------------------


def refused(year: str, tmp_path: Path) -> str:
    out = tmp_path / "missing.csv"
    with pytest.raises(CommandError) as exc:
        call_command("export_ssda903_missing", "--year", year, "--out", str(out))
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind either
    return str(exc.value)


def test_a_child_without_a_council_id_is_refused_by_reference(ffd, tmp_path):
    nameless = child(None, date(2010, 1, 1))
    ep = episode(nameless, actor=ffd, last_seen_at=utc(2025, 5, 1, 10), returned_at=None)
    message = refused("2025", tmp_path)
    assert f"E-{ep.pk}: rule CHILD: child C-{nameless.pk} has no council child id" in message
    assert nameless.first_name not in message
    assert nameless.last_name not in message


def test_an_episode_starting_on_the_date_of_birth_breaks_rule_586(ffd, tmp_path):
    baby = child("LA2001", date(2025, 5, 1))
    ep = episode(baby, actor=ffd, last_seen_at=utc(2025, 5, 1, 10), returned_at=utc(2025, 5, 1, 12))
    assert f"E-{ep.pk}: rule 586" in refused("2025", tmp_path)


def test_overlapping_episodes_break_rule_574(ffd, tmp_path):
    """The services refuse overlaps, but records migrated from an older system may carry them:
    the export must still refuse rather than send the DfE a table it rejects."""
    who = child("LA2002", date(2010, 1, 1))
    first = episode(who, actor=ffd, last_seen_at=utc(2025, 5, 1, 10), returned_at=utc(2025, 5, 9))
    second = episode(who, actor=ffd, last_seen_at=utc(2025, 6, 1, 10), returned_at=utc(2025, 6, 2))
    MissingEpisode.objects.filter(pk=second.pk).update(last_seen_at=utc(2025, 5, 5, 10))
    message = refused("2025", tmp_path)
    assert f"E-{second.pk}: rule 574" in message
    assert f"E-{first.pk}:" not in message


def test_a_new_episode_while_one_is_open_breaks_rule_574(ffd, tmp_path):
    """Open at the year's end (back only in April), yet another began in March: imported."""
    who = child("LA2003", date(2010, 1, 1))
    still_out = episode(
        who, actor=ffd, last_seen_at=utc(2026, 3, 1, 10), returned_at=utc(2026, 3, 5)
    )
    later = episode(who, actor=ffd, last_seen_at=utc(2026, 3, 10, 10), returned_at=utc(2026, 3, 12))
    MissingEpisode.objects.filter(pk=still_out.pk).update(returned_at=utc(2026, 4, 5))
    message = refused("2025", tmp_path)
    assert f"E-{later.pk}: rule 574: it starts while E-{still_out.pk} is still open" in message


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("year", ["abc", "25", "20255", "1999", "2027", "２０２５", ""])
def test_a_bad_year_names_the_argument(year, tmp_path):
    """2027 has not begun on 10 June 2026; nor has anything before 2000 been collected here."""
    with pytest.raises(CommandError, match="--year"):
        call_command("export_ssda903_missing", "--year", year, "--out", str(tmp_path / "x.csv"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.django_db
def test_the_year_in_progress_may_be_checked(tmp_path):
    assert export("2026", tmp_path) == ["CHILD,DOB,MISSING,MIS_START,MIS_END"]


@pytest.mark.django_db
def test_an_unwritable_out_is_refused_before_any_work(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command(
            "export_ssda903_missing", "--year", "2025", "--out", str(tmp_path / "no" / "x.csv")
        )
    with pytest.raises(CommandError, match="is a directory"):
        call_command("export_ssda903_missing", "--year", "2025", "--out", str(tmp_path))


# --------------------------------------------------------------------------------------------
# Streaming: constant queries whatever the number of rows
# --------------------------------------------------------------------------------------------


def make_children(n: int, *, ffd, start: int) -> None:
    for i in range(n):
        who = child(f"LB{start + i:04d}", date(2010, 1, 1))
        seen = utc(2025, 6, 1, 10) + timedelta(days=i)
        episode(who, actor=ffd, last_seen_at=seen, returned_at=seen + timedelta(hours=5))


@pytest.mark.parametrize("n", [3, 6])
def test_the_export_runs_two_queries_whatever_its_size(n, ffd, django_assert_num_queries):
    make_children(n, ffd=ffd, start=0)
    out = io.StringIO()
    # 1: the check pass over the year's episodes; 2: the same query again, written out.
    with django_assert_num_queries(2):
        written = returns.write_ssda903_missing(2025, out)
    assert written == n
    assert len(out.getvalue().splitlines()) == n + 1


def test_the_year_bounds_are_london_midnights():
    start, end = returns.collection_year(2025)
    assert (start, end) == (utc(2025, 3, 31, 23), utc(2026, 3, 31, 23))
    start, end = returns.collection_year(2022)  # 1 April 2022 was also in summer time
    assert start == utc(2022, 3, 31, 23)


def test_a_record_broken_between_the_check_and_the_writing_stops_the_output(caseload):
    """The check pass and the write pass are two queries: an edit landing between them is
    caught as the rows are written, and the output stops rather than carry it."""
    lines = returns.ssda903_missing_csv(2025)  # checked: all good
    assert next(lines).startswith("CHILD,")
    Child.objects.filter(council_child_id="LA1003").update(council_child_id=None)
    with pytest.raises(returns.ReturnRefused) as exc:
        list(lines)
    assert exc.value.lines() == [
        f"{caseload['c_open'].reference}: rule CHILD: "
        f"child C-{caseload['c_open'].child_id} has no council child id"
    ]


def test_a_failure_part_way_through_leaves_no_file(tmp_path):
    def lines():
        yield "CHILD,DOB,MISSING,MIS_START,MIS_END\r\n"
        raise returns.ReturnRefused(returns.SSDA903_WHAT, [])

    with pytest.raises(returns.ReturnRefused):
        returns.write_to_path(lines(), tmp_path / "missing.csv")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# Against an independent reading of the validator's rules (tests/validator903.py)
# --------------------------------------------------------------------------------------------


def test_the_exports_pass_the_validator_rules(caseload, tmp_path):
    assert validator903.failures(export("2025", tmp_path), year=2025) == set()
    assert validator903.failures(export("2024", tmp_path), year=2024) == set()


def test_what_the_export_refuses_the_validator_rejects(ffd):
    """Unchecked rows of a year with an overlap, a birthday start and an open-then-new pair:
    the rows our check names are the rows the validator's rules reject."""
    overlapping = child("LA3001", date(2010, 1, 1))
    episode(overlapping, actor=ffd, last_seen_at=utc(2025, 5, 1, 10), returned_at=utc(2025, 5, 9))
    second = episode(
        overlapping, actor=ffd, last_seen_at=utc(2025, 6, 1, 10), returned_at=utc(2025, 6, 2)
    )
    MissingEpisode.objects.filter(pk=second.pk).update(last_seen_at=utc(2025, 5, 5, 10))
    born = child("LA3002", date(2025, 7, 1))
    episode(born, actor=ffd, last_seen_at=utc(2025, 7, 1, 20), returned_at=utc(2025, 7, 2))
    carried = child("LA3003", date(2010, 1, 1))
    open_one = episode(
        carried, actor=ffd, last_seen_at=utc(2026, 3, 1, 10), returned_at=utc(2026, 3, 5)
    )
    episode(carried, actor=ffd, last_seen_at=utc(2026, 3, 10, 10), returned_at=utc(2026, 3, 12))
    MissingEpisode.objects.filter(pk=open_one.pk).update(returned_at=utc(2026, 4, 5))

    refs = [f"E-{pk}" for pk in returns.ssda903_missing_query(2025).values_list("pk", flat=True)]
    lines = list(
        returns.csv_lines(returns.SSDA903_MISSING_HEADER, returns.ssda903_missing_rows(2025))
    )
    rejected = {(refs[i], rule) for i, rule in validator903.failures(lines, year=2025)}
    checked = {(p.reference, p.rule) for p in returns.ssda903_missing_problems(2025)}
    assert checked == rejected
    assert {rule for _, rule in checked} == {"574", "586"}
