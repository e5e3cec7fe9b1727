"""Erase the records of children whose retention period has ended.

    manage.py apply_retention --dry-run        # list what would go, and why (references only)
    manage.py apply_retention                  # erase it, one child per transaction
    manage.py apply_retention --now 2031-04-01T00:00:00Z   # as at another moment (testing)

Run it nightly from cron or a scheduler. See `missing.audit.retention` for the rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from missing.audit import retention


def _moment(value: str | None) -> datetime:
    if value is None:
        return timezone.now()
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None or timezone.is_naive(parsed):
        raise CommandError(
            f"--now must be an ISO 8601 date-time with a time zone, e.g. "
            f"2031-04-01T00:00:00Z (got {value!r})."
        )
    return parsed


class Command(BaseCommand):
    help = (
        "Erase the children whose retention period has ended (looked after: the 75th "
        "birthday; others: the local policy) and who have no open episode. --dry-run lists them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be erased; change nothing."
        )
        parser.add_argument(
            "--now", help="Act as at this ISO 8601 date-time (with a time zone); for testing."
        )
        parser.add_argument(
            "--limit", type=int, default=None, help="Erase at most this many children per run."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = _moment(options["now"])
        limit = options["limit"]
        if limit is not None and limit < 1:
            raise CommandError("--limit must be a whole number of at least 1.")
        candidates = retention.due_for_erasure(now=now, limit=limit)
        undated = retention.kept_without_date_of_birth().count()
        if options["dry_run"]:
            for candidate in candidates:
                self.stdout.write(f"would erase {candidate.reference}: {candidate.reason}")
            self.stdout.write(f"{len(candidates)} children would be erased.")
            if undated:
                self.stdout.write(
                    f"{undated} children have no date of birth: their retention date cannot "
                    "be worked out, so they are kept until someone records it."
                )
            return
        erased = 0
        for candidate in candidates:
            done = retention.erase_child(
                child_id=candidate.child_id, now=now, reason=candidate.reason
            )
            if done is None:
                self.stdout.write(f"kept {candidate.reference}: an episode is open.")
                continue
            erased += 1
            self.stdout.write(
                f"erased {candidate.reference} ({candidate.reason}): "
                f"{retention.describe(done.counts)}"
            )
        self.stdout.write(f"{erased} children erased.")
