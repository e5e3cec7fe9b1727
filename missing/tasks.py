from celery import shared_task
from django.utils import timezone

from missing.cases import services


@shared_task
def heartbeat() -> None:
    """Run by beat every minute: proves beat and a worker are alive (shown on /healthz)."""
    services.heartbeat_record(name="celery", now=timezone.now())


@shared_task
def raise_overdue_missing_tasks() -> int:
    """Run by beat every minute: a child still missing past a duration rule (24 hours by
    default) gets its strategy / risk meeting task without waiting for the return. Reads the
    clock once; the sweep is idempotent, so an overlapping or repeated run raises nothing."""
    return len(services.repeat_duration_sweep(now=timezone.now()))
