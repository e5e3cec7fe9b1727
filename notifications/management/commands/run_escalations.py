"""`manage.py run_escalations [--now ISO-TIME]`: one escalation sweep, now (for operators)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from notifications import services


def parse_now(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--now: {value!r} is not an ISO 8601 time.") from exc
    if timezone.is_naive(moment):
        raise CommandError(
            "--now needs a time zone, e.g. 2026-06-10T12:00:00Z or 2026-06-10T13:00:00+01:00."
        )
    return moment


class Command(BaseCommand):
    help = (
        "Run one escalation sweep now: what Celery beat runs every minute. Texts are handed to "
        "the Celery worker as usual."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--now",
            help="Sweep as at this time (ISO 8601 with a time zone). Default: the clock.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = parse_now(options["now"]) if options["now"] else timezone.now()
        result = services.escalation_sweep(now=now)
        self.stdout.write(
            f"Sweep as at {now.isoformat()}: {result.resolved} resolved, {result.raised} raised, "
            f"{result.climbed} climbed a level, {result.texts} texts queued, "
            f"{result.redispatched} handed over again."
        )
