"""Celery tasks: thin. Each takes ids, calls one service, and owns only its retry policy."""

from __future__ import annotations

from celery import Task, shared_task
from django.utils import timezone

from notifications import council_alerts, services


@shared_task(bind=True, max_retries=None, acks_late=True)
def send_sms(self: Task, sms_id: int) -> str:
    """Send one text. Transient failures retry with the backoff the service recorded on the row
    (services.retry_delay, at most SMS_MAX_ATTEMPTS attempts); the row also carries the time the
    sweep hands it over again should this retry be lost with its worker."""
    outcome = services.sms_send(sms_id=sms_id, now=timezone.now())
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in.total_seconds())
    return outcome.result


@shared_task(acks_late=True)
def run_escalation_sweep() -> None:
    """Run by beat every minute. No retry: the next minute's sweep is the retry."""
    services.escalation_sweep(now=timezone.now())


@shared_task(acks_late=True)
def run_council_alert_sweep() -> None:
    """Run by beat every minute: alerts to other councils (children placed out of area)."""
    council_alerts.council_alert_sweep(now=timezone.now())


@shared_task(bind=True, max_retries=None, acks_late=True)
def send_council_alert(self: Task, alert_id: int) -> str:
    """Email one alert to another council; a failure retries with the service's backoff."""
    outcome = council_alerts.council_alert_send(alert_id=alert_id, now=timezone.now())
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in.total_seconds())
    return outcome.result
