"""A small fixed caseload for the national returns, built through the real services, with the
awkward cases each return must get right. The expected files in tests/fixtures/returns/ were
written by hand from the comments below (London dates: summer time from 30 March 2025 to
26 October 2025 and from 29 March 2026, so 23:30 UTC is already the next day in London).

Collection year 2025: 1 April 2025 00:00 London (31 March 23:00 UTC) to 1 April 2026 00:00
London (31 March 2026 23:00 UTC).
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

from interviews import services as interview_services
from missing.cases import services
from missing.models import Child, MissingEpisode, User
from tests.factories import ChildFactory, force, grade
from tests.interviews.helpers import assign, complete, record_held

_refs = itertools.count(1)
M, A = MissingEpisode.Kind.MISSING, MissingEpisode.Kind.AWAY


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def child(council_id: str | None, dob: date, *, looked_after: bool = True) -> Child:
    return ChildFactory(council_child_id=council_id, date_of_birth=dob, looked_after=looked_after)


def episode(
    who: Child,
    *,
    actor: User,
    kind: str = M,
    last_seen_at: datetime,
    returned_at: datetime | None = None,
) -> MissingEpisode:
    """Open an episode as the FFD would on the police's report an hour after last seen, and
    record the return if there was one."""
    reported = last_seen_at + timedelta(hours=1)
    opened = services.episode_open(
        actor=actor,
        child=who,
        police_force=force(),
        police_reference=f"RET-{next(_refs):05d}",
        grade=grade("medium"),
        kind=kind,
        last_seen_at=last_seen_at,
        last_seen_place="Town centre",
        reported_at=reported,
        notified_at=reported,
        circumstances="",
        reported_by="Carer",
        now=reported,
    )
    if returned_at is None:
        return opened
    return services.episode_record_return(
        services.ReturnData(
            returned_at=returned_at,
            found_place="Home",
            found_by="Police",
            prevention_interview_done=True,
        ),
        actor=actor,
        episode_id=opened.pk,
        now=returned_at + timedelta(minutes=5),
    )


def build_caseload(*, ffd: User, manager: User, interviewer: User) -> dict[str, MissingEpisode]:
    """The caseload; returns the episodes by name for tests that need their references."""
    e: dict[str, MissingEpisode] = {}

    # LA1001 (born 14/05/2010), looked after.
    a = child("LA1001", date(2010, 5, 14))
    # Touches the year from before 1 April: 28/03/2025 -> 02/04/2025.
    e["a_from_before"] = episode(
        a, actor=ffd, last_seen_at=utc(2025, 3, 28, 10), returned_at=utc(2025, 4, 2, 9)
    )
    # Away (A), late evening: 23:30 -> 00:30 London, so 10/06/2025 -> 11/06/2025.
    e["a_away"] = episode(
        a,
        actor=ffd,
        kind=A,
        last_seen_at=utc(2025, 6, 10, 22, 30),
        returned_at=utc(2025, 6, 10, 23, 30),
    )
    # Returned on 31 March (23:30 London) and offered an interview on 2 April.
    e["a_31_march"] = episode(
        a, actor=ffd, last_seen_at=utc(2026, 3, 31, 20), returned_at=utc(2026, 3, 31, 22, 30)
    )
    interview = interview_services.interview_create(
        interview_services.CreateData(child_id=a.pk, episode_ids=(e["a_31_march"].pk,)),
        actor=manager,
        now=utc(2026, 4, 1, 9),
    )
    interview_services.interview_attempt_record(
        interview_services.AttemptData(
            at=utc(2026, 4, 2, 10), method="phone", outcome="no_answer", offered=True
        ),
        actor=manager,
        interview_id=interview.pk,
        now=utc(2026, 4, 2, 10, 5),
    )

    # LA1002 (born 02/11/2009): missing from 20/03/2026, back on 3 April: ended after 31 March.
    b = child("LA1002", date(2009, 11, 2))
    e["b_ends_after_year"] = episode(
        b, actor=ffd, last_seen_at=utc(2026, 3, 20, 8), returned_at=utc(2026, 4, 3, 12)
    )

    # LA1003 (born 20/01/2011): missing since 01/12/2025, still missing.
    c = child("LA1003", date(2011, 1, 20))
    e["c_open"] = episode(c, actor=ffd, last_seen_at=utc(2025, 12, 1, 10))

    # LA1004: not looked after when it began: in neither return.
    d = child("LA1004", date(2010, 7, 7), looked_after=False)
    e["d_not_looked_after"] = episode(
        d, actor=ffd, last_seen_at=utc(2025, 8, 1, 10), returned_at=utc(2025, 8, 1, 20)
    )

    # LA1005 (born 30/06/2008): one episode logged in error and cancelled (in neither return),
    # then a real one, offered an interview the child refused.
    f = child("LA1005", date(2008, 6, 30))
    e["f_cancelled"] = episode(f, actor=ffd, last_seen_at=utc(2025, 8, 20, 10))
    services.episode_cancel(
        services.CancelData(reason="Duplicate"),
        actor=manager,
        episode_id=e["f_cancelled"].pk,
        now=utc(2025, 8, 21, 9),
    )
    e["f_refused"] = episode(
        f, actor=ffd, last_seen_at=utc(2025, 9, 1, 10), returned_at=utc(2025, 9, 2, 8)
    )
    refused = interview_services.interview_create(
        interview_services.CreateData(child_id=f.pk, episode_ids=(e["f_refused"].pk,)),
        actor=manager,
        now=utc(2025, 9, 2, 9),
    )
    interview_services.interview_attempt_record(
        interview_services.AttemptData(
            at=utc(2025, 9, 2, 11), method="visit", outcome="child_refused"
        ),
        actor=manager,
        interview_id=refused.pk,
        now=utc(2025, 9, 2, 12),
    )

    # LA1006 (born 03/03/2010): both ends outside the year in London time. Back at 23:00
    # London on 31 March 2025 (excluded); out at 23:30 UTC on 31 March 2025 (00:30 London,
    # 1 April: included); out at 23:30 UTC on 31 March 2026 (1 April London: excluded).
    g = child("LA1006", date(2010, 3, 3))
    e["g_before_year"] = episode(
        g, actor=ffd, last_seen_at=utc(2025, 3, 30, 10), returned_at=utc(2025, 3, 31, 22)
    )
    e["g_first_day"] = episode(
        g,
        actor=ffd,
        kind=A,
        last_seen_at=utc(2025, 3, 31, 23, 30),
        returned_at=utc(2025, 4, 1, 6),
    )
    e["g_after_year"] = episode(
        g, actor=ffd, last_seen_at=utc(2026, 3, 31, 23, 30), returned_at=utc(2026, 4, 1, 8)
    )

    # LA1007 (born 12/12/2009): missing since 15/03/2025 and never back: carried over, open.
    h = child("LA1007", date(2009, 12, 12))
    e["h_carried_over"] = episode(h, actor=ffd, last_seen_at=utc(2025, 3, 15, 10))

    # LA1008 (born 01/01/2011): missing in October, interview held the next day; then away.
    j = child("LA1008", date(2011, 1, 1))
    e["j_held"] = episode(
        j, actor=ffd, last_seen_at=utc(2025, 10, 5, 18), returned_at=utc(2025, 10, 6, 9)
    )
    held = interview_services.interview_create(
        interview_services.CreateData(child_id=j.pk, episode_ids=(e["j_held"].pk,)),
        actor=manager,
        now=utc(2025, 10, 6, 10),
    )
    assign(held, manager=manager, interviewer=interviewer, now=utc(2025, 10, 6, 11))
    record_held(held, actor=interviewer, held_at=utc(2025, 10, 7, 15), now=utc(2025, 10, 7, 17))
    complete(held, actor=interviewer, now=utc(2025, 10, 7, 17, 30))
    e["j_away"] = episode(
        j, actor=ffd, kind=A, last_seen_at=utc(2025, 11, 1, 20), returned_at=utc(2025, 11, 1, 23)
    )

    # LA1011 (born 09/09/2009): only away from placement (A) in the 12 months.
    k = child("LA1011", date(2009, 9, 9))
    e["k_away_only"] = episode(
        k, actor=ffd, kind=A, last_seen_at=utc(2025, 7, 1, 13), returned_at=utc(2025, 7, 1, 19)
    )
    return e
