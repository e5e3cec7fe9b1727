"""`manage.py load_demo_history`: a year of made-up history for the local demo (ssd.demo), once.

Run by `make run` after `load_demo_data` (whose staff it acts as). It lives in `ssd` because it
brings the earlier months through the SSD importer and the recent ones through both the core's
and the interviews app's services; `missing` may import neither.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from missing.models import User
from ssd import demo


class Command(BaseCommand):
    help = "Load a year of demo history ending today (once; DEBUG only, like load_demo_data)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even though DEBUG is off. Never on a real system.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "Refusing to load demo history with DEBUG off: it is made-up data for the local "
                "demo. Use --force only on a throwaway system."
            )
        users = {
            u.username: u
            for u in User.objects.filter(username__in=("ffd", "manager", "interviewer"))
        }
        if len(users) != 3:
            raise CommandError("Run load_demo_data first: the history is made by its demo staff.")
        if demo.already_loaded():
            self.stdout.write("Demo history already loaded; left as it is.")
            return
        started = time.monotonic()
        now = timezone.now()
        staff = demo.Staff(
            ffd=users["ffd"], manager=users["manager"], interviewer=users["interviewer"]
        )
        with transaction.atomic():
            loaded = demo.load(staff=staff, now=now, progress=self.stdout.write)
        self.stdout.write(
            f"Loaded a year of demo history: {loaded.children} children, "
            f"{loaded.imported_episodes} earlier episodes imported, "
            f"{loaded.service_episodes} recent episodes through the services, "
            f"in {time.monotonic() - started:.1f} s."
        )
