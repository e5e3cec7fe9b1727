"""Register a police force's system: `manage.py create_api_client NAME --force CODE`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from missing.cases import services
from missing.cases.errors import DomainError
from missing.management.commands.create_staff import (
    domain_error_message,
    validation_error_message,
)
from missing.models import ApiToken, PoliceForce, Role


class Command(BaseCommand):
    help = (
        "Create a police-system account for one force and print its intake-only API token once. "
        "The token may post that force's notifications and nothing else."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Account name, e.g. kent-police-niche.")
        parser.add_argument("--force", required=True, help="Police force code, e.g. kent.")

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"]
        code: str = options["force"]
        force = PoliceForce.objects.filter(code=code).first()
        if force is None:
            codes = ", ".join(PoliceForce.objects.order_by("code").values_list("code", flat=True))
            raise CommandError(f"Unknown police force {code!r}. Valid codes: {codes}.")

        now = timezone.now()
        try:
            # Account and token together, or neither.
            with transaction.atomic():
                user = services.staff_create(
                    username=name, role=Role.POLICE_SYSTEM, police_force=force, now=now
                )
                token = services.api_token_create(user=user, scope=ApiToken.Scope.INTAKE, now=now)
        except DomainError as error:
            raise CommandError(domain_error_message(error)) from None
        except ValidationError as error:
            raise CommandError(validation_error_message(error)) from None

        self.stdout.write(self.style.SUCCESS(f"Created API client {name} for {force.name}."))
        self.stdout.write(
            "Intake-only API token. It is shown once and stored only hashed; send it as "
            "'Authorization: Bearer <token>':"
        )
        self.stdout.write(token)
