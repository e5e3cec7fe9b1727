"""Twilio's webhooks: X-Twilio-Signature checked with Twilio's own RequestValidator over the URL
built from PUBLIC_BASE_URL; forged requests refused (403), replays harmless; status only moves
forward; `ACK <n>` from a registered phone stops the ladder and answers TwiML."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlencode

import pytest

from missing.models import Role
from notifications.models import AdminAlert, Escalation, InboundSms, SmsMessage
from notifications.services import escalation_sweep
from tests.factories import FIXED_NOW, OrganisationFactory, UserFactory
from tests.helpers import report_missing
from tests.notifications.conftest import PUBLIC_BASE_URL, deliver, sign, texts_to
from tests.notifications.fake_twilio import ACCOUNT_SID

DUE = FIXED_NOW + timedelta(hours=4)
INBOUND = "/twilio/inbound/"
Status = SmsMessage.Status


def post(client, path: str, params: dict[str, str], *, signature: str | None = None):
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    return client.post(
        path,
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )


def signed_post(client, path: str, params: dict[str, str]):
    return post(client, path, params, signature=sign(PUBLIC_BASE_URL + path, params))


@pytest.fixture
def sent(ffd, rota, duty_manager) -> SmsMessage:
    """A text sent to the duty manager about an overdue review, SID recorded."""
    report_missing(actor=ffd, now=FIXED_NOW)
    escalation_sweep(now=DUE)
    deliver(DUE)
    sms = SmsMessage.objects.get()
    SmsMessage.objects.filter(pk=sms.pk).update(sid="SM" + "f" * 32, status=Status.QUEUED)
    sms.refresh_from_db()
    return sms


def status_params(sms: SmsMessage, status: str, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": sms.sid,
        "SmsSid": sms.sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": sms.to,
        "From": "+447700900999",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def inbound_params(sid: str, from_: str, body: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "From": from_,
        "To": "+447700900999",
        "Body": body,
        "NumMedia": "0",
    }


# --- status callbacks ------------------------------------------------------------------------


def test_signed_status_callback_moves_the_status_forward(client, sent):
    path = f"/twilio/status/{sent.pk}/"

    response = signed_post(client, path, status_params(sent, "delivered"))

    assert response.status_code == 204
    sent.refresh_from_db()
    assert sent.status == Status.DELIVERED


def test_a_callback_for_a_text_waiting_to_retry_settles_it(client, sent):
    """The send timed out, yet Twilio delivered it and says so: no retry sends it again."""
    SmsMessage.objects.filter(pk=sent.pk).update(
        status=Status.RETRY, needs_check=True, sid=None, redispatch_at=DUE
    )
    path = f"/twilio/status/{sent.pk}/"

    signed_post(client, path, status_params(sent, "delivered"))

    sent.refresh_from_db()
    assert (sent.status, sent.sid, sent.redispatch_at) == (Status.DELIVERED, "SM" + "f" * 32, None)
    assert deliver(DUE + timedelta(minutes=5)) == []
    assert escalation_sweep(now=DUE + timedelta(minutes=5)).redispatched == 0


def test_replayed_and_late_callbacks_change_nothing(client, sent):
    path = f"/twilio/status/{sent.pk}/"
    delivered = status_params(sent, "delivered")
    assert signed_post(client, path, delivered).status_code == 204
    sent.refresh_from_db()
    stamp = sent.status_updated_at

    # The same request again (a replay), and an older status arriving late.
    assert signed_post(client, path, delivered).status_code == 204
    assert signed_post(client, path, status_params(sent, "sent")).status_code == 204
    assert signed_post(client, path, status_params(sent, "queued")).status_code == 204

    sent.refresh_from_db()
    assert (sent.status, sent.status_updated_at) == (Status.DELIVERED, stamp)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda p, params: None, id="unsigned"),
        pytest.param(lambda p, params: "not-a-signature", id="garbage"),
        pytest.param(
            lambda p, params: sign(PUBLIC_BASE_URL + p, params, token="someone-elses-token"),
            id="wrong-token",
        ),
        pytest.param(
            lambda p, params: sign(PUBLIC_BASE_URL + p, {**params, "MessageStatus": "sent"}),
            id="tampered",
        ),
        pytest.param(
            # Signed over the Host the request reached, not the public address: refused, so a
            # proxy that rewrites Host cannot make us accept what Twilio did not sign.
            lambda p, params: sign("http://testserver" + p, params),
            id="other-url",
        ),
        pytest.param(
            lambda p, params: sign(PUBLIC_BASE_URL + "/twilio/status/999/", params),
            id="other-text",
        ),
    ],
)
def test_forged_status_callbacks_are_refused(client, sent, forge):
    path = f"/twilio/status/{sent.pk}/"
    params = status_params(sent, "failed", ErrorCode="30003")

    response = post(client, path, params, signature=forge(path, params))

    assert response.status_code == 403
    sent.refresh_from_db()
    assert sent.status == Status.QUEUED
    assert AdminAlert.objects.count() == 0


def test_no_auth_token_configured_refuses_every_webhook(client, sent, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    path = f"/twilio/status/{sent.pk}/"
    assert signed_post(client, path, status_params(sent, "delivered")).status_code == 403


def test_webhooks_accept_only_post(client, sent):
    assert client.get(f"/twilio/status/{sent.pk}/").status_code == 405
    assert client.get(INBOUND).status_code == 405


def test_undelivered_callback_alerts_an_administrator_and_climbs(client, sent, head_of_service):
    path = f"/twilio/status/{sent.pk}/"
    signed_post(client, path, status_params(sent, "undelivered", ErrorCode="30003"))

    sent.refresh_from_db()
    assert (sent.status, sent.error_code) == (Status.UNDELIVERED, "30003")
    assert AdminAlert.objects.get().kind == AdminAlert.Kind.SMS_FAILED
    escalation_sweep(now=FIXED_NOW + timedelta(hours=5))  # before 30 min would have passed
    assert [t.level for t in texts_to(head_of_service)] == [2]


# --- inbound texts ---------------------------------------------------------------------------


def test_ack_from_a_registered_phone_acknowledges_stops_the_ladder_and_answers_twiml(
    client, sent, duty_manager, head_of_service
):
    episode_id = sent.escalation.episode_id
    params = inbound_params("SM" + "1" * 32, duty_manager.phone, f"ACK {episode_id}")

    response = signed_post(client, INBOUND, params)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    assert response.content.decode() == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
        f"Acknowledged E-{episode_id}: 1 alert stopped. Thank you."
        "</Message></Response>"
    )
    escalation = Escalation.objects.get()
    assert escalation.state == Escalation.State.ACKNOWLEDGED
    assert escalation.acknowledged_by == duty_manager
    assert escalation.acknowledged_via == Escalation.Via.SMS
    escalation_sweep(now=DUE + timedelta(hours=1))
    assert texts_to(head_of_service) == []


@pytest.mark.parametrize("body", ["ack {n}", "  ACK E-{n}. ", "Ack e{n}", "ACK{n}"])
def test_ack_forms_accepted(client, sent, duty_manager, body):
    params = inbound_params(
        "SM" + "2" * 32, duty_manager.phone, body.format(n=sent.escalation.episode_id)
    )
    signed_post(client, INBOUND, params)
    assert Escalation.objects.get().state == Escalation.State.ACKNOWLEDGED


def test_replayed_ack_acts_once(client, sent, duty_manager):
    params = inbound_params(
        "SM" + "3" * 32, duty_manager.phone, f"ACK {sent.escalation.episode_id}"
    )
    first = signed_post(client, INBOUND, params)
    acknowledged_at = Escalation.objects.get().acknowledged_at

    again = signed_post(client, INBOUND, params)

    assert again.content == first.content
    assert Escalation.objects.get().acknowledged_at == acknowledged_at
    assert InboundSms.objects.count() == 1


@pytest.mark.parametrize(
    ("from_", "body", "outcome"),
    [
        ("+447700900555", "ACK {n}", InboundSms.Outcome.UNKNOWN_NUMBER),
        ("{phone}", "ACK 99999999", InboundSms.Outcome.UNKNOWN_REFERENCE),
        ("{phone}", "Yes I'll call the carer about Alex", InboundSms.Outcome.NOT_UNDERSTOOD),
    ],
)
def test_unknown_numbers_and_references_are_ignored_and_logged_without_personal_data(
    client, sent, duty_manager, caplog, from_, body, outcome
):
    sender = from_.format(phone=duty_manager.phone)
    text = body.format(n=sent.escalation.episode_id)
    sid = "SM" + "4" * 32
    caplog.set_level(logging.INFO)

    response = signed_post(client, INBOUND, inbound_params(sid, sender, text))

    assert response.status_code == 200
    assert response.content.decode() == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    assert Escalation.objects.get().state == Escalation.State.OPEN
    record = InboundSms.objects.get()
    assert record.outcome == outcome
    logged = caplog.text
    assert sid in logged
    assert sender not in logged
    assert text not in logged


def test_ack_from_someone_not_texted_and_not_a_manager_is_ignored(client, sent):
    ffd_with_phone = UserFactory(username="ffd2", role=Role.FFD, phone="+447700900777")
    params = inbound_params(
        "SM" + "5" * 32, ffd_with_phone.phone, f"ACK {sent.escalation.episode_id}"
    )
    signed_post(client, INBOUND, params)
    assert Escalation.objects.get().state == Escalation.State.OPEN
    assert InboundSms.objects.get().outcome == InboundSms.Outcome.UNKNOWN_REFERENCE


def test_any_manager_or_head_of_service_may_acknowledge_by_sms(client, sent, head_of_service):
    params = inbound_params(
        "SM" + "6" * 32, head_of_service.phone, f"ACK {sent.escalation.episode_id}"
    )
    signed_post(client, INBOUND, params)
    assert Escalation.objects.get().acknowledged_by == head_of_service


def test_an_interviewer_may_acknowledge_what_they_were_texted(client, sent):
    org = OrganisationFactory(name="Safe Steps Charity", kind="provider")
    interviewer = UserFactory(
        username="rhi", role=Role.INTERVIEWER, organisation=org, phone="+447700900041"
    )
    SmsMessage.objects.create(
        escalation=sent.escalation,
        level=1,
        recipient=interviewer,
        to=interviewer.phone,
        body=sent.body,
        created_at=DUE,
        status=Status.DELIVERED,
    )
    params = inbound_params("SM" + "7" * 32, interviewer.phone, f"ACK {sent.escalation.episode_id}")
    signed_post(client, INBOUND, params)
    assert Escalation.objects.get().acknowledged_by == interviewer


def test_forged_inbound_is_refused_and_changes_nothing(client, sent, duty_manager):
    params = inbound_params(
        "SM" + "8" * 32, duty_manager.phone, f"ACK {sent.escalation.episode_id}"
    )
    tampered = {**params, "From": "+447700900555"}

    assert post(client, INBOUND, params).status_code == 403
    assert (
        post(
            client, INBOUND, tampered, signature=sign(PUBLIC_BASE_URL + INBOUND, params)
        ).status_code
        == 403
    )

    assert Escalation.objects.get().state == Escalation.State.OPEN
    assert InboundSms.objects.count() == 0
