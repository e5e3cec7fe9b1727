"""The demo year's plan (ssd.demo), without a database: the same caseload on every load of the
same day, episodes of a child never overlapping (DfE rule 574 by date), every episode after the
child's birth and before today, and the clocks-change Saturday found in the year."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from missing.cases import clocks
from ssd import demo

TODAY = date(2026, 12, 6)


def test_the_plan_is_the_same_every_time():
    first, second = demo.plan_children(TODAY), demo.plan_children(TODAY)
    assert first == second
    assert demo.ssd_tables(first, cutoff=clocks.london_midnight(TODAY)) == demo.ssd_tables(
        second, cutoff=clocks.london_midnight(TODAY)
    )


def test_episodes_fit_the_returns_rules():
    children = demo.plan_children(TODAY)
    assert len(children) == demo.CHILDREN
    first_day = TODAY - timedelta(days=364)
    for child in children:
        ends = [clocks.london_date(end) for _, end, _ in child.episodes]
        starts = [clocks.london_date(start) for start, _, _ in child.episodes]
        for start, end in zip(starts, ends, strict=True):
            assert child.dob < start, child.n  # rule 586
            assert first_day <= start < TODAY, child.n
            assert start <= end, child.n
        for earlier_end, later_start in zip(ends, starts[1:], strict=False):
            assert later_start > earlier_end, child.n  # rule 574, never the same day
    repeat = [c for c in children if c.repeat_runner]
    assert repeat
    assert all(len(c.episodes) >= 3 for c in repeat)
    assert {c.status for c in children} == {"looked_after", "cp_plan", "cin", ""}


@pytest.mark.parametrize(
    ("today", "saturday"),
    [
        (date(2026, 12, 6), date(2026, 10, 24)),  # the clocks went back on Sunday 25 October
        (date(2026, 10, 28), date(2025, 10, 25)),  # too recent for a held interview: last year's
        (date(2027, 3, 1), date(2026, 10, 24)),
    ],
)
def test_the_clocks_change_saturday(today, saturday):
    assert demo.clocks_change_saturday(today) == saturday
