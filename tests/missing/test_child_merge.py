"""Merging two child records created in error (missing.cases.merge): the service, the web pages and
the API, through the real services."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from missing.audit import retention
from missing.cases import services
from missing.cases.errors import Conflict, InvalidInput, NotAllowed
from missing.cases.merge import MergeData, child_merge
from missing.models import (
    AccessAction,
    AccessLog,
    CaseAccessGrant,
    Child,
    ChildMerge,
    EpisodeEvent,
    EpisodeHistory,
    EpisodeState,
    MissingEpisode,
    PoliceNotification,
    RepeatMissingRule,
    RiskMeetingTask,
    User,
)
from tests.factories import ChildFactory, force, grade
from tests.helpers import login

DAY = timedelta(days=1)


def episode_for(
    child: Child,
    *,
    actor: User,
    last_seen_at: datetime,
    returned_after: timedelta | None = timedelta(hours=5),
) -> MissingEpisode:
    """An episode of `child` through the real services, returned unless `returned_after` is
    None. (Not through a notification: a police-created child may not match one.)"""
    episode = services.episode_open(
        actor=actor,
        child=child,
        police_force=force(),
        police_reference=f"KNT-M-{child.pk}-{last_seen_at:%Y%m%d%H%M}",
        grade=grade("medium"),
        kind=MissingEpisode.Kind.MISSING,
        last_seen_at=last_seen_at,
        last_seen_place="Town centre",
        reported_at=last_seen_at + timedelta(hours=1),
        notified_at=last_seen_at + timedelta(hours=1),
        circumstances="",
        reported_by="Carer",
        now=last_seen_at + timedelta(hours=1),
    )
    if returned_after is None:
        return episode
    return services.episode_record_return(
        services.ReturnData(
            returned_at=last_seen_at + returned_after,
            found_place="Home",
            found_by="Police",
            prevention_interview_done=True,
        ),
        actor=actor,
        episode_id=episode.pk,
        now=last_seen_at + returned_after,
    )


def police_created(**kwargs) -> Child:
    """The second record police intake creates: another spelling, no council child id."""
    return ChildFactory(
        first_name="Jayden",
        last_name="Smyth",
        council_child_id=None,
        **{"date_of_birth": None, "gender": "", **kwargs},
    )


@pytest.fixture
def pair(db) -> tuple[Child, Child]:
    keep = ChildFactory(first_name="Jaden", last_name="Smith", gender="")
    remove = police_created(gender="Male", placement="Oak House")
    return keep, remove


def merge(actor: User, keep: Child, remove: Child, now: datetime, reason: str = "Same child"):
    return child_merge(
        MergeData(remove_id=remove.pk, reason=reason), actor=actor, keep_id=keep.pk, now=now
    )


# --------------------------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------------------------


def police_intake(*, actor: User, last_seen_at: datetime) -> MissingEpisode:
    """A notification about a child the intake does not recognise: it creates a new record
    (another spelling, a gender, no council child id, no date of birth) and its episode."""
    result = services.notification_receive(
        services.NotificationData(
            police_force=force(),
            police_reference="KNT-NEW-1",
            kind="reported_missing",
            child_first_name="Jayden",
            child_last_name="Smyth",
            child_gender="Male",
            last_seen_at=last_seen_at,
            reported_at=last_seen_at + timedelta(minutes=30),
            risk_grade=grade("medium"),
        ),
        actor=actor,
        now=last_seen_at + timedelta(hours=1),
        payload={"ref": "KNT-NEW-1"},
    )
    assert result.notification.episode is not None
    return result.notification.episode


def test_merge_moves_every_record_and_deletes_the_removed_child(ffd, manager, interviewer, now):
    keep = ChildFactory(first_name="Jaden", last_name="Smith", gender="", placement="")
    kept_episode = episode_for(keep, actor=ffd, last_seen_at=now - 200 * DAY)
    moved_episode = police_intake(actor=ffd, last_seen_at=now - 10 * DAY)
    remove = moved_episode.child
    Child.objects.filter(pk=remove.pk).update(placement="Oak House")
    notification = PoliceNotification.objects.get(episode=moved_episode)
    services.episode_record_return(
        services.ReturnData(
            returned_at=now - 9 * DAY,
            found_place="Home",
            found_by="Police",
            prevention_interview_done=True,
        ),
        actor=ffd,
        episode_id=moved_episode.pk,
        now=now - 9 * DAY,
    )
    services.episode_set_flags(
        services.FlagsData(
            sexual_exploitation=True, criminal_exploitation=False, mental_health=False
        ),
        actor=manager,
        episode_id=moved_episode.pk,
        now=now - 9 * DAY,
    )
    task = RiskMeetingTask.objects.get(child=remove)
    grant = services.access_grant(episode=moved_episode, user=interviewer, now=now - 9 * DAY)
    version = MissingEpisode.objects.get(pk=moved_episode.pk).version

    record = merge(ffd, keep, remove, now, reason="Police spelt the name differently")

    assert not Child.objects.filter(pk=remove.pk).exists()
    moved_episode.refresh_from_db()
    assert moved_episode.child_id == keep.pk
    assert moved_episode.version == version + 1
    task.refresh_from_db()
    assert task.child_id == keep.pk
    assert CaseAccessGrant.objects.get(pk=grant.pk).episode.child_id == keep.pk
    # The interviewer granted the moved episode now sees the kept child, and only that episode.
    assert list(Child.objects.visible_to(interviewer)) == [keep]
    assert list(MissingEpisode.objects.visible_to(interviewer)) == [moved_episode]
    notification.refresh_from_db()
    assert notification.child_id == keep.pk
    # The kept child's blanks are filled from the removed record; what it had is kept.
    keep.refresh_from_db()
    assert (keep.first_name, keep.gender, keep.placement) == ("Jaden", "Male", "Oak House")
    # The durable record.
    record.refresh_from_db()
    assert record.kept_child_id == keep.pk
    assert (record.removed_child_id, record.removed_reference) == (remove.pk, remove.reference)
    assert (record.merged_by, record.merged_at) == (ffd, now)
    assert record.reason == "Police spelt the name differently"
    assert record.moved["episodes"] == [moved_episode.reference]
    assert record.moved["strategy / risk meeting tasks"] == [task.reference]
    assert record.moved["police notifications"] == [notification.reference]
    assert record.counts["episodes"] == 1
    assert record.filled_fields == ["gender", "placement"]
    # The timeline of the moved episode says so; the kept child's own episode is untouched.
    event = EpisodeEvent.objects.get(episode=moved_episode, action="child_merged")
    assert event.actor == ffd
    assert remove.reference in event.reason
    assert record.reference in event.reason
    assert not EpisodeEvent.objects.filter(episode=kept_episode, action="child_merged").exists()


def test_the_moved_episode_version_moves_on_so_open_forms_are_stale(pair, ffd, manager, now):
    keep, remove = pair
    episode = episode_for(remove, actor=ffd, last_seen_at=now - 10 * DAY, returned_after=None)
    version = episode.version

    merge(ffd, keep, remove, now)

    with pytest.raises(Conflict, match="changed by someone else"):
        services.episode_cancel(
            services.CancelData(reason="Logged in error"),
            actor=manager,
            episode_id=episode.pk,
            now=now,
            expected_version=version,
        )


def test_blank_council_id_and_date_of_birth_are_filled_from_the_removed_record(ffd, now):
    keep = police_created()
    remove = ChildFactory(council_child_id="CC-42", date_of_birth=date(2012, 5, 1))

    record = merge(ffd, keep, remove, now)

    keep.refresh_from_db()
    assert (keep.council_child_id, keep.date_of_birth) == ("CC-42", date(2012, 5, 1))
    assert record.filled_fields[:2] == ["council_child_id", "date_of_birth"]


def test_looked_after_is_carried_over_for_retention(ffd, now):
    keep = ChildFactory(date_of_birth=date(1950, 1, 1))
    remove = police_created(looked_after=True)

    merge(ffd, keep, remove, now)

    keep.refresh_from_db()
    assert keep.ever_looked_after
    # Kept until the 75th birthday, as a looked-after child's file.
    (candidate,) = retention.due_for_erasure(now=now)
    assert candidate.child_id == keep.pk
    assert candidate.retention_class == "looked_after"


def test_retention_erases_a_merged_child_and_its_merge_record(ffd, manager, now):
    keep = ChildFactory(date_of_birth=date(1950, 1, 1))
    remove = police_created()
    episode = episode_for(remove, actor=ffd, last_seen_at=now - 10 * DAY)
    # Nothing is erased while an episode is open: this one is over.
    services.episode_cancel(
        services.CancelData(reason="Test"), actor=manager, episode_id=episode.pk, now=now
    )
    merge(ffd, keep, remove, now)

    erased = retention.erase_child(child_id=keep.pk, now=now, reason="test")

    assert erased is not None
    assert erased.counts["child merge records"] == 1
    assert erased.counts["episodes"] == 1
    assert not Child.objects.filter(pk=keep.pk).exists()
    assert not ChildMerge.objects.exists()


@pytest.mark.parametrize(
    ("keep_kwargs", "remove_kwargs", "why"),
    [
        ({"council_child_id": "CC-1"}, {"council_child_id": "CC-2"}, "different council child ids"),
        (
            {"date_of_birth": date(2011, 1, 1)},
            {"date_of_birth": date(2011, 1, 2)},
            "different dates of birth",
        ),
    ],
)
def test_different_identities_are_refused(ffd, now, keep_kwargs, remove_kwargs, why):
    keep = ChildFactory(**keep_kwargs)
    remove = ChildFactory(**remove_kwargs)

    with pytest.raises(Conflict, match=why) as refused:
        merge(ffd, keep, remove, now)

    assert "case system" in refused.value.message
    assert Child.objects.filter(pk=remove.pk).exists()
    assert not ChildMerge.objects.exists()


def test_input_errors_name_the_field(pair, ffd, now):
    keep, remove = pair
    with pytest.raises(InvalidInput) as blank:
        merge(ffd, keep, remove, now, reason="  ")
    assert set(blank.value.field_errors) == {"reason"}
    with pytest.raises(InvalidInput) as itself:
        merge(ffd, keep, keep, now)
    assert set(itself.value.field_errors) == {"remove"}


@pytest.mark.parametrize("role", ["ffd", "manager", "head_of_service"])
def test_ffd_and_managers_may_merge(role, users_by_role, pair, now):
    keep, remove = pair
    assert merge(users_by_role[role], keep, remove, now).kept_child_id == keep.pk


@pytest.mark.parametrize("role", ["interviewer", "admin", "police_system"])
def test_other_roles_are_refused(role, users_by_role, pair, now):
    keep, remove = pair
    with pytest.raises(NotAllowed):
        merge(users_by_role[role], keep, remove, now)
    assert Child.objects.filter(pk=remove.pk).exists()


def test_two_still_missing_episodes_are_refused_until_one_is_cancelled(pair, ffd, manager, now):
    keep, remove = pair
    kept = episode_for(keep, actor=ffd, last_seen_at=now - 2 * DAY, returned_after=None)
    duplicate = episode_for(remove, actor=ffd, last_seen_at=now - 1 * DAY, returned_after=None)

    with pytest.raises(Conflict) as refused:
        merge(ffd, keep, remove, now)

    message = refused.value.message
    assert kept.reference in message
    assert duplicate.reference in message
    assert "cancel" in message
    assert Child.objects.filter(pk=remove.pk).exists()

    services.episode_cancel(
        services.CancelData(reason="Duplicate of the council's record"),
        actor=manager,
        episode_id=duplicate.pk,
        now=now,
    )
    merge(ffd, keep, remove, now)
    duplicate.refresh_from_db()
    assert (duplicate.child_id, duplicate.state) == (keep.pk, EpisodeState.CANCELLED)


def test_overlapping_returned_episodes_are_refused_touching_ones_are_not(pair, ffd, now):
    keep, remove = pair
    start = now - 30 * DAY
    kept = episode_for(keep, actor=ffd, last_seen_at=start, returned_after=timedelta(hours=10))
    inside = episode_for(remove, actor=ffd, last_seen_at=start + timedelta(hours=2))
    with pytest.raises(Conflict, match=f"{kept.reference} and {inside.reference}"):
        merge(ffd, keep, remove, now)

    other = police_created()
    # Starts the moment the kept episode ended: no overlap.
    episode_for(other, actor=ffd, last_seen_at=start + timedelta(hours=10))
    assert merge(ffd, keep, other, now).counts["episodes"] == 1


def exploitation_task(child: Child, *, ffd: User, manager: User, at: datetime) -> RiskMeetingTask:
    episode = episode_for(child, actor=ffd, last_seen_at=at)
    services.episode_set_flags(
        services.FlagsData(
            sexual_exploitation=True, criminal_exploitation=False, mental_health=False
        ),
        actor=manager,
        episode_id=episode.pk,
        now=at + DAY,
    )
    return RiskMeetingTask.objects.get(episode=episode)


def test_duplicate_open_tasks_for_one_rule_keep_the_older_open(pair, ffd, manager, now):
    keep, remove = pair
    newer = exploitation_task(keep, ffd=ffd, manager=manager, at=now - 10 * DAY)
    older = exploitation_task(remove, ffd=ffd, manager=manager, at=now - 40 * DAY)
    assert newer.rule_id == older.rule_id

    record = merge(manager, keep, remove, now)

    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.child_id, older.status) == (keep.pk, RiskMeetingTask.Status.OPEN)
    assert newer.status == RiskMeetingTask.Status.DONE
    assert (newer.completed_at, newer.completed_by) == (now, manager)
    assert f"duplicate of {older.reference}" in newer.outcome
    assert record.closed_duplicate_tasks == [newer.reference]
    assert EpisodeEvent.objects.filter(
        episode=newer.episode, action="risk_meeting_done", reason__contains="duplicate"
    ).exists()


def test_a_merge_that_reveals_three_in_ninety_days_raises_the_meeting_task(pair, ffd, now):
    keep, remove = pair
    rule = RepeatMissingRule.objects.get(kind=RepeatMissingRule.Kind.EPISODES_IN_WINDOW)
    rule.parameters = {"episodes": 3, "days": 90}
    rule.save()
    episode_for(keep, actor=ffd, last_seen_at=now - 60 * DAY)
    episode_for(remove, actor=ffd, last_seen_at=now - 30 * DAY)
    latest = episode_for(keep, actor=ffd, last_seen_at=now - 5 * DAY)
    assert not RiskMeetingTask.objects.filter(rule=rule).exists()

    merge(ffd, keep, remove, now)

    task = RiskMeetingTask.objects.get(rule=rule)
    assert (task.child_id, task.episode_id, task.raised_at) == (keep.pk, latest.pk, now)
    assert "3 episodes in 90 days" in task.reason


def test_the_merge_query_count_is_pinned(pair, ffd, manager, now, django_assert_num_queries):
    """Constant in the number of episodes moved (one UPDATE and one bulk INSERT for them)."""
    keep, remove = pair
    for days in (100, 50, 20, 10):
        episode_for(remove, actor=ffd, last_seen_at=now - days * DAY)
    episode_for(keep, actor=ffd, last_seen_at=now - 200 * DAY)

    with django_assert_num_queries(QUERIES):
        merge(ffd, keep, remove, now)


# What one merge costs (SQLite and PostgreSQL alike): savepoint; lock both children; the
# children's live episodes (overlap check); insert the merge record; lock the open meeting tasks;
# the removed child's episodes, notifications and tasks (references); move the three; the
# interviews hook (references, move); the Philomena hook (the removed child's profile: none
# here); the sweep of other foreign keys (merge records, interviews); the timeline events (one
# bulk insert); the delete's protection checks (episodes, notifications, tasks, merge records,
# interviews, Philomena profile) and the delete; fill the kept child; save the merge record; the
# rules on the latest episode (the episode, the rules, the 3-in-90 count, the last meeting, the
# covering check); release the savepoint. Legal status (decision 0046): the sweep moves the
# legal-status periods, the delete checks them, and the kept child's snapshots are recomputed
# (its periods, its episodes); the changes-none case writes nothing more. The case system's
# other identifiers (ssd.LinkedIdentifier, decision 0052): the sweep moves them, the delete's
# collector looks for them.
QUERIES = 38


# --------------------------------------------------------------------------------------------
# The web pages
# --------------------------------------------------------------------------------------------


def test_the_child_page_links_to_the_merge_for_case_staff(pair, ffd, client):
    keep, _ = pair
    login(client, ffd)
    page = client.get(reverse("child_detail", kwargs={"pk": keep.pk})).content.decode()
    assert reverse("child_merge", kwargs={"pk": keep.pk}) in page
    assert "Merge with another record" in page


def test_the_web_flow_merges_with_check_your_answers(pair, ffd, client):
    keep, remove = pair
    episode = episode_for(remove, actor=ffd, last_seen_at=timezone.now() - 3 * DAY)
    login(client, ffd)
    start = reverse("child_merge", kwargs={"pk": keep.pk})

    assert client.get(start).status_code == 200
    found = client.post(start, {"other": f"c-{remove.pk}"})
    assert found.status_code == 302
    check = found["Location"]
    assert check == f"{reverse('child_merge_check', kwargs={'pk': keep.pk})}?remove={remove.pk}"
    assert "Smith" not in check
    assert "Smyth" not in check

    page = client.get(check)
    body = page.content.decode()
    assert page.status_code == 200
    assert "Jaden Smith" in body
    assert "Jayden Smyth" in body
    assert episode.reference in body
    assert keep.council_child_id in body

    done = client.post(check, {"remove": remove.pk, "reason": "Same child: police spelling"})
    assert done.status_code == 302
    assert done["Location"] == reverse("child_detail", kwargs={"pk": keep.pk})
    record = ChildMerge.objects.get()
    assert record.merged_by == ffd
    assert not Child.objects.filter(pk=remove.pk).exists()
    after = client.get(done["Location"]).content.decode()
    assert f"{remove.reference} was merged into {keep.reference}" in after


def test_the_check_page_logs_a_view_of_both_children(pair, manager, client):
    keep, remove = pair
    login(client, manager)
    check = reverse("child_merge_check", kwargs={"pk": keep.pk})
    before = AccessLog.objects.count()

    assert client.get(f"{check}?remove={remove.pk}").status_code == 200

    rows = list(AccessLog.objects.order_by("pk")[before:])
    assert sorted(row.child_id for row in rows) == sorted([keep.pk, remove.pk])
    assert {(row.action, row.route, row.user_id) for row in rows} == {
        (AccessAction.VIEW, "child_merge_check", manager.pk)
    }


def test_the_web_flow_shows_refusals_in_the_error_summary(ffd, client):
    keep = ChildFactory(council_child_id="CC-1")
    remove = ChildFactory(council_child_id="CC-2")
    login(client, ffd)
    start = reverse("child_merge", kwargs={"pk": keep.pk})

    unknown = client.post(start, {"other": "C-999999"})
    assert unknown.status_code == 400
    assert "govuk-error-summary" in unknown.content.decode()
    assert "There is no child C-999999" in unknown.content.decode()
    assert client.post(start, {"other": "Smith"}).status_code == 400

    check = reverse("child_merge_check", kwargs={"pk": keep.pk})
    blank = client.post(f"{check}?remove={remove.pk}", {"remove": remove.pk, "reason": ""})
    assert blank.status_code == 400
    assert "Enter why the two records are the same child" in blank.content.decode()

    refused = client.post(f"{check}", {"remove": remove.pk, "reason": "Same"})
    assert refused.status_code == 409
    body = refused.content.decode()
    assert "govuk-error-summary" in body
    assert "different council child ids" in body
    assert Child.objects.filter(pk=remove.pk).exists()


def test_the_merge_pages_refuse_other_roles(pair, interviewer, client):
    keep, remove = pair
    login(client, interviewer)
    assert client.get(reverse("child_merge", kwargs={"pk": keep.pk})).status_code == 403
    check = reverse("child_merge_check", kwargs={"pk": keep.pk})
    response = client.post(check, {"remove": remove.pk, "reason": "Same"})
    assert response.status_code == 403
    assert Child.objects.filter(pk=remove.pk).exists()


# --------------------------------------------------------------------------------------------
# The API
# --------------------------------------------------------------------------------------------


def api_merge(user: User, keep_id: int, body: dict) -> object:
    client = APIClient()
    login(client, user)
    return client.post(f"/api/children/{keep_id}/merge/", body, format="json")


def test_api_merge_answers_the_kept_child_and_the_record(pair, ffd):
    keep, remove = pair
    episode = episode_for(remove, actor=ffd, last_seen_at=timezone.now() - 3 * DAY)

    response = api_merge(ffd, keep.pk, {"remove": remove.pk, "reason": "Same child"})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["child"]["id"] == keep.pk
    assert [e["id"] for e in body["child"]["episodes"]] == [episode.pk]
    assert body["merge"]["removed_reference"] == remove.reference
    assert body["merge"]["merged_by"] == "ffd"
    assert body["merge"]["moved"]["episodes"] == [episode.reference]
    assert body["merge"]["counts"]["episodes"] == 1


def test_api_merge_access_log_rows_for_both_children(pair, ffd):
    keep, remove = pair
    episode_for(remove, actor=ffd, last_seen_at=timezone.now() - 3 * DAY)

    api_merge(ffd, keep.pk, {"remove": remove.pk, "reason": "Same child"})

    record = ChildMerge.objects.get()
    rows = AccessLog.objects.filter(action=AccessAction.CHANGE, reference=record.reference)
    assert sorted(rows.values_list("child_id", flat=True)) == sorted([keep.pk, remove.pk])
    assert {(row.user_id, row.role, row.route) for row in rows} == {
        (ffd.pk, "ffd", "api-child-merge")
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"remove": 1}, "reason"),
        ({"reason": "Same"}, "remove"),
        ({"remove": "2", "reason": "Same"}, "remove"),
        ({"remove": 999_999, "reason": "Same"}, "remove"),
        ({"remove": 1, "reason": "Same", "extra": 1}, "extra"),
    ],
)
def test_api_merge_400_names_the_field(pair, ffd, body, field):
    keep, _ = pair
    response = api_merge(ffd, keep.pk, body)
    assert response.status_code == 400
    assert field in response.json()


def test_api_merge_refuses_roles_hidden_children_and_conflicts(pair, ffd, interviewer):
    keep, remove = pair
    body = {"remove": remove.pk, "reason": "Same child"}
    assert api_merge(interviewer, keep.pk, body).status_code == 403
    assert api_merge(ffd, 999_999, body).status_code == 404
    clash = ChildFactory(council_child_id="OTHER-1")
    refused = api_merge(ffd, keep.pk, {"remove": clash.pk, "reason": "Same child"})
    assert refused.status_code == 409
    assert "different council child ids" in refused.json()["detail"]


# --------------------------------------------------------------------------------------------
# PostgreSQL: the change history and a race
# --------------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="pghistory triggers: PostgreSQL")
def test_the_change_history_names_the_merging_user(pair, ffd, manager):
    keep, remove = pair
    episode = episode_for(remove, actor=ffd, last_seen_at=timezone.now() - 3 * DAY)

    assert api_merge(manager, keep.pk, {"remove": remove.pk, "reason": "Same"}).status_code == 200

    update = EpisodeHistory.objects.filter(pgh_obj_id=episode.pk).latest("pgh_id")
    assert update.child_id == keep.pk
    assert update.pgh_context.metadata == {"user": manager.pk, "route": "api-child-merge"}


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_merges_of_one_pair_race_one_wins_never_a_500(ffd, manager):
    keep = ChildFactory()
    remove = police_created()
    episode_for(remove, actor=ffd, last_seen_at=timezone.now() - 3 * DAY)
    # Either way round: one keeps the council's record, the other would keep the police one.
    requests = [(ffd, keep.pk, remove.pk), (manager, remove.pk, keep.pk)] * 2
    barrier = threading.Barrier(len(requests))
    statuses: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(user: User, keep_id: int, remove_id: int) -> None:
        try:
            client = APIClient()
            login(client, user)
            barrier.wait(timeout=30)
            response = client.post(
                f"/api/children/{keep_id}/merge/",
                {"remove": remove_id, "reason": "Same child"},
                format="json",
            )
            with lock:
                statuses.append(response.status_code)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=args) for args in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    assert sorted(statuses).count(200) == 1, statuses
    assert set(statuses) <= {200, 400, 404, 409}, statuses
    assert ChildMerge.objects.count() == 1
    assert Child.objects.count() == 1
