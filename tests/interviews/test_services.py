"""Return-interview services through the real state machine: opening and covering episodes,
independence and its exception, access that follows the assignment, attempts, the record with
its optimistic version (merge or 409 with the differences), completion and sign-off."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings

from interviews import services
from interviews.models import (
    ContactAttempt,
    Factor,
    Independence,
    InterviewFactor,
    InterviewStatus,
    PlacementStaff,
    ReturnInterview,
)
from missing.cases import services as core
from missing.cases.errors import Conflict, InvalidInput, NotAllowed
from missing.models import CaseAccessGrant, EpisodeEvent, EpisodeState, MissingEpisode
from tests.factories import ChildFactory, TeamFactory, UserFactory
from tests.helpers import report_missing
from tests.interviews.helpers import (
    HELD_RECORD,
    assign,
    complete,
    open_interview,
    record_held,
    returned_episode,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def child(db):
    return ChildFactory(placement="Oak House children's home")


@pytest.fixture
def episode(ffd, manager, child, now):
    return returned_episode(
        ffd=ffd, manager=manager, child=child, returned_at=now - timedelta(hours=5)
    )


@pytest.fixture
def interview(manager, episode, now):
    return open_interview(manager=manager, episodes=[episode], now=now)


def visible(user) -> set[int]:
    return set(MissingEpisode.objects.visible_to(user).values_list("pk", flat=True))


# --------------------------------------------------------------------------------------------
# Opening and covering
# --------------------------------------------------------------------------------------------


def test_only_arrangers_open_an_interview(ffd, interviewer, episode, now):
    for actor in (ffd, interviewer):
        with pytest.raises(NotAllowed):
            services.interview_create(
                services.CreateData(child_id=episode.child_id, episode_ids=(episode.pk,)),
                actor=actor,
                now=now,
            )
    assert not ReturnInterview.objects.exists()


@override_settings(INTERVIEW_ARRANGER_ROLES=["ffd", "manager", "head_of_service"])
def test_the_family_front_door_arranges_where_local_protocol_says_so(ffd, episode, now):
    interview = services.interview_create(
        services.CreateData(child_id=episode.child_id, episode_ids=(episode.pk,)),
        actor=ffd,
        now=now,
    )
    assert interview.covered.get().episode == episode


def test_an_episode_is_covered_once_and_only_a_returned_one(ffd, manager, episode, interview, now):
    with pytest.raises(Conflict, match="already covered"):
        open_interview(manager=manager, episodes=[episode], now=now)
    missing = report_missing(actor=ffd, now=now)
    with pytest.raises(Conflict, match="child is back"):
        open_interview(manager=manager, episodes=[missing], now=now)


def test_episodes_of_another_child_are_refused(ffd, manager, episode, now):
    other = returned_episode(ffd=ffd, manager=manager, returned_at=now - timedelta(hours=1))
    with pytest.raises(InvalidInput) as refused:
        services.interview_create(
            services.CreateData(child_id=episode.child_id, episode_ids=(episode.pk, other.pk)),
            actor=manager,
            now=now,
        )
    assert "not an episode of this child" in refused.value.field_errors["episodes"][0]
    assert not ReturnInterview.objects.exists()


# --------------------------------------------------------------------------------------------
# Independence, on the server
# --------------------------------------------------------------------------------------------


def test_an_independent_interviewer_is_assigned_and_granted_the_episodes_only(
    ffd, manager, interviewer, child, episode, interview, now
):
    # The same child's other episode (closed, long ago) is not part of this interview.
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    interview.refresh_from_db()
    assert interview.independence == Independence.CONFIRMED
    assert interview.interviewer_organisation.name == "Safe Steps Charity"
    assert visible(interviewer) == {episode.pk}


@pytest.mark.parametrize("relation", ["social_worker", "team", "placement"])
def test_an_interviewer_who_is_not_independent_is_refused(relation, manager, child, interview, now):
    team = TeamFactory(name="Children in care team 2")
    insider = UserFactory(role="interviewer", team=team if relation == "team" else None)
    if relation == "social_worker":
        child.social_worker = insider
    if relation == "team":
        child.allocated_team = team
    child.save()
    if relation == "placement":
        PlacementStaff.objects.create(user=insider, placement="OAK HOUSE children's home")

    with pytest.raises(InvalidInput) as refused:
        assign(interview, manager=manager, interviewer=insider, now=now)

    message = refused.value.field_errors["interviewer"][0]
    assert "not independent" in message
    assert {
        "social_worker": "allocated social worker",
        "team": "allocated team",
        "placement": "placement",
    }[relation] in message
    interview.refresh_from_db()
    assert interview.interviewer is None
    assert not CaseAccessGrant.objects.filter(user=insider).exists()


def test_the_exception_needs_a_managers_reason_and_is_recorded(
    ffd, manager, head_of_service, child, interview, now
):
    trusted = UserFactory(role="interviewer")
    child.social_worker = trusted
    child.save()

    # An FFD arranger (where allowed) cannot record the exception: a manager must.
    arrangers = override_settings(INTERVIEW_ARRANGER_ROLES=["ffd", "manager", "head_of_service"])
    with arrangers, pytest.raises(InvalidInput) as refused:
        services.interview_assign(
            services.AssignData(
                interviewer_id=trusted.pk,
                exception_reason="The child asked for her social worker.",
                planned_at=None,
                planned_place="",
            ),
            actor=ffd,
            interview_id=interview.pk,
            now=now,
        )
    assert "Only a manager" in refused.value.field_errors["independence_exception_reason"][0]

    assign(
        interview,
        manager=manager,
        interviewer=trusted,
        now=now,
        exception_reason="The child asked to talk to her social worker, whom she trusts.",
    )
    interview.refresh_from_db()
    assert interview.independence == Independence.EXCEPTION
    assert interview.independence_exception_by == manager
    assert interview.is_exception


def test_an_exception_reason_for_an_independent_interviewer_is_refused(
    manager, interviewer, interview, now
):
    with pytest.raises(InvalidInput) as refused:
        assign(interview, manager=manager, interviewer=interviewer, now=now, exception_reason="x")
    assert (
        "no exception is needed" in refused.value.field_errors["independence_exception_reason"][0]
    )


def test_only_an_interviewer_can_be_assigned(manager, ffd, interview, now):
    with pytest.raises(InvalidInput) as refused:
        assign(interview, manager=manager, interviewer=ffd, now=now)
    assert "interviewer" in refused.value.field_errors


def test_reassigning_moves_access_and_unassigning_ends_it(
    manager, interviewer, other_interviewer, episode, interview, now
):
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    assign(interview, manager=manager, interviewer=other_interviewer, now=now)
    assert visible(interviewer) == set()
    assert visible(other_interviewer) == {episode.pk}

    interview.refresh_from_db()
    services.interview_unassign(
        services.UnassignData(reason="Off sick"),
        actor=manager,
        interview_id=interview.pk,
        now=now,
        expected_version=interview.version,
    )
    assert visible(other_interviewer) == set()
    assert not ReturnInterview.objects.visible_to(other_interviewer).exists()


# --------------------------------------------------------------------------------------------
# Arranging: planned time, attempts and their outcomes
# --------------------------------------------------------------------------------------------


def test_a_planned_time_before_the_return_is_refused(manager, interviewer, episode, interview, now):
    with pytest.raises(InvalidInput) as refused:
        assign(
            interview,
            manager=manager,
            interviewer=interviewer,
            now=now,
            planned_at=episode.returned_at - timedelta(minutes=1),
        )
    assert "before the child's return" in refused.value.field_errors["planned_at"][0]
    assert MissingEpisode.objects.get(pk=episode.pk).state == EpisodeState.RETURNED


def test_planning_a_time_arranges_every_covered_episode(
    manager, interviewer, episode, interview, now
):
    assign(
        interview,
        manager=manager,
        interviewer=interviewer,
        now=now,
        planned_at=now + timedelta(hours=3),
    )
    episode.refresh_from_db()
    assert episode.state == EpisodeState.INTERVIEW_ARRANGED
    assert episode.interview_arranged_at == now
    assert ReturnInterview.objects.get().status == InterviewStatus.ARRANGED


def test_attempts_are_recorded_and_arranged_sets_the_plan(
    manager, interviewer, other_interviewer, episode, interview, now
):
    with pytest.raises(InvalidInput, match="attempt"):
        services.interview_attempt_record(
            services.AttemptData(at=now, method="phone", outcome="arranged"),
            actor=manager,
            interview_id=interview.pk,
            now=now,
        )  # no interviewer yet, no planned time
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    with pytest.raises(NotAllowed):
        services.interview_attempt_record(
            services.AttemptData(at=now, method="phone", outcome="no_answer"),
            actor=other_interviewer,
            interview_id=interview.pk,
            now=now,
        )
    services.interview_attempt_record(
        services.AttemptData(at=now - timedelta(hours=2), method="phone", outcome="no_answer"),
        actor=interviewer,
        interview_id=interview.pk,
        now=now,
    )
    services.interview_attempt_record(
        services.AttemptData(
            at=now - timedelta(hours=1),
            method="text",
            outcome="arranged",
            planned_at=now + timedelta(hours=20),
            planned_place="Library",
        ),
        actor=interviewer,
        interview_id=interview.pk,
        now=now,
    )
    interview.refresh_from_db()
    assert interview.status == InterviewStatus.ARRANGED
    assert interview.planned_place == "Library"
    assert [a.offered for a in ContactAttempt.objects.order_by("at")] == [False, True]
    link = interview.covered.get()
    assert (link.offered_at, link.accepted) == (now - timedelta(hours=1), True)
    assert MissingEpisode.objects.get(pk=episode.pk).state == EpisodeState.INTERVIEW_ARRANGED


@pytest.mark.parametrize(
    ("at", "field", "message"),
    [
        (timedelta(minutes=5), "at", "future"),
        (-timedelta(hours=6), "at", "before the child's return"),
    ],
)
def test_an_attempt_at_an_impossible_time_is_refused(manager, interview, now, at, field, message):
    with pytest.raises(InvalidInput) as refused:
        services.interview_attempt_record(
            services.AttemptData(at=now + at, method="visit", outcome="no_answer"),
            actor=manager,
            interview_id=interview.pk,
            now=now,
        )
    assert message in refused.value.field_errors[field][0]
    assert not ContactAttempt.objects.exists()


# --------------------------------------------------------------------------------------------
# The record: versions, merges, conflicts
# --------------------------------------------------------------------------------------------


def test_the_interviewer_saves_a_draft_with_factors_and_notes(manager, interviewer, interview, now):
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    saved = record_held(interview, actor=interviewer, held_at=now - timedelta(hours=1), now=now)
    assert saved.status == InterviewStatus.TO_ARRANGE  # a draft: nothing moved on
    picks = {(p.factor.code, p.note) for p in InterviewFactor.objects.all()}
    assert picks == {
        ("push-family-conflict", "Argument with mum about curfew"),
        ("pull-adults-offering", "Given vapes and a phone"),
        ("harm-criminal-exploitation", "Asked to carry a bag"),
    }
    # Changing the picks: one removed, one added, a note changed.
    saved = services.interview_record_update(
        services.RecordData(
            changes={
                "push_factors": (
                    ("push-family-conflict", "Curfew rows"),
                    ("push-school-bullying", ""),
                ),
                "pull_factors": (),
            }
        ),
        actor=interviewer,
        interview_id=interview.pk,
        expected_version=saved.version,
        now=now,
    ).interview
    assert services.record_values(saved)["push_factors"] == (
        ("push-family-conflict", "Curfew rows"),
        ("push-school-bullying", ""),
    )
    assert services.record_values(saved)["pull_factors"] == ()


def test_a_stale_edit_of_the_same_answer_is_a_409_with_the_difference(
    manager, interviewer, interview, now
):
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    interview.refresh_from_db()
    opened = interview.version
    base = {"held_place": ""}
    services.interview_record_update(
        services.RecordData(changes={"held_place": "Library"}),
        actor=manager,
        interview_id=interview.pk,
        expected_version=opened,
        now=now,
    )
    with pytest.raises(Conflict) as clash:
        services.interview_record_update(
            services.RecordData(changes={"held_place": "Café"}, base=base),
            actor=interviewer,
            interview_id=interview.pk,
            expected_version=opened,
            now=now,
        )
    assert clash.value.status == 409
    assert clash.value.extra["differences"] == [
        {"field": "held_place", "label": "Where it was held", "yours": "Café", "theirs": "Library"}
    ]
    assert clash.value.extra["current_version"] == opened + 1
    assert ReturnInterview.objects.get().held_place == "Library"


def test_a_stale_edit_of_other_answers_merges_field_by_field(manager, interviewer, interview, now):
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    interview.refresh_from_db()
    opened = interview.version
    services.interview_record_update(
        services.RecordData(changes={"held_place": "Library"}),
        actor=manager,
        interview_id=interview.pk,
        expected_version=opened,
        now=now,
    )
    result = services.interview_record_update(
        services.RecordData(
            changes={"held_place": "", "present": "The child alone"},
            base={"held_place": "", "present": ""},
        ),
        actor=interviewer,
        interview_id=interview.pk,
        expected_version=opened,
        now=now,
    )
    assert result.merged
    assert result.changed == ("present",)
    saved = ReturnInterview.objects.get()
    assert (saved.held_place, saved.present) == ("Library", "The child alone")


def test_without_a_base_any_difference_on_a_stale_edit_is_refused(manager, interview, now):
    opened = interview.version
    services.interview_record_update(
        services.RecordData(changes={"present": "A"}),
        actor=manager,
        interview_id=interview.pk,
        expected_version=opened,
        now=now,
    )
    with pytest.raises(Conflict):
        services.interview_record_update(
            services.RecordData(changes={"present": "B"}),
            actor=manager,
            interview_id=interview.pk,
            expected_version=opened,
            now=now,
        )


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"push_factors": (("push-no-such-thing", ""),)}, "push_factors", "Unknown push factor"),
        ({"harms": (("push-family-conflict", ""),)}, "harms", "Unknown harm"),
        ({"held_at": "returned-1m"}, "held_at", "before the child's return"),
        ({"held_at": "future"}, "held_at", "future"),
        ({"present": "x" * 301}, "present", "at most 300"),
    ],
)
def test_bad_answers_are_refused_naming_the_field(
    manager, episode, interview, now, changes, field, message
):
    if changes.get("held_at") == "returned-1m":
        changes = {"held_at": episode.returned_at - timedelta(minutes=1)}
    elif changes.get("held_at") == "future":
        changes = {"held_at": now + timedelta(minutes=1)}
    with pytest.raises(InvalidInput) as refused:
        services.interview_record_update(
            services.RecordData(changes=changes),
            actor=manager,
            interview_id=interview.pk,
            expected_version=interview.version,
            now=now,
        )
    assert message in " ".join(refused.value.field_errors[field])
    assert ReturnInterview.objects.get().version == interview.version


def test_a_retired_factor_cannot_be_picked_but_stays_where_it_was(manager, interview, now):
    version = services.interview_record_update(
        services.RecordData(changes={"push_factors": (("push-boundaries", "Rules"),)}),
        actor=manager,
        interview_id=interview.pk,
        expected_version=interview.version,
        now=now,
    ).interview.version
    Factor.objects.filter(code__in=["push-boundaries", "push-loneliness"]).update(active=False)
    services.interview_record_update(
        services.RecordData(changes={"push_factors": (("push-boundaries", "Rules at home"),)}),
        actor=manager,
        interview_id=interview.pk,
        expected_version=version,
        now=now,
    )
    with pytest.raises(InvalidInput, match="interview has errors") as refused:
        services.interview_record_update(
            services.RecordData(
                changes={"push_factors": (("push-boundaries", ""), ("push-loneliness", ""))}
            ),
            actor=manager,
            interview_id=interview.pk,
            expected_version=version + 1,
            now=now,
        )
    assert "no longer in use" in refused.value.field_errors["push_factors"][0]


def test_only_the_assigned_interviewer_or_a_manager_writes_the_record(
    ffd, manager, interviewer, other_interviewer, interview, now
):
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    interview.refresh_from_db()
    for actor in (ffd, other_interviewer):
        with pytest.raises(NotAllowed):
            services.interview_record_update(
                services.RecordData(changes={"present": "x"}),
                actor=actor,
                interview_id=interview.pk,
                expected_version=interview.version,
                now=now,
            )


# --------------------------------------------------------------------------------------------
# Completion and sign-off
# --------------------------------------------------------------------------------------------


def test_a_completed_interview_needs_its_required_answers(manager, interviewer, interview, now):
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    interview.refresh_from_db()
    services.interview_record_update(
        services.RecordData(changes={"outcome": "held"}),
        actor=interviewer,
        interview_id=interview.pk,
        expected_version=interview.version,
        now=now,
    )
    with pytest.raises(InvalidInput) as refused:
        complete(interview, actor=interviewer, now=now)
    assert set(refused.value.field_errors) == set(services.REQUIRED_IF_HELD)
    assert ReturnInterview.objects.get().status == InterviewStatus.TO_ARRANGE
    assert MissingEpisode.objects.get().state == EpisodeState.RETURNED


def test_held_moves_every_episode_to_sign_off_and_locks_the_record(
    manager, interviewer, episode, interview, now
):
    assign(interview, manager=manager, interviewer=interviewer, now=now, planned_at=now)
    record_held(interview, actor=interviewer, held_at=now - timedelta(minutes=30), now=now)
    done = complete(interview, actor=interviewer, now=now)

    episode.refresh_from_db()
    assert done.status == InterviewStatus.COMPLETED
    assert (episode.state, episode.interview_outcome) == (EpisodeState.AWAITING_SIGN_OFF, "held")
    assert episode.interview_held_at == now - timedelta(minutes=30)
    with pytest.raises(Conflict, match="awaiting a manager's sign-off"):
        services.interview_record_update(
            services.RecordData(changes={"present": "x"}),
            actor=interviewer,
            interview_id=interview.pk,
            expected_version=done.version,
            now=now,
        )


def test_no_contact_needs_the_attempts_and_a_reason(manager, interview, now):
    services.interview_record_update(
        services.RecordData(
            changes={"outcome": "no_contact", "not_held_reason": "Phone off, nobody home."}
        ),
        actor=manager,
        interview_id=interview.pk,
        expected_version=interview.version,
        now=now,
    )
    with pytest.raises(InvalidInput) as refused:
        complete(interview, actor=manager, now=now)
    assert "Record the attempts" in refused.value.field_errors["outcome"][0]
    services.interview_attempt_record(
        services.AttemptData(at=now, method="visit", outcome="no_answer", offered=True),
        actor=manager,
        interview_id=interview.pk,
        now=now,
    )
    complete(interview, actor=manager, now=now)
    assert MissingEpisode.objects.get().interview_outcome == "no_contact"


def test_only_a_manager_decides_not_to_hold_one(manager, interviewer, interview, now):
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    interview.refresh_from_db()
    with pytest.raises(InvalidInput) as refused:
        services.interview_record_update(
            services.RecordData(changes={"outcome": "not_held_decision", "not_held_reason": "x"}),
            actor=interviewer,
            interview_id=interview.pk,
            expected_version=interview.version,
            now=now,
        )
    assert "Only a manager" in refused.value.field_errors["outcome"][0]


def test_sign_off_closes_every_episode_with_the_follow_ups(ffd, manager, interviewer, child, now):
    first = returned_episode(
        ffd=ffd, manager=manager, child=child, returned_at=now - timedelta(days=2)
    )
    second = returned_episode(
        ffd=ffd, manager=manager, child=child, returned_at=now - timedelta(hours=4)
    )
    interview = open_interview(manager=manager, episodes=[first, second], now=now)
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    record_held(interview, actor=interviewer, held_at=now - timedelta(hours=1), now=now)
    done = complete(interview, actor=interviewer, now=now)

    # The episode's own sign-off would skip the interview's follow-up decisions: refused.
    with pytest.raises(Conflict, match=f"covered by return interview {interview.reference}"):
        core.episode_sign_off(
            core.SignOffData(note=""), actor=manager, episode_id=first.pk, now=now
        )
    first.refresh_from_db()
    assert (first.state, first.interview_reference) == (
        EpisodeState.AWAITING_SIGN_OFF,
        interview.reference,
    )
    with pytest.raises(NotAllowed):
        services.interview_sign_off(
            services.SignOffData(no_follow_up_reason="Known to the exploitation team."),
            actor=interviewer,
            interview_id=interview.pk,
            now=now,
        )
    services.interview_sign_off(
        services.SignOffData(strategy_meeting=True, update_safety_plan=True, note="Agreed."),
        actor=manager,
        interview_id=interview.pk,
        expected_version=done.version,
        now=now,
    )
    signed = ReturnInterview.objects.get()
    assert signed.status == InterviewStatus.SIGNED_OFF
    assert signed.follow_ups() == ["strategy meeting", "update the safety plan"]
    for episode in (first, second):
        episode.refresh_from_db()
        assert episode.state == EpisodeState.CLOSED
        assert episode.signed_off_by == manager
    assert EpisodeEvent.objects.filter(action="sign_off").count() == 2
    # Access ends with the sign-off, and a signed-off interview is never edited again.
    assert visible(interviewer) == set()
    with pytest.raises(Conflict, match="signed off"):
        services.interview_record_update(
            services.RecordData(changes={"present": "x"}),
            actor=manager,
            interview_id=interview.pk,
            expected_version=signed.version,
            now=now,
        )


def test_sign_off_is_all_or_nothing_and_needs_each_episodes_oversight(
    ffd, manager, interviewer, child, now
):
    reviewed = returned_episode(
        ffd=ffd, manager=manager, child=child, returned_at=now - timedelta(days=2)
    )
    unreviewed = returned_episode(
        ffd=ffd, manager=manager, child=child, returned_at=now - timedelta(hours=4), reviewed=False
    )
    interview = open_interview(manager=manager, episodes=[reviewed, unreviewed], now=now)
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    record_held(interview, actor=interviewer, held_at=now - timedelta(hours=1), now=now)
    complete(interview, actor=interviewer, now=now)

    with pytest.raises(Conflict, match="no manager oversight decision"):
        services.interview_sign_off(
            services.SignOffData(no_follow_up_reason="Known to the exploitation team."),
            actor=manager,
            interview_id=interview.pk,
            now=now,
        )
    assert ReturnInterview.objects.get().status == InterviewStatus.COMPLETED
    assert set(MissingEpisode.objects.values_list("state", flat=True)) == {
        EpisodeState.AWAITING_SIGN_OFF
    }


def test_an_unfinished_interview_cannot_be_signed_off(manager, interview, now):
    with pytest.raises(Conflict, match="once the interview is completed"):
        services.interview_sign_off(
            services.SignOffData(no_follow_up_reason="Known to the exploitation team."),
            actor=manager,
            interview_id=interview.pk,
            now=now,
        )


def test_the_child_missing_again_adds_an_episode_and_withdraws_an_earlier_plan(
    ffd, manager, interviewer, child, episode, interview, now
):
    assign(
        interview,
        manager=manager,
        interviewer=interviewer,
        now=now - timedelta(hours=4),
        planned_at=now - timedelta(hours=3),
    )
    again = returned_episode(
        ffd=ffd, manager=manager, child=child, returned_at=now - timedelta(hours=1)
    )
    interview.refresh_from_db()
    services.interview_add_episode(
        services.AddEpisodeData(episode_id=again.pk),
        actor=manager,
        interview_id=interview.pk,
        expected_version=interview.version,
        now=now,
    )
    interview.refresh_from_db()
    assert interview.status == InterviewStatus.TO_ARRANGE
    assert interview.planned_at is None
    assert set(MissingEpisode.objects.values_list("state", flat=True)) == {EpisodeState.RETURNED}
    # The interviewer now sees both episodes, and only those.
    assert visible(interviewer) == {episode.pk, again.pk}


def test_held_record_has_every_required_answer():
    assert set(services.REQUIRED_IF_HELD) - {"held_at"} <= set(HELD_RECORD)


def test_cancelled_episode_ends_access_and_is_skipped(ffd, manager, interviewer, child, now):
    first = returned_episode(
        ffd=ffd, manager=manager, child=child, returned_at=now - timedelta(days=2)
    )
    second = returned_episode(
        ffd=ffd, manager=manager, child=child, returned_at=now - timedelta(hours=4)
    )
    interview = open_interview(manager=manager, episodes=[first, second], now=now)
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    core.episode_cancel(
        core.CancelData(reason="Logged twice"), actor=manager, episode_id=second.pk, now=now
    )
    assert visible(interviewer) == {first.pk}
    record_held(interview, actor=interviewer, held_at=now - timedelta(hours=1), now=now)
    complete(interview, actor=interviewer, now=now)
    assert MissingEpisode.objects.get(pk=second.pk).state == EpisodeState.CANCELLED
    assert MissingEpisode.objects.get(pk=first.pk).state == EpisodeState.AWAITING_SIGN_OFF
