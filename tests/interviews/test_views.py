"""The interview pages through the real services: the interviewer's queue, the tablet form
without JavaScript (save, complete, errors beside fields, a stale save refused with the
differences), its autosave and draft key, arranging and sign-off, the episode and child panels,
signing out, and pinned query counts."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from interviews import services
from interviews.models import InterviewStatus, ReturnInterview
from missing.accounts.second_factor import second_factor_reset
from missing.models import EpisodeState, MissingEpisode, User
from tests.factories import ChildFactory
from tests.helpers import login
from tests.interviews.helpers import (
    assign,
    complete,
    open_interview,
    record_held,
    returned_episode,
)

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


@pytest.fixture(autouse=True)
def _frozen_clock(now: datetime) -> Any:
    with time_machine.travel(now, tick=False):
        yield


def signed_in(user: User) -> Client:
    client = Client()
    login(client, user)
    return client


@pytest.fixture
def interview(ffd, manager, interviewer, now) -> ReturnInterview:
    child = ChildFactory(first_name="Jess", last_name="Tablet")
    episode = returned_episode(ffd=ffd, manager=manager, child=child, returned_at=now - 5 * H)
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    return assign(interview, manager=manager, interviewer=interviewer, now=now)


def record_post(interview: ReturnInterview, **overrides: Any) -> dict[str, Any]:
    """The tablet form as a browser without JavaScript sends it (London wall-clock times)."""
    data = {
        "version": interview.version,
        "outcome": "held",
        # 12:00 UTC now = 13:00 in London: held an hour ago.
        "held_at": "2026-06-10T12:00",
        "held_place": "Youth centre",
        "present": "Jess and the interviewer",
        "seen_alone": "yes",
        "account_where": "A friend's flat",
        "account_who_with": "Older friends",
        "account_travel": "Train",
        "account_how_found": "Came home",
        "push_factors": ["push-family-conflict"],
        "note_push-family-conflict": "Rows about curfew",
        "pull_factors": ["pull-peer-group"],
        "harms": [],
        "disclosures": "",
        "consent_to_share": "yes",
        "shared_with": "Social worker",
        "wishes_and_feelings": "Wants more time with her nan",
        "safety_plan": "Curfew agreed",
        "referrals": "Youth service",
        "not_held_reason": "",
        "carers_account": "",
        "action": "save",
    }
    data.update(overrides)
    return data


# --------------------------------------------------------------------------------------------
# The queue
# --------------------------------------------------------------------------------------------


def test_the_queue_lists_own_children_soonest_due_first_with_time_left(
    ffd, manager, interviewer, now
):
    later = returned_episode(ffd=ffd, manager=manager, returned_at=now - 2 * H)
    sooner = returned_episode(ffd=ffd, manager=manager, returned_at=now - 60 * H)
    for episode in (later, sooner):
        interview = open_interview(manager=manager, episodes=[episode], now=now)
        assign(interview, manager=manager, interviewer=interviewer, now=now)

    page = signed_in(interviewer).get(reverse("interviews:queue")).content.decode()

    assert page.index(sooner.child.full_name) < page.index(later.child.full_name)
    assert "12h 0m left" in page  # back 60 h ago: 12 of the 72 hours left
    assert "2d 22h left" in page


@pytest.mark.parametrize("n", [1, 6])
def test_the_queue_pins_its_queries(n, ffd, manager, interviewer, now, django_assert_num_queries):
    for i in range(n):
        episode = returned_episode(ffd=ffd, manager=manager, returned_at=now - (i + 1) * H)
        interview = open_interview(manager=manager, episodes=[episode], now=now)
        assign(interview, manager=manager, interviewer=interviewer, now=now)
    client = signed_in(interviewer)
    # 1. session, 2. user, 3. the session's second-factor device, 4. their open interviews
    # with child and earliest due time, 5. the episodes each covers, 6. the access row (one for
    # the list), + 2: the request's transaction (ATOMIC_REQUESTS: a savepoint and its release inside the
    # test's).
    with django_assert_num_queries(8):
        response = client.get(reverse("interviews:queue"))
    assert response.content.decode().count("app-queue__item") == n


def test_an_interviewer_with_nothing_assigned_is_told_so(interviewer):
    page = signed_in(interviewer).get(reverse("interviews:queue")).content.decode()
    assert "No interviews are assigned to you" in page


# --------------------------------------------------------------------------------------------
# The form without JavaScript
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["interviewer", "manager"])
def test_the_record_page_pins_its_queries(who, interview, users_by_role, django_assert_num_queries):
    client = signed_in(users_by_role[who])
    # 1. session, 2. user, 3. the session's second-factor device, 4. the interview with child
    # and people, 5. its episodes, 6. its attempts, 7. its factors, 8. the places and people
    # the child named, 9. the code lists (+ 10. for an interviewer: that the interview is
    # still theirs), + 1 the access row, + 2: the request's transaction (ATOMIC_REQUESTS: a savepoint and its release inside the
    # test's).
    with django_assert_num_queries(13 if who == "interviewer" else 12):
        response = client.get(reverse("interviews:record", args=[interview.pk]))
    assert response.status_code == 200


def test_saving_and_completing_without_javascript(interview, interviewer, now):
    client = signed_in(interviewer)
    url = reverse("interviews:record", args=[interview.pk])

    saved = client.post(url, record_post(interview), follow=True)
    assert saved.redirect_chain[-1][0] == url
    assert "Saved." in saved.content.decode()
    interview.refresh_from_db()
    assert interview.held_place == "Youth centre"
    assert interview.held_at == now - H
    assert services.record_values(interview)["push_factors"] == (
        ("push-family-conflict", "Rows about curfew"),
    )

    check = client.post(url, record_post(interview, action="complete"), follow=True)
    check_url = reverse("interviews:complete", args=[interview.pk])
    assert check.redirect_chain[-1][0] == check_url
    assert "Check your answers before completing the interview" in check.content.decode()
    interview.refresh_from_db()
    assert interview.status == InterviewStatus.TO_ARRANGE  # not yet: the answers are checked
    done = client.post(check_url, {"version": interview.version}, follow=True)
    assert done.redirect_chain[-1][0] == reverse("interviews:detail", args=[interview.pk])
    assert "Interview completed" in done.content.decode()
    interview.refresh_from_db()
    assert interview.status == InterviewStatus.COMPLETED
    assert MissingEpisode.objects.get().state == EpisodeState.AWAITING_SIGN_OFF


def test_an_incomplete_interview_is_refused_with_errors_linked_to_fields(interview, interviewer):
    url = reverse("interviews:record", args=[interview.pk])
    response = signed_in(interviewer).post(
        url,
        record_post(
            interview, action="complete", held_place="", wishes_and_feelings="", seen_alone=""
        ),
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "There is a problem" in page
    for anchor in ("#id_held_place", "#id_seen_alone_0", "#id_wishes_and_feelings"):
        assert f'href="{anchor}"' in page
    assert 'id="id_held_place-error"' in page
    # Nothing half-written: not even the draft's other answers were saved.
    interview.refresh_from_db()
    assert interview.status == InterviewStatus.TO_ARRANGE
    assert interview.account_where == ""


def test_an_interview_time_before_the_return_is_refused_beside_the_field(interview, interviewer):
    response = signed_in(interviewer).post(
        reverse("interviews:record", args=[interview.pk]),
        record_post(interview, held_at="2026-06-10T07:00"),  # 06:00 UTC: before the return
    )
    assert response.status_code == 400
    assert "before the child&#x27;s return" in response.content.decode()


def test_a_stale_save_is_a_409_showing_the_differences(interview, interviewer, manager, now):
    opened = interview.version
    services.interview_record_update(
        services.RecordData(changes={"held_place": "Library"}),
        actor=manager,
        interview_id=interview.pk,
        expected_version=opened,
        now=now,
    )
    client = signed_in(interviewer)
    url = reverse("interviews:record", args=[interview.pk])
    response = client.post(url, record_post(interview, version=opened))
    page = response.content.decode()

    assert response.status_code == 409
    assert "someone else changed this interview" in page
    assert "Where it was held" in page
    assert "Youth centre" in page
    assert "Library" in page
    assert ReturnInterview.objects.get().held_place == "Library"
    # The form now carries the current version: saving again keeps these answers.
    assert f'name="version" value="{opened + 1}"' in page
    again = client.post(url, record_post(interview, version=opened + 1))
    assert again.status_code == 302
    assert ReturnInterview.objects.get().held_place == "Youth centre"


def test_a_signed_off_interview_cannot_be_edited(interview, interviewer, manager, now):
    record_held(interview, actor=interviewer, held_at=now - H, now=now)
    done = complete(interview, actor=interviewer, now=now)
    services.interview_sign_off(
        services.SignOffData(no_follow_up_reason="Known to the exploitation team."),
        actor=manager,
        interview_id=interview.pk,
        now=now,
    )
    response = signed_in(manager).post(
        reverse("interviews:record", args=[interview.pk]),
        record_post(done, version=done.version + 1),
    )
    assert response.status_code == 409
    assert "signed off" in response.content.decode()


# --------------------------------------------------------------------------------------------
# Autosave, the draft key and signing out
# --------------------------------------------------------------------------------------------


def form_pairs(data: dict[str, Any]) -> list[list[str]]:
    pairs = []
    for name, value in data.items():
        if name in ("version", "action"):
            continue
        for item in value if isinstance(value, list) else [value]:
            pairs.append([name, str(item)])
    return pairs


def test_autosave_merges_with_a_newer_version_or_shows_the_clash(
    interview, interviewer, manager, now
):
    client = signed_in(interviewer)
    url = reverse("interviews:record_autosave", args=[interview.pk])
    empty = record_post(
        interview,
        outcome="",
        held_at="",
        held_place="",
        present="",
        seen_alone="",
        account_where="",
        account_who_with="",
        account_travel="",
        account_how_found="",
        push_factors=[],
        pull_factors=[],
        consent_to_share="",
        shared_with="",
        wishes_and_feelings="",
        safety_plan="",
        referrals="",
    )
    opened = interview.version
    services.interview_record_update(
        services.RecordData(changes={"present": "Mum"}),
        actor=manager,
        interview_id=interview.pk,
        expected_version=opened,
        now=now,
    )

    # Changes to other answers than the manager's: merged.
    mine = {**empty, "held_place": "Library"}
    merged = client.post(url, {**mine, "base": json.dumps(form_pairs(empty))})
    assert merged.status_code == 200, merged.json()
    assert merged.json()["merged"] is True
    assert ["present", "Mum"] in merged.json()["pairs"]
    saved = ReturnInterview.objects.get()
    assert (saved.held_place, saved.present) == ("Library", "Mum")

    # The same answer changed on both sides: 409 with the difference, nothing saved.
    clash = client.post(
        url, {**empty, "present": "Dad", "version": opened, "base": json.dumps(form_pairs(empty))}
    )
    assert clash.status_code == 409
    assert clash.json()["differences"] == [
        {"field": "present", "label": "Who was present", "yours": "Dad", "theirs": "Mum"}
    ]
    assert ReturnInterview.objects.get().present == "Mum"

    # They chose theirs over the saved one: overwrite.
    kept = client.post(
        url,
        {
            **empty,
            "present": "Dad",
            "version": opened,
            "base": json.dumps(form_pairs(empty)),
            "overwrite": "true",
        },
    )
    assert kept.status_code == 200
    assert ReturnInterview.objects.get().present == "Dad"


def test_autosave_answers_bad_input_with_field_errors(interview, interviewer):
    response = signed_in(interviewer).post(
        reverse("interviews:record_autosave", args=[interview.pk]),
        record_post(interview, held_at="not a time", push_factors=["push-nonsense"]),
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"held_at", "push_factors"}


def test_the_draft_key_is_per_user_and_only_for_a_fully_signed_in_user(interviewer, manager):
    url = reverse("interviews:draft_key")
    assert Client().get(url).status_code == 302
    first = signed_in(interviewer)
    answer = first.get(url)
    key = answer.json()["key"]
    assert answer.json()["user"] == interviewer.pk
    assert answer["Cache-Control"] == "no-store"
    assert len(base64.b64decode(key)) == 32
    # A new sign-in of the same person (after the idle sign-out) gets the same key back, so a
    # draft sealed before the session ended can be read again; anyone else gets another key.
    assert signed_in(interviewer).get(url).json()["key"] == key
    assert signed_in(manager).get(url).json()["key"] != key


def test_a_password_only_session_gets_no_draft_key(interviewer):
    client = Client()
    client.force_login(interviewer)  # the password step only: no second factor yet
    response = client.get(reverse("interviews:draft_key"))
    assert response.status_code == 302
    assert "key" not in response.content.decode()


def test_resetting_the_second_factor_changes_the_draft_key(interviewer):
    url = reverse("interviews:draft_key")
    key = signed_in(interviewer).get(url).json()["key"]
    second_factor_reset(actor=None, user=interviewer, now=timezone.now())
    interviewer.refresh_from_db()
    assert signed_in(interviewer).get(url).json()["key"] != key


def test_signing_out_asks_the_browser_to_clear_its_storage(interviewer):
    client = signed_in(interviewer)
    response = client.post(reverse("logout"))
    assert response["Clear-Site-Data"] == '"cache", "cookies", "storage"'


def test_the_offline_page_and_service_worker_hold_no_case_data(interview):
    offline = Client().get(reverse("interviews:offline"))
    worker = Client().get(reverse("interviews:service_worker"))
    assert offline.status_code == worker.status_code == 200
    assert worker["Content-Type"].startswith("text/javascript")
    assert "/interviews/offline/" in worker.content.decode()
    for body in (offline.content.decode(), worker.content.decode()):
        assert "Tablet" not in body
        assert "Jess" not in body


def test_the_offline_copy_of_the_form_holds_the_questions_and_no_case_data(interview, interviewer):
    """Decision 0062: the service worker keeps it and shows it for /interviews/<id>/record/ with
    no network, even after the session ended, so it is the same for everyone: the questions
    and the code lists, never the interview, the child or an answer."""
    saved = signed_in(interviewer).post(
        reverse("interviews:record", args=[interview.pk]), record_post(interview)
    )
    assert saved.status_code == 302
    url = reverse("interviews:record_offline")
    assert url == "/interviews/record/offline/"
    anonymous = Client().get(url)
    password_only = Client()
    password_only.force_login(interviewer)  # the password step only, as after a time-out
    bodies = [
        anonymous,
        password_only.get(url),
        signed_in(interviewer).get(url),
    ]
    assert [b.status_code for b in bodies] == [200, 200, 200]
    html = anonymous.content.decode()
    assert "data-offline-shell" in html
    # The same questions as the record page: every field name the tablet's draft may carry.
    record = signed_in(interviewer).get(reverse("interviews:record", args=[interview.pk]))
    names = set(re.findall(r'name="([^"]+)"', record.content.decode())) - {
        "csrfmiddlewaretoken",
        "version",
        "next",
    }
    assert names <= set(re.findall(r'name="([^"]+)"', html))
    for body in bodies:
        text = body.content.decode()
        assert text == html.replace(
            re.search(r'nonce="([^"]+)"', html)[1], re.search(r'nonce="([^"]+)"', text)[1]
        )
        for case_data in ("Jess", "Tablet", "Youth centre", "Rows about curfew", "I-"):
            assert case_data not in text
    assert "csrfmiddlewaretoken" not in html
    worker = Client().get(reverse("interviews:service_worker")).content.decode()
    assert "/interviews/record/offline/" in worker


def test_the_form_has_no_inline_script_or_style(interview, interviewer):
    page = signed_in(interviewer).get(reverse("interviews:record", args=[interview.pk]))
    html = page.content.decode()
    assert "<script>" not in html
    assert "<script " not in html.replace('<script type="module" src=', "")
    assert " style=" not in html
    assert " onclick=" not in html


# --------------------------------------------------------------------------------------------
# Arranging and signing off
# --------------------------------------------------------------------------------------------


def test_a_manager_arranges_an_interview_from_the_episode_page(ffd, manager, interviewer, now):
    episode = returned_episode(ffd=ffd, manager=manager, returned_at=now - 5 * H)
    client = signed_in(manager)
    page = client.get(reverse("episode_detail", args=[episode.pk])).content.decode()
    create_url = reverse("interviews:create", args=[episode.pk])
    assert create_url in page

    created = client.post(create_url, {"episodes": [str(episode.pk)]})
    interview = ReturnInterview.objects.get()
    assert created["Location"] == reverse("interviews:assign", args=[interview.pk])

    assigned = client.post(
        reverse("interviews:assign", args=[interview.pk]),
        {
            "version": interview.version,
            "interviewer": interviewer.pk,
            "independence_exception_reason": "",
            "planned_at": "2026-06-11T16:00",
            "planned_place": "School",
            "action": "assign",
        },
    )
    assert assigned.status_code == 302, assigned.content.decode()
    episode.refresh_from_db()
    assert episode.state == EpisodeState.INTERVIEW_ARRANGED
    detail = client.get(reverse("episode_detail", args=[episode.pk])).content.decode()
    assert interview.reference in detail
    assert "Interview arranged" in detail


def test_assigning_someone_not_independent_shows_why_beside_the_field(ffd, manager, now):
    from tests.factories import UserFactory

    worker = UserFactory(role="interviewer")
    child = ChildFactory(social_worker=worker)
    episode = returned_episode(ffd=ffd, manager=manager, child=child, returned_at=now - 5 * H)
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    response = signed_in(manager).post(
        reverse("interviews:assign", args=[interview.pk]),
        {"version": interview.version, "interviewer": worker.pk, "action": "assign"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "allocated social worker" in page
    assert 'href="#id_interviewer"' in page


def test_recording_an_attempt(interview, interviewer):
    response = signed_in(interviewer).post(
        reverse("interviews:attempt", args=[interview.pk]),
        {"at": "2026-06-10T12:30", "method": "phone", "outcome": "no_answer", "note": "Voicemail"},
    )
    assert response.status_code == 302
    assert interview.attempts.get().note == "Voicemail"


def test_a_manager_reads_and_signs_off(interview, interviewer, manager, now):
    record_held(interview, actor=interviewer, held_at=now - H, now=now)
    done = complete(interview, actor=interviewer, now=now)
    client = signed_in(manager)
    url = reverse("interviews:sign_off", args=[interview.pk])
    page = client.get(url).content.decode()
    assert "Argument with mum about curfew" in page  # the record, to read first
    answers = {
        "version": done.version,
        "strategy_meeting": "on",
        "exploitation_referral": "on",
        "note": "Plan",
    }
    check = client.post(url, {**answers, "step": "check"})
    assert "Check your answers before signing off" in check.content.decode()
    assert MissingEpisode.objects.get().state == EpisodeState.AWAITING_SIGN_OFF
    response = client.post(url, {**answers, "step": "confirm"}, follow=True)
    assert "Interview signed off" in response.content.decode()
    assert MissingEpisode.objects.get().state == EpisodeState.CLOSED
    interview.refresh_from_db()
    assert interview.follow_ups() == ["strategy meeting", "referral for exploitation"]


def test_only_managers_sign_off(interview, ffd, interviewer):
    assert (
        signed_in(ffd).get(reverse("interviews:sign_off", args=[interview.pk])).status_code == 403
    )
    assert (
        signed_in(interviewer).get(reverse("interviews:sign_off", args=[interview.pk])).status_code
        == 403
    )


# --------------------------------------------------------------------------------------------
# The child's history
# --------------------------------------------------------------------------------------------


def test_the_child_page_shows_episodes_and_interviews_in_time_order_and_the_pattern(
    ffd, manager, interviewer, now, django_assert_max_num_queries
):
    child = ChildFactory(first_name="Rory", last_name="Pattern")
    for days_ago, push in ((20, "push-family-conflict"), (5, "push-family-conflict")):
        returned_at = now - timedelta(days=days_ago)
        with time_machine.travel(returned_at + 2 * H, tick=False):
            episode = returned_episode(
                ffd=ffd, manager=manager, child=child, returned_at=returned_at
            )
            interview = open_interview(manager=manager, episodes=[episode], now=returned_at + H)
            assign(interview, manager=manager, interviewer=interviewer, now=returned_at + H)
            record_held(
                interview,
                actor=interviewer,
                held_at=returned_at + 2 * H,
                now=returned_at + 2 * H,
                push_factors=((push, f"{days_ago} days ago"),),
            )
            complete(interview, actor=interviewer, now=returned_at + 2 * H)

    client = signed_in(manager)
    # + 1 the access row, + 1 "who has looked" (managers), + 2 the request's savepoint, + 1
    # the legal-status periods, + 2 on PostgreSQL the facts' change history (decision 0046).
    with django_assert_max_num_queries(15 if connection.vendor == "sqlite" else 17):
        page = client.get(reverse("child_detail", args=[child.pk])).content.decode()

    history = page[page.index("Episodes and interviews in time order") :]
    first_ep, second_ep = MissingEpisode.objects.filter(child=child).order_by("last_seen_at")
    first_iv, second_iv = ReturnInterview.objects.filter(child=child).order_by("created_at")
    order = [
        history.index(x)
        for x in (first_ep.reference, first_iv.reference, second_ep.reference, second_iv.reference)
    ]
    assert order == sorted(order)
    patterns = page[page.index("Push and pull factors and harms across episodes") :]
    row = patterns[patterns.index("Family conflict or instability") :]
    assert ">2<" in row[:300]  # named in both interviews


@pytest.mark.parametrize("attempts", [1, 5])
def test_the_interview_page_pins_its_queries(
    attempts, interview, manager, now, django_assert_num_queries
):
    for i in range(attempts):
        services.interview_attempt_record(
            services.AttemptData(
                at=now - i * timedelta(minutes=5), method="phone", outcome="no_answer"
            ),
            actor=manager,
            interview_id=interview.pk,
            now=now,
        )
    client = signed_in(manager)
    # 1. session, 2. user, 3. the session's second-factor device, 4. the interview with child
    # and people, 5. its episodes, 6. its attempts with who recorded them, 7. its factors,
    # 8. the places and people the child named, 9. the child's other episodes that it could
    # cover (for the "cover another episode" button), 10. the access row, + 2: the request's transaction (ATOMIC_REQUESTS: a savepoint and its release inside the
    # test's).
    with django_assert_num_queries(12):
        response = client.get(reverse("interviews:detail", args=[interview.pk]))
    assert response.content.decode().count("No answer") == attempts


def test_an_interviewer_is_not_offered_the_managers_decision(interview, interviewer, manager):
    url = reverse("interviews:record", args=[interview.pk])
    assert "not_held_decision" not in signed_in(interviewer).get(url).content.decode()
    assert "not_held_decision" in signed_in(manager).get(url).content.decode()


def test_episode_page_sends_sign_off_to_the_interview(ffd, manager, interviewer, now):
    """Display follows the server rule: no episode sign-off button once an interview holds the
    outcome, and a pointer to the interview instead."""
    episode = returned_episode(
        ffd=ffd,
        manager=manager,
        child=ChildFactory(),
        returned_at=now - timedelta(hours=5),
    )
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    record_held(interview, actor=interviewer, held_at=now - timedelta(hours=1), now=now)
    complete(interview, actor=interviewer, now=now)
    web = Client()
    login(web, manager)
    with time_machine.travel(now, tick=False):
        page = web.get(reverse("episode_detail", args=[episode.pk])).content.decode()
    assert f"Return interview {interview.reference} holds the outcome" in page
    assert reverse("episode_sign_off", args=[episode.pk]) not in page
    api = APIClient()
    login(api, manager)
    detail = api.get(reverse("api-episode-detail", args=[episode.pk])).json()
    assert detail["state"] == "awaiting_sign_off"
    assert "sign_off" not in detail["available_transitions"]
    assert "review" in detail["available_transitions"]
