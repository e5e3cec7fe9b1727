from __future__ import annotations

from datetime import date, timedelta

import pytest

from missing.cases import clocks, services
from missing.cases.errors import Conflict, InvalidInput, NotAllowed
from missing.models import (
    Child,
    EpisodeEvent,
    EpisodeState,
    MissingEpisode,
    NotificationKind,
    PoliceNotification,
)
from tests.factories import ChildFactory, force, grade
from tests.helpers import episode_in_state, report_missing


def notify(actor, now, **fields) -> services.IntakeResult:
    base = {
        "police_force": force("kent"),
        "police_reference": "KNT-1",
        "kind": NotificationKind.REPORTED_MISSING,
        "child_first_name": "Sam",
        "child_last_name": "Testchild",
        "child_date_of_birth": date(2012, 5, 1),
        "last_seen_at": now - timedelta(hours=5),
        "reported_at": now - timedelta(hours=4),
        "risk_grade": grade("medium"),
    }
    base.update(fields)
    data = services.NotificationData(**base)
    payload = {k: str(v) for k, v in base.items()}
    return services.notification_receive(data, actor=actor, payload=payload, now=now)


class TestIntake:
    def test_unknown_child_is_created_and_episode_opened(self, ffd, now):
        result = notify(ffd, now)
        episode = result.notification.episode
        assert result.created
        assert episode.state == EpisodeState.MISSING
        assert episode.child.last_name == "Testchild"
        # Medium grade: manager review within 4 hours of the notification arriving.
        assert episode.review_due_at == now + timedelta(hours=4)
        assert not episode.flag_aged_13_or_under  # 14 when last seen in June 2026
        assert EpisodeEvent.objects.get(episode=episode).action == "opened"

    def test_child_aged_13_is_flagged(self, ffd, now):
        episode = notify(ffd, now, child_date_of_birth=date(2012, 6, 11)).notification.episode
        assert episode.flag_aged_13_or_under  # 13 until 11 June 2026

    def test_exact_match_on_council_child_id(self, ffd, now):
        child = ChildFactory(council_child_id="CC777", last_name="Different")
        episode = notify(ffd, now, council_child_id="CC777").notification.episode
        assert episode.child == child
        assert Child.objects.count() == 1

    def test_name_and_dob_candidates_are_held_for_a_practitioner(self, ffd, now):
        existing = ChildFactory(
            first_name="Samuel", last_name="TESTCHILD", date_of_birth=date(2012, 5, 1)
        )
        notification = notify(ffd, now).notification
        assert notification.match_status == PoliceNotification.MatchStatus.AWAITING_MATCH
        assert notification.episode is None
        assert MissingEpisode.objects.count() == 0
        candidates = services.child_match_candidates(
            first_name="Sam", last_name="Testchild", date_of_birth=date(2012, 5, 1)
        )
        assert candidates == [existing]

        later = now + timedelta(minutes=10)
        services.notification_resolve_match(
            services.MatchData(child_id=existing.pk),
            actor=ffd,
            notification_id=notification.pk,
            now=later,
        )
        episode = MissingEpisode.objects.get()
        assert episode.child == existing
        # The review clock started when the notification arrived, not when it was matched.
        assert episode.review_due_at == now + timedelta(hours=4)

    def test_rejecting_candidates_creates_a_new_child(self, ffd, now):
        ChildFactory(first_name="Sam", last_name="Testchild", date_of_birth=date(2012, 5, 1))
        notification = notify(ffd, now).notification
        services.notification_resolve_match(
            services.MatchData(child_id=None), actor=ffd, notification_id=notification.pk, now=now
        )
        assert Child.objects.count() == 2
        with pytest.raises(Conflict, match="already been matched"):
            services.notification_resolve_match(
                services.MatchData(child_id=None),
                actor=ffd,
                notification_id=notification.pk,
                now=now,
            )

    def test_resolving_to_a_child_not_offered_is_refused(self, ffd, now):
        ChildFactory(first_name="Sam", last_name="Testchild", date_of_birth=date(2012, 5, 1))
        stranger = ChildFactory()
        notification = notify(ffd, now).notification
        with pytest.raises(InvalidInput) as err:
            services.notification_resolve_match(
                services.MatchData(child_id=stranger.pk),
                actor=ffd,
                notification_id=notification.pk,
                now=now,
            )
        assert "child" in err.value.field_errors
        assert MissingEpisode.objects.count() == 0

    def test_same_notification_twice_is_idempotent(self, police_system, now):
        first = notify(police_system, now)
        again = notify(police_system, now)  # a retry: the same payload
        assert not again.created
        assert again.notification.pk == first.notification.pk
        assert MissingEpisode.objects.count() == 1

    def test_same_key_with_different_details_is_a_conflict(self, police_system, now):
        notify(police_system, now)
        with pytest.raises(Conflict, match="different details"):
            notify(police_system, now, last_seen_place="Elsewhere")
        assert PoliceNotification.objects.count() == 1

    def test_police_system_may_only_post_for_its_force(self, police_system, now):
        with pytest.raises(NotAllowed):
            notify(police_system, now, police_force=force("essex"))
        assert PoliceNotification.objects.count() == 0

    @pytest.mark.parametrize("role", ["interviewer", "admin"])
    def test_other_roles_cannot_log_notifications(self, role, users_by_role, now):
        with pytest.raises(NotAllowed):
            notify(users_by_role[role], now)

    def test_bad_input_names_every_field_and_writes_nothing(self, ffd, now):
        with pytest.raises(InvalidInput) as err:
            notify(
                ffd,
                now,
                child_first_name="",
                last_seen_at=now + timedelta(hours=1),
                reported_at=now - timedelta(hours=9),
                child_date_of_birth=date(2030, 1, 1),
            )
        assert set(err.value.field_errors) == {
            "child_first_name",
            "last_seen_at",
            "reported_at",
            "child_date_of_birth",
        }
        assert PoliceNotification.objects.count() == 0
        assert Child.objects.count() == 0

    def test_report_before_last_seen_is_refused(self, ffd, now):
        with pytest.raises(InvalidInput) as err:
            notify(ffd, now, reported_at=now - timedelta(hours=6))
        assert list(err.value.field_errors) == ["reported_at"]

    def test_retired_grade_is_refused(self, ffd, now):
        retired = grade("very_low")
        retired.active = False
        retired.save()
        with pytest.raises(InvalidInput) as err:
            notify(ffd, now, risk_grade=retired)
        assert "risk_grade" in err.value.field_errors


class TestFoundAndRegrade:
    def test_found_notification_records_the_return(self, ffd, police_system, now):
        episode = notify(police_system, now - timedelta(hours=2)).notification.episode
        returned = now - timedelta(minutes=30)
        notify(
            police_system,
            now,
            kind=NotificationKind.FOUND,
            found_at=returned,
            found_place="Bus station",
            found_by="PC 123",
            prevention_interview_done=True,
        )
        episode.refresh_from_db()
        assert episode.state == EpisodeState.RETURNED
        assert episode.returned_at == returned
        assert episode.interview_due_at == returned + clocks.INTERVIEW_WINDOW
        assert episode.prevention_interview_done is True

    def test_found_before_last_seen_is_refused(self, police_system, now):
        episode = notify(police_system, now).notification.episode
        with pytest.raises(InvalidInput) as err:
            notify(
                police_system, now, kind=NotificationKind.FOUND, found_at=now - timedelta(days=2)
            )
        assert "found_at" in err.value.field_errors
        episode.refresh_from_db()
        assert episode.state == EpisodeState.MISSING
        assert PoliceNotification.objects.count() == 1

    def test_found_with_no_episode_and_no_details_waits_for_the_report(self, police_system, now):
        found = notify(
            police_system,
            now,
            kind=NotificationKind.FOUND,
            police_reference="KNT-NEW",
            found_at=now - timedelta(hours=1),
            found_place="Bus station",
            child_first_name="",
            last_seen_at=None,
            reported_at=None,
        ).notification
        assert found.match_status == PoliceNotification.MatchStatus.AWAITING_REPORT
        assert found.episode_id is None
        assert MissingEpisode.objects.count() == 0

        # The report arrives late: the episode opens, then the found that waited is applied.
        episode = notify(police_system, now, police_reference="KNT-NEW").notification.episode
        found.refresh_from_db()
        episode.refresh_from_db()
        assert found.match_status == PoliceNotification.MatchStatus.MATCHED
        assert found.episode_id == episode.pk
        assert episode.state == EpisodeState.RETURNED
        assert episode.returned_at == now - timedelta(hours=1)
        assert episode.found_place == "Bus station"

    def test_found_with_no_earlier_notification_opens_and_returns(self, police_system, now):
        result = notify(
            police_system, now, kind=NotificationKind.FOUND, found_at=now - timedelta(hours=1)
        )
        episode = MissingEpisode.objects.get(pk=result.notification.episode_id)
        assert episode.state == EpisodeState.RETURNED
        assert episode.returned_at == now - timedelta(hours=1)

    def test_found_waits_behind_a_held_notification(self, ffd, police_system, now):
        existing = ChildFactory(
            first_name="Sam", last_name="Testchild", date_of_birth=date(2012, 5, 1)
        )
        held = notify(police_system, now - timedelta(hours=1)).notification
        found = notify(
            police_system, now, kind=NotificationKind.FOUND, found_at=now - timedelta(minutes=20)
        ).notification
        assert found.match_status == PoliceNotification.MatchStatus.AWAITING_MATCH
        services.notification_resolve_match(
            services.MatchData(child_id=existing.pk), actor=ffd, notification_id=held.pk, now=now
        )
        episode = MissingEpisode.objects.get()
        assert episode.state == EpisodeState.RETURNED
        found.refresh_from_db()
        assert found.episode == episode
        assert found.match_status == PoliceNotification.MatchStatus.MATCHED

    def test_regrade_for_unknown_reference_waits_for_the_report(self, police_system, now):
        regrade = notify(
            police_system,
            now,
            kind=NotificationKind.RISK_REGRADED,
            police_reference="X9",
            risk_grade=grade("high"),
        ).notification
        assert regrade.match_status == PoliceNotification.MatchStatus.AWAITING_REPORT
        assert "reported-missing notification arrives" in regrade.outcome_detail
        episode = notify(police_system, now, police_reference="X9").notification.episode
        episode.refresh_from_db()
        assert episode.police_grade.code == "high"

    def test_upgrade_brings_the_review_forward_and_downgrade_never_delays(self, police_system, now):
        episode = notify(police_system, now).notification.episode  # medium: due now + 4h
        later = now + timedelta(minutes=30)
        notify(police_system, later, kind=NotificationKind.RISK_REGRADED, risk_grade=grade("high"))
        episode.refresh_from_db()
        assert episode.police_grade.code == "high"
        assert episode.review_due_at == later + timedelta(hours=1)
        notify(
            police_system,
            later,
            kind=NotificationKind.RISK_REGRADED,
            sequence=2,
            risk_grade=grade("low"),
        )
        episode.refresh_from_db()
        assert episode.police_grade.code == "low"
        assert episode.review_due_at == later + timedelta(hours=1)


class TestOverlap:
    def test_a_report_while_child_still_missing_is_linked_for_review(self, ffd, now):
        child = ChildFactory()
        first = report_missing(actor=ffd, now=now, child=child)
        second = notify(
            ffd,
            now,
            police_reference="KNT-OTHER",
            child_first_name=child.first_name,
            child_last_name=child.last_name,
            child_date_of_birth=child.date_of_birth,
            council_child_id=child.council_child_id,
        ).notification
        assert MissingEpisode.objects.count() == 1
        assert PoliceNotification.objects.count() == 2
        assert second.episode_id == first.pk
        assert second.match_status == PoliceNotification.MatchStatus.NEEDS_REVIEW
        assert f"already missing in episode {first.reference}" in second.outcome_detail
        assert EpisodeEvent.objects.filter(episode=first, action="police_discrepancy").exists()

    def test_a_report_overlapping_an_earlier_episode_is_linked_for_review(self, ffd, now):
        child = ChildFactory()
        first = report_missing(
            actor=ffd, now=now, child=child, last_seen_at=now - timedelta(hours=10)
        )
        services.episode_record_return(
            services.ReturnData(
                returned_at=now - timedelta(hours=2),
                found_place="",
                found_by="",
                prevention_interview_done=None,
            ),
            actor=ffd,
            episode_id=first.pk,
            now=now,
        )
        overlapping = notify(
            ffd,
            now,
            police_reference="B",
            council_child_id=child.council_child_id,
            last_seen_at=now - timedelta(hours=5),
        ).notification
        assert overlapping.match_status == PoliceNotification.MatchStatus.NEEDS_REVIEW
        assert overlapping.episode_id == first.pk
        assert "overlaps episode" in overlapping.outcome_detail
        second = report_missing(
            actor=ffd, now=now, child=child, last_seen_at=now - timedelta(hours=1), reference="C"
        )
        assert second.state == EpisodeState.MISSING
        assert MissingEpisode.objects.filter(child=child).count() == 2

    def test_a_cancelled_episode_does_not_block(self, ffd, manager, now):
        child = ChildFactory()
        first = report_missing(actor=ffd, now=now, child=child)
        services.episode_cancel(
            services.CancelData(reason="Wrong child"), actor=manager, episode_id=first.pk, now=now
        )
        again = report_missing(actor=ffd, now=now, child=child, reference="KNT-AGAIN")
        assert again.state == EpisodeState.MISSING


class TestOversight:
    def test_rationale_is_required_and_next_review_must_be_ahead(self, ffd, manager, now):
        episode = report_missing(actor=ffd, now=now)
        with pytest.raises(InvalidInput) as err:
            services.episode_record_decision(
                services.DecisionData(
                    risk="high", rationale="  ", next_review_at=now - timedelta(minutes=1)
                ),
                actor=manager,
                episode_id=episode.pk,
                now=now,
            )
        assert set(err.value.field_errors) == {"rationale", "next_review_at"}
        episode.refresh_from_db()
        assert episode.first_reviewed_at is None

    def test_decision_while_missing_sets_next_review(self, ffd, manager, now):
        episode = report_missing(actor=ffd, now=now)
        decision = services.episode_record_decision(
            services.DecisionData(risk="high", rationale="CSE concerns", police_liaison=True),
            actor=manager,
            episode_id=episode.pk,
            now=now,
        )
        episode.refresh_from_db()
        assert episode.first_reviewed_at == now
        assert episode.manager_risk == "high"
        # No next review given: it falls due after the grade's review time (medium: 4 h).
        assert episode.review_due_at == now + timedelta(hours=4)
        assert decision.next_review_at == now + timedelta(hours=4)
        assert decision.actions() == ["police liaison"]

    def test_return_before_first_review_keeps_the_review_due(self, ffd, manager, now):
        episode = report_missing(actor=ffd, now=now)
        due = episode.review_due_at
        services.episode_record_return(
            services.ReturnData(
                returned_at=now, found_place="", found_by="", prevention_interview_done=None
            ),
            actor=ffd,
            episode_id=episode.pk,
            now=now,
        )
        episode.refresh_from_db()
        assert episode.review_due_at == due
        assert episode.current_clock()[0] == "review"
        services.episode_record_decision(
            services.DecisionData(risk="low", rationale="Home, safe"),
            actor=manager,
            episode_id=episode.pk,
            now=now,
        )
        episode.refresh_from_db()
        assert episode.review_due_at is None
        assert episode.current_clock()[:2] == ("interview", episode.interview_due_at)

    def test_stale_version_is_a_conflict(self, ffd, manager, now):
        episode = episode_in_state(
            EpisodeState.AWAITING_SIGN_OFF, ffd=ffd, manager=manager, now=now
        )
        with pytest.raises(Conflict, match="changed by someone else"):
            services.episode_sign_off(
                services.SignOffData(note=""),
                actor=manager,
                episode_id=episode.pk,
                now=now,
                expected_version=episode.version - 1,
            )
        services.episode_sign_off(
            services.SignOffData(note=""),
            actor=manager,
            episode_id=episode.pk,
            now=now,
            expected_version=episode.version,
        )
        episode.refresh_from_db()
        assert episode.state == EpisodeState.CLOSED
        assert episode.signed_off_by == manager

    def test_cancel_needs_a_reason(self, ffd, manager, now):
        episode = report_missing(actor=ffd, now=now)
        with pytest.raises(InvalidInput):
            services.episode_cancel(
                services.CancelData(reason=" "), actor=manager, episode_id=episode.pk, now=now
            )

    def test_return_in_the_future_or_before_last_seen_is_refused(self, ffd, now):
        episode = report_missing(actor=ffd, now=now)
        for returned in (now + timedelta(minutes=1), episode.last_seen_at - timedelta(minutes=1)):
            with pytest.raises(InvalidInput) as err:
                services.episode_record_return(
                    services.ReturnData(
                        returned_at=returned,
                        found_place="",
                        found_by="",
                        prevention_interview_done=None,
                    ),
                    actor=ffd,
                    episode_id=episode.pk,
                    now=now,
                )
            assert "returned_at" in err.value.field_errors


class TestVisibility:
    def test_interviewer_sees_only_granted_episodes(self, ffd, interviewer, other_interviewer, now):
        granted = report_missing(actor=ffd, now=now)
        report_missing(actor=ffd, now=now)
        assert not MissingEpisode.objects.visible_to(interviewer).exists()
        services.access_grant(episode=granted, user=interviewer, now=now)
        assert list(MissingEpisode.objects.visible_to(interviewer)) == [granted]
        assert list(Child.objects.visible_to(interviewer)) == [granted.child]
        assert not MissingEpisode.objects.visible_to(other_interviewer).exists()
        assert not Child.objects.visible_to(other_interviewer).exists()
        services.access_revoke(episode=granted, user=interviewer, now=now)
        assert not MissingEpisode.objects.visible_to(interviewer).exists()

    @pytest.mark.parametrize("role", ["admin", "police_system"])
    def test_other_roles_see_no_children(self, role, users_by_role, ffd, now):
        report_missing(actor=ffd, now=now)
        assert not MissingEpisode.objects.visible_to(users_by_role[role]).exists()
        assert not Child.objects.visible_to(users_by_role[role]).exists()

    def test_disabled_user_sees_nothing(self, ffd, manager, now):
        report_missing(actor=ffd, now=now)
        manager.is_active = False
        assert not MissingEpisode.objects.visible_to(manager).exists()


def test_str_never_holds_the_childs_name(ffd, now):
    episode = report_missing(actor=ffd, now=now)
    assert episode.child.last_name not in str(episode.child)
    assert episode.child.first_name not in str(episode)


def test_police_system_account_needs_a_force(now):
    with pytest.raises(InvalidInput) as err:
        services.staff_create(username="nopolice", role="police_system", now=now)
    assert "force" in err.value.field_errors


def test_duplicate_staff_is_a_conflict(ffd, now):
    with pytest.raises(Conflict, match="already exists"):
        services.staff_create(username="ffd", role="ffd", now=now)
