"""Writes for the second factor: enrolment, codes, recovery codes, reset.

Kept apart from `missing.cases.services` (casework) because they concern accounts, not children; the
same rules hold: keyword-only arguments, the acting user explicit, `now` passed in.

Each user has at most one TOTP device (an authenticator app) and one static device holding
their recovery codes. django-otp supplies the checks that matter: a TOTP code is accepted once
(`last_t` rises with each accepted code, so a replay or an older code is refused), a recovery
code is deleted when used, and repeated wrong codes are throttled per device.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

import django_otp
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from missing.models import User

logger = logging.getLogger(__name__)

TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"
_TOTP_CODE = re.compile(r"^\d{6}$")


def normalise_code(raw: str) -> str:
    """People type codes with spaces or dashes ("123 456", "abcd-efgh"): drop them."""
    return re.sub(r"[\s-]", "", raw).lower()


def confirmed_totp_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def enrolment_device(*, user: User) -> TOTPDevice:
    """The unconfirmed device this user is setting up, made on first visit and kept until
    confirmed, so reloading the page shows the same key rather than a new one each time."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)
    return device


def recovery_codes_issue(*, user: User) -> list[str]:
    """Replace the user's recovery codes with a fresh set and return them (shown once: only
    the codes on the page ever leave the server)."""
    with transaction.atomic():
        device, _ = StaticDevice.objects.select_for_update().get_or_create(
            user=user, name=RECOVERY_NAME, defaults={"confirmed": True}
        )
        device.token_set.all().delete()
        codes = [StaticToken.random_token() for _ in range(settings.RECOVERY_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
    logger.info("Recovery codes issued for user %s", user.pk)
    return codes


def enrolment_confirm(*, user: User, code: str) -> tuple[TOTPDevice, list[str]] | None:
    """Confirm the device being set up with a code from it; returns the device and the first
    recovery codes, or None when the code is wrong. Any other unconfirmed device is dropped."""
    code = normalise_code(code)
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("pk")
            .first()
        )
        if device is None or not _TOTP_CODE.match(code) or not device.verify_token(code):
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        codes = recovery_codes_issue(user=user)
    logger.info("Second factor enrolled for user %s", user.pk)
    return device, codes


@dataclass(frozen=True)
class CodeCheck:
    device: Device | None
    # Why the code was not checked at all (too many wrong codes), for the page to say.
    throttled: bool = False
    recovery_codes_left: int | None = None


def code_verify(*, user: User, code: str, allow_recovery: bool = True) -> CodeCheck:
    """Check a code from the user's authenticator app, or (when allowed) one of their recovery
    codes. Each is checked against its own device inside a row lock (django_otp.verify_token),
    so two requests racing with the same code cannot both succeed."""
    code = normalise_code(code)
    if _TOTP_CODE.match(code):
        device: Device | None = confirmed_totp_device(user)
    elif allow_recovery:
        device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    else:
        device = None
    if device is None or not code:
        return CodeCheck(device=None)
    allowed, _ = device.verify_is_allowed()
    if not allowed:
        logger.warning("Second-factor check throttled for user %s", user.pk)
        return CodeCheck(device=None, throttled=True)
    verified = django_otp.verify_token(user, device.persistent_id, code)
    if verified is None:
        logger.info("Wrong second-factor code for user %s", user.pk)
        return CodeCheck(device=None)
    left = None
    if isinstance(verified, StaticDevice):
        left = verified.token_set.count()
        logger.info("Recovery code used by user %s (%s left)", user.pk, left)
    return CodeCheck(device=verified, recovery_codes_left=left)


def second_factor_reset(*, actor: User | None, user: User, now: datetime) -> None:
    """An administrator's reset (lost phone): removes the user's authenticator and recovery
    codes and ends all their sessions (the session generation is in the session hash). At their
    next sign-in they set up a new authenticator. `actor` is None from the command line."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])
    logger.info(
        "Second factor reset for user %s by %s at %s",
        user.pk,
        actor.pk if actor is not None else "the command line",
        now.isoformat(),
    )
