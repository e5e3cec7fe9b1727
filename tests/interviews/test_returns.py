"""Annex A List 8's missing columns: compared line by line with a file written by hand, the
12-month window and the as-of snapshot, refusals, bad arguments, and query counts pinned."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command

from interviews.returns import annex_a as returns
from interviews.returns.ssda903 import ReturnRefused
from missing.models import Child
from tests.factories import FIXED_NOW
from tests.returns_data import build_caseload, child, episode, utc

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "returns"
EXPECTED = (FIXTURES / "annex_a_list8_2026-03-31.csv").read_text().splitlines()


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(FIXED_NOW, tick=False):
        yield


@pytest.fixture
def caseload(ffd, manager, interviewer):
    return build_caseload(ffd=ffd, manager=manager, interviewer=interviewer)


def export(as_of: str, tmp_path: Path) -> list[str]:
    out = tmp_path / "list8.csv"
    call_command(
        "export_annex_a_missing", "--as-of", as_of, "--out", str(out), stderr=io.StringIO()
    )
    return out.read_text().splitlines()


def test_as_of_31_march_matches_the_file_written_by_hand(caseload, tmp_path):
    assert export("2026-03-31", tmp_path) == EXPECTED


def test_standard_output_carries_the_same_lines(caseload):
    out = io.StringIO()
    call_command("export_annex_a_missing", "--as-of", "2026-03-31", "--out", "-", stdout=out)
    assert out.getvalue().splitlines() == EXPECTED


def test_a_month_later_the_2_april_offer_counts(caseload, tmp_path):
    """As of 30 April 2026 (1 May 2025 – 30 April 2026): LA1001's 31 March episode was offered
    an interview on 2 April (no answer yet: not accepted); LA1006's 1 April 2025 away episode
    has left the window and its 1 April 2026 missing one, with no interview, has come in."""
    assert export("2026-04-30", tmp_path)[1:] == [
        "LA1001,1,1,Y,N",
        "LA1002,1,0,N,N",
        "LA1003,1,0,N,N",
        "LA1005,1,0,Y,N",
        "LA1006,1,0,N,N",
        "LA1008,1,1,Y,Y",
        "LA1011,0,1,,",
    ]


def test_the_window_is_the_12_months_ending_on_the_as_of_date():
    w = returns.window(date(2026, 3, 31))
    assert (w.start, w.end) == (utc(2025, 3, 31, 23), utc(2026, 3, 31, 23))
    w = returns.window(date(2028, 2, 29))  # a leap day: from 1 March 2027 (GMT both ends)
    assert (w.start, w.end) == (utc(2027, 3, 1), utc(2028, 3, 1))
    w = returns.window(date(2026, 1, 15))
    assert (w.start, w.end) == (utc(2025, 1, 16), utc(2026, 1, 16))


def test_a_child_without_a_council_id_is_refused_by_reference(ffd, tmp_path):
    nameless = child(None, date(2010, 1, 1))
    episode(nameless, actor=ffd, last_seen_at=utc(2025, 5, 1, 10), returned_at=utc(2025, 5, 2))
    out = tmp_path / "list8.csv"
    with pytest.raises(CommandError) as exc:
        call_command("export_annex_a_missing", "--as-of", "2026-03-31", "--out", str(out))
    assert f"C-{nameless.pk}: rule Child Unique ID: no council child id" in str(exc.value)
    assert nameless.last_name not in str(exc.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.django_db
@pytest.mark.parametrize("as_of", ["2026-02-30", "31/03/2026", "20260331", "2026-W13-2", "x", ""])
def test_a_bad_date_names_the_argument(as_of, tmp_path):
    with pytest.raises(CommandError, match="--as-of"):
        call_command("export_annex_a_missing", "--as-of", as_of, "--out", str(tmp_path / "x.csv"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.django_db
def test_a_date_in_the_future_is_refused(tmp_path):
    with pytest.raises(CommandError, match="--as-of '2026-06-11': The as-of date cannot be"):
        call_command(
            "export_annex_a_missing", "--as-of", "2026-06-11", "--out", str(tmp_path / "x.csv")
        )


@pytest.mark.parametrize("n", [3, 6])
def test_two_queries_whatever_its_size(n, ffd, django_assert_num_queries):
    for i in range(n):
        who = child(f"LC{i:04d}", date(2010, 1, 1))
        seen = utc(2025, 6, 1, 10) + timedelta(days=i)
        episode(who, actor=ffd, last_seen_at=seen, returned_at=seen + timedelta(hours=5))
        episode(who, actor=ffd, last_seen_at=seen + timedelta(days=40), returned_at=None)
    # 1: children in the list without a council id; 2: the episodes, joined to the answers.
    with django_assert_num_queries(2):
        lines = list(returns.annex_a_missing_csv(date(2026, 3, 31)))
    assert len(lines) == n + 1
    assert lines[1] == "LC0000,2,0,N,N\r\n"


def test_a_child_id_removed_between_the_check_and_the_writing_stops_the_output(caseload):
    lines = returns.annex_a_missing_csv(date(2026, 3, 31))
    assert next(lines).startswith("Child Unique ID,")
    Child.objects.filter(council_child_id="LA1005").update(council_child_id="")
    with pytest.raises(ReturnRefused) as exc:
        list(lines)
    assert exc.value.lines() == [
        f"C-{caseload['f_refused'].child_id}: rule Child Unique ID: no council child id"
    ]
