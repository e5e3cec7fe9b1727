"""The real twilio SDK against the fake Twilio server: the exact requests made, and how each kind
of answer is handled (201, 21211 permanent, 429 and 500 transient, timeouts, a killed worker)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from notifications import services
from notifications.models import AdminAlert, Escalation, SmsMessage
from notifications.services import escalation_sweep, sms_send
from notifications.transport import TwilioTransport
from tests.factories import FIXED_NOW
from tests.helpers import report_missing
from tests.notifications.conftest import PUBLIC_BASE_URL, texts_to
from tests.notifications.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, Reply

DUE = FIXED_NOW + timedelta(hours=4)  # a medium-risk review falls due 4 h after notification
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"

Status = SmsMessage.Status


@pytest.fixture
def sms(ffd, rota, duty_manager, twilio_settings) -> SmsMessage:
    """One text waiting to go: the duty manager, about an overdue manager review."""
    report_missing(actor=ffd, now=FIXED_NOW)
    escalation_sweep(now=DUE)
    return SmsMessage.objects.get()


def test_sends_with_the_real_sdk_and_records_the_sid(sms, duty_manager, twilio_settings):
    fake = twilio_settings

    assert sms_send(sms_id=sms.pk, now=DUE).result == "sent"

    [request] = fake.requests
    assert request.method == "POST"
    assert request.path == MESSAGES_PATH
    assert request.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.fields() == {
        "To": duty_manager.phone,
        "From": FROM_NUMBER,
        "Body": sms.body,
        "StatusCallback": f"{PUBLIC_BASE_URL}/twilio/status/{sms.pk}/",
    }
    [created] = fake.created()
    sms.refresh_from_db()
    assert (sms.sid, sms.status, sms.backend, sms.attempts) == (
        created["sid"],
        Status.QUEUED,
        "twilio",
        1,
    )
    assert sms.sent_at == DUE
    assert sms.redispatch_at is None

    # A duplicated or retried task finds the text sent and sends nothing.
    assert sms_send(sms_id=sms.pk, now=DUE).result == "skipped"
    assert len(fake.requests) == 1


def test_invalid_number_is_permanent_alerts_an_administrator_and_climbs_at_once(
    sms, head_of_service, twilio_settings
):
    fake = twilio_settings
    fake.then(Reply.error(400, 21211))

    assert sms_send(sms_id=sms.pk, now=DUE).result == "failed"

    sms.refresh_from_db()
    assert (sms.status, sms.error_code, sms.sid) == (Status.FAILED, "21211", None)
    alert = AdminAlert.objects.get()
    assert alert.kind == AdminAlert.Kind.SMS_FAILED
    assert alert.sms == sms
    assert "duty_manager" in alert.message
    assert sms.to not in alert.message
    # Nobody at level 1 can be reached: the next sweep tells level 2 without waiting 30 min.
    assert Escalation.objects.get().next_level_at == DUE
    escalation_sweep(now=DUE + timedelta(minutes=1))
    assert [t.level for t in texts_to(head_of_service)] == [2]
    # Never retried.
    assert sms_send(sms_id=sms.pk, now=DUE + timedelta(minutes=2)).result == "skipped"
    assert [r.fields()["To"] for r in fake.posts()] == [sms.to]


def test_429_retries_with_backoff_and_sends_without_checking(sms, twilio_settings):
    fake = twilio_settings
    fake.then(Reply.error(429, 20429))

    outcome = sms_send(sms_id=sms.pk, now=DUE)

    assert outcome == services.SendOutcome("retry", retry_in=timedelta(seconds=30))
    sms.refresh_from_db()
    assert (sms.status, sms.needs_check, sms.error_code) == (Status.RETRY, False, "20429")
    assert sms.redispatch_at == DUE + timedelta(seconds=30 + 120)

    assert sms_send(sms_id=sms.pk, now=DUE + timedelta(seconds=30)).result == "sent"
    # Too many requests means not created: no need to ask before resending.
    assert [r.method for r in fake.requests] == ["POST", "POST"]
    assert len(fake.created()) == 1
    sms.refresh_from_db()
    assert (sms.status, sms.attempts, sms.error_code) == (Status.QUEUED, 2, "")


def test_500_is_retried_after_checking_the_first_attempt_did_not_go_through(
    sms, duty_manager, twilio_settings
):
    fake = twilio_settings
    fake.then(Reply.error(500, 20500))

    assert sms_send(sms_id=sms.pk, now=DUE).result == "retry"
    sms.refresh_from_db()
    assert (sms.status, sms.needs_check) == (Status.RETRY, True)

    assert sms_send(sms_id=sms.pk, now=DUE + timedelta(seconds=30)).result == "sent"

    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", MESSAGES_PATH),
        ("GET", MESSAGES_PATH),
        ("POST", MESSAGES_PATH),
    ]
    check = fake.gets()[0]
    assert check.query == {"To": [duty_manager.phone], "From": [FROM_NUMBER], "PageSize": ["20"]}
    assert len(fake.created()) == 1


def test_timeout_that_went_through_is_found_and_not_sent_again(sms, twilio_settings):
    fake = twilio_settings
    # Twilio took the message, then the answer came after the client's 0.5 s timeout.
    fake.then(Reply.timeout(1.5, create=True))

    assert sms_send(sms_id=sms.pk, now=DUE).result == "retry"
    sms.refresh_from_db()
    assert (sms.status, sms.needs_check) == (Status.RETRY, True)

    assert sms_send(sms_id=sms.pk, now=DUE + timedelta(seconds=30)).result == "sent"

    assert [r.method for r in fake.requests] == ["POST", "GET"]
    [created] = fake.created()
    sms.refresh_from_db()
    assert (sms.sid, sms.status) == (created["sid"], Status.QUEUED)


def test_timeout_that_did_not_go_through_is_sent_again(sms, twilio_settings):
    fake = twilio_settings
    fake.then(Reply.timeout(1.5, create=False))

    assert sms_send(sms_id=sms.pk, now=DUE).result == "retry"
    assert sms_send(sms_id=sms.pk, now=DUE + timedelta(seconds=30)).result == "sent"

    assert [r.method for r in fake.requests] == ["POST", "GET", "POST"]
    assert len(fake.created()) == 1


def test_gives_up_after_the_last_attempt(sms, settings, twilio_settings):
    settings.SMS_MAX_ATTEMPTS = 2
    twilio_settings.then(Reply.error(429, 20429), Reply.error(503, 20503))

    assert sms_send(sms_id=sms.pk, now=DUE).result == "retry"
    assert sms_send(sms_id=sms.pk, now=DUE + timedelta(seconds=30)).result == "failed"

    sms.refresh_from_db()
    assert sms.status == Status.FAILED
    assert AdminAlert.objects.get().kind == AdminAlert.Kind.SMS_GAVE_UP


def test_a_worker_killed_mid_send_is_taken_over_by_the_sweep_and_checked(sms, twilio_settings):
    """The worker claimed the text, Twilio created it, and the worker died before recording the
    SID. After SMS_RECLAIM_AFTER the sweep hands it over; the next attempt finds it."""
    fake = twilio_settings
    SmsMessage.objects.filter(pk=sms.pk).update(
        status=Status.SUBMITTING,
        attempts=1,
        claimed_at=DUE,
        first_attempt_at=DUE,
        redispatch_at=DUE + timedelta(seconds=300),
    )
    TwilioTransport().send(to=sms.to, body=sms.body, status_callback="https://x.test/cb")

    assert escalation_sweep(now=DUE + timedelta(seconds=299)).redispatched == 0
    assert escalation_sweep(now=DUE + timedelta(seconds=300)).redispatched == 1
    sms.refresh_from_db()
    assert (sms.status, sms.needs_check) == (Status.RETRY, True)

    assert sms_send(sms_id=sms.pk, now=DUE + timedelta(seconds=301)).result == "sent"

    assert [r.method for r in fake.requests] == ["POST", "GET"]
    [created] = fake.created()
    sms.refresh_from_db()
    assert sms.sid == created["sid"]


def test_a_text_for_an_acknowledged_escalation_is_not_sent(sms, manager, twilio_settings):
    services.escalation_acknowledge(
        actor=manager, escalation_id=sms.escalation_id, now=DUE + timedelta(seconds=1)
    )
    assert sms_send(sms_id=sms.pk, now=DUE + timedelta(seconds=2)).result == "skipped"
    assert twilio_settings.requests == []
    sms.refresh_from_db()
    assert sms.status == Status.CANCELLED


def test_an_answer_nobody_foresaw_is_retried_as_uncertain_and_not_sent_twice(
    sms, twilio_settings, caplog
):
    fake = twilio_settings
    fake.then(Reply.garbage())  # created, but the answer cannot be read

    assert sms_send(sms_id=sms.pk, now=DUE).result == "retry"
    sms.refresh_from_db()
    assert (sms.status, sms.needs_check) == (Status.RETRY, True)
    assert "unexpected error" in caplog.text
    assert sms.body not in caplog.text

    assert sms_send(sms_id=sms.pk, now=DUE + timedelta(seconds=30)).result == "sent"
    assert [r.method for r in fake.requests] == ["POST", "GET"]
    assert len(fake.created()) == 1


def test_the_task_retries_a_transient_failure(sms, twilio_settings):
    """The send_sms task's retry policy, run in-process (eager apply runs the retry at once)."""
    from notifications.tasks import send_sms

    twilio_settings.then(Reply.error(429, 20429))

    result = send_sms.apply(args=[sms.pk])

    assert result.get() == "sent"
    assert [r.method for r in twilio_settings.requests] == ["POST", "POST"]
    sms.refresh_from_db()
    assert (sms.status, sms.attempts) == (Status.QUEUED, 2)
