"""`manage.py changepassword USERNAME`, replacing Django's: a password typed in by the person at
the keyboard is a password set by someone other than the user (separation of duties,
missing.accounts.account_changes). Only its hash is kept, in a request a head of service approves; while
the service has no head of service yet it applies at once (the bootstrap, recorded)."""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from missing.accounts import account_changes
from missing.models import AccountChangeState, User


class Command(BaseCommand):
    help = "Ask to set a user's password; a head of service approves it before it takes effect."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from the first line of standard input (no prompt).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user with the username {options['username']!r}.")
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The two passwords differ.")
        if not password:
            raise CommandError("No password given.")
        try:
            validate_password(password, user=user)
        except ValidationError as error:
            raise CommandError("Password refused: " + " ".join(error.messages)) from None
        change = account_changes.account_password_set(
            actor=None,
            subject=user,
            password_hash=make_password(password),
            via=account_changes.VIA_COMMAND_LINE,
            now=timezone.now(),
        )
        if change.state == AccountChangeState.PENDING:
            self.stdout.write(
                f"{change.reference}: new password for {user.username} asked for. It takes "
                "effect when a head of service approves it (Access > Account changes)."
            )
        else:
            self.stdout.write(
                f"{change.reference}: password set for {user.username} (no head of service "
                "exists yet to approve: applied at once and recorded)."
            )
