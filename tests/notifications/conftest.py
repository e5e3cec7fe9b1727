from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import redis
from twilio.request_validator import RequestValidator

from config.celery import app as celery_app
from missing.models import Role, User
from notifications import services
from notifications.models import Duty, OnCallShift, SmsMessage
from tests.factories import FIXED_NOW, TeamFactory, UserFactory
from tests.notifications.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio

PUBLIC_BASE_URL = "https://missing.example.gov.uk"


@pytest.fixture(autouse=True)
def _public_base_url(settings) -> None:
    # Different from the test client's host, so the tests prove URLs come from the setting.
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture
def twilio_settings(settings, fake_twilio: FakeTwilio) -> FakeTwilio:
    """The real SDK, pointed at the fake through TWILIO_API_BASE."""
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = FROM_NUMBER
    settings.TWILIO_API_BASE = fake_twilio.base_url
    settings.TWILIO_TIMEOUT_SECONDS = 0.5
    return fake_twilio


@pytest.fixture
def team_manager(db) -> User:
    return UserFactory(
        username="team_manager",
        role=Role.MANAGER,
        phone="+447700900011",
        team=TeamFactory(name="Children in Care"),
    )


@pytest.fixture
def duty_manager(db) -> User:
    return UserFactory(
        username="duty_manager",
        role=Role.MANAGER,
        phone="+447700900021",
        team=TeamFactory(name="Out of Hours"),
    )


@pytest.fixture
def rota(duty_manager: User) -> OnCallShift:
    """The duty manager is on call around FIXED_NOW (a month either side)."""
    return OnCallShift.objects.create(
        duty=Duty.DUTY_MANAGER,
        user=duty_manager,
        starts_at=FIXED_NOW - timedelta(days=30),
        ends_at=FIXED_NOW + timedelta(days=30),
    )


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def deliver(now: datetime) -> list[str]:
    """Run the send task's service for every text waiting, as a worker would."""
    outcomes = []
    for pk in SmsMessage.objects.filter(
        status__in=[SmsMessage.Status.PENDING, SmsMessage.Status.RETRY]
    ).values_list("pk", flat=True):
        outcomes.append(services.sms_send(sms_id=pk, now=now).result)
    return outcomes


def texts_to(user: User) -> list[SmsMessage]:
    return list(SmsMessage.objects.filter(recipient=user).order_by("pk"))


@pytest.fixture
def queue() -> Iterator[str]:
    """Texts handed to the broker go to a queue of this test's own: no other worker on the same
    Redis takes them, nothing left over from an earlier run stands in for them, and nothing of
    it is left behind."""
    name = f"test-sms-{uuid.uuid4().hex}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = name
    yield name
    celery_app.conf.task_default_queue = previous
    url = os.environ.get("CELERY_BROKER_URL", "")
    if url.startswith(("redis://", "rediss://")):
        forget_queue(url, name)


def forget_queue(url: str, name: str) -> None:
    """Delete the queue's list and bindings, and any message a killed worker never acknowledged
    (Redis would restore it to the queue after the visibility timeout)."""
    client = redis.Redis.from_url(url)
    try:
        client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
        for tag, raw in client.hgetall("unacked").items():
            if name.encode() in raw:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
    finally:
        client.close()
