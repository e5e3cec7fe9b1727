"""A small fixed caseload for the figures, built through the real services, with the awkward
cases: one interview covering two episodes, a return late on 31 March interviewed on 2 April,
a return in the small hours of 1 April (London) that is still 31 March in UTC, a child still
missing, a refusal, an independence exception, the clocks-change weekend (British Summer Time
began at 01:00 UTC on Sunday 29 March 2026), a late manager review and a cancelled episode.

The expected figures are worked out by hand in the tests, from the table in `describe()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from interviews import services
from missing.cases import services as core
from missing.models import Child, MissingEpisode, Team, User
from tests.factories import (
    ChildFactory,
    OrganisationFactory,
    TeamFactory,
    UserFactory,
    legal_status_period,
)
from tests.helpers import report_missing
from tests.interviews.helpers import assign, complete, open_interview, record_held

H = timedelta(hours=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def episode(
    *,
    ffd: User,
    manager: User,
    child: Child,
    last_seen: datetime,
    review_after: timedelta | None = timedelta(hours=1),
    returned: datetime | None = None,
    found_place: str = "",
) -> MissingEpisode:
    """Notified an hour after last seen (medium grade: review due 4 hours after notification),
    reviewed `review_after` the notification (None: never), back at `returned`."""
    notified = last_seen + H
    made = report_missing(actor=ffd, now=notified, child=child, last_seen_at=last_seen)
    if review_after is not None:
        core.episode_record_decision(
            core.DecisionData(risk="medium", rationale="Known pattern."),
            actor=manager,
            episode_id=made.pk,
            now=notified + review_after,
        )
    if returned is not None:
        core.episode_record_return(
            core.ReturnData(
                returned_at=returned,
                found_place=found_place,
                found_by="Police",
                prevention_interview_done=True,
            ),
            actor=ffd,
            episode_id=made.pk,
            now=returned,
        )
    return MissingEpisode.objects.get(pk=made.pk)


@dataclass
class Caseload:
    teams: dict[str, Team]
    children: dict[str, Child]
    episodes: dict[str, MissingEpisode]
    providers: dict[str, Any]

    def ref(self, *names: str) -> set[str]:
        return {self.episodes[n].reference for n in names}


def build(*, ffd: User, manager: User, interviewer: User, other_interviewer: User) -> Caseload:
    north = TeamFactory(name="North")
    south = TeamFactory(name="South")
    council = OrganisationFactory(name="Demo Borough Council")
    children = {
        # 14 in March 2026; looked after.
        "A": ChildFactory(date_of_birth=date(2012, 1, 1), looked_after=True, allocated_team=north),
        # 16; on a plan and in need: counts as child protection (precedence).
        "B": ChildFactory(
            date_of_birth=date(2009, 6, 1),
            child_protection_plan=True,
            child_in_need=True,
            allocated_team=south,
        ),
        # 10 (the year difference alone would say 11); in need when the episode started.
        "C": ChildFactory(date_of_birth=date(2015, 5, 5), child_in_need=True, allocated_team=north),
        # Turns 14 on the day the episode starts.
        "D": ChildFactory(date_of_birth=date(2012, 3, 28), allocated_team=north),
        # Date of birth unknown; looked after and on a plan: counts as looked after.
        "E": ChildFactory(
            date_of_birth=None, looked_after=True, child_protection_plan=True, allocated_team=south
        ),
        # 18.
        "F": ChildFactory(date_of_birth=date(2008, 1, 1), allocated_team=south),
        # 14; no team.
        "G": ChildFactory(date_of_birth=date(2011, 3, 14)),
        "X": ChildFactory(),
    }
    ep: dict[str, MissingEpisode] = {}
    kw = {"ffd": ffd, "manager": manager}

    # A: two episodes in March, one interview covering both, held 6 March 20:00:
    # 82 hours after the first return (late), 12 hours after the second (on time).
    ep["A1"] = episode(
        **kw, child=children["A"], last_seen=utc(2026, 3, 2, 10), returned=utc(2026, 3, 3, 10)
    )
    shared = open_interview(manager=manager, episodes=[ep["A1"]], now=utc(2026, 3, 3, 11))
    assign(shared, manager=manager, interviewer=interviewer, now=utc(2026, 3, 3, 12))
    ep["A2"] = episode(
        **kw,
        child=children["A"],
        last_seen=utc(2026, 3, 5, 10),
        returned=utc(2026, 3, 6, 8),
        found_place="Central Bus Station",
    )
    shared.refresh_from_db()
    services.interview_add_episode(
        services.AddEpisodeData(episode_id=ep["A2"].pk),
        actor=manager,
        interview_id=shared.pk,
        now=utc(2026, 3, 6, 9),
    )
    record_held(
        shared,
        actor=interviewer,
        held_at=utc(2026, 3, 6, 20),
        now=utc(2026, 3, 6, 21),
        places=("The Arches", "central  bus station"),
        associates=("Dan (about 20)",),
    )
    complete(shared, actor=interviewer, now=utc(2026, 3, 6, 21))

    # B: last seen 31 March 19:00 BST, back 23:30 BST (still 31 March in London), interviewed
    # on 2 April 10:00 UTC: 35.5 hours, counted with March's returns.
    ep["B1"] = episode(
        **kw,
        child=children["B"],
        last_seen=utc(2026, 3, 31, 18),
        returned=utc(2026, 3, 31, 22, 30),
        found_place="the arches ",
    )
    b = open_interview(manager=manager, episodes=[ep["B1"]], now=utc(2026, 4, 1, 9))
    assign(b, manager=manager, interviewer=other_interviewer, now=utc(2026, 4, 1, 9))
    record_held(
        b,
        actor=other_interviewer,
        held_at=utc(2026, 4, 2, 10),
        now=utc(2026, 4, 2, 11),
        associates=("DAN (About 20)", "Kelly"),
        push_factors=(),
        pull_factors=(("pull-adults-offering", ""), ("pull-family-friends", "")),
        harms=(),
    )
    complete(b, actor=other_interviewer, now=utc(2026, 4, 2, 11))

    # C and D: back on Saturday 28 March 22:00 UTC, the night before the clocks go forward.
    # C is interviewed 71 elapsed hours later (22:00 BST on Tuesday: 72 hours on the wall
    # clock), D 73 elapsed hours later. C's review is late (10 hours after notification).
    ep["C1"] = episode(
        **kw,
        child=children["C"],
        last_seen=utc(2026, 3, 28, 18),
        returned=utc(2026, 3, 28, 22),
        review_after=timedelta(hours=10),
    )
    c = open_interview(manager=manager, episodes=[ep["C1"]], now=utc(2026, 3, 29, 9))
    assign(c, manager=manager, interviewer=interviewer, now=utc(2026, 3, 29, 9))
    record_held(c, actor=interviewer, held_at=utc(2026, 3, 31, 21), now=utc(2026, 3, 31, 22))
    complete(c, actor=interviewer, now=utc(2026, 3, 31, 22))
    # C came into care afterwards: the episode keeps the status it started with.
    legal_status_period(children["C"], start=date(2026, 4, 1))

    ep["D1"] = episode(
        **kw, child=children["D"], last_seen=utc(2026, 3, 28, 18), returned=utc(2026, 3, 28, 22)
    )
    # D asked to talk to her social worker: the recorded independence exception.
    trusted = UserFactory(username="trusted-sw", role="interviewer", organisation=council)
    Child.objects.filter(pk=children["D"].pk).update(social_worker=trusted)
    d = open_interview(manager=manager, episodes=[ep["D1"]], now=utc(2026, 3, 29, 9))
    assign(
        d,
        manager=manager,
        interviewer=trusted,
        now=utc(2026, 3, 29, 9),
        exception_reason="She asked to talk to her social worker.",
    )
    record_held(
        d,
        actor=trusted,
        held_at=utc(2026, 3, 31, 23),
        now=utc(2026, 4, 1, 0),
        places=("Kelly's flat",),
        associates=("kelly",),
    )
    complete(d, actor=trusted, now=utc(2026, 4, 1, 0))

    # E refuses.
    ep["E1"] = episode(
        **kw, child=children["E"], last_seen=utc(2026, 3, 10, 8), returned=utc(2026, 3, 10, 12)
    )
    e = open_interview(manager=manager, episodes=[ep["E1"]], now=utc(2026, 3, 10, 13))
    services.interview_attempt_record(
        services.AttemptData(at=utc(2026, 3, 10, 14), method="phone", outcome="child_refused"),
        actor=manager,
        interview_id=e.pk,
        now=utc(2026, 3, 10, 14),
    )
    e.refresh_from_db()
    services.interview_record_update(
        services.RecordData(
            changes={"outcome": "child_refused", "not_held_reason": "Did not want to talk"}
        ),
        actor=manager,
        interview_id=e.pk,
        expected_version=e.version,
        now=utc(2026, 3, 10, 15),
    )
    complete(e, actor=manager, now=utc(2026, 3, 10, 15))

    # F is still missing, and no manager has reviewed it.
    ep["F1"] = episode(**kw, child=children["F"], last_seen=utc(2026, 3, 20, 9), review_after=None)

    # G went missing in February and came back at 00:30 on 1 March: a March return, with no
    # interview or outcome yet (long overdue by June).
    ep["G1"] = episode(
        **kw, child=children["G"], last_seen=utc(2026, 2, 27, 9), returned=utc(2026, 3, 1, 0, 30)
    )

    # A again, last seen at 00:30 BST on 1 April (23:30 UTC on 31 March): an April episode.
    ep["A3"] = episode(
        **kw,
        child=children["A"],
        last_seen=utc(2026, 3, 31, 23, 30),
        returned=utc(2026, 4, 1, 2),
    )

    # Logged in error: never counts.
    ep["X1"] = episode(
        **kw, child=children["X"], last_seen=utc(2026, 3, 12, 9), returned=utc(2026, 3, 12, 10)
    )
    core.episode_cancel(
        core.CancelData(reason="Logged twice"),
        actor=manager,
        episode_id=ep["X1"].pk,
        now=utc(2026, 3, 12, 11),
    )
    for name in ep:
        ep[name].refresh_from_db()
    return Caseload(
        teams={"North": north, "South": south},
        children=children,
        episodes=ep,
        providers={
            "safe_steps": interviewer.organisation,
            "other": other_interviewer.organisation,
            "council": council,
        },
    )
