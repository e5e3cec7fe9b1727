"""`manage.py reset_second_factor USERNAME`: for a user who lost their phone and recovery codes.

Removes their authenticator and recovery codes and ends all their sessions; at their next
sign-in they set up a new authenticator app. Check who is asking before you run it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from missing import second_factor
from missing.models import User


class Command(BaseCommand):
    help = "Reset a user's second factor (authenticator and recovery codes); ends their sessions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user with the username {options['username']!r}.")
        second_factor.second_factor_reset(actor=None, user=user, now=timezone.now())
        self.stdout.write(
            f"Second factor reset for {user.username}; their sessions have ended. They set up "
            "a new authenticator app at their next sign-in."
        )
