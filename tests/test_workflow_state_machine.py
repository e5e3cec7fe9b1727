"""A Hypothesis state machine over the whole workflow, through the real services (issue 6,
"Tests that must exist"): police notify (a new child, or the same child again), managers review,
the child returns (recorded by the front door or by a police "found" notification), a manager
opens the interview, assigns interviewer A or B (two organisations), unassigns them, covers a
further episode, the interview is recorded as held or not held and completed, a manager signs it
off (or signs off an episode a manager recorded as not held), or cancels an episode.

After every step it checks, against a plain-Python model of what should be true:
  - visibility: for each of ffd, manager, head of service, interviewer A, interviewer B, admin
    and the police system, the `visible_to()` querysets of children, episodes, notifications
    and interviews hold exactly the rows the model says that person may see (case staff: all;
    an interviewer: what their live assignment grants; admin and police: nothing);
  - states: each episode's and interview's state is the model's;
  - no step skipped: each episode's timeline starts with "opened", each event's from_state is
    the previous event's to_state, every (from, to) pair is an allowed transition, and the
    last to_state is the episode's state; a closed episode has an oversight decision and an
    interview outcome in its timeline before the sign-off, and the columns to match.
Every step the model predicts refused must raise the service's own error (NotAllowed, Conflict
or InvalidInput) and leave the database exactly as it was (a fingerprint of every row the
workflow touches is compared before and after).

Isolation: each example (one run of up to STEPS steps) runs inside a savepoint opened in the
machine's __init__ and rolled back in teardown(), within the one pytest-django test transaction
that holds the users. That costs one savepoint per example instead of a flush or a database per
example (hypothesis.extra.django.TestCase isolates per @given example, but
run_state_machine_as_test runs its own @given that such a TestCase does not wrap). The services
open their own atomic blocks, which nest as savepoints inside ours, just as in production.

Depth: Hypothesis picks among the rules evenly, and most rules draw "a record this step can
apply to" three times in four (`pick`), any record otherwise (to exercise refusals).
`advance()`, reachable through five rules, takes the natural next step for an open episode,
so that runs of 25 steps reach assignment, unassignment, the interview, completion and
sign-off rather than scattering; cancelling and a manager's "no interview" are gated to a
third as often, since they end an episode's interesting life early. Checked by mutation: with
`visible_to()` ignoring revoked grants, this test fails (an unassigned interviewer still sees
the episode).

Determinism: derandomized by default, so CI runs the same examples every time; set
WORKFLOW_EXPLORE=1 to let Hypothesis search afresh locally. The clock is the model's: it starts
at a fixed time and moves an hour per step, and every service gets it as `now`.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from interviews import services as iv_services
from interviews.models import InterviewStatus, ReturnInterview
from missing.cases import services
from missing.cases.errors import Conflict, DomainError, InvalidInput, NotAllowed
from missing.models import (
    CaseAccessGrant,
    Child,
    EpisodeEvent,
    EpisodeState,
    MissingEpisode,
    NotificationKind,
    OversightDecision,
    PoliceNotification,
    User,
)
from tests.factories import FIXED_NOW, force, grade
from tests.interviews.helpers import HELD_RECORD

MAX_EXAMPLES = int(os.environ.get("WORKFLOW_EXAMPLES", "40"))
STEPS = int(os.environ.get("WORKFLOW_STEPS", "25"))

S = EpisodeState
OPEN = {S.MISSING, S.RETURNED, S.INTERVIEW_ARRANGED, S.AWAITING_SIGN_OFF}
PENDING = {S.RETURNED, S.INTERVIEW_ARRANGED}
EDITABLE = {InterviewStatus.TO_ARRANGE, InterviewStatus.ARRANGED}
# Every (from_state, to_state) an event may record; self-loops are reviews, regrades, police
# updates and re-arranging. Written out by hand from the state diagram in MissingEpisode.
ALLOWED_EDGES = (
    {("", S.MISSING), (S.MISSING, S.RETURNED)}
    | {(s, s) for s in OPEN}
    | {(S.RETURNED, S.INTERVIEW_ARRANGED), (S.INTERVIEW_ARRANGED, S.RETURNED)}
    | {(s, S.AWAITING_SIGN_OFF) for s in PENDING}
    | {(S.AWAITING_SIGN_OFF, S.CLOSED)}
    | {(s, S.CANCELLED) for s in OPEN}
)
# Timeline entries that record a police notification kept on the episode (decision 0045): they
# may come in any state, closed included, and never move it.
RECORD_ONLY = frozenset(
    {
        "police_discrepancy",
        "police_notification_kept",
        "police_details_added",
        "police_review",
        "police_details_applied",
    }
)
INTERVIEWERS = ("A", "B")
ALL_USERS = ("ffd", "manager", "hos", "A", "B", "admin", "police")

_serial = itertools.count(1)


@dataclass
class Ep:
    child: int
    reference: str
    state: str = S.MISSING
    last_seen_at: datetime | None = None
    returned_at: datetime | None = None
    reviewed: bool = False
    interview: int | None = None
    # The interview that recorded this episode's outcome (blank: none, or a manager's "not held").
    outcome_via: str = ""


@dataclass
class Iv:
    child: int
    episodes: list[int]
    status: str = InterviewStatus.TO_ARRANGE
    interviewer: str | None = None
    planned_at: datetime | None = None
    record: str | None = None  # "held" / "not_held" once written


@dataclass
class Model:
    children: dict[int, str] = field(default_factory=dict)  # pk -> council child id
    episodes: dict[int, Ep] = field(default_factory=dict)
    interviews: dict[int, Iv] = field(default_factory=dict)
    notifications: set[int] = field(default_factory=set)
    grants: set[tuple[int, str]] = field(default_factory=set)  # (episode pk, "A"/"B")


def _fingerprint() -> tuple[Any, ...]:
    """Every row the workflow writes, in a comparable form: a refused step must not move it."""
    return (
        sorted(MissingEpisode.objects.values_list("pk", "state", "version", "returned_at")),
        sorted(ReturnInterview.objects.values_list("pk", "status", "version", "interviewer_id")),
        sorted(CaseAccessGrant.objects.values_list("pk", "episode_id", "user_id", "revoked_at")),
        Child.objects.count(),
        PoliceNotification.objects.count(),
        EpisodeEvent.objects.count(),
        OversightDecision.objects.count(),
    )


class Workflow(RuleBasedStateMachine):
    """Bound to the test's users by `bind()`; one instance per example."""

    users: dict[str, User]

    def __init__(self) -> None:
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.model = Model()
        self.now = FIXED_NOW - timedelta(days=20)
        # Set by advance(): the record the next pick() must return.
        self.forced: int | None = None

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    # ---------------------------------------------------------------- helpers

    def tick(self) -> datetime:
        self.now += timedelta(hours=1)
        return self.now

    def user(self, name: str) -> User:
        return self.users[name]

    def refused(self, error: type[DomainError], call: Any) -> None:
        """The step must be refused with `error` and change nothing."""
        before = _fingerprint()
        event(f"refused: {error.__name__}")
        with pytest.raises(error):
            call()
        assert _fingerprint() == before, "a refused step changed the database"

    def pick(self, data: st.DataObject, valid: Any, every: Any) -> int:
        """Mostly a record the step can apply to (so runs get deep into the workflow), now and
        then any record (so refusals are exercised too)."""
        if self.forced is not None:
            forced, self.forced = self.forced, None
            return forced
        valid, every = sorted(valid), sorted(every)
        if valid and data.draw(st.integers(0, 3)) > 0:
            return data.draw(st.sampled_from(valid))
        return data.draw(st.sampled_from(every))

    def episodes_where(self, test: Any) -> list[int]:
        return [pk for pk, ep in self.model.episodes.items() if test(ep)]

    def interviews_where(self, test: Any) -> list[int]:
        return [pk for pk, iv in self.model.interviews.items() if test(iv)]

    def revoke(self, episode: int, who: str | None = None) -> None:
        self.model.grants -= {
            (e, w) for e, w in self.model.grants if e == episode and who in (None, w)
        }

    def notify_missing(self, *, council_id: str, first: str, last: str, actor: str) -> Any:
        now = self.tick()
        reference = f"WF-{next(_serial)}"
        data = services.NotificationData(
            police_force=force(),
            police_reference=reference,
            kind=NotificationKind.REPORTED_MISSING,
            child_first_name=first,
            child_last_name=last,
            council_child_id=council_id,
            last_seen_at=now - timedelta(minutes=30),
            reported_at=now - timedelta(minutes=20),
            risk_grade=grade("medium"),
        )
        return lambda: services.notification_receive(
            data, actor=self.user(actor), payload={"ref": reference}, now=now
        )

    # ---------------------------------------------------------------- rules

    # A few children, so that runs go deep (repeat episodes, an interview covering two).
    @precondition(lambda self: len(self.model.children) < 3)
    @rule(actor=st.sampled_from(["police", "ffd"]))
    def notify_new_child(self, actor: str) -> None:
        n = next(_serial)
        result = self.notify_missing(
            council_id=f"WF{n:07d}", first="Sam", last=f"Zedwardine{n}", actor=actor
        )()
        episode = result.notification.episode
        assert result.created
        assert episode is not None
        self.model.children[episode.child_id] = f"WF{n:07d}"
        self.model.episodes[episode.pk] = Ep(
            child=episode.child_id, reference=episode.police_reference
        )
        self.model.notifications.add(result.notification.pk)

    @precondition(lambda self: self.model.children)
    @rule(data=st.data(), actor=st.sampled_from(["police", "ffd"]))
    def notify_same_child_again(self, data: st.DataObject, actor: str) -> None:
        still_missing = {e.child for e in self.model.episodes.values() if e.state == S.MISSING}
        child = self.pick(data, set(self.model.children) - still_missing, self.model.children)
        row = Child.objects.get(pk=child)
        call = self.notify_missing(
            council_id=self.model.children[child],
            first=row.first_name,
            last=row.last_name,
            actor=actor,
        )
        still = [
            pk for pk, e in self.model.episodes.items() if e.child == child and e.state == S.MISSING
        ]
        if still:
            # Still missing in an open episode: a second one would overlap (SSDA903), so the
            # report is kept on that episode for FFD to review, never refused (decision 0045).
            result = call()
            assert result.notification.episode_id == still[0]
            assert result.notification.match_status == "needs_review"
            self.model.notifications.add(result.notification.pk)
            return
        result = call()
        episode = result.notification.episode
        assert episode is not None
        assert episode.child_id == child
        self.model.episodes[episode.pk] = Ep(child=child, reference=episode.police_reference)
        self.model.notifications.add(result.notification.pk)

    @precondition(lambda self: self.model.episodes)
    @rule(data=st.data(), actor=st.sampled_from(["manager", "hos", "ffd"]))
    def review(self, data: st.DataObject, actor: str) -> None:
        pk = self.pick(data, self.episodes_where(lambda e: e.state in OPEN), self.model.episodes)
        ep = self.model.episodes[pk]
        now = self.tick()

        def call() -> Any:
            return services.episode_record_decision(
                services.DecisionData(risk="high", rationale="Seen with older males."),
                actor=self.user(actor),
                episode_id=pk,
                now=now,
            )

        if actor == "ffd":
            self.refused(NotAllowed, call)
        elif ep.state not in OPEN:
            self.refused(Conflict, call)
        else:
            call()
            ep.reviewed = True

    @precondition(lambda self: self.model.episodes)
    @rule(data=st.data(), via=st.sampled_from(["ffd", "police"]))
    def record_return(self, data: st.DataObject, via: str) -> None:
        pk = self.pick(
            data, self.episodes_where(lambda e: e.state == S.MISSING), self.model.episodes
        )
        ep = self.model.episodes[pk]
        now = self.tick()
        returned_at = now - timedelta(minutes=10)
        if via == "ffd":

            def call() -> Any:
                return services.episode_record_return(
                    services.ReturnData(
                        returned_at=returned_at,
                        found_place="Bus station",
                        found_by="Police",
                        prevention_interview_done=True,
                    ),
                    actor=self.user("ffd"),
                    episode_id=pk,
                    now=now,
                )

        else:
            sequence = next(_serial)
            found = services.NotificationData(
                police_force=force(),
                police_reference=ep.reference,
                kind=NotificationKind.FOUND,
                sequence=sequence,
                found_at=returned_at,
                found_place="Bus station",
            )

            def call() -> Any:
                return services.notification_receive(
                    found, actor=self.user("police"), payload={"seq": sequence}, now=now
                )

        if ep.state != S.MISSING and via == "ffd":
            self.refused(Conflict, call)
            return
        result = call()
        if via == "police":
            self.model.notifications.add(result.notification.pk)
            if ep.state != S.MISSING:
                # A found for an episode already returned (or closed) is kept on its record,
                # never refused (decision 0045): it changes no state.
                assert result.notification.episode_id == pk
                assert result.notification.match_status in {"recorded", "needs_review", "matched"}
                return
        ep.state, ep.returned_at = S.RETURNED, returned_at

    @precondition(lambda self: self.model.episodes)
    @rule(data=st.data(), actor=st.sampled_from(["manager", "manager", "ffd"]))
    def open_interview(self, data: st.DataObject, actor: str) -> None:
        pk = self.pick(
            data,
            self.episodes_where(lambda e: e.state in PENDING and e.interview is None),
            self.model.episodes,
        )
        ep = self.model.episodes[pk]
        now = self.tick()

        def call() -> Any:
            return iv_services.interview_create(
                iv_services.CreateData(child_id=ep.child, episode_ids=(pk,)),
                actor=self.user(actor),
                now=now,
            )

        if actor == "ffd":
            self.refused(NotAllowed, call)
        elif ep.state not in PENDING or ep.interview is not None:
            self.refused(Conflict, call)
        else:
            interview = call()
            self.model.interviews[interview.pk] = Iv(child=ep.child, episodes=[pk])
            ep.interview = interview.pk

    @precondition(lambda self: self.model.interviews)
    @rule(data=st.data(), who=st.sampled_from(INTERVIEWERS), planned=st.booleans())
    def assign(self, data: st.DataObject, who: str, planned: bool) -> None:
        pk = self.pick(
            data, self.interviews_where(lambda i: i.status in EDITABLE), self.model.interviews
        )
        iv = self.model.interviews[pk]
        now = self.tick()
        planned_at = now + timedelta(hours=2) if planned else None

        def call() -> Any:
            return iv_services.interview_assign(
                iv_services.AssignData(
                    interviewer_id=self.user(who).pk,
                    exception_reason="",
                    planned_at=planned_at,
                    planned_place="School" if planned else "",
                ),
                actor=self.user("manager"),
                interview_id=pk,
                now=now,
            )

        if iv.status not in EDITABLE:
            self.refused(Conflict, call)
            return
        call()
        if iv.interviewer is not None and iv.interviewer != who:
            for e in iv.episodes:
                self.revoke(e, iv.interviewer)
        for e in iv.episodes:
            if self.model.episodes[e].state in PENDING:
                self.model.grants.add((e, who))
        iv.interviewer = who
        if planned:
            iv.planned_at, iv.status = planned_at, InterviewStatus.ARRANGED
            for e in iv.episodes:
                if self.model.episodes[e].state in PENDING:
                    self.model.episodes[e].state = S.INTERVIEW_ARRANGED
        elif iv.status == InterviewStatus.ARRANGED:
            self.withdraw(iv)

    def withdraw(self, iv: Iv) -> None:
        for e in iv.episodes:
            if self.model.episodes[e].state == S.INTERVIEW_ARRANGED:
                self.model.episodes[e].state = S.RETURNED
        iv.status, iv.planned_at = InterviewStatus.TO_ARRANGE, None

    @precondition(lambda self: self.model.interviews)
    @rule(data=st.data())
    def unassign(self, data: st.DataObject) -> None:
        pk = self.pick(
            data,
            self.interviews_where(lambda i: i.status in EDITABLE and i.interviewer is not None),
            self.model.interviews,
        )
        iv = self.model.interviews[pk]
        now = self.tick()

        def call() -> Any:
            return iv_services.interview_unassign(
                iv_services.UnassignData(reason="Off sick"),
                actor=self.user("manager"),
                interview_id=pk,
                now=now,
            )

        if iv.status not in EDITABLE or iv.interviewer is None:
            self.refused(Conflict, call)
            return
        call()
        for e in iv.episodes:
            self.revoke(e, iv.interviewer)
        if iv.status == InterviewStatus.ARRANGED:
            self.withdraw(iv)
        iv.interviewer = None

    @precondition(lambda self: self.model.interviews)
    @rule(data=st.data())
    def cover_another_episode(self, data: st.DataObject) -> None:
        """The child went missing again before the interview: it covers that episode too."""
        pk = self.pick(
            data, self.interviews_where(lambda i: i.status in EDITABLE), self.model.interviews
        )
        iv = self.model.interviews[pk]
        ep_pk = self.pick(
            data,
            self.episodes_where(
                lambda e: e.child == iv.child and e.state in PENDING and e.interview is None
            ),
            self.model.episodes,
        )
        ep = self.model.episodes[ep_pk]
        now = self.tick()

        def call() -> Any:
            return iv_services.interview_add_episode(
                iv_services.AddEpisodeData(episode_id=ep_pk),
                actor=self.user("manager"),
                interview_id=pk,
                now=now,
            )

        if iv.status not in EDITABLE:
            self.refused(Conflict, call)
            return
        if ep.child != iv.child:
            self.refused(InvalidInput, call)
            return
        if ep.state not in PENDING or ep.interview is not None:
            self.refused(Conflict, call)
            return
        call()
        iv.episodes.append(ep_pk)
        ep.interview = pk
        if iv.interviewer is not None:
            self.model.grants.add((ep_pk, iv.interviewer))
        if iv.status == InterviewStatus.ARRANGED:
            assert iv.planned_at is not None
            assert ep.returned_at is not None
            if iv.planned_at >= ep.returned_at:
                ep.state = S.INTERVIEW_ARRANGED
            else:
                self.withdraw(iv)

    @staticmethod
    def writer(iv: Iv, who: str) -> str:
        """The interview's own interviewer, the other one, or a manager."""
        if who == "manager":
            return "manager"
        mine = iv.interviewer or "A"
        return mine if who == "assigned" else next(n for n in INTERVIEWERS if n != mine)

    def may_write(self, actor: str, iv: Iv) -> bool:
        if actor == "manager":
            return True
        return iv.interviewer == actor and any((e, actor) in self.model.grants for e in iv.episodes)

    @precondition(lambda self: self.model.interviews)
    @rule(
        data=st.data(),
        held=st.booleans(),
        who=st.sampled_from(["assigned", "assigned", "other", "manager"]),
    )
    def write_record(self, data: st.DataObject, held: bool, who: str) -> None:
        pk = self.pick(
            data, self.interviews_where(lambda i: i.status in EDITABLE), self.model.interviews
        )
        iv = self.model.interviews[pk]
        actor = self.writer(iv, who)
        now = self.tick()
        if held:
            changes = {**HELD_RECORD, "held_at": now - timedelta(minutes=5), "not_held_reason": ""}
        else:
            changes = {
                "outcome": "child_refused",
                "held_at": None,
                "not_held_reason": "Would not open the door; mum says she is fine.",
            }

        def call() -> Any:
            version = ReturnInterview.objects.values_list("version", flat=True).get(pk=pk)
            return iv_services.interview_record_update(
                iv_services.RecordData(changes=changes),
                actor=self.user(actor),
                interview_id=pk,
                expected_version=version,
                now=now,
            )

        if not self.may_write(actor, iv):
            self.refused(NotAllowed, call)
        elif iv.status not in EDITABLE:
            self.refused(Conflict, call)
        else:
            call()
            iv.record = "held" if held else "not_held"

    @precondition(lambda self: self.model.interviews)
    @rule(data=st.data(), who=st.sampled_from(["assigned", "assigned", "other", "manager"]))
    def complete(self, data: st.DataObject, who: str) -> None:
        pk = self.pick(
            data,
            self.interviews_where(lambda i: i.status in EDITABLE and i.record is not None),
            self.model.interviews,
        )
        iv = self.model.interviews[pk]
        actor = self.writer(iv, who)
        now = self.tick()

        def call() -> Any:
            version = ReturnInterview.objects.values_list("version", flat=True).get(pk=pk)
            return iv_services.interview_complete(
                iv_services.CompleteData(),
                actor=self.user(actor),
                interview_id=pk,
                expected_version=version,
                now=now,
            )

        if not self.may_write(actor, iv):
            self.refused(NotAllowed, call)
        elif iv.status not in EDITABLE:
            self.refused(Conflict, call)
        elif iv.record is None or (iv.record == "held" and iv.interviewer is None):
            self.refused(InvalidInput, call)
        else:
            call()
            iv.status = InterviewStatus.COMPLETED
            reference = f"I-{pk}"
            for e in iv.episodes:
                episode = self.model.episodes[e]
                if episode.state in PENDING:
                    episode.state, episode.outcome_via = S.AWAITING_SIGN_OFF, reference

    @precondition(lambda self: self.model.episodes)
    @rule(data=st.data(), rare=st.integers(0, 2))
    def manager_decides_no_interview(self, data: st.DataObject, rare: int = 0) -> None:
        if rare:
            return  # a shortcut past the interview: taken a third as often as the other steps
        pk = self.pick(data, self.episodes_where(lambda e: e.state in PENDING), self.model.episodes)
        ep = self.model.episodes[pk]
        now = self.tick()

        def call() -> Any:
            return services.episode_record_interview_outcome(
                services.OutcomeData(
                    outcome="not_held_decision",
                    held_at=None,
                    note="Seen by the social worker the same day.",
                ),
                actor=self.user("manager"),
                episode_id=pk,
                now=now,
            )

        if ep.state not in PENDING:
            self.refused(Conflict, call)
            return
        call()
        ep.state = S.AWAITING_SIGN_OFF

    @precondition(lambda self: self.model.interviews)
    @rule(data=st.data(), actor=st.sampled_from(["manager", "hos", "ffd"]))
    def sign_off_interview(self, data: st.DataObject, actor: str) -> None:
        pk = self.pick(
            data,
            self.interviews_where(lambda i: i.status == InterviewStatus.COMPLETED),
            self.model.interviews,
        )
        iv = self.model.interviews[pk]
        now = self.tick()

        def call() -> Any:
            return iv_services.interview_sign_off(
                iv_services.SignOffData(update_safety_plan=True),
                actor=self.user(actor),
                interview_id=pk,
                now=now,
            )

        awaiting = [e for e in iv.episodes if self.model.episodes[e].state == S.AWAITING_SIGN_OFF]
        if actor == "ffd":
            self.refused(NotAllowed, call)
        elif iv.status != InterviewStatus.COMPLETED:
            self.refused(Conflict, call)
        elif not all(self.model.episodes[e].reviewed for e in awaiting):
            # No manager oversight on one of them: nothing is signed off.
            self.refused(Conflict, call)
        else:
            call()
            iv.status = InterviewStatus.SIGNED_OFF
            for e in awaiting:
                self.model.episodes[e].state = S.CLOSED
                self.revoke(e)

    @precondition(lambda self: self.model.episodes)
    @rule(data=st.data(), actor=st.sampled_from(["manager", "hos", "ffd"]))
    def sign_off_episode(self, data: st.DataObject, actor: str) -> None:
        pk = self.pick(
            data,
            self.episodes_where(lambda e: e.state == S.AWAITING_SIGN_OFF and not e.outcome_via),
            self.model.episodes,
        )
        ep = self.model.episodes[pk]
        now = self.tick()

        def call() -> Any:
            return services.episode_sign_off(
                services.SignOffData(note="Closed."), actor=self.user(actor), episode_id=pk, now=now
            )

        if actor == "ffd":
            self.refused(NotAllowed, call)
        elif ep.outcome_via or ep.state != S.AWAITING_SIGN_OFF or not ep.reviewed:
            # An interview's outcome closes only through that interview's sign-off.
            self.refused(Conflict, call)
        else:
            call()
            ep.state = S.CLOSED
            self.revoke(pk)

    @precondition(lambda self: self.model.episodes)
    @rule(data=st.data(), actor=st.sampled_from(["manager", "ffd"]), rare=st.integers(0, 2))
    def cancel(self, data: st.DataObject, actor: str, rare: int = 0) -> None:
        if rare:
            return  # ends an episode early: taken a third as often as the other steps
        pk = self.pick(data, self.episodes_where(lambda e: e.state in OPEN), self.model.episodes)
        ep = self.model.episodes[pk]
        now = self.tick()

        def call() -> Any:
            return services.episode_cancel(
                services.CancelData(reason="Logged in error"),
                actor=self.user(actor),
                episode_id=pk,
                now=now,
            )

        if actor == "ffd":
            self.refused(NotAllowed, call)
        elif ep.state not in OPEN:
            self.refused(Conflict, call)
        else:
            call()
            ep.state = S.CANCELLED
            self.revoke(pk)

    @precondition(lambda self: any(e.state in OPEN for e in self.model.episodes.values()))
    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        """The natural next step for an open episode, so that runs reach assignment, the
        interview and sign-off instead of scattering over records a step cannot apply to."""
        pk = data.draw(st.sampled_from(self.episodes_where(lambda e: e.state in OPEN)))
        ep = self.model.episodes[pk]
        iv = self.model.interviews.get(ep.interview) if ep.interview else None
        if not ep.reviewed and data.draw(st.booleans()):
            self.forced = pk
            self.review(data, "manager")
        elif ep.state == S.MISSING:
            self.forced = pk
            self.record_return(data, data.draw(st.sampled_from(["ffd", "police"])))
        elif iv is None and ep.state in PENDING:
            self.forced = pk
            self.open_interview(data, "manager")
        elif iv is not None and iv.status in EDITABLE:
            self.forced = ep.interview
            if iv.interviewer is None or data.draw(st.integers(0, 5)) == 0:
                self.assign(
                    data, data.draw(st.sampled_from(INTERVIEWERS)), data.draw(st.booleans())
                )
            elif iv.record is None or data.draw(st.integers(0, 5)) == 0:
                self.write_record(data, data.draw(st.booleans()), "assigned")
            else:
                self.complete(data, "assigned")
        elif iv is not None and iv.status == InterviewStatus.COMPLETED:
            self.forced = ep.interview
            self.sign_off_interview(data, "manager")
        elif ep.state == S.AWAITING_SIGN_OFF:
            self.forced = pk
            self.sign_off_episode(data, "manager")
        self.forced = None

    # Hypothesis picks among the rules evenly: four more doors into advance() make the
    # natural next step about a third of all steps.
    @precondition(lambda self: any(e.state in OPEN for e in self.model.episodes.values()))
    @rule(data=st.data())
    def advance_again(self, data: st.DataObject) -> None:
        self.advance(data)

    @precondition(lambda self: any(e.state in OPEN for e in self.model.episodes.values()))
    @rule(data=st.data())
    def advance_once_more(self, data: st.DataObject) -> None:
        self.advance(data)

    @precondition(lambda self: any(e.state in OPEN for e in self.model.episodes.values()))
    @rule(data=st.data())
    def advance_further(self, data: st.DataObject) -> None:
        self.advance(data)

    @precondition(lambda self: any(e.state in OPEN for e in self.model.episodes.values()))
    @rule(data=st.data())
    def advance_to_the_end(self, data: st.DataObject) -> None:
        self.advance(data)

    # ---------------------------------------------------------------- invariants

    def expected_visible(self, name: str) -> dict[str, set[int]]:
        m = self.model
        if name in ("ffd", "manager", "hos"):
            return {
                "children": set(m.children),
                "episodes": set(m.episodes),
                "notifications": set(m.notifications),
                "interviews": set(m.interviews),
            }
        if name in INTERVIEWERS:
            granted = {e for e, who in m.grants if who == name}
            return {
                "children": {m.episodes[e].child for e in granted},
                "episodes": granted,
                "notifications": set(),
                "interviews": {
                    pk
                    for pk, iv in m.interviews.items()
                    if iv.interviewer == name and granted & set(iv.episodes)
                },
            }
        return {"children": set(), "episodes": set(), "notifications": set(), "interviews": set()}

    @invariant()
    def everyone_sees_what_they_should(self) -> None:
        for name in ALL_USERS:
            user = self.user(name)
            seen = {
                "children": set(Child.objects.visible_to(user).values_list("pk", flat=True)),
                "episodes": set(
                    MissingEpisode.objects.visible_to(user).values_list("pk", flat=True)
                ),
                "notifications": set(
                    PoliceNotification.objects.visible_to(user).values_list("pk", flat=True)
                ),
                "interviews": set(
                    ReturnInterview.objects.visible_to(user).values_list("pk", flat=True)
                ),
            }
            assert seen == self.expected_visible(name), name

    @invariant()
    def states_match_the_model(self) -> None:
        episodes = dict(MissingEpisode.objects.values_list("pk", "state"))
        assert episodes == {pk: ep.state for pk, ep in self.model.episodes.items()}
        interviews = dict(ReturnInterview.objects.values_list("pk", "status"))
        assert interviews == {pk: iv.status for pk, iv in self.model.interviews.items()}

    @invariant()
    def no_step_was_skipped(self) -> None:
        events: dict[int, list[tuple[str, str, str]]] = {}
        for episode, action, from_state, to_state in EpisodeEvent.objects.order_by(
            "at", "pk"
        ).values_list("episode_id", "action", "from_state", "to_state"):
            events.setdefault(episode, []).append((action, from_state, to_state))
        rows = {
            row["pk"]: row
            for row in MissingEpisode.objects.values(
                "pk", "state", "first_reviewed_at", "interview_outcome", "returned_at"
            )
        }
        for pk, row in rows.items():
            timeline = events[pk]
            assert timeline[0][0] == "opened"
            previous = ""
            for action, from_state, to_state in timeline:
                assert from_state == previous, (pk, action, from_state, previous)
                if action in RECORD_ONLY:
                    # Police notifications kept on the record: any state, and it stays.
                    assert from_state == to_state, (pk, action, from_state, to_state)
                else:
                    assert (from_state, to_state) in ALLOWED_EDGES, (
                        pk,
                        action,
                        from_state,
                        to_state,
                    )
                previous = to_state
            assert previous == row["state"]
            if row["state"] == S.CLOSED:
                actions = [action for action, _, _ in timeline]
                signed = actions.index("sign_off")
                assert "review" in actions[:signed]
                assert "record_interview_outcome" in actions[:signed]
                assert "record_return" in actions[:signed]
                assert row["first_reviewed_at"] is not None
                assert row["interview_outcome"]
                assert row["returned_at"] is not None


@pytest.mark.django_db
def test_workflow_keeps_visibility_and_order(
    ffd: User,
    manager: User,
    head_of_service: User,
    interviewer: User,
    other_interviewer: User,
    admin_user: User,
    police_system: User,
) -> None:
    assert interviewer.organisation_id != other_interviewer.organisation_id
    users = {
        "ffd": ffd,
        "manager": manager,
        "hos": head_of_service,
        "A": interviewer,
        "B": other_interviewer,
        "admin": admin_user,
        "police": police_system,
    }
    machine = type("BoundWorkflow", (Workflow,), {"users": users})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=MAX_EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            derandomize=os.environ.get("WORKFLOW_EXPLORE") != "1",
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
