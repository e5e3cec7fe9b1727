"""Check your answers before the interview's sign-off (issue 13, item 9), and the rule behind
it: no follow-up over an exploitation flag, a disclosure or a harm needs the manager's reason,
refused otherwise by the one service for the web page and the API alike."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from interviews import services
from interviews.models import InterviewStatus, ReturnInterview
from missing.cases import services as core
from missing.models import EpisodeEvent, EpisodeState, MissingEpisode, RepeatMissingRule, User
from tests.factories import ChildFactory
from tests.helpers import login
from tests.interviews.helpers import assign, complete, open_interview, record_held, returned_episode

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)
REASON = "Already open to the exploitation team; plan reviewed last week."


@pytest.fixture(autouse=True)
def _frozen_clock(now: datetime) -> Any:
    with time_machine.travel(now, tick=False):
        yield


def signed_in(user: User, client: Client | None = None) -> Any:
    client = client or Client()
    login(client, user)
    return client


def completed_interview(
    *, ffd: User, manager: User, interviewer: User, now: datetime, **record: Any
) -> ReturnInterview:
    episode = returned_episode(
        ffd=ffd, manager=manager, child=ChildFactory(first_name="Kai"), returned_at=now - 5 * H
    )
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    record_held(interview, actor=interviewer, held_at=now - H, now=now, **record)
    return complete(interview, actor=interviewer, now=now)


def flag_criminal_exploitation(episode: MissingEpisode, *, manager: User, now: datetime) -> None:
    episode.refresh_from_db()
    core.episode_set_flags(
        core.FlagsData(sexual_exploitation=False, criminal_exploitation=True, mental_health=False),
        actor=manager,
        episode_id=episode.pk,
        now=now,
        expected_version=episode.version,
    )


def test_the_check_page_shows_flags_disclosures_harms_and_risk_tasks(
    ffd, manager, interviewer, now
):
    RepeatMissingRule.objects.exclude(code="exploitation").update(active=False)
    done = completed_interview(
        ffd=ffd,
        manager=manager,
        interviewer=interviewer,
        now=now,
        disclosures="Said an older man gives her lifts",
    )
    episode = MissingEpisode.objects.get()
    flag_criminal_exploitation(episode, manager=manager, now=now)
    client = signed_in(manager)
    url = reverse("interviews:sign_off", args=[done.pk])
    form_page = client.get(url).content.decode()
    assert "The record shows:" in form_page
    # The kinds as plural headings: not "Harm or risk while missings".
    assert "Harms or risks while missing" in form_page
    assert "missings" not in form_page

    response = client.post(
        url,
        {"version": done.version, "update_safety_plan": "on", "note": "Plan", "step": "check"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Check your answers before signing off" in page
    record = page[page.index('data-testid="sign-off-record"') :]
    assert "Criminal exploitation" in record
    assert "Said an older man gives her lifts" in record
    assert "Asked to carry a bag" in record  # the harm's note
    assert "exploitation" in record[record.index("Open risk meeting tasks") :].lower()
    decision = page[page.index('data-testid="sign-off-decision"') :]
    assert "Update the safety plan" in decision
    assert page.count('value="change"') == 2  # follow-up and note (no reason row)
    # Nothing signed off yet: the check step writes nothing.
    assert ReturnInterview.objects.get().status == InterviewStatus.COMPLETED

    # "Change" brings the form back with the answers as given.
    change = client.post(
        url,
        {"version": done.version, "update_safety_plan": "True", "note": "Plan", "step": "change"},
    ).content.decode()
    box = re.search(r'<input[^>]*name="update_safety_plan"[^>]*>', change)
    assert box is not None
    assert " checked" in box.group(0)
    assert "Plan</textarea>" in change


def test_follow_up_none_over_a_harm_is_refused_on_the_web_without_a_reason(
    ffd, manager, interviewer, now
):
    done = completed_interview(ffd=ffd, manager=manager, interviewer=interviewer, now=now)
    client = signed_in(manager)
    url = reverse("interviews:sign_off", args=[done.pk])
    for step in ("check", "confirm"):
        response = client.post(url, {"version": done.version, "step": step})
        assert response.status_code == 400
        page = response.content.decode()
        assert 'href="#id_no_follow_up_reason"' in page
        assert "harm: Criminal exploitation" in page
    assert ReturnInterview.objects.get().status == InterviewStatus.COMPLETED
    assert MissingEpisode.objects.get().state == EpisodeState.AWAITING_SIGN_OFF

    answers = {"version": done.version, "no_follow_up_reason": REASON}
    check = client.post(url, {**answers, "step": "check"}).content.decode()
    assert "Why no follow-up" in check
    client.post(url, {**answers, "step": "confirm"})
    signed = ReturnInterview.objects.get()
    assert signed.status == InterviewStatus.SIGNED_OFF
    assert signed.no_follow_up_reason == REASON
    assert signed.follow_ups() == []
    event = EpisodeEvent.objects.get(action="sign_off")
    assert f"Follow-up: none, because {REASON}." in event.reason
    assert REASON in client.get(reverse("interviews:detail", args=[done.pk])).content.decode()


def test_follow_up_none_over_an_exploitation_flag_alone_is_refused(ffd, manager, interviewer, now):
    done = completed_interview(
        ffd=ffd, manager=manager, interviewer=interviewer, now=now, harms=(), disclosures=""
    )
    flag_criminal_exploitation(MissingEpisode.objects.get(), manager=manager, now=now)
    with pytest.raises(core.InvalidInput) as refused:
        services.interview_sign_off(
            services.SignOffData(),
            actor=manager,
            interview_id=done.pk,
            now=now,
            expected_version=done.version,
        )
    message = refused.value.field_errors["no_follow_up_reason"][0]
    assert "flagged for criminal exploitation" in message


def test_a_record_with_nothing_of_concern_signs_off_with_no_follow_up(
    ffd, manager, interviewer, now
):
    done = completed_interview(
        ffd=ffd, manager=manager, interviewer=interviewer, now=now, harms=(), disclosures=""
    )
    services.interview_sign_off(
        services.SignOffData(), actor=manager, interview_id=done.pk, now=now
    )
    assert ReturnInterview.objects.get().status == InterviewStatus.SIGNED_OFF


def test_the_api_refuses_follow_up_none_naming_the_field(ffd, manager, interviewer, now):
    done = completed_interview(ffd=ffd, manager=manager, interviewer=interviewer, now=now)
    api = signed_in(manager, APIClient())
    url = f"/api/interviews/{done.pk}/sign-off/"
    refused = api.post(url, {"version": done.version}, format="json")
    assert refused.status_code == 400
    assert "harm: Criminal exploitation" in refused.json()["no_follow_up_reason"][0]
    assert ReturnInterview.objects.get().status == InterviewStatus.COMPLETED

    signed = api.post(url, {"version": done.version, "no_follow_up_reason": REASON}, format="json")
    assert signed.status_code == 200, signed.json()
    assert signed.json()["no_follow_up_reason"] == REASON


def test_a_stale_confirmation_is_a_409_on_the_form(ffd, manager, interviewer, now):
    done = completed_interview(ffd=ffd, manager=manager, interviewer=interviewer, now=now)
    response = signed_in(manager).post(
        reverse("interviews:sign_off", args=[done.pk]),
        {"version": done.version - 1, "strategy_meeting": "on", "step": "confirm"},
    )
    assert response.status_code == 409
    assert "govuk-error-summary" in response.content.decode()
    assert ReturnInterview.objects.get().status == InterviewStatus.COMPLETED


def test_a_stale_api_sign_off_is_a_409_before_the_reason(ffd, manager, interviewer, now):
    done = completed_interview(ffd=ffd, manager=manager, interviewer=interviewer, now=now)
    api = signed_in(manager, APIClient())
    response = api.post(
        f"/api/interviews/{done.pk}/sign-off/", {"version": done.version - 1}, format="json"
    )
    assert response.status_code == 409


def test_the_sign_off_banner_shows_only_to_those_who_may_sign_off(
    ffd, manager, head_of_service, interviewer, now
):
    done = completed_interview(ffd=ffd, manager=manager, interviewer=interviewer, now=now)
    episode = MissingEpisode.objects.get()
    url = reverse("episode_detail", args=[episode.pk])
    sign_off_url = reverse("interviews:sign_off", args=[done.pk])
    for user in (manager, head_of_service):
        page = signed_in(user).get(url).content.decode()
        banner = page[page.index('data-testid="sign-off-banner"') :]
        assert sign_off_url in banner[:1500]
        # Near the top: before the clocks and the details.
        assert page.index('data-testid="sign-off-banner"') < page.index("Missing and found")
    page = signed_in(ffd).get(url).content.decode()
    assert 'data-testid="sign-off-banner"' not in page
    assert sign_off_url not in page
    assert f"Return interview {done.reference} holds the outcome" in page
