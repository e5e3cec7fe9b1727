"""Put the demo manager and head of service on call for the coming weeks (the embedded demo).

The escalation ladder texts whoever is on duty; without a rota the demo's first sweep would
only raise "nobody to tell" alerts. Idempotent: a shift already covering now is left alone.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from missing.models import User
from notifications.models import Duty, OnCallShift

DEMO_ROTA = {Duty.DUTY_MANAGER: "manager", Duty.HEAD_OF_SERVICE: "hos"}
SHIFT_LENGTH = timedelta(days=28)


class Command(BaseCommand):
    help = "Put the demo users on call (embedded demo only; refuses when DEBUG is off)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError("This loads demo data; it refuses to run with DEBUG off.")
        now = timezone.now()
        with transaction.atomic():
            for duty, username in DEMO_ROTA.items():
                user = User.objects.filter(username=username).first()
                if user is None:
                    raise CommandError(f"Run load_demo_data first: no user {username}.")
                covered = OnCallShift.objects.filter(
                    duty=duty, starts_at__lte=now, ends_at__gt=now
                ).exists()
                if not covered:
                    OnCallShift.objects.create(
                        duty=duty, user=user, starts_at=now, ends_at=now + SHIFT_LENGTH
                    )
        self.stdout.write("Demo on-call rota: manager is duty manager, hos is head of service.")
