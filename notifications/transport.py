"""Getting a text to a phone: the outbox (embedded default) or Twilio.

A transport sees a phone number, a body and a callback URL: never an episode or a child. It
sorts every failure into permanent (the message will never go: mark it failed, tell an
administrator) or transient (retry with backoff), and says whether a transient failure leaves
the outcome unknown (the request may have reached Twilio), in which case the next attempt first
asks Twilio whether the message exists before sending again.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

logger = logging.getLogger(__name__)

# Twilio message statuses (REST answers and status callbacks) → ours.
TWILIO_STATUS = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}

# How far before our first attempt a message found at Twilio may have been created and still
# count as ours (clock skew between us and Twilio).
FIND_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str


class SmsError(Exception):
    def __init__(self, detail: str, *, code: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


class PermanentSmsError(SmsError):
    """Sending again will not help (invalid number 21211, unsubscribed, bad credentials)."""


class TransientSmsError(SmsError):
    """Worth retrying (429, 5xx, timeouts). `uncertain`: the message may have gone through."""

    def __init__(self, detail: str, *, code: str = "", uncertain: bool) -> None:
        super().__init__(detail, code=code)
        self.uncertain = uncertain


class Transport(Protocol):
    name: str

    def send(self, *, to: str, body: str, status_callback: str) -> SendResult: ...

    def find_sent(self, *, to: str, body: str, since: datetime) -> SendResult | None: ...


class OutboxTransport:
    """The embedded default: the text is 'delivered' at once and shown on the outbox page (the
    SmsMessage row is the outbox) and in the console log. Bodies hold no child data."""

    name = "outbox"

    def send(self, *, to: str, body: str, status_callback: str) -> SendResult:
        sid = f"OUTBOX{uuid.uuid4().hex}"
        logger.info("Outbox text %s: %s", sid, body)
        return SendResult(sid=sid, status="delivered")

    def find_sent(self, *, to: str, body: str, since: datetime) -> SendResult | None:
        # The outbox never leaves an outcome unknown.
        return None


class TwilioTransport:
    name = "twilio"

    def __init__(self) -> None:
        http_client = TwilioHttpClient(timeout=settings.TWILIO_TIMEOUT_SECONDS)
        self.client = Client(
            settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http_client
        )
        # The SDK's supported hook for another endpoint: every API domain (twilio.base.domain.
        # Domain) builds its URLs from `base_url`. TWILIO_API_BASE points the real SDK at a
        # local server in tests and staging; it is https://api.twilio.com otherwise.
        self.client.api.base_url = settings.TWILIO_API_BASE
        self.from_number = settings.TWILIO_FROM_NUMBER

    def send(self, *, to: str, body: str, status_callback: str) -> SendResult:
        try:
            message = self.client.messages.create(
                to=to, from_=self.from_number, body=body, status_callback=status_callback
            )
        except TwilioRestException as exc:
            raise classify_rest_error(exc) from exc
        except requests.ConnectTimeout as exc:
            # No connection was made: the request never left.
            raise TransientSmsError("connect timeout", uncertain=False) from exc
        except (requests.RequestException, TwilioException) as exc:
            # A read timeout, a dropped connection, an answer we cannot read: Twilio may have
            # created the message.
            raise TransientSmsError(type(exc).__name__, uncertain=True) from exc
        return SendResult(sid=message.sid, status=TWILIO_STATUS.get(message.status, "queued"))

    def find_sent(self, *, to: str, body: str, since: datetime) -> SendResult | None:
        """Did an earlier attempt go through? The newest messages from our number to `to`,
        matched on the exact body and created since our first attempt."""
        try:
            recent = self.client.messages.list(to=to, from_=self.from_number, limit=20)
        except TwilioRestException as exc:
            raise classify_rest_error(exc) from exc
        except (requests.RequestException, TwilioException) as exc:
            raise TransientSmsError(f"check failed: {type(exc).__name__}", uncertain=True) from exc
        for message in recent:
            created = message.date_created
            if message.body == body and (created is None or created >= since - FIND_SLACK):
                return SendResult(
                    sid=message.sid, status=TWILIO_STATUS.get(message.status, "queued")
                )
        return None


def classify_rest_error(exc: TwilioRestException) -> SmsError:
    """429 and 5xx are transient (5xx: perhaps created, so check first); any other 4xx (21211
    invalid number, 21610 unsubscribed, 20003 bad credentials) will fail the same way again."""
    code = str(exc.code or exc.status)
    detail = f"Twilio error {exc.code or '-'} (HTTP {exc.status})"
    if exc.status == 429:
        return TransientSmsError(detail, code=code, uncertain=False)
    if exc.status >= 500:
        return TransientSmsError(detail, code=code, uncertain=True)
    return PermanentSmsError(detail, code=code)


def get_transport(name: str | None = None) -> Transport:
    name = name or settings.SMS_BACKEND
    if name == "twilio":
        return TwilioTransport()
    if name == "outbox":
        return OutboxTransport()
    raise ValueError(f"Unknown SMS backend {name!r}")
