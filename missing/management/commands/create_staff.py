"""Provision a staff account: `manage.py create_staff USERNAME --role ROLE [...]`."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from missing import services
from missing.errors import DomainError
from missing.models import ApiToken, Role, User

STAFF_ROLES = [role for role in Role.values if role != Role.POLICE_SYSTEM]


def domain_error_message(error: DomainError) -> str:
    """One line naming every field a service refused, for a terminal."""
    details = "; ".join(
        f"{field}: {' '.join(messages)}" for field, messages in error.field_errors.items()
    )
    return f"{error.message} {details}".strip()


def validation_error_message(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
        )
    return " ".join(error.messages)


class Command(BaseCommand):
    help = (
        "Create a staff account. Without --password-stdin the account has no usable password: "
        "set one with `manage.py changepassword USERNAME`. With --token, print a full-scope "
        "API token once. Police systems are registered with create_api_client instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, help=f"One of: {', '.join(STAFF_ROLES)}.")
        parser.add_argument(
            "--org",
            help="Organisation name, created if new (required for interviewers: their provider).",
        )
        parser.add_argument("--team", help="Team name, created if new.")
        parser.add_argument("--phone", default="", help="Mobile for SMS, e.g. +447700900123.")
        parser.add_argument(
            "--token", action="store_true", help="Also create a full-scope API token and print it."
        )
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from the first line of standard input.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username: str = options["username"]
        role: str = options["role"]
        if role == Role.POLICE_SYSTEM:
            raise CommandError(
                "Police systems are registered with `manage.py create_api_client NAME --force CODE`."
            )
        if role not in STAFF_ROLES:
            raise CommandError(f"Unknown role {role!r}. Choose one of: {', '.join(STAFF_ROLES)}.")
        password = self._read_password(username) if options["password_stdin"] else None
        organisation = options["org"]
        if options["team"] and not organisation and role != Role.INTERVIEWER:
            # Council staff without --org belong to the council whose teams these are.
            organisation = settings.COUNCIL_NAME

        now = timezone.now()
        try:
            # The account and its token stand or fall together: nothing is half-written.
            with transaction.atomic():
                user = services.staff_create(
                    username=username,
                    role=role,
                    now=now,
                    password=password,
                    organisation=organisation,
                    team=options["team"],
                    phone=options["phone"],
                )
                token = (
                    services.api_token_create(user=user, scope=ApiToken.Scope.FULL, now=now)
                    if options["token"]
                    else None
                )
        except DomainError as error:
            raise CommandError(domain_error_message(error)) from None
        except ValidationError as error:
            raise CommandError(validation_error_message(error)) from None

        self.stdout.write(self.style.SUCCESS(f"Created {user.role_label} {user.username}."))
        if password is None:
            self.stdout.write(
                f"No password is set yet. Set one with: python manage.py changepassword {username}"
            )
        if token is not None:
            self.stdout.write("API token (full scope). It is shown once and stored only hashed:")
            self.stdout.write(token)

    def _read_password(self, username: str) -> str:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("--password-stdin was given but standard input held no password.")
        try:
            validate_password(password, user=User(username=username))
        except ValidationError as error:
            raise CommandError("Password refused: " + " ".join(error.messages)) from None
        return password
