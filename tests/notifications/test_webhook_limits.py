"""Twilio's webhooks refuse, with a 400 naming the field, a correctly signed request holding what
Twilio itself never sends (a 5,000-character MessageSid used to reach a 34-character column: a
500 on PostgreSQL). The signature is still checked first: unsigned, the same request is a 403."""

from __future__ import annotations

import pytest

from notifications.models import InboundSms, SmsMessage
from tests.notifications.test_webhooks import (
    INBOUND,
    inbound_params,
    post,
    sent,  # noqa: F401 (fixture)
    signed_post,
    status_params,
)

pytestmark = pytest.mark.django_db

LONG_SID = "SM" + "f" * 4998


def status_path(sms: SmsMessage) -> str:
    return f"/twilio/status/{sms.pk}/"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("MessageSid", LONG_SID, "MessageSid must be at most 34 letters and digits"),
        ("SmsSid", LONG_SID, "SmsSid must be at most 34 letters and digits"),
        ("AccountSid", "AC" + "1" * 33, "AccountSid must be at most 34 letters and digits"),
        ("MessageSid", "SM-" + "f" * 31, "MessageSid must be at most 34 letters and digits"),
        ("MessageStatus", "delivered" * 10, "MessageStatus must be one word"),
        ("ErrorCode", "3" * 5000, "ErrorCode must be a number of at most 10 digits"),
    ],
)
def test_a_signed_status_callback_past_twilios_limits_is_a_400(client, sent, field, value, message):  # noqa: F811
    before = SmsMessage.objects.values().get(pk=sent.pk)
    response = signed_post(
        client, status_path(sent), status_params(sent, "delivered", **{field: value})
    )
    assert response.status_code == 400
    assert response.content.decode().startswith(message)
    assert SmsMessage.objects.values().get(pk=sent.pk) == before


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("MessageSid", LONG_SID, "MessageSid must be at most 34 letters and digits"),
        ("Body", "ACK 1 " + "x" * 1600, "Body must be at most 1,600 characters"),
        ("From", "+44" + "7" * 5000, "From must be a phone number in E.164 form"),
        ("From", "07700 900123", "From must be a phone number in E.164 form"),
    ],
)
def test_a_signed_inbound_text_past_twilios_limits_is_a_400(
    client,
    sent,  # noqa: F811
    duty_manager,
    field,
    value,
    message,
):
    params = inbound_params(
        "SM" + "1" * 32, duty_manager.phone, f"ACK {sent.escalation.episode_id}"
    )
    response = signed_post(client, INBOUND, {**params, field: value})
    assert response.status_code == 400
    assert response.content.decode().startswith(message)
    assert InboundSms.objects.count() == 0


def test_the_signature_is_still_checked_first(client, sent, duty_manager):  # noqa: F811
    status = post(client, status_path(sent), status_params(sent, "delivered", MessageSid=LONG_SID))
    inbound = post(client, INBOUND, inbound_params(LONG_SID, duty_manager.phone, "ACK 1"))
    assert status.status_code == inbound.status_code == 403
    assert InboundSms.objects.count() == 0


def test_twilios_own_values_pass(client, sent):  # noqa: F811
    # Two letters and 32 hex digits, a status word, a five-digit error code: accepted.
    params = status_params(sent, "undelivered", ErrorCode="30003")
    assert signed_post(client, status_path(sent), params).status_code == 204
    sent.refresh_from_db()
    assert sent.status == SmsMessage.Status.UNDELIVERED
