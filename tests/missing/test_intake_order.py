"""Police notifications in any order, from several forces: every one is kept, none is refused
for the state its episode is in, and what differs from the record goes to FFD (issue 10)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from rest_framework.test import APIClient

from missing.cases import clocks, services
from missing.cases.errors import Conflict, InvalidInput, NotAllowed
from missing.models import (
    ApiToken,
    Child,
    EpisodeEvent,
    EpisodeState,
    MissingEpisode,
    NotificationKind,
    PoliceNotification,
)
from tests.factories import UserFactory, force, grade
from tests.helpers import login

Status = PoliceNotification.MatchStatus


def notify(actor, now, **fields) -> PoliceNotification:
    base = {
        "police_force": force("kent"),
        "police_reference": "KNT-1",
        "kind": NotificationKind.REPORTED_MISSING,
        "child_first_name": "Sam",
        "child_last_name": "Ordering",
        "child_date_of_birth": date(2011, 5, 1),
        "council_child_id": "CC-ORDER-1",
        "last_seen_at": now - timedelta(hours=10),
        "reported_at": now - timedelta(hours=9),
        "risk_grade": grade("medium"),
    }
    base.update(fields)
    data = services.NotificationData(**base)
    return services.notification_receive(
        data, actor=actor, payload={"ref": data.police_reference}, now=now
    ).notification


def found(actor, now, **fields) -> PoliceNotification:
    base = {
        "kind": NotificationKind.FOUND,
        "found_at": now - timedelta(hours=2),
        "child_first_name": "",
        "child_last_name": "",
        "council_child_id": "",
        "child_date_of_birth": None,
        "last_seen_at": None,
        "reported_at": None,
        "risk_grade": None,
    }
    base.update(fields)
    return notify(actor, now, **base)


def return_recorded_by_ffd(ffd, now, episode, *, at, place="") -> MissingEpisode:
    return services.episode_record_return(
        services.ReturnData(
            returned_at=at, found_place=place, found_by="", prevention_interview_done=None
        ),
        actor=ffd,
        episode_id=episode.pk,
        now=now,
    )


class TestFoundAfterTheReturnWasRecorded:
    def test_same_time_is_kept_and_fills_the_blanks(self, ffd, police_system, now):
        episode = notify(ffd, now).episode
        return_recorded_by_ffd(ffd, now, episode, at=now - timedelta(hours=2))

        late = found(
            police_system,
            now,
            found_place="Railway station",
            found_by="PC 123",
            prevention_interview_done=True,
        )

        episode.refresh_from_db()
        assert late.episode_id == episode.pk
        assert late.match_status == Status.MATCHED
        assert (episode.found_place, episode.found_by) == ("Railway station", "PC 123")
        assert episode.prevention_interview_done is True
        assert episode.returned_at == now - timedelta(hours=2)  # unchanged
        added = EpisodeEvent.objects.get(episode=episode, action="police_details_added")
        assert "found place, found by, police prevention interview" in added.reason

    def test_nothing_new_is_recorded_on_the_timeline(self, ffd, police_system, now):
        episode = notify(ffd, now).episode
        return_recorded_by_ffd(ffd, now, episode, at=now - timedelta(hours=2))
        late = found(police_system, now)
        assert late.match_status == Status.RECORDED
        assert EpisodeEvent.objects.filter(
            episode=episode, action="police_notification_kept", reason__contains=late.reference
        ).exists()

    def test_a_different_time_and_place_go_to_ffd_and_change_nothing(self, ffd, police_system, now):
        episode = notify(ffd, now).episode
        return_recorded_by_ffd(
            ffd, now, episode, at=now - timedelta(hours=2), place="Grandmother's house"
        )
        due = MissingEpisode.objects.get(pk=episode.pk).interview_due_at

        late = found(police_system, now, found_at=now - timedelta(hours=4), found_place="Bus depot")

        assert late.match_status == Status.NEEDS_REVIEW
        assert set(late.differences) == {"returned_at", "found_place"}
        assert late.differences["returned_at"]["police"] == (now - timedelta(hours=4)).isoformat()
        assert "found / return time, found place" in late.outcome_detail
        episode.refresh_from_db()
        assert episode.returned_at == now - timedelta(hours=2)
        assert episode.found_place == "Grandmother's house"
        assert episode.interview_due_at == due
        assert EpisodeEvent.objects.filter(episode=episode, action="police_discrepancy").exists()

    def test_applying_restarts_the_clock_from_the_police_time(self, ffd, police_system, now):
        episode = notify(ffd, now).episode
        return_recorded_by_ffd(ffd, now, episode, at=now - timedelta(hours=2))
        late = found(police_system, now, found_at=now - timedelta(hours=4), found_place="Depot")
        version = MissingEpisode.objects.get(pk=episode.pk).version

        services.notification_review(
            services.ReviewData(decision="applied", note="Police log"),
            actor=ffd,
            notification_id=late.pk,
            now=now,
        )

        episode.refresh_from_db()
        late.refresh_from_db()
        assert episode.returned_at == now - timedelta(hours=4)
        assert episode.found_place == "Depot"
        assert episode.interview_due_at == clocks.interview_due_at(now - timedelta(hours=4))
        assert episode.version == version + 1
        assert (late.match_status, late.review_decision) == (Status.REVIEWED, "applied")
        assert late.reviewed_by == ffd
        assert late.reviewed_at == now
        actions = list(
            EpisodeEvent.objects.filter(episode=episode).values_list("action", flat=True)
        )
        assert actions[-2:] == ["police_details_applied", "police_review"]

    def test_keeping_changes_nothing_and_a_second_review_is_a_conflict(
        self, ffd, manager, police_system, now
    ):
        episode = notify(ffd, now).episode
        return_recorded_by_ffd(ffd, now, episode, at=now - timedelta(hours=2))
        late = found(police_system, now, found_at=now - timedelta(hours=3))

        services.notification_review(
            services.ReviewData(decision="kept", note=""),
            actor=manager,
            notification_id=late.pk,
            now=now,
        )
        episode.refresh_from_db()
        assert episode.returned_at == now - timedelta(hours=2)
        with pytest.raises(Conflict, match="does not need a review"):
            services.notification_review(
                services.ReviewData(decision="applied", note=""),
                actor=ffd,
                notification_id=late.pk,
                now=now,
            )

    def test_applying_a_return_before_last_seen_or_onto_a_closed_episode_is_refused(
        self, ffd, manager, police_system, now
    ):
        episode = notify(ffd, now, last_seen_at=now - timedelta(hours=10)).episode
        return_recorded_by_ffd(ffd, now, episode, at=now - timedelta(hours=2))
        # Police's last seen differs too: a late second report under the same reference.
        report = notify(
            police_system,
            now,
            sequence=2,
            last_seen_at=now - timedelta(hours=1, minutes=30),
            reported_at=now - timedelta(hours=1),
        )
        assert report.match_status == Status.NEEDS_REVIEW
        with pytest.raises(Conflict, match="before the child"):
            services.notification_review(
                services.ReviewData(decision="applied", note=""),
                actor=ffd,
                notification_id=report.pk,
                now=now,
            )
        assert report.__class__.objects.get(pk=report.pk).match_status == Status.NEEDS_REVIEW

        services.episode_cancel(
            services.CancelData(reason="Error"), actor=manager, episode_id=episode.pk, now=now
        )
        with pytest.raises(Conflict, match="cancelled"):
            services.notification_review(
                services.ReviewData(decision="applied", note=""),
                actor=ffd,
                notification_id=report.pk,
                now=now,
            )

    def test_applying_nothing_and_roles(self, ffd, police_system, interviewer, now):
        episode = notify(ffd, now).episode
        second = notify(police_system, now, police_reference="KNT-2")  # the child is missing
        assert second.episode_id == episode.pk
        assert second.differences == {}
        with pytest.raises(InvalidInput) as err:
            services.notification_review(
                services.ReviewData(decision="applied", note=""),
                actor=ffd,
                notification_id=second.pk,
                now=now,
            )
        assert "decision" in err.value.field_errors
        for who in (police_system, interviewer):
            with pytest.raises(NotAllowed):
                services.notification_review(
                    services.ReviewData(decision="kept", note=""),
                    actor=who,
                    notification_id=second.pk,
                    now=now,
                )


class TestOutOfOrder:
    def test_report_after_its_found_is_kept_and_compared(self, police_system, now):
        first = found(
            police_system,
            now,
            child_first_name="Sam",
            child_last_name="Ordering",
            council_child_id="CC-ORDER-1",
            last_seen_at=now - timedelta(hours=10),
            risk_grade=grade("medium"),
        )
        episode = MissingEpisode.objects.get(pk=first.episode_id)
        assert episode.state == EpisodeState.RETURNED  # opened and closed by the found

        report = notify(
            police_system,
            now,
            last_seen_place="School gates",
            last_seen_at=now - timedelta(hours=11),
        )

        assert report.episode_id == episode.pk
        assert report.match_status == Status.NEEDS_REVIEW
        assert set(report.differences) == {"last_seen_at", "reported_at"}
        episode.refresh_from_db()
        assert episode.last_seen_place == "School gates"  # a blank, filled
        assert episode.last_seen_at == now - timedelta(hours=10)  # a difference, not applied

        services.notification_review(
            services.ReviewData(decision="applied", note=""),
            actor=UserFactory(role="ffd"),
            notification_id=report.pk,
            now=now,
        )
        episode.refresh_from_db()
        assert episode.last_seen_at == now - timedelta(hours=11)

    def test_found_and_update_before_the_report_wait_then_apply_in_order(self, police_system, now):
        update = notify(
            police_system,
            now - timedelta(minutes=5),
            kind=NotificationKind.UPDATE,
            circumstances="Seen near the canal",
            child_first_name="",
            last_seen_at=None,
            reported_at=None,
            risk_grade=None,
        )
        late_found = found(police_system, now - timedelta(minutes=2))
        assert {update.match_status, late_found.match_status} == {Status.AWAITING_REPORT}
        assert MissingEpisode.objects.count() == 0

        report = notify(police_system, now)

        episode = MissingEpisode.objects.get()
        assert report.episode_id == episode.pk
        assert episode.state == EpisodeState.RETURNED
        actions = list(
            EpisodeEvent.objects.filter(episode=episode).values_list("action", flat=True)
        )
        assert actions == ["opened", "police_update", "record_return"]
        assert set(
            PoliceNotification.objects.filter(episode=episode).values_list(
                "match_status", flat=True
            )
        ) == {Status.MATCHED}

    def test_regrade_of_a_closed_episode_is_kept(self, ffd, manager, police_system, now):
        episode = notify(ffd, now).episode
        services.episode_cancel(
            services.CancelData(reason="Error"), actor=manager, episode_id=episode.pk, now=now
        )
        regrade = notify(
            police_system,
            now,
            kind=NotificationKind.RISK_REGRADED,
            risk_grade=grade("high"),
            child_first_name="",
            last_seen_at=None,
            reported_at=None,
        )
        assert regrade.match_status == Status.RECORDED
        assert regrade.episode_id == episode.pk
        episode.refresh_from_db()
        assert episode.police_grade.code == "medium"

    def test_a_found_for_a_cancelled_episode_goes_to_ffd(self, ffd, manager, police_system, now):
        episode = notify(ffd, now).episode
        services.episode_cancel(
            services.CancelData(reason="Error"), actor=manager, episode_id=episode.pk, now=now
        )
        late = found(police_system, now)
        assert late.match_status == Status.NEEDS_REVIEW
        assert "cancelled" in late.outcome_detail


class TestSeveralForces:
    def test_second_forces_report_and_its_found_go_to_the_open_episode(
        self, ffd, police_system, now
    ):
        met = UserFactory(role="police_system", police_force=force("metropolitan"))
        episode = notify(police_system, now).episode
        second = notify(met, now, police_force=force("metropolitan"), police_reference="MET-9")
        assert second.episode_id == episode.pk
        assert second.match_status == Status.NEEDS_REVIEW

        met_found = found(met, now, police_force=force("metropolitan"), police_reference="MET-9")

        episode.refresh_from_db()
        assert met_found.episode_id == episode.pk
        assert met_found.match_status == Status.MATCHED
        assert episode.state == EpisodeState.RETURNED
        assert MissingEpisode.objects.count() == 1
        assert Child.objects.count() == 1

    def test_same_key_different_details_is_still_the_one_conflict(self, police_system, now):
        notify(police_system, now)
        again = services.notification_receive(
            services.NotificationData(
                police_force=force("kent"),
                police_reference="KNT-1",
                kind=NotificationKind.REPORTED_MISSING,
                child_first_name="Sam",
                child_last_name="Ordering",
                child_date_of_birth=date(2011, 5, 1),
                council_child_id="CC-ORDER-1",
                last_seen_at=now - timedelta(hours=10),
                reported_at=now - timedelta(hours=9),
                risk_grade=grade("medium"),
            ),
            actor=police_system,
            payload={},
            now=now,
        )
        assert not again.created
        with pytest.raises(Conflict, match="different details"):
            notify(police_system, now, last_seen_place="Elsewhere")
        assert PoliceNotification.objects.count() == 1


def test_review_through_the_api_and_the_receipt(ffd, police_system, now):
    episode = notify(ffd, now).episode
    return_recorded_by_ffd(ffd, now, episode, at=now - timedelta(hours=2))
    police = APIClient()
    raw = services.api_token_create(user=police_system, scope=ApiToken.Scope.INTAKE, now=now)
    police.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    receipt = police.post(
        "/api/notifications/",
        {
            "police_force": "kent",
            "police_reference": "KNT-1",
            "kind": "found",
            "found_at": (now - timedelta(hours=3)).isoformat(),
        },
        format="json",
    )
    assert receipt.status_code == 201, receipt.content
    body = receipt.json()
    assert body["match_status"] == "needs_review"
    assert body["episode_reference"] == episode.reference
    assert "differences" not in body  # case staff only

    staff = APIClient()
    login(staff, ffd)
    listed = staff.get("/api/notifications/?match_status=needs_review").json()
    assert [n["id"] for n in listed["results"]] == [body["id"]]
    assert listed["results"][0]["differences"]["returned_at"]["label"] == "found / return time"

    url = f"/api/notifications/{body['id']}/review/"
    assert staff.post(url, {"decision": "maybe"}, format="json").status_code == 400
    assert police.post(url, {"decision": "kept"}, format="json").status_code == 403
    done = staff.post(url, {"decision": "applied", "note": "Police log"}, format="json")
    assert done.status_code == 200, done.content
    assert done.json()["review_decision"] == "applied"
    again = staff.post(url, {"decision": "kept"}, format="json")
    assert again.status_code == 409
    episode.refresh_from_db()
    assert episode.returned_at == now - timedelta(hours=3)


def test_the_board_and_list_show_the_queue(client, ffd, police_system, now):
    episode = notify(ffd, now).episode
    return_recorded_by_ffd(ffd, now, episode, at=now - timedelta(hours=2))
    late = found(police_system, now, found_at=now - timedelta(hours=3))
    waiting = found(police_system, now, police_reference="KNT-NOT-YET")
    login(client, ffd)
    for url in ("/board/", "/notifications/"):
        page = client.get(url).content.decode()
        assert f"Review {late.reference}" in page, url
        assert waiting.reference in page, url
        assert "Ask the police for the report" in page, url
