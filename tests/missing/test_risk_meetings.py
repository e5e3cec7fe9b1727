"""Strategy / risk meeting tasks on the web and in the API: the /meetings/ page and its
completion form (400 beside the field, 409 in the summary, 403 for a role), the flags form,
the board, the child and episode pages, and pinned query counts.

Time is frozen at FIXED_NOW (Wed 10 June 2026, 12:00 UTC) so the views' clock and the
helpers' agree.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from missing.cases import services
from missing.models import (
    AccessAction,
    AccessLog,
    MissingEpisode,
    RepeatMissingRule,
    RiskMeetingTask,
    User,
)
from tests.factories import FIXED_NOW, ChildFactory
from tests.helpers import login, report_missing

pytestmark = pytest.mark.django_db

YOUNG = date(2014, 1, 1)  # 12 on FIXED_NOW: the age rule fires when an episode opens


@pytest.fixture(autouse=True)
def _frozen_clock(now: datetime) -> Any:
    with time_machine.travel(now, tick=False):
        yield


def young_child_missing(ffd: User, *, minutes_ago: int = 60, **child: Any) -> RiskMeetingTask:
    """A 12-year-old reported missing: the age rule raises a task as the episode opens."""
    kid = ChildFactory(date_of_birth=YOUNG, **child)
    report_missing(
        actor=ffd,
        now=FIXED_NOW - timedelta(minutes=minutes_ago),
        child=kid,
        last_seen_at=FIXED_NOW - timedelta(minutes=minutes_ago + 60),
    )
    return RiskMeetingTask.objects.get(child=kid)


def signed_in(client: Client, user: User) -> Client:
    login(client, user)
    return client


def api(user: User) -> APIClient:
    client = APIClient()
    login(client, user)
    return client


# --------------------------------------------------------------------------------------------
# /meetings/
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tasks", [2, 7])
def test_meetings_page_lists_open_tasks_oldest_first_in_three_queries(
    tasks, client, ffd, manager, django_assert_num_queries
):
    made = [young_child_missing(ffd, minutes_ago=200 - i) for i in range(tasks)]
    done = made.pop()
    services.risk_task_complete(
        services.MeetingOutcomeData(outcome="Held"), actor=manager, task_id=done.pk, now=FIXED_NOW
    )
    signed_in(client, manager)
    # 1. session, 2. user, 3. the session's second-factor device, 4. open tasks joined to
    # child, rule and episode, 5. the access row listing their children, + 2 the request's
    # savepoint and its release (ATOMIC_REQUESTS).
    with django_assert_num_queries(7):
        response = client.get(reverse("meetings"))
    assert [task.pk for task, _ in response.context["rows"]] == [t.pk for t in made]
    text = response.content.decode()
    assert made[0].reason in text
    assert f"Complete RM-{made[0].pk}" in text
    assert f"RM-{done.pk}" not in text


def test_ffd_sees_the_list_but_no_form(client, ffd):
    task = young_child_missing(ffd)
    response = signed_in(client, ffd).get(reverse("meetings"))
    assert response.status_code == 200
    assert task.reason in response.content.decode()
    assert f"Complete RM-{task.pk}" not in response.content.decode()
    refused = client.post(reverse("meeting_complete", args=[task.pk]), {})
    assert refused.status_code == 403


@pytest.mark.parametrize("role", ["interviewer", "admin", "police_system"])
def test_other_roles_are_refused_the_meetings_pages(role, client, users_by_role, ffd):
    task = young_child_missing(ffd)
    signed_in(client, users_by_role[role])
    assert client.get(reverse("meetings")).status_code == 403
    assert client.post(reverse("meeting_complete", args=[task.pk]), {}).status_code == 403
    assert RiskMeetingTask.objects.get(pk=task.pk).is_open


def test_completing_from_the_page(client, ffd, manager):
    task = young_child_missing(ffd)
    prefix = f"task-{task.pk}"
    response = signed_in(client, manager).post(
        reverse("meeting_complete", args=[task.pk]),
        {f"{prefix}-outcome": "Strategy meeting held.", f"{prefix}-version": "1"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("meetings")
    done = RiskMeetingTask.objects.get(pk=task.pk)
    assert (done.status, done.outcome, done.completed_by, done.completed_at) == (
        "done",
        "Strategy meeting held.",
        manager,
        FIXED_NOW,
    )


def test_a_blank_outcome_is_a_400_beside_the_field(client, ffd, manager):
    task = young_child_missing(ffd)
    prefix = f"task-{task.pk}"
    response = signed_in(client, manager).post(
        reverse("meeting_complete", args=[task.pk]),
        {f"{prefix}-outcome": "", f"{prefix}-version": "1"},
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "Enter the outcome of the meeting" in text
    assert f'href="#id_{prefix}-outcome"' in text
    assert RiskMeetingTask.objects.get(pk=task.pk).is_open


def test_a_stale_or_completed_task_is_a_409_in_the_summary(client, ffd, manager, head_of_service):
    task = young_child_missing(ffd)
    prefix = f"task-{task.pk}"
    services.risk_task_complete(
        services.MeetingOutcomeData(outcome="Held by HoS"),
        actor=head_of_service,
        task_id=task.pk,
        now=FIXED_NOW,
    )
    response = signed_in(client, manager).post(
        reverse("meeting_complete", args=[task.pk]),
        {f"{prefix}-outcome": "Mine", f"{prefix}-version": "1"},
    )
    assert response.status_code == 409
    text = response.content.decode()
    assert f"RM-{task.pk} was already completed by hos." in text
    assert f"RM-{task.pk} is no longer open." in text
    assert RiskMeetingTask.objects.get(pk=task.pk).outcome == "Held by HoS"


def test_an_unknown_task_is_a_404(client, manager):
    response = signed_in(client, manager).post(reverse("meeting_complete", args=[999999]), {})
    assert response.status_code == 404


# --------------------------------------------------------------------------------------------
# The board, the child page, the episode page
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tasks", [2, 8])
def test_board_shows_the_count_and_the_oldest_few_in_one_more_query(
    tasks, client, ffd, manager, django_assert_num_queries
):
    made = [young_child_missing(ffd, minutes_ago=300 - i) for i in range(tasks)]
    signed_in(client, manager)
    # 1. session, 2. user, 3. the session's second-factor device, 4. open episodes (each
    # marked when its child has an open task), 5. notifications awaiting a match, 6. the
    # oldest open tasks with how many are open, 7. the access row for the board, + 2 the
    # request's savepoint and its release.
    with django_assert_num_queries(9):
        response = client.get(reverse("board"))
    board = response.context["board"]
    assert board.meeting_task_count == tasks
    assert [t.pk for t in board.meeting_tasks] == [t.pk for t in made[:5]]
    text = response.content.decode()
    assert made[0].reason in text
    assert text.count("Meeting needed") == tasks  # every open episode's child is flagged
    if tasks > 5:
        assert f"All {tasks} meetings needed" in text


def test_board_api_counts_open_tasks(ffd, manager):
    young_child_missing(ffd)
    young_child_missing(ffd)
    body = api(manager).get("/api/board/").json()
    assert body["risk_meeting_count"] == 2


def test_child_page_shows_open_and_past_tasks_with_reasons(client, ffd, manager):
    task = young_child_missing(ffd)
    services.risk_task_complete(
        services.MeetingOutcomeData(outcome="Plan agreed with school"),
        actor=manager,
        task_id=task.pk,
        now=FIXED_NOW,
    )
    episode = task.episode
    services.episode_set_flags(
        services.FlagsData(
            sexual_exploitation=False, criminal_exploitation=True, mental_health=False
        ),
        actor=manager,
        episode_id=episode.pk,
        now=FIXED_NOW,
    )
    # The age task was raised at opening; the meeting was held after that: the new task is the
    # exploitation rule's.
    [open_task] = RiskMeetingTask.objects.filter(status="open")
    assert open_task.rule.code == "exploitation"

    response = signed_in(client, manager).get(reverse("child_detail", args=[task.child_id]))
    text = response.content.decode()
    assert task.reason in text
    assert "Plan agreed with school" in text
    assert open_task.reason in text
    assert "A strategy / risk meeting is needed for this child" in text


def test_child_page_without_tasks_says_so(client, ffd, manager):
    RepeatMissingRule.objects.update(active=False)
    kid = ChildFactory(date_of_birth=YOUNG)
    report_missing(actor=ffd, now=FIXED_NOW, child=kid)
    text = signed_in(client, manager).get(reverse("child_detail", args=[kid.pk])).content.decode()
    assert "No repeat-missing rule has fired for this child" in text
    assert "A strategy / risk meeting is needed" not in text


def test_episode_page_shows_the_flag_while_a_task_is_open(
    client, ffd, manager, django_assert_num_queries
):
    task = young_child_missing(ffd)
    signed_in(client, manager)
    url = reverse("episode_detail", args=[task.episode_id])
    text = client.get(url).content.decode()
    assert "A strategy / risk meeting is needed for this child" in text
    assert "Strategy / risk meeting needed" in text  # the timeline event
    assert reverse("episode_flags", args=[task.episode_id]) in text
    services.risk_task_complete(
        services.MeetingOutcomeData(outcome="Held"), actor=manager, task_id=task.pk, now=FIXED_NOW
    )
    assert "A strategy / risk meeting is needed" not in client.get(url).content.decode()


# --------------------------------------------------------------------------------------------
# The flags form
# --------------------------------------------------------------------------------------------


def test_a_manager_sets_an_exploitation_flag_from_the_form(client, ffd, manager):
    RepeatMissingRule.objects.exclude(code="exploitation").update(active=False)
    episode = report_missing(actor=ffd, now=FIXED_NOW)
    signed_in(client, manager)
    form = client.get(reverse("episode_flags", args=[episode.pk]))
    assert form.status_code == 200
    response = client.post(
        reverse("episode_flags", args=[episode.pk]),
        {"version": str(episode.version), "sexual_exploitation": "on"},
    )
    assert response.status_code == 302
    stored = MissingEpisode.objects.get(pk=episode.pk)
    assert stored.flag_sexual_exploitation
    assert not stored.flag_criminal_exploitation
    [task] = RiskMeetingTask.objects.all()
    assert task.reason == (
        f"Sexual or criminal exploitation: E-{episode.pk} is flagged for sexual exploitation."
    )


def test_the_flags_form_refuses_a_stale_version_with_409(client, ffd, manager):
    episode = report_missing(actor=ffd, now=FIXED_NOW)
    response = signed_in(client, manager).post(
        reverse("episode_flags", args=[episode.pk]),
        {"version": str(episode.version + 1), "mental_health": "on"},
    )
    assert response.status_code == 409
    assert "was changed by someone else" in response.content.decode()
    assert not MissingEpisode.objects.get(pk=episode.pk).flag_mental_health


def test_ffd_cannot_reach_the_flags_form(client, ffd):
    episode = report_missing(actor=ffd, now=FIXED_NOW)
    assert (
        signed_in(client, ffd).get(reverse("episode_flags", args=[episode.pk])).status_code == 403
    )


# --------------------------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------------------------


def test_api_lists_open_tasks_oldest_first(ffd, manager):
    older = young_child_missing(ffd, minutes_ago=120)
    newer = young_child_missing(ffd, minutes_ago=30)
    response = api(ffd).get("/api/risk-meetings/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["id"] for r in rows] == [older.pk, newer.pk]
    assert rows[0] == {
        "id": older.pk,
        "reference": f"RM-{older.pk}",
        "child": older.child_id,
        "child_reference": f"C-{older.child_id}",
        "episode": older.episode_id,
        "episode_reference": f"E-{older.episode_id}",
        "rule": "aged-13-or-under",
        "rule_label": "Aged 13 or under",
        "reason": f"Aged 13 or under: child C-{older.child_id} was 12 when "
        f"E-{older.episode_id} began.",
        "raised_at": "2026-06-10T11:00:00+01:00",  # 10:00 UTC, shown in London time
        "status": "open",
        "completed_at": None,
        "completed_by": None,
        "outcome": "",
        "version": 1,
    }


def test_api_list_query_count_does_not_grow(ffd, manager, django_assert_num_queries):
    client = APIClient()
    login(client, manager)
    for _ in range(2):
        young_child_missing(ffd)
    # The session, the user and the session's second-factor device, then 4. the page's COUNT,
    # 5. the page of tasks joined to child, rule and episode, 6. the access row, + 2 the
    # request's savepoint and its release.
    with django_assert_num_queries(8):
        client.get("/api/risk-meetings/")
    for _ in range(5):
        young_child_missing(ffd)
    with django_assert_num_queries(8):
        assert len(client.get("/api/risk-meetings/").json()["results"]) == 7


def test_api_completes_a_task(ffd, manager):
    task = young_child_missing(ffd)
    response = api(manager).post(
        f"/api/risk-meetings/{task.pk}/complete/",
        {"outcome": "Held", "version": 1},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["outcome"], body["completed_by"], body["version"]) == (
        "done",
        "Held",
        "manager",
        2,
    )


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "outcome", "This field is required."),
        ({"outcome": 5}, "outcome", "Must be text, not a number."),
        ({"outcome": "   "}, "outcome", "This field may not be blank."),
        (
            {"outcome": "Held", "colour": "red"},
            "colour",
            "Unknown field: not part of this request.",
        ),
    ],
)
def test_api_complete_bad_input_is_400_by_field(body, field, message, ffd, manager):
    task = young_child_missing(ffd)
    response = api(manager).post(f"/api/risk-meetings/{task.pk}/complete/", body, format="json")
    assert response.status_code == 400
    assert message in response.json()[field]
    assert RiskMeetingTask.objects.get(pk=task.pk).is_open


def test_api_complete_stale_or_twice_is_409(ffd, manager):
    task = young_child_missing(ffd)
    client = api(manager)
    url = f"/api/risk-meetings/{task.pk}/complete/"
    stale = client.post(url, {"outcome": "Held", "version": 3}, format="json")
    assert stale.status_code == 409
    assert "was changed by someone else" in stale.json()["detail"]
    assert client.post(url, {"outcome": "Held"}, format="json").status_code == 200
    twice = client.post(url, {"outcome": "Again"}, format="json")
    assert twice.status_code == 409
    assert twice.json()["detail"] == f"RM-{task.pk} was already completed by manager."


@pytest.mark.parametrize("role", ["interviewer", "admin", "police_system"])
def test_api_refuses_other_roles(role, users_by_role, ffd):
    task = young_child_missing(ffd)
    client = api(users_by_role[role])
    assert client.get("/api/risk-meetings/").status_code == 403
    url = f"/api/risk-meetings/{task.pk}/complete/"
    assert client.post(url, {"outcome": "x"}, format="json").status_code == 403
    flags = {"sexual_exploitation": True, "criminal_exploitation": False, "mental_health": False}
    assert (
        client.post(f"/api/episodes/{task.episode_id}/flags/", flags, format="json").status_code
        == 403
    )


def test_api_ffd_reads_but_cannot_complete(ffd):
    task = young_child_missing(ffd)
    client = api(ffd)
    assert client.get("/api/risk-meetings/").status_code == 200
    url = f"/api/risk-meetings/{task.pk}/complete/"
    assert client.post(url, {"outcome": "x"}, format="json").status_code == 403


def test_api_sets_flags_and_raises_the_task(ffd, manager):
    RepeatMissingRule.objects.exclude(code="exploitation").update(active=False)
    episode = report_missing(actor=ffd, now=FIXED_NOW)
    response = api(manager).post(
        f"/api/episodes/{episode.pk}/flags/",
        {
            "sexual_exploitation": False,
            "criminal_exploitation": True,
            "mental_health": True,
            "version": episode.version,
        },
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["flag_criminal_exploitation"], body["flag_mental_health"]) == (True, True)
    assert body["version"] == episode.version + 1
    assert RiskMeetingTask.objects.filter(episode=episode, rule__code="exploitation").exists()


def test_api_flags_bad_input_is_400_and_stale_is_409(ffd, manager):
    episode = report_missing(actor=ffd, now=FIXED_NOW)
    client = api(manager)
    url = f"/api/episodes/{episode.pk}/flags/"
    bad = client.post(
        url,
        {"sexual_exploitation": "yes", "criminal_exploitation": False},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["sexual_exploitation"] == ["Must be true or false, not text."]
    assert bad.json()["mental_health"] == ["This field is required."]
    stale = client.post(
        url,
        {
            "sexual_exploitation": True,
            "criminal_exploitation": False,
            "mental_health": False,
            "version": episode.version + 5,
        },
        format="json",
    )
    assert stale.status_code == 409
    assert not MissingEpisode.objects.get(pk=episode.pk).flag_sexual_exploitation


def test_the_board_logs_the_children_its_meeting_tasks_name(client, ffd, manager):
    """The board names the children of the oldest open tasks, also when their episode is no
    longer open: its access row lists them with the episodes' children."""
    task = young_child_missing(ffd)
    services.episode_cancel(
        services.CancelData(reason="Logged twice"),
        actor=manager,
        episode_id=task.episode_id,
        now=FIXED_NOW,
    )
    signed_in(client, manager)
    with time_machine.travel(FIXED_NOW, tick=False):
        response = client.get(reverse("board"))
    assert task in response.context["board"].meeting_tasks
    assert not any(line.row.episode.pk == task.episode_id for line in response.context["lines"])
    row = AccessLog.objects.filter(action=AccessAction.LIST, route="board").get()
    assert task.child_id in row.child_ids


def test_the_flags_form_logs_a_read_of_the_child(client, ffd, manager):
    task = young_child_missing(ffd)
    signed_in(client, manager)
    response = client.get(reverse("episode_flags", args=[task.episode_id]))
    assert response.status_code == 200
    row = AccessLog.objects.get(action=AccessAction.VIEW)
    assert (row.child_id, row.reference, row.route) == (
        task.child_id,
        f"E-{task.episode_id}",
        "episode_flags",
    )
