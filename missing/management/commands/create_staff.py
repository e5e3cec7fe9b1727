"""Provision a staff account: `manage.py create_staff USERNAME --role ROLE [...]`."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from missing.accounts import account_changes
from missing.cases import services
from missing.cases.errors import DomainError
from missing.models import (
    AccountChange,
    AccountChangeState,
    ApiToken,
    Role,
    User,
    grants_case_access,
)

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
        "API token once. Police systems are registered with create_api_client instead. "
        "A case role and a password set here wait for a head of service's approval, except "
        "while the service has no head of service yet (the bootstrap: the first one)."
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
        # Separation of duties: a case role and a password chosen by the person at the keyboard
        # wait for a head of service (missing.accounts.account_changes), unless none exists yet.
        held = grants_case_access(from_role="", to_role=role)
        if (
            options["token"]
            and (held or password)
            and not account_changes.bootstrap_open(subject=None)
        ):
            raise CommandError(
                "--token: the role and password wait for a head of service's approval, and a "
                "token made now would end when they are applied. Make the token afterwards."
            )
        try:
            # The account, its requests and its token stand or fall together.
            with transaction.atomic():
                user = services.staff_create(
                    username=username,
                    role=role,
                    now=now,
                    organisation=organisation,
                    team=options["team"],
                    phone=options["phone"],
                    hold_role=held,
                )
                changes: list[AccountChange] = []
                if held:
                    change = account_changes.account_role_change(
                        actor=None,
                        subject=user,
                        role=role,
                        via=account_changes.VIA_COMMAND_LINE,
                        now=now,
                    )
                    changes += [change] if change is not None else []
                if password is not None:
                    changes.append(
                        account_changes.account_password_set(
                            actor=None,
                            subject=user,
                            password_hash=make_password(password),
                            via=account_changes.VIA_COMMAND_LINE,
                            now=now,
                        )
                    )
                user.refresh_from_db()
                token = (
                    services.api_token_create(user=user, scope=ApiToken.Scope.FULL, now=now)
                    if options["token"]
                    else None
                )
        except DomainError as error:
            raise CommandError(domain_error_message(error)) from None
        except ValidationError as error:
            raise CommandError(validation_error_message(error)) from None

        self.stdout.write(
            self.style.SUCCESS(f"Created {user.role_label or 'account'} {user.username}.")
        )
        for change in changes:
            if change.state == AccountChangeState.PENDING:
                self.stdout.write(
                    f"{change.reference}: {change.summary} waits for a head of service's "
                    "approval (Access > Account changes)."
                )
            elif change.requested_via == account_changes.VIA_BOOTSTRAP:
                self.stdout.write(
                    f"{change.reference}: {change.summary} applied at once: the service has no "
                    "head of service yet to approve it (bootstrap, recorded)."
                )
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
