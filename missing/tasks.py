from celery import shared_task
from django.utils import timezone

from missing import services


@shared_task
def heartbeat() -> None:
    """Run by beat every minute: proves beat and a worker are alive (shown on /healthz)."""
    services.heartbeat_record(name="celery", now=timezone.now())
