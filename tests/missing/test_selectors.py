from __future__ import annotations

from datetime import timedelta

import pytest

from missing.cases import selectors, services
from missing.models import EpisodeState
from tests.helpers import episode_in_state, report_missing


def make_caseload(n: int, *, ffd, manager, now) -> None:
    for i in range(n):
        state = [EpisodeState.MISSING, EpisodeState.RETURNED, EpisodeState.CLOSED][i % 3]
        episode_in_state(state, ffd=ffd, manager=manager, now=now, reviewed=i % 2 == 0)


@pytest.mark.parametrize("n", [3, 12])
def test_board_is_three_queries_whatever_the_caseload(
    n, ffd, manager, now, django_assert_num_queries
):
    make_caseload(n, ffd=ffd, manager=manager, now=now)
    # 1: open episodes joined to child, grade and force (each marked when its child has an open
    # meeting task); 2: notifications awaiting a match; 3: the oldest open meeting tasks and
    # how many are open.
    with django_assert_num_queries(3):
        board = selectors.board(user=manager, now=now)
        for row in board.rows:
            _ = (row.episode.child.last_name, row.episode.police_grade.label, row.stage_label)
    assert len(board.rows) == n - n // 3


def test_board_orders_most_urgent_first_and_counts_stages(ffd, manager, now):
    high = report_missing(actor=ffd, now=now - timedelta(minutes=50), grade_code="high")
    low = report_missing(actor=ffd, now=now, grade_code="low")
    returned = episode_in_state(EpisodeState.RETURNED, ffd=ffd, manager=manager, now=now)
    board = selectors.board(user=manager, now=now)
    assert [r.episode.pk for r in board.rows] == [high.pk, low.pk, returned.pk]
    assert [r.rag for r in board.rows] == ["amber", "green", "green"]
    assert board.stage_counts == {"missing_unreviewed": 2, "returned_interview_due": 1}
    assert board.rows[2].clock == "interview"
    assert board.rows[2].due_at == returned.interview_due_at


def test_overdue_review_is_red(ffd, manager, now):
    report_missing(actor=ffd, now=now - timedelta(hours=2), grade_code="high")
    row = selectors.board(user=manager, now=now).rows[0]
    assert row.rag == "red"
    assert row.overdue
    assert row.left == timedelta(hours=-1)


def test_board_is_empty_for_an_interviewer_without_grants(ffd, interviewer, now):
    episode = report_missing(actor=ffd, now=now)
    assert selectors.board(user=interviewer, now=now).rows == []
    services.access_grant(episode=episode, user=interviewer, now=now)
    assert [r.episode.pk for r in selectors.board(user=interviewer, now=now).rows] == [episode.pk]
    assert selectors.board(user=interviewer, now=now).awaiting_match == []


@pytest.mark.parametrize("n", [2, 8])
def test_episode_detail_query_count(n, ffd, manager, now, django_assert_num_queries):
    make_caseload(n, ffd=ffd, manager=manager, now=now)
    episode = episode_in_state(EpisodeState.CLOSED, ffd=ffd, manager=manager, now=now)
    # 1: episode + child + grade + force; 2: decisions + decided_by; 3: events + actor;
    # 4: notifications + received_by.
    with django_assert_num_queries(4):
        detail = selectors.episode_detail(manager, episode.pk)
        assert [e.action for e in detail.events.all()] == [
            "opened",
            "review",
            "record_return",
            "arrange_interview",
            "record_interview_outcome",
            "sign_off",
        ]
        assert [d.decided_by.username for d in detail.decisions.all()] == ["manager"]
        assert len(detail.notifications.all()) == 1


def test_board_stages_and_clocks_follow_the_interview(ffd, manager, now):
    returned = episode_in_state(EpisodeState.RETURNED, ffd=ffd, manager=manager, now=now)
    arranged = episode_in_state(EpisodeState.INTERVIEW_ARRANGED, ffd=ffd, manager=manager, now=now)
    awaiting = episode_in_state(EpisodeState.AWAITING_SIGN_OFF, ffd=ffd, manager=manager, now=now)
    unreviewed = episode_in_state(
        EpisodeState.AWAITING_SIGN_OFF, ffd=ffd, manager=manager, now=now, reviewed=False
    )

    board = selectors.board(user=manager, now=now)
    rows = {r.episode.pk: r for r in board.rows}

    assert board.stage_counts == {
        "returned_interview_due": 1,
        "interview_arranged": 1,
        "awaiting_sign_off": 1,
        "returned_unreviewed": 1,
    }
    # The 72-hour clock runs until the interview is held, arranged or not.
    for episode in (returned, arranged):
        assert (rows[episode.pk].clock, rows[episode.pk].due_at) == (
            "interview",
            episode.interview_due_at,
        )
    # Held: no 72-hour clock any more, just a sign-off to do (sorted after every clock).
    assert (rows[awaiting.pk].clock, rows[awaiting.pk].due_at, rows[awaiting.pk].rag) == (
        "sign_off",
        None,
        "grey",
    )
    assert rows[awaiting.pk].stage_label == "Interview done – awaiting sign-off"
    assert board.rows[-1].episode.pk == awaiting.pk
    # Never reviewed: the review is what is due, whatever the interview's progress.
    assert rows[unreviewed.pk].clock == "review"
    assert rows[unreviewed.pk].stage == "returned_unreviewed"


def test_board_shows_the_worse_clock_while_both_run(ffd, now):
    """Issue 13 item 10: back home, the review not yet done, and the return interview 8 hours
    overdue: the board shows the interview clock, red, not the review clock's green."""
    from missing.models import MissingEpisode

    episode = report_missing(actor=ffd, now=now - timedelta(hours=80), grade_code="low")
    services.episode_record_return(
        services.ReturnData(
            returned_at=now - timedelta(hours=80),
            found_place="Home",
            found_by="Police",
            prevention_interview_done=None,
        ),
        actor=ffd,
        episode_id=episode.pk,
        now=now - timedelta(hours=80),
    )
    # The review is still pending and not yet due (green).
    MissingEpisode.objects.filter(pk=episode.pk).update(review_due_at=now + timedelta(hours=20))
    calm = report_missing(actor=ffd, now=now, grade_code="low")
    rows = selectors.board(user=ffd, now=now).rows
    assert [r.episode.pk for r in rows] == [episode.pk, calm.pk]
    assert (rows[0].clock, rows[0].rag) == ("interview", "red")
    assert rows[0].due_at == rows[0].episode.interview_due_at

    # Interview due later than a red review: the review shows.
    MissingEpisode.objects.filter(pk=episode.pk).update(
        review_due_at=now - timedelta(hours=1), interview_due_at=now + timedelta(hours=60)
    )
    row = selectors.board(user=ffd, now=now).rows[0]
    assert (row.clock, row.rag) == ("review", "red")


def test_episode_state_fields_are_the_fsm_fields():
    """MissingEpisode.state_fields is found once (the board builds every open episode); it must
    stay what django-fsm finds by testing every field."""
    from django_fsm import ConcurrentTransitionMixin, FSMFieldMixin

    from missing.models import MissingEpisode

    episode = MissingEpisode()
    found = [f for f in MissingEpisode._meta.fields if isinstance(f, FSMFieldMixin)]
    assert list(episode.state_fields) == found
    assert list(ConcurrentTransitionMixin.state_fields.fget(episode)) == found
    assert [f.name for f in found] == ["state"]


def test_the_board_reads_only_its_columns(ffd, manager, now, django_assert_num_queries):
    """The board's rows are light rows of BOARD_COLUMNS, not model instances: the statement
    selects no other column of the episode, and a row has no attribute the board does not read."""
    report_missing(actor=ffd, now=now)
    with django_assert_num_queries(3) as captured:
        row = selectors.board(user=manager, now=now).rows[0]
    episodes_sql = captured.captured_queries[0]["sql"]
    assert '"circumstances"' not in episodes_sql
    assert '"last_seen_at"' not in episodes_sql.split(" FROM ")[0]
    assert '"review_due_at"' in episodes_sql
    assert isinstance(row.episode, selectors.BoardEpisode)
    with pytest.raises(AttributeError):
        _ = row.episode.circumstances  # type: ignore[attr-defined]
