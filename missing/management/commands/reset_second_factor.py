"""`manage.py reset_second_factor USERNAME`: for a user who lost their phone and recovery codes.

Asks for the reset (separation of duties, missing.accounts.account_changes): a head of service approves
it on the approvals page, and only then are the user's authenticator and recovery codes removed
and their sessions and API tokens ended. While the service has no head of service yet, the
reset applies at once (the bootstrap, recorded). Check who is asking before you run it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from missing.accounts import account_changes
from missing.models import AccountChangeState, User


class Command(BaseCommand):
    help = (
        "Ask to reset a user's second factor (authenticator and recovery codes); a head of "
        "service approves it, then their sessions end."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user with the username {options['username']!r}.")
        change = account_changes.account_second_factor_reset(
            actor=None, subject=user, via=account_changes.VIA_COMMAND_LINE, now=timezone.now()
        )
        if change.state == AccountChangeState.PENDING:
            self.stdout.write(
                f"{change.reference}: second-factor reset for {user.username} asked for. It "
                "takes effect when a head of service approves it (Access > Account changes)."
            )
        else:
            self.stdout.write(
                f"{change.reference}: second factor reset for {user.username}; their sessions "
                "have ended. They set up a new authenticator app at their next sign-in. (No "
                "head of service exists yet to approve: applied at once and recorded.)"
            )
