"""Repeat-missing rules: each fires, and does not, at its boundary; rules are data (editing the
parameters changes behaviour, a retired rule never fires); at most one open task per child and
rule; the minute sweep for children still missing; completing a task; the timeline.

Expected reasons are written out by hand from the references, never built by the code under
test. Calendar boundaries are Europe/London dates (a BST night crosses the UTC date line).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ValidationError

from missing import tasks
from missing.cases import services
from missing.cases.errors import Conflict, InvalidInput, NotAllowed
from missing.models import (
    EpisodeEvent,
    EpisodeState,
    MissingEpisode,
    RepeatMissingRule,
    RiskMeetingTask,
    User,
)
from tests.factories import ChildFactory
from tests.helpers import report_missing

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")


def only(*codes: str) -> None:
    """Retire every seeded rule but these, so one rule is under test at a time."""
    RepeatMissingRule.objects.exclude(code__in=codes).update(active=False)


def rule(code: str) -> RepeatMissingRule:
    return RepeatMissingRule.objects.get(code=code)


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def episode(
    ffd: User,
    child,
    last_seen_at: datetime,
    *,
    missing_for: timedelta | None = timedelta(hours=2),
) -> MissingEpisode:
    """An episode of `child` from `last_seen_at`, returned `missing_for` later (None: still
    missing). Each service is called at the moment it happens."""
    # Arithmetic in UTC: adding hours to a London time adds wall-clock hours.
    last_seen_at = last_seen_at.astimezone(UTC)
    opened = report_missing(
        actor=ffd, now=last_seen_at + timedelta(hours=1), child=child, last_seen_at=last_seen_at
    )
    if missing_for is None:
        return opened
    returned_at = last_seen_at + missing_for
    return services.episode_record_return(
        services.ReturnData(
            returned_at=returned_at,
            found_place="Home",
            found_by="Police",
            prevention_interview_done=None,
        ),
        actor=ffd,
        episode_id=opened.pk,
        now=returned_at,
    )


def open_tasks(child=None) -> list[RiskMeetingTask]:
    qs = RiskMeetingTask.objects.filter(status="open").order_by("pk")
    return list(qs.filter(child=child) if child is not None else qs)


# --------------------------------------------------------------------------------------------
# The seeded defaults
# --------------------------------------------------------------------------------------------


def test_the_defaults_are_seeded_by_the_data_migration():
    rows = list(
        RepeatMissingRule.objects.order_by("order").values_list("code", "kind", "parameters")
    )
    assert rows == [
        ("three-in-ninety-days", "episodes_in_window", {"episodes": 3, "days": 90}),
        ("over-24-hours", "duration_over", {"hours": 24}),
        ("aged-13-or-under", "age_at_most", {"age": 13}),
        ("exploitation", "exploitation_flag", {"flags": ["sexual", "criminal"]}),
    ]
    assert all(r.active for r in RepeatMissingRule.objects.all())


def test_beat_runs_the_duration_sweep_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["repeat-missing-sweep"]
    assert entry["task"] == "missing.tasks.raise_overdue_missing_tasks"
    assert str(entry["schedule"]) == str(settings.CELERY_BEAT_SCHEDULE["heartbeat"]["schedule"])


# --------------------------------------------------------------------------------------------
# N episodes within D days
# --------------------------------------------------------------------------------------------


def test_third_episode_on_day_90_fires(ffd):
    only("three-in-ninety-days")
    child = ChildFactory()
    first = episode(ffd, child, london(2026, 3, 1, 10, 0))
    second = episode(ffd, child, london(2026, 4, 15, 10, 0))
    assert open_tasks(child) == []
    # 1 March + 90 days = 30 May (now in BST): still inside the window.
    third = episode(ffd, child, london(2026, 5, 30, 21, 0))

    [task] = open_tasks(child)
    assert task.rule.code == "three-in-ninety-days"
    assert task.episode == third
    assert task.raised_at == third.last_seen_at + timedelta(hours=1)  # when it was opened
    assert task.reason == (
        f"Repeat missing (3 in 90 days): child C-{child.pk} has had 3 episodes in 90 days "
        f"(E-{first.pk}, E-{second.pk}, E-{third.pk})."
    )


def test_third_episode_on_day_91_does_not_fire(ffd):
    only("three-in-ninety-days")
    child = ChildFactory()
    episode(ffd, child, london(2026, 3, 1, 10, 0))
    episode(ffd, child, london(2026, 4, 15, 10, 0))
    episode(ffd, child, london(2026, 5, 31, 9, 0))
    assert open_tasks(child) == []


def test_the_window_counts_london_dates_not_utc_dates(ffd):
    """00:30 on 1 June in London is 23:30 on 31 May in UTC. Counted by London dates the third
    episode on 30 August is day 90 (fires); by UTC dates it would be day 91."""
    only("three-in-ninety-days")
    child = ChildFactory()
    first = episode(ffd, child, london(2026, 6, 1, 0, 30))
    assert first.last_seen_at.astimezone(UTC).date() == date(2026, 5, 31)
    episode(ffd, child, london(2026, 7, 1, 12, 0))
    episode(ffd, child, london(2026, 8, 30, 23, 0))
    assert len(open_tasks(child)) == 1


def test_cancelled_episodes_are_not_counted(ffd, manager):
    only("three-in-ninety-days")
    child = ChildFactory()
    logged_in_error = episode(ffd, child, london(2026, 4, 1, 10, 0))
    services.episode_cancel(
        services.CancelData(reason="Wrong child"),
        actor=manager,
        episode_id=logged_in_error.pk,
        now=london(2026, 4, 2, 10, 0),
    )
    episode(ffd, child, london(2026, 4, 15, 10, 0))
    episode(ffd, child, london(2026, 5, 1, 10, 0))
    assert open_tasks(child) == []
    episode(ffd, child, london(2026, 5, 2, 10, 0))
    assert len(open_tasks(child)) == 1


def test_other_childrens_episodes_are_not_counted(ffd):
    only("three-in-ninety-days")
    child, other = ChildFactory(), ChildFactory()
    episode(ffd, other, london(2026, 4, 1, 10, 0))
    episode(ffd, other, london(2026, 4, 2, 10, 0))
    episode(ffd, child, london(2026, 4, 3, 10, 0))
    assert open_tasks(child) == []


def test_editing_the_parameters_changes_what_fires(ffd):
    only("three-in-ninety-days")
    child = ChildFactory()
    episode(ffd, child, london(2026, 5, 1, 10, 0))
    second = episode(ffd, child, london(2026, 5, 20, 10, 0))
    assert open_tasks(child) == []  # 2 in 19 days: not 3 in 90

    window = rule("three-in-ninety-days")
    window.parameters = {"episodes": 2, "days": 30}
    window.label = "Repeat missing (2 in 30 days)"
    window.save()
    third = episode(ffd, child, london(2026, 6, 5, 10, 0))  # 2nd within 30 days of 20 May

    [task] = open_tasks(child)
    assert task.episode == third
    # 1 May is outside 30 days of 5 June; 20 May and 5 June are inside.
    assert task.reason == (
        f"Repeat missing (2 in 30 days): child C-{child.pk} has had 2 episodes in 30 days "
        f"(E-{second.pk}, E-{third.pk})."
    )


def test_a_completed_meeting_starts_the_count_again(ffd, manager):
    """After a meeting, the next one needs N more episodes: not one per episode thereafter."""
    only("three-in-ninety-days")
    child = ChildFactory()
    for day in (1, 10, 20):
        episode(ffd, child, london(2026, 4, day, 10, 0))
    [task] = open_tasks(child)
    services.risk_task_complete(
        services.MeetingOutcomeData(outcome="Plan agreed"),
        actor=manager,
        task_id=task.pk,
        now=london(2026, 4, 22, 10, 0),
    )
    fourth = episode(ffd, child, london(2026, 4, 25, 10, 0))
    fifth = episode(ffd, child, london(2026, 4, 28, 10, 0))
    assert open_tasks(child) == []  # 5 in 90 days, but only 2 since the meeting
    sixth = episode(ffd, child, london(2026, 5, 1, 10, 0))
    [again] = open_tasks(child)
    assert again.episode == sixth
    assert again.reason.endswith(
        f"has had 3 episodes in 90 days (E-{fourth.pk}, E-{fifth.pk}, E-{sixth.pk})."
    )


# --------------------------------------------------------------------------------------------
# Missing longer than H hours
# --------------------------------------------------------------------------------------------


def test_a_return_after_exactly_24_hours_does_not_fire(ffd):
    only("over-24-hours")
    child = ChildFactory()
    episode(ffd, child, london(2026, 5, 1, 10, 0), missing_for=timedelta(hours=24))
    assert open_tasks(child) == []


def test_a_return_after_24_hours_and_a_minute_fires(ffd):
    only("over-24-hours")
    child = ChildFactory()
    ep = episode(ffd, child, london(2026, 5, 1, 10, 0), missing_for=timedelta(hours=24, minutes=1))
    [task] = open_tasks(child)
    assert task.episode == ep
    assert task.reason == f"Missing over 24 hours: E-{ep.pk} was missing for 24 h 1 min."


def test_duration_is_elapsed_time_across_the_clocks_change(ffd):
    """25 October 2026: the clocks go back at 02:00. From 00:00 to 23:30 on the wall clock is
    24 h 30 min elapsed: over 24 hours, though the wall clock says 23 h 30."""
    only("over-24-hours")
    child = ChildFactory()
    last_seen = london(2026, 10, 25, 0, 0).astimezone(UTC)
    returned = london(2026, 10, 25, 23, 30).astimezone(UTC)
    ep = episode(ffd, child, last_seen, missing_for=returned - last_seen)
    [task] = open_tasks(child)
    assert task.reason == f"Missing over 24 hours: E-{ep.pk} was missing for 24 h 30 min."
    # The same wall-clock times a week earlier are 23 h 30 min: no meeting.
    other = ChildFactory()
    a_week_before = last_seen - timedelta(days=7)
    episode(ffd, other, a_week_before, missing_for=timedelta(hours=23, minutes=30))
    assert open_tasks(other) == []


def test_the_sweep_raises_for_a_child_still_missing_once(ffd):
    only("over-24-hours")
    child = ChildFactory()
    last_seen = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    ep = episode(ffd, child, last_seen, missing_for=None)

    assert services.repeat_duration_sweep(now=last_seen + timedelta(hours=24)) == []
    [task] = services.repeat_duration_sweep(now=last_seen + timedelta(hours=24, minutes=1))
    assert task.episode == ep
    assert (
        task.reason == f"Missing over 24 hours: E-{ep.pk} has been missing for 24 h 1 min so far."
    )
    assert services.repeat_duration_sweep(now=last_seen + timedelta(hours=24, minutes=2)) == []

    # The return, later, is covered by the task already raised for this episode.
    services.episode_record_return(
        services.ReturnData(
            returned_at=last_seen + timedelta(hours=30),
            found_place="Home",
            found_by="Police",
            prevention_interview_done=None,
        ),
        actor=ffd,
        episode_id=ep.pk,
        now=last_seen + timedelta(hours=30),
    )
    assert RiskMeetingTask.objects.filter(child=child).count() == 1


def test_the_beat_task_raises_over_24_hour_tasks_once(ffd):
    only("over-24-hours")
    last_seen = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    first = episode(ffd, ChildFactory(), last_seen, missing_for=None)
    second = episode(ffd, ChildFactory(), last_seen + timedelta(hours=2), missing_for=None)
    episode(ffd, ChildFactory(), last_seen + timedelta(hours=20), missing_for=None)

    with time_machine.travel(last_seen + timedelta(hours=26, minutes=30), tick=False):
        assert tasks.raise_overdue_missing_tasks() == 2
        assert tasks.raise_overdue_missing_tasks() == 0
    assert [t.episode for t in open_tasks()] == [first, second]


@pytest.mark.parametrize("covered", [2, 6])
def test_the_sweep_is_two_queries_whatever_the_caseload(covered, ffd, django_assert_num_queries):
    """Rules, then the still-missing episodes past the threshold with no covering task, on
    the partial still-missing index: nothing per episode already covered."""
    only("over-24-hours")
    last_seen = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    for i in range(covered):
        episode(ffd, ChildFactory(), last_seen + timedelta(minutes=i), missing_for=None)
    later = last_seen + timedelta(hours=30)
    assert len(services.repeat_duration_sweep(now=later)) == covered
    with django_assert_num_queries(2):
        assert services.repeat_duration_sweep(now=later + timedelta(minutes=1)) == []


def test_the_sweep_leaves_returned_and_cancelled_episodes_alone(ffd, manager):
    only("over-24-hours")
    last_seen = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    episode(ffd, ChildFactory(), last_seen, missing_for=timedelta(hours=3))
    error = episode(ffd, ChildFactory(), last_seen, missing_for=None)
    services.episode_cancel(
        services.CancelData(reason="Duplicate"),
        actor=manager,
        episode_id=error.pk,
        now=last_seen + timedelta(hours=2),
    )
    assert services.repeat_duration_sweep(now=last_seen + timedelta(days=3)) == []


# --------------------------------------------------------------------------------------------
# A child aged Y or under
# --------------------------------------------------------------------------------------------


def test_aged_13_the_night_before_the_14th_birthday_fires(ffd):
    only("aged-13-or-under")
    child = ChildFactory(date_of_birth=date(2012, 6, 10))
    ep = episode(ffd, child, london(2026, 6, 9, 23, 30))
    [task] = open_tasks(child)
    assert task.reason == f"Aged 13 or under: child C-{child.pk} was 13 when E-{ep.pk} began."
    assert MissingEpisode.objects.get(pk=ep.pk).flag_aged_13_or_under


def test_aged_14_on_the_london_birthday_does_not_fire(ffd):
    """00:30 on 10 June in London is still 9 June in UTC: by the UTC date the child would be
    13. The birthday is a London date: 14, no meeting, and no age flag."""
    only("aged-13-or-under")
    child = ChildFactory(date_of_birth=date(2012, 6, 10))
    ep = episode(ffd, child, london(2026, 6, 10, 0, 30))
    assert ep.last_seen_at.astimezone(UTC).date() == date(2026, 6, 9)
    assert open_tasks(child) == []
    assert not MissingEpisode.objects.get(pk=ep.pk).flag_aged_13_or_under


def test_no_date_of_birth_never_fires_the_age_rule(ffd):
    only("aged-13-or-under")
    child = ChildFactory(date_of_birth=None)
    episode(ffd, child, london(2026, 6, 1, 10, 0))
    assert open_tasks(child) == []


def test_editing_the_age_changes_what_fires(ffd):
    only("aged-13-or-under")
    age_rule = rule("aged-13-or-under")
    age_rule.parameters = {"age": 15}
    age_rule.save()
    child = ChildFactory(date_of_birth=date(2011, 3, 14))  # 15 in June 2026
    episode(ffd, child, london(2026, 6, 1, 10, 0))
    assert len(open_tasks(child)) == 1


# --------------------------------------------------------------------------------------------
# Exploitation flags (set by a manager)
# --------------------------------------------------------------------------------------------


def set_flags(manager, ep, *, sexual=False, criminal=False, mental=False, at=None, version=None):
    return services.episode_set_flags(
        services.FlagsData(
            sexual_exploitation=sexual, criminal_exploitation=criminal, mental_health=mental
        ),
        actor=manager,
        episode_id=ep.pk,
        now=at or ep.last_seen_at + timedelta(hours=3),
        expected_version=version,
    )


def test_an_exploitation_flag_fires_in_the_same_change(ffd, manager):
    only("exploitation")
    child = ChildFactory()
    ep = episode(ffd, child, london(2026, 6, 1, 10, 0))
    set_flags(manager, ep, mental=True)
    assert open_tasks(child) == []  # mental health is not an exploitation flag

    updated = set_flags(manager, ep, criminal=True, mental=True)
    [task] = open_tasks(child)
    assert task.reason == (
        f"Sexual or criminal exploitation: E-{ep.pk} is flagged for criminal exploitation."
    )
    assert updated.flag_criminal_exploitation
    assert updated.flag_mental_health
    events = list(EpisodeEvent.objects.filter(episode=ep).values_list("action", "reason"))
    assert events[-2:] == [
        ("flags_changed", "Criminal exploitation: flagged."),
        ("risk_meeting_raised", f"RM-{task.pk}: {task.reason}"),
    ]


def test_a_rule_for_criminal_exploitation_only_ignores_sexual(ffd, manager):
    only("exploitation")
    criminal_only = rule("exploitation")
    criminal_only.parameters = {"flags": ["criminal"]}
    criminal_only.save()
    child = ChildFactory()
    ep = episode(ffd, child, london(2026, 6, 1, 10, 0))
    set_flags(manager, ep, sexual=True)
    assert open_tasks(child) == []


def test_flags_bump_the_version_and_refuse_a_stale_one(ffd, manager):
    ep = episode(ffd, ChildFactory(), london(2026, 6, 1, 10, 0))
    updated = set_flags(manager, ep, mental=True, version=ep.version)
    assert updated.version == ep.version + 1
    with pytest.raises(Conflict):
        set_flags(manager, ep, sexual=True, version=ep.version)
    # The same flags again change nothing: no version, no event.
    events = EpisodeEvent.objects.filter(episode=ep).count()
    assert set_flags(manager, ep, mental=True).version == updated.version
    assert EpisodeEvent.objects.filter(episode=ep).count() == events


@pytest.mark.parametrize("role", ["ffd", "interviewer", "admin", "police_system"])
def test_only_managers_set_flags(role, users_by_role, ffd):
    ep = episode(ffd, ChildFactory(), london(2026, 6, 1, 10, 0))
    with pytest.raises(NotAllowed):
        set_flags(users_by_role[role], ep, sexual=True)
    assert not MissingEpisode.objects.get(pk=ep.pk).flag_sexual_exploitation


def test_a_cancelled_episode_keeps_its_flags(ffd, manager):
    ep = episode(ffd, ChildFactory(), london(2026, 6, 1, 10, 0), missing_for=None)
    services.episode_cancel(
        services.CancelData(reason="Error"),
        actor=manager,
        episode_id=ep.pk,
        now=london(2026, 6, 1, 12, 0),
    )
    with pytest.raises(Conflict):
        set_flags(manager, ep, sexual=True)
    assert RiskMeetingTask.objects.count() == 0


# --------------------------------------------------------------------------------------------
# Rules as data: retired rules, validation
# --------------------------------------------------------------------------------------------


def test_a_retired_rule_never_fires(ffd, manager):
    RepeatMissingRule.objects.update(active=False)
    child = ChildFactory(date_of_birth=date(2016, 1, 1))  # 10
    last_seen = london(2026, 5, 1, 10, 0)
    for day in range(3):
        ep = episode(
            ffd, child, last_seen + timedelta(days=day * 2), missing_for=timedelta(hours=30)
        )
    set_flags(manager, ep, sexual=True, criminal=True)
    still = episode(ffd, child, last_seen + timedelta(days=10), missing_for=None)
    assert services.repeat_duration_sweep(now=still.last_seen_at + timedelta(days=2)) == []
    assert RiskMeetingTask.objects.count() == 0


@pytest.mark.parametrize(
    ("kind", "parameters", "error"),
    [
        ("episodes_in_window", {"episodes": 3}, '"days" must be a whole number of days'),
        ("episodes_in_window", {"episodes": 1, "days": 90}, '"episodes" must be a whole number'),
        ("episodes_in_window", {"episodes": "3", "days": 90}, '"episodes" must be'),
        ("duration_over", {"hours": True}, '"hours" must be a whole number of hours'),
        ("duration_over", {"hours": 24, "minutes": 5}, "remove minutes"),
        ("age_at_most", {"age": 18}, '"age" must be an age in years from 0 to 17'),
        ("exploitation_flag", {"flags": []}, '"flags" must be a list'),
        ("exploitation_flag", {"flags": ["sexual", "trafficking"]}, '"flags" must be a list'),
        ("age_at_most", [13], "Enter the parameters as a JSON object"),
    ],
)
def test_clean_refuses_parameters_that_do_not_fit_the_kind(kind, parameters, error):
    bad = RepeatMissingRule(code="bad", label="Bad", kind=kind, parameters=parameters)
    with pytest.raises(ValidationError) as caught:
        bad.full_clean()
    assert any(error in message for message in caught.value.message_dict["parameters"])


def test_clean_accepts_each_default_shape():
    for r in RepeatMissingRule.objects.all():
        r.full_clean()


def test_a_rule_saved_wrong_outside_the_admin_is_skipped_not_fatal(ffd):
    only("over-24-hours")
    RepeatMissingRule.objects.filter(code="over-24-hours").update(parameters={"hours": "x"})
    child = ChildFactory()
    episode(ffd, child, london(2026, 5, 1, 10, 0), missing_for=timedelta(hours=30))
    assert open_tasks(child) == []


def test_the_admin_edits_rules_and_shows_parameter_errors_on_the_form(client, admin_user):
    from tests.helpers import login

    login(client, admin_user)
    target = rule("three-in-ninety-days")
    url = f"/admin/missing/repeatmissingrule/{target.pk}/change/"
    form = {
        "code": target.code,
        "label": "Repeat missing (3 in 30 days)",
        "kind": "episodes_in_window",
        "active": "on",
        "order": "10",
    }
    refused = client.post(url, {**form, "parameters": '{"episodes": 3}'})
    assert refused.status_code == 200
    assert "must be a whole number of days" in refused.content.decode()
    assert rule("three-in-ninety-days").parameters == {"episodes": 3, "days": 90}

    saved = client.post(url, {**form, "parameters": '{"episodes": 3, "days": 30}'})
    assert saved.status_code == 302
    assert rule("three-in-ninety-days").parameters == {"episodes": 3, "days": 30}
    assert client.get("/admin/missing/repeatmissingrule/").status_code == 200


# --------------------------------------------------------------------------------------------
# One open task per child and rule; completing; raising again
# --------------------------------------------------------------------------------------------


def test_at_most_one_open_task_per_child_and_rule(ffd):
    only("aged-13-or-under")
    child = ChildFactory(date_of_birth=date(2014, 1, 1))  # 12
    first = episode(ffd, child, london(2026, 5, 1, 10, 0))
    episode(ffd, child, london(2026, 5, 10, 10, 0))
    episode(ffd, child, london(2026, 5, 20, 10, 0))
    [task] = open_tasks(child)
    assert task.episode == first


def test_several_rules_raise_one_task_each(ffd, manager):
    child = ChildFactory(date_of_birth=date(2014, 1, 1))  # 12
    ep = episode(ffd, child, london(2026, 5, 1, 10, 0), missing_for=timedelta(hours=25))
    set_flags(manager, ep, sexual=True)
    assert sorted(t.rule.code for t in open_tasks(child)) == [
        "aged-13-or-under",
        "exploitation",
        "over-24-hours",
    ]


def test_completing_a_task_and_a_new_one_after(ffd, manager):
    only("aged-13-or-under")
    child = ChildFactory(date_of_birth=date(2014, 1, 1))
    first = episode(ffd, child, london(2026, 5, 1, 10, 0))
    second = episode(ffd, child, london(2026, 5, 10, 10, 0))
    [task] = open_tasks(child)
    done_at = london(2026, 5, 12, 9, 0)

    done = services.risk_task_complete(
        services.MeetingOutcomeData(outcome="  Strategy meeting held; safety plan updated.  "),
        actor=manager,
        task_id=task.pk,
        now=done_at,
        expected_version=1,
    )
    assert (done.status, done.completed_at, done.completed_by, done.version) == (
        "done",
        done_at,
        manager,
        2,
    )
    assert done.outcome == "Strategy meeting held; safety plan updated."
    assert EpisodeEvent.objects.filter(episode=first).latest("pk").reason == (
        f"RM-{task.pk}: Strategy meeting held; safety plan updated."
    )
    assert open_tasks(child) == []

    # The second episode began before the meeting: it was covered, a flag change on it does
    # not raise a task again. A new episode after the meeting does.
    set_flags(manager, second, mental=True)
    assert open_tasks(child) == []
    third = episode(ffd, child, london(2026, 5, 20, 10, 0))
    [again] = open_tasks(child)
    assert again.episode == third


def test_completing_refuses_blank_outcome_stale_version_and_done_tasks(
    ffd, manager, head_of_service
):
    only("aged-13-or-under")
    child = ChildFactory(date_of_birth=date(2014, 1, 1))
    episode(ffd, child, london(2026, 5, 1, 10, 0))
    [task] = open_tasks(child)
    at = london(2026, 5, 2, 10, 0)

    with pytest.raises(InvalidInput) as blank:
        services.risk_task_complete(
            services.MeetingOutcomeData(outcome="  "), actor=manager, task_id=task.pk, now=at
        )
    assert blank.value.field_errors == {"outcome": ["Enter the outcome of the meeting."]}
    with pytest.raises(Conflict):
        services.risk_task_complete(
            services.MeetingOutcomeData(outcome="Held"),
            actor=manager,
            task_id=task.pk,
            now=at,
            expected_version=2,
        )
    services.risk_task_complete(
        services.MeetingOutcomeData(outcome="Held"), actor=head_of_service, task_id=task.pk, now=at
    )
    with pytest.raises(Conflict) as twice:
        services.risk_task_complete(
            services.MeetingOutcomeData(outcome="Held"), actor=manager, task_id=task.pk, now=at
        )
    assert twice.value.message == f"RM-{task.pk} was already completed by hos."
    assert RiskMeetingTask.objects.get(pk=task.pk).completed_by == head_of_service


@pytest.mark.parametrize("role", ["ffd", "interviewer", "admin", "police_system"])
def test_only_managers_complete_tasks(role, users_by_role, ffd):
    only("aged-13-or-under")
    child = ChildFactory(date_of_birth=date(2014, 1, 1))
    episode(ffd, child, london(2026, 5, 1, 10, 0))
    [task] = open_tasks(child)
    with pytest.raises(NotAllowed):
        services.risk_task_complete(
            services.MeetingOutcomeData(outcome="Held"),
            actor=users_by_role[role],
            task_id=task.pk,
            now=london(2026, 5, 2, 9),
        )
    assert open_tasks(child) == [task]


def test_raising_writes_the_timeline_with_no_name(ffd):
    only("aged-13-or-under")
    child = ChildFactory(first_name="Quentin", last_name="Zzyzx", date_of_birth=date(2014, 1, 1))
    ep = episode(ffd, child, london(2026, 5, 1, 10, 0))
    [task] = open_tasks(child)
    raised = EpisodeEvent.objects.get(episode=ep, action="risk_meeting_raised")
    assert raised.actor is None  # the system raised it
    assert raised.at == task.raised_at
    assert raised.from_state == raised.to_state == EpisodeState.MISSING
    for text in (raised.reason, task.reason):
        assert "Quentin" not in text
        assert "Zzyzx" not in text


def test_the_database_refuses_a_second_open_task_for_a_child_and_rule(ffd):
    """The constraint itself, under the service's check: what makes a race safe."""
    from django.db import IntegrityError, transaction

    only("aged-13-or-under")
    child = ChildFactory(date_of_birth=date(2014, 1, 1))
    ep = episode(ffd, child, london(2026, 5, 1, 10, 0))
    other = episode(ffd, child, london(2026, 5, 5, 10, 0))
    with pytest.raises(IntegrityError), transaction.atomic():
        RiskMeetingTask.objects.create(
            child=child,
            rule=rule("aged-13-or-under"),
            episode=other,
            reason="x",
            raised_at=ep.last_seen_at,
        )


def test_evaluating_an_episode_that_fires_nothing_is_two_queries(ffd, django_assert_num_queries):
    """The cost every opening and return pays: the active rules, then the child's episodes in
    the window (the age, duration and flag rules read the episode and child in hand)."""
    child = ChildFactory(date_of_birth=date(2011, 3, 14))  # 15
    ep = MissingEpisode.objects.select_related("child").get(
        pk=episode(ffd, child, london(2026, 6, 1, 10, 0)).pk
    )
    with django_assert_num_queries(2):
        assert services.repeat_rules_evaluate(episode=ep, now=london(2026, 6, 1, 13, 0)) == []
