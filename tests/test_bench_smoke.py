"""The benchmark harness (bench/) runs end to end on a tiny data set on the test database.

Timing is bench/'s job, never a test's: this checks that the generator writes what it promises
and respects the constraints, that every benchmark runs and prints the agreed JSON shape, and
that each operation's query count is the same at two sizes of history.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from bench import generate as gen
from bench import run as bench_run
from missing.models import Child, EpisodeState, MissingEpisode

SHAPE = {"name", "episodes", "median_ms", "floor_median_ms", "ratio", "queries"}
# Operations whose code is on this branch; figures and export903 skip until theirs is merged.
ALWAYS_MEASURED = {"board", "sweep", "sweep_idle", "intake", "episode_list", "child_search"}
OPEN_PER_STATE = 5


def _run(episodes: int) -> dict[str, dict[str, Any]]:
    rows = bench_run.run(
        episodes=episodes,
        names=list(bench_run.CASES),
        repeat=1,
        warmup=0,
        open_per_state=OPEN_PER_STATE,
    )
    return {row["name"]: row for row in rows}


@pytest.mark.django_db
def test_generator_writes_the_asked_shape_within_the_constraints() -> None:
    gen.generate(episodes=200, open_per_state=OPEN_PER_STATE)

    assert MissingEpisode.objects.count() == 200
    # 30% of the episodes, as nationally, but never fewer than the open caseload needs.
    assert Child.objects.count() == 60
    open_counts = Counter(MissingEpisode.objects.open().values_list("state", flat=True).order_by())
    assert open_counts == {
        EpisodeState.MISSING: 5,
        EpisodeState.RETURNED: 5,
        EpisodeState.INTERVIEW_ARRANGED: 5,
        EpisodeState.AWAITING_SIGN_OFF: 5,
    }
    # No overlaps: each child's episode ends before the next begins.
    last_end: dict[int, Any] = {}
    for child_id, seen, returned in (
        MissingEpisode.objects.exclude(state=EpisodeState.CANCELLED)
        .order_by("child_id", "last_seen_at")
        .values_list("child_id", "last_seen_at", "returned_at")
    ):
        if child_id in last_end:
            assert last_end[child_id] is not None, "an episode after one still missing"
            assert last_end[child_id] <= seen
        last_end[child_id] = returned
    # Heavy repeat runners: the top 6% of children (4 of 60) hold a third of the episodes.
    per_child = sorted(
        Counter(MissingEpisode.objects.values_list("child_id", flat=True)).values(), reverse=True
    )
    assert sum(per_child[:4]) >= 200 // 3
    # Sequences moved past the explicit keys: the application inserts normally afterwards.
    child = Child.objects.create(first_name="New", last_name="Child", created_at=gen.BENCH_NOW)
    assert child.pk > max(Child.objects.exclude(pk=child.pk).values_list("pk", flat=True))


@pytest.mark.django_db
def test_every_benchmark_runs_once_with_query_counts_constant_in_history() -> None:
    small = _run(200)
    large = _run(400)

    assert MissingEpisode.objects.count() == 400
    for size, rows in ((200, small), (400, large)):
        assert set(rows) == set(bench_run.CASES)
        for name, row in rows.items():
            assert row["episodes"] == size
            if "skipped" in row:
                assert name not in ALWAYS_MEASURED
                continue
            assert row.keys() >= SHAPE, name
            assert row["queries"] > 0, name
            assert row["median_ms"] > 0, name
            assert row["floor_median_ms"] > 0, name
    measured = {name for name, row in small.items() if "skipped" not in row}
    assert measured >= ALWAYS_MEASURED
    for name in measured:
        assert small[name]["queries"] == large[name]["queries"], name
    # The board is three queries (open episodes; notifications awaiting a match; the oldest open
    # meeting tasks) at any size.
    assert small["board"]["queries"] == 3
