"""Real Celery worker processes on Redis, sending through the real twilio SDK to the fake Twilio
server, against the same PostgreSQL test database:

- a worker killed with SIGKILL while Twilio holds its request, then restarted: every due text is
  delivered exactly once, counted at the fake server;
- beat stopped for six hours, then one sweep: each overdue escalation texted once.

Needs CELERY_BROKER_URL=redis://… and DATABASE_URL=postgres://…: the in-memory broker and SQLite's
test database cannot be shared with another process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from notifications.models import Duty, OnCallShift, SmsMessage
from notifications.services import escalation_sweep
from tests.helpers import report_missing
from tests.notifications.conftest import PUBLIC_BASE_URL
from tests.notifications.fake_twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    FakeTwilio,
    Reply,
)

ROOT = Path(settings.BASE_DIR)
BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
WAIT_SECONDS = 45
H = timedelta(hours=1)
M = timedelta(minutes=1)
Status = SmsMessage.Status

pytestmark = [
    pytest.mark.celery,
    pytest.mark.skipif(
        not BROKER_URL.startswith(("redis://", "rediss://")),
        reason="needs CELERY_BROKER_URL=redis://…: the in-memory broker cannot reach a worker",
    ),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs DATABASE_URL=postgres://…: a worker cannot share SQLite's test database",
    ),
]


def worker_database_url() -> str:
    """DATABASE_URL for the database this test runs in (pytest-django's test_<name>)."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{user}{password}@{host}{port}/{quote(db['NAME'], safe='')}"


class Worker:
    """`celery -A config worker` in its own process group, on a queue of the test's own."""

    def __init__(self, *, log: Path, queue: str, fake: FakeTwilio) -> None:
        self.log = log
        self.queue = queue
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": worker_database_url(),
            "CELERY_BROKER_URL": BROKER_URL,
            "SMS_BACKEND": "twilio",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "TWILIO_API_BASE": fake.base_url,
            # Long enough that a held request is still waiting when the test kills the worker.
            "TWILIO_TIMEOUT_SECONDS": "30",
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "PYTHONUNBUFFERED": "1",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (fixed argv)
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "--pool",
                    "solo",
                    "--queues",
                    self.queue,
                    "--hostname",
                    f"{self.queue}-{uuid.uuid4().hex[:6]}@%h",
                    "--without-mingle",
                    "--without-gossip",
                    "--without-heartbeat",
                    "--loglevel",
                    "INFO",
                ],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one
            )
        wait_until(lambda: "ready." in self.log.read_bytes()[offset:].decode(), self, "ready")
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no ack, no cleanup, as when a machine dies."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def wait_until(check: Callable[[], bool], worker: Worker, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        if not worker.alive():
            pytest.fail(f"The worker exited before {what}:\n{worker.log.read_text()}")
        time.sleep(0.2)
    pytest.fail(f"Not {what} after {WAIT_SECONDS} s. Worker log:\n{worker.log.read_text()}")


@pytest.fixture
def on_call(duty_manager, head_of_service):
    now = timezone.now()
    OnCallShift.objects.create(
        duty=Duty.DUTY_MANAGER, user=duty_manager, starts_at=now - 12 * H, ends_at=now + 12 * H
    )
    return now


def delivered_once(fake: FakeTwilio) -> None:
    """Every text row has Twilio's SID, and the fake created each (to, body) exactly once."""
    rows = list(SmsMessage.objects.order_by("pk"))
    created = fake.created()
    assert Counter((m["to"], m["body"]) for m in created) == Counter(
        (sms.to, sms.body) for sms in rows
    )
    assert sorted(m["sid"] for m in created) == sorted(sms.sid for sms in rows)
    assert {sms.status for sms in rows} == {Status.QUEUED}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_worker_killed_mid_send_then_restarted_delivers_every_text_exactly_once(
    tmp_path, queue, fake_twilio, ffd, on_call
):
    now = on_call
    for n in range(3):
        report_missing(actor=ffd, now=now - 5 * H + n * M)  # reviews fell due an hour ago
    fake_twilio.then(Reply.hold())  # Twilio takes the first message and does not answer

    assert escalation_sweep(now=now).texts == 3  # committed, then handed to the queue

    log = tmp_path / "worker.log"
    first = Worker(log=log, queue=queue, fake=fake_twilio).start()
    try:
        wait_until(fake_twilio.holding.is_set, first, "holding the first request")
        first.kill()
    finally:
        first.stop()
    fake_twilio.release.set()
    [stuck] = SmsMessage.objects.filter(status=Status.SUBMITTING)
    assert stuck.sid is None  # Twilio has it; we do not know
    assert len(fake_twilio.created()) == 1

    second = Worker(log=log, queue=queue, fake=fake_twilio).start()
    try:
        # The two texts still in the queue go out.
        wait_until(
            lambda: SmsMessage.objects.filter(status=Status.QUEUED).count() == 2,
            second,
            "sending the two queued texts",
        )
        # Once SMS_RECLAIM_AFTER has passed, the sweep hands the stuck text over; the worker
        # asks Twilio whether it went through, finds it, and records it without resending.
        later = timezone.now() + timedelta(seconds=settings.SMS_RECLAIM_AFTER_SECONDS) + M
        assert escalation_sweep(now=later).redispatched == 1
        wait_until(
            lambda: not SmsMessage.objects.filter(sid__isnull=True).exists(),
            second,
            "recording the stuck text",
        )
    finally:
        second.stop()

    delivered_once(fake_twilio)
    assert len(fake_twilio.posts()) == 3
    assert len(fake_twilio.gets()) == 1
    stuck.refresh_from_db()
    assert stuck.attempts == 2
    assert stuck.sid == next(
        m["sid"] for m in fake_twilio.created() if m["body"] == stuck.body and m["to"] == stuck.to
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_beat_down_six_hours_then_one_sweep_texts_each_overdue_escalation_once(
    tmp_path, queue, fake_twilio, ffd, on_call, duty_manager, head_of_service
):
    now = on_call
    down_at = now - 6 * H
    before = report_missing(actor=ffd, now=down_at - 4 * H - 10 * M)
    assert escalation_sweep(now=down_at - 10 * M).texts == 1  # the last sweep before the outage
    during = [report_missing(actor=ffd, now=down_at + n * H - 4 * H) for n in (1, 2, 3)]

    worker = Worker(log=tmp_path / "worker.log", queue=queue, fake=fake_twilio).start()
    try:
        wait_until(lambda: len(fake_twilio.created()) == 1, worker, "sending the first text")

        result = escalation_sweep(now=now)  # beat is back: one sweep

        assert (result.raised, result.texts) == (3, 4)
        wait_until(
            lambda: (
                SmsMessage.objects.count() == 5
                and not SmsMessage.objects.filter(sid__isnull=True).exists()
            ),
            worker,
            "sending every text",
        )
        assert escalation_sweep(now=now).texts == 0
        assert escalation_sweep(now=now + M).texts == 0
        time.sleep(1)  # anything sent twice would arrive now
    finally:
        worker.stop()

    delivered_once(fake_twilio)
    told = Counter(
        (sms.escalation.episode_id, sms.recipient.username, sms.level)
        for sms in SmsMessage.objects.select_related("escalation", "recipient")
    )
    assert told == Counter(
        [(before.pk, "duty_manager", 1), (before.pk, "hos", 2)]
        + [(e.pk, "duty_manager", 1) for e in during]
    )
