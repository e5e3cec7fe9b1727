"""compute_figures, figure_episodes, monthly_trend and patterns on the fixed caseload of
tests/interviews/figures_data.py, against figures worked out by hand (see that module)."""

from __future__ import annotations

from datetime import date

import pytest

from interviews.figures import (
    FIGURE_KEYS,
    FIGURES,
    FigureFilters,
    compute_figures,
    figure_episodes,
    monthly_trend,
    patterns,
)
from tests.interviews import figures_data

pytestmark = pytest.mark.django_db

MARCH = FigureFilters(period_start=date(2026, 3, 1), period_end=date(2026, 3, 31))


@pytest.fixture
def caseload(ffd, manager, interviewer, other_interviewer):
    return figures_data.build(
        ffd=ffd, manager=manager, interviewer=interviewer, other_interviewer=other_interviewer
    )


# Every figure for March, by hand. Started in March (London): A1 A2 B1 C1 D1 E1 F1 (A3 began
# at 00:30 BST on 1 April; G1 in February; X1 is cancelled). Returned in March: A1 A2 B1 C1 D1
# E1 G1 (B1 at 23:30 BST on 31 March; A3 on 1 April).
MARCH_EXPECTED = {
    "episodes": 7,
    "children": 6,  # A B C D E F
    "still_missing": 1,  # F1
    "reviewed": 6,  # all but F1
    "reviewed_within_target": 5,  # C1 was reviewed 10 hours after notification (target 4)
    "repeat_children": 1,  # A
    "repeat_episodes": 2,  # A1 A2
    "returns": 7,
    "children_returned": 6,  # A B C D E G
    "offered": 6,  # all but G1
    "accepted": 5,  # the five held
    "refused": 1,  # E1
    "held": 5,  # A1 A2 B1 C1 D1
    "held_within_72h": 3,  # A2 (12 h), B1 (35.5 h), C1 (71 h); not A1 (82 h), D1 (73 h)
    "children_held_within_72h": 3,  # A B C
    "not_held_child_refused": 1,
    "not_held_carer_refused": 0,
    "not_held_no_contact": 0,
    "not_held_not_held_decision": 0,
    "awaiting_outcome": 1,  # G1
    "awaiting_overdue": 1,  # G1, due 4 March
    "independence_exceptions": 1,  # D1
    "timed": 5,
}


def test_every_march_figure(caseload, now):
    figures = compute_figures(MARCH, now=now)
    assert figures.counts == MARCH_EXPECTED
    # 12, 35.5, 71, 73, 82 hours.
    assert figures.median_hours_to_interview == pytest.approx(71.0)
    assert figures.share("repeat_episodes", "episodes") == pytest.approx(2 / 7)
    assert figures.not_held == {
        "child_refused": 1,
        "carer_refused": 0,
        "no_contact": 0,
        "not_held_decision": 0,
    }


@pytest.mark.parametrize(
    ("filters", "expected", "median"),
    [
        # North: A C D. Hours 82, 12, 71, 73: the median of four is (71 + 73) / 2.
        (
            {"team": "North"},
            {
                "episodes": 4,
                "children": 3,
                "returns": 4,
                "held": 4,
                "held_within_72h": 2,
                "repeat_children": 1,
                "reviewed_within_target": 3,
                "independence_exceptions": 1,
            },
            72.0,
        ),
        (
            {"team": "South"},
            {
                "episodes": 3,
                "children": 3,
                "returns": 2,
                "held": 1,
                "held_within_72h": 1,
                "repeat_children": 0,
                "refused": 1,
                "still_missing": 1,
            },
            35.5,
        ),
        # Age at the start, by London date: A 14, D 14 on her birthday, G 14 (a February start
        # with a March return); C is 10 although the years differ by 11.
        ({"age_band": "14-15"}, {"episodes": 3, "returns": 4, "held": 3}, 73.0),
        ({"age_band": "0-10"}, {"episodes": 1, "returns": 1, "held_within_72h": 1}, 71.0),
        ({"age_band": "11-13"}, {"episodes": 0, "returns": 0}, None),
        ({"age_band": "16-17"}, {"episodes": 1, "returns": 1}, 35.5),
        ({"age_band": "18+"}, {"episodes": 1, "returns": 0, "still_missing": 1}, None),
        ({"age_band": "unknown"}, {"episodes": 1, "returns": 1, "refused": 1}, None),
        # The episode's own snapshot, with precedence: E (looked after, on a plan) is looked
        # after; B (plan and in need) is child protection; C stays child in need although she
        # came into care after the episode.
        ({"legal_status": "looked_after"}, {"episodes": 3, "returns": 3, "refused": 1}, 47.0),
        ({"legal_status": "child_protection"}, {"episodes": 1, "returns": 1}, 35.5),
        ({"legal_status": "child_in_need"}, {"episodes": 1, "returns": 1}, 71.0),
        ({"legal_status": "other"}, {"episodes": 2, "returns": 2, "held": 1}, 73.0),
        # The provider of the interview covering the episode.
        (
            {"provider": "safe_steps"},
            {"episodes": 3, "returns": 3, "held": 3, "held_within_72h": 2},
            71.0,
        ),
        ({"provider": "other"}, {"episodes": 1, "returns": 1, "held_within_72h": 1}, 35.5),
        (
            {"provider": "council"},
            {"episodes": 1, "returns": 1, "held_within_72h": 0, "independence_exceptions": 1},
            73.0,
        ),
    ],
)
def test_filters(caseload, now, filters, expected, median):
    kwargs = {}
    if "team" in filters:
        kwargs["team_id"] = caseload.teams[filters["team"]].pk
    if "provider" in filters:
        kwargs["provider_id"] = caseload.providers[filters["provider"]].pk
    kwargs.update({k: v for k, v in filters.items() if k in ("age_band", "legal_status")})
    figures = compute_figures(
        FigureFilters(period_start=date(2026, 3, 1), period_end=date(2026, 3, 31), **kwargs),
        now=now,
    )
    assert {k: figures.counts[k] for k in expected} == expected
    if median is None:
        assert figures.median_hours_to_interview is None
    else:
        assert figures.median_hours_to_interview == pytest.approx(median)


def test_april_starts_with_the_small_hours_of_1_april(caseload, now):
    april = FigureFilters(period_start=date(2026, 4, 1), period_end=date(2026, 4, 30))
    figures = compute_figures(april, now=now)
    # A3 only: last seen 00:30 BST on 1 April, back 03:00 BST. B1 (23:30 BST on 31 March)
    # and its interview on 2 April stay in March.
    assert (figures.episodes, figures.returns, figures.held) == (1, 1, 0)
    assert figures.awaiting_overdue == 1


def test_drill_down_lists_exactly_what_each_figure_counted(caseload, now):
    figures = compute_figures(MARCH, now=now)
    for key in sorted(FIGURE_KEYS):
        rows = list(figure_episodes(MARCH, key, now=now))
        if (key in FIGURES and FIGURES[key].per_child) or key == "repeat_children":
            assert len({e.child_id for e in rows}) == figures.counts[key], key
        else:
            assert (
                len(rows) == figures.counts[key if key != "median_hours_to_interview" else "timed"]
            ), key


def test_drill_down_rows(caseload, now):
    def refs(key):
        return {e.reference for e in figure_episodes(MARCH, key, now=now)}

    assert refs("held_within_72h") == caseload.ref("A2", "B1", "C1")
    assert refs("held") - refs("held_within_72h") == caseload.ref("A1", "D1")
    assert refs("repeat_episodes") == caseload.ref("A1", "A2")
    assert refs("reviewed") - refs("reviewed_within_target") == caseload.ref("C1")
    assert refs("awaiting_overdue") == caseload.ref("G1")
    assert refs("episodes") == caseload.ref("A1", "A2", "B1", "C1", "D1", "E1", "F1")
    assert refs("returns") == caseload.ref("A1", "A2", "B1", "C1", "D1", "E1", "G1")


def test_unknown_figure_is_a_key_error(now):
    with pytest.raises(KeyError):
        figure_episodes(MARCH, "nonsense", now=now)


def test_bad_filters_are_refused():
    with pytest.raises(ValueError, match="before"):
        FigureFilters(period_start=date(2026, 3, 2), period_end=date(2026, 3, 1))
    with pytest.raises(ValueError, match="age band"):
        FigureFilters(period_start=date(2026, 3, 1), period_end=date(2026, 3, 1), age_band="9")


def test_monthly_trend(caseload, now):
    months = monthly_trend(MARCH, now=now)
    assert len(months) == 12
    assert (months[0].month, months[-1].month) == (date(2025, 4, 1), date(2026, 3, 1))
    by_month = {m.month: m for m in months}
    march, february = by_month[date(2026, 3, 1)], by_month[date(2026, 2, 1)]
    assert (march.returns, march.held_within_72h, march.episodes, march.reviewed_within_target) == (
        7,
        3,
        7,
        5,
    )
    assert march.held_share == pytest.approx(3 / 7)
    assert march.review_share == pytest.approx(5 / 7)
    # G1 started (and was reviewed on time) in February; it came back in March.
    assert (february.returns, february.episodes, february.reviewed_within_target) == (0, 1, 1)
    assert february.held_share is None
    assert sum(m.episodes for m in months) == 8


def test_the_trend_stops_at_the_current_month(caseload, now):
    months = monthly_trend(
        FigureFilters(period_start=date(2026, 6, 1), period_end=date(2026, 12, 31)), now=now
    )
    assert months[-1].month == date(2026, 6, 1)
    april = next(m for m in months if m.month == date(2026, 4, 1))
    assert (april.returns, april.episodes) == (1, 1)


def test_patterns(caseload, now):
    found = patterns(MARCH, now=now)
    ranked = {
        kind: [(r.code, r.interviews, r.children) for r in rows]
        for kind, rows in found.factors.items()
    }
    # Interviews covering March returns: A's (A1 + A2, counted once), B's, C's, D's, E's (none).
    assert ranked == {
        "push": [("push-family-conflict", 3, 3)],
        "pull": [("pull-adults-offering", 4, 4), ("pull-family-friends", 1, 1)],
        "harm": [("harm-criminal-exploitation", 3, 3)],
    }
    # The Arches: A said so, B was found there. The bus station: A was found there and said so.
    assert [(r.key, r.name, r.children, r.mentions) for r in found.hotspots] == [
        ("the arches", "The Arches", 2, 2),
        ("central bus station", "Central Bus Station", 1, 2),
        ("kelly's flat", "Kelly's flat", 1, 1),
    ]
    assert [r.key for r in found.recurring_places] == ["the arches"]
    assert [(r.key, r.name, r.children) for r in found.associates] == [
        ("dan (about 20)", "DAN (About 20)", 2),
        ("kelly", "Kelly", 2),
    ]


def test_a_filter_narrows_the_patterns(caseload, now):
    north = FigureFilters(
        period_start=date(2026, 3, 1),
        period_end=date(2026, 3, 31),
        team_id=caseload.teams["North"].pk,
    )
    found = patterns(north, now=now)
    assert [r.key for r in found.recurring_places] == []
    assert found.associates == []  # Dan and Kelly recur only with B, who is in South


def test_query_counts(caseload, now, django_assert_num_queries):
    from django.db import connection

    # 1. the aggregate over both cohorts (with the median on PostgreSQL); 2. repeat children;
    # on SQLite 3. the middle rows for the median.
    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 3):
        compute_figures(MARCH, now=now)
    with django_assert_num_queries(1):
        monthly_trend(MARCH, now=now)
    # 1. factors; 2. places (found and named); 3. people.
    with django_assert_num_queries(3):
        patterns(MARCH, now=now)
    with django_assert_num_queries(1):
        list(figure_episodes(MARCH, "repeat_children", now=now))
