"""`manage.py run_escalations`, the beat schedule, and texts handed to the worker after commit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from config.celery import app as celery_app
from notifications.models import Escalation, SmsMessage
from notifications.services import escalation_sweep
from tests.factories import FIXED_NOW
from tests.helpers import report_missing

DUE = FIXED_NOW + timedelta(hours=4)


@pytest.fixture
def eager_celery() -> Iterator[None]:
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def test_run_escalations_runs_one_sweep_as_at_the_given_time(ffd, rota, duty_manager):
    report_missing(actor=ffd, now=FIXED_NOW)
    out = StringIO()

    call_command("run_escalations", "--now", "2026-06-10T17:00:00+01:00", stdout=out)

    assert "1 raised" in out.getvalue()
    assert "1 texts queued" in out.getvalue()
    escalation = Escalation.objects.get()
    assert escalation.raised_at == DUE  # 17:00 BST is 16:00 UTC
    call_command("run_escalations", "--now", "2026-06-10T16:00:00Z", stdout=StringIO())
    assert Escalation.objects.count() == 1


def test_run_escalations_refuses_a_time_without_a_zone(db):
    with pytest.raises(CommandError, match="time zone"):
        call_command("run_escalations", "--now", "2026-06-10T16:00:00")
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("run_escalations", "--now", "tomorrow")


def test_run_escalations_defaults_to_the_clock(db):
    out = StringIO()
    call_command("run_escalations", stdout=out)
    assert out.getvalue().startswith("Sweep as at ")


def test_beat_runs_the_sweep_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["escalation-sweep"]
    assert entry["task"] == "notifications.tasks.run_escalation_sweep"
    assert str(entry["schedule"]) == str(settings.CELERY_BEAT_SCHEDULE["heartbeat"]["schedule"])
    assert "notifications.tasks.run_escalation_sweep" in celery_app.tasks
    assert "notifications.tasks.send_sms" in celery_app.tasks


def test_texts_go_to_the_worker_only_after_commit(
    ffd, rota, duty_manager, django_capture_on_commit_callbacks, eager_celery
):
    report_missing(actor=ffd, now=FIXED_NOW)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        escalation_sweep(now=DUE)
    assert len(callbacks) == 1
    assert SmsMessage.objects.get().status == SmsMessage.Status.PENDING  # nothing sent yet

    callbacks[0]()  # the commit

    sms = SmsMessage.objects.get()
    assert (sms.status, sms.backend) == (SmsMessage.Status.DELIVERED, "outbox")
    assert sms.sid.startswith("OUTBOX")


def test_a_text_whose_task_was_lost_is_handed_over_again(
    ffd, rota, duty_manager, django_capture_on_commit_callbacks, eager_celery
):
    report_missing(actor=ffd, now=FIXED_NOW)
    escalation_sweep(now=DUE)  # its task is lost: the callbacks are never run
    sms = SmsMessage.objects.get()
    assert sms.redispatch_at == DUE + timedelta(seconds=settings.SMS_REDISPATCH_AFTER_SECONDS)

    with django_capture_on_commit_callbacks(execute=True):
        assert escalation_sweep(now=DUE + timedelta(minutes=1)).redispatched == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert escalation_sweep(now=DUE + timedelta(minutes=2)).redispatched == 1

    sms.refresh_from_db()
    assert sms.status == SmsMessage.Status.DELIVERED
    assert escalation_sweep(now=DUE + timedelta(minutes=10)).redispatched == 0
