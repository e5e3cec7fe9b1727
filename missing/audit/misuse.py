"""Insider-misuse alerts (issue 14 item 1): one person reading the records of many different
children within an hour is what harvesting by an insider looks like, whatever their role
lets them see. See docs/decisions/0057-read-limits-and-misuse-alerts.md.

- Counting: `note_read`, called by the access log for every detail read of one child, keeps in
  the shared cache (Redis in production) one key per (person, clock hour, child) and a counter
  per (person, hour) that only a child new in that hour moves: `add` and `incr` are atomic, so
  two workers never count one child twice, and a read costs no database query.
- Raising: a read that takes the counter to the threshold or past it (settings model `MisuseSettings`,
  set by an administrator) raises the alert once its own transaction has committed: one
  `MisuseAlert` row, unique per person and hour, so it is raised once whichever worker gets
  there first; the apps built on the core act on it in the same transaction
  (settings.MISUSE_ALERT_HANDLERS: the notifications app texts the heads of service).
- Nothing here may stop the read: a failure of the cache or of the alert is logged, never
  raised to the person reading.

Only a person's reads of one child's record count (detail pages and API answers): lists and
exports are bounded by the rate limits and logged with their ids.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils.module_loading import import_string

from missing.models import (
    MISUSE_THRESHOLD_MIN,
    Council,
    MisuseAlert,
    MisuseSettings,
    installation_councils,
    is_regional,
)

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=1)
# The threshold is read from the cache for this long: an administrator's change applies within
# a minute, and a read does not query the setting.
THRESHOLD_CACHE_SECONDS = 60
THRESHOLD_KEY = "misuse:threshold"


def _threshold_key(council_id: int | None) -> str:
    return THRESHOLD_KEY if council_id is None else f"{THRESHOLD_KEY}:{council_id}"


def threshold(council_id: int | None = None) -> int:
    """The number of distinct children in an hour that raises an alert: for a person of
    `council_id` on a regional installation that council's setting if it has one (decision
    0070), else the installation's, else the default. One query, then cached."""
    if not is_regional():
        council_id = None
    key = _threshold_key(council_id)
    value = cache.get(key)
    if value is None:
        mine = (
            Q(council__isnull=True) | Q(council_id=council_id)
            if council_id
            else Q(council__isnull=True)
        )
        row = (
            MisuseSettings.objects.filter(mine)
            .order_by(F("council_id").asc(nulls_last=True), "pk")
            .first()
        )
        value = row.distinct_children_per_hour if row else MisuseSettings.DEFAULT_THRESHOLD
        cache.set(key, value, timeout=THRESHOLD_CACHE_SECONDS)
    return int(value)


def forget_threshold() -> None:
    """After an administrator changes a setting: the next read takes the new value, for the
    installation and every council."""
    ids = Council.objects.filter(ons_code__in=installation_councils()).values_list("pk", flat=True)
    cache.delete_many([THRESHOLD_KEY, *(_threshold_key(pk) for pk in ids)])


def window_of(now: datetime) -> datetime:
    """The start (UTC) of the clock hour `now` falls in."""
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def note_read(*, user_id: int, child_id: int, now: datetime, council_id: int | None = None) -> None:
    """Count a read of `child_id`'s record by `user_id`; at the threshold, raise the alert once
    the read's transaction commits. Never raises."""
    try:
        start = window_of(now)
        stamp = int(start.timestamp())
        timeout = int(WINDOW.total_seconds()) + 60
        if not cache.add(f"misuse:{user_id}:{stamp}:c{child_id}", 1, timeout=timeout):
            return  # this child was already counted this hour
        counter = f"misuse:{user_id}:{stamp}:n"
        cache.add(counter, 0, timeout=timeout)
        count = cache.incr(counter)
        if count < MISUSE_THRESHOLD_MIN:
            return  # below any threshold the admin can set: no need to read the setting
        limit = threshold(council_id)
        if count < limit or cache.get(_raised_key(user_id, stamp)):
            return

        def alert_once_committed() -> None:
            raise_alert(user_id=user_id, window_start=start, count=count, threshold=limit, now=now)

        transaction.on_commit(alert_once_committed, robust=True)
    except Exception:
        logger.exception("Misuse counting failed for user %s", user_id)


def _raised_key(user_id: int, stamp: int) -> str:
    return f"misuse:{user_id}:{stamp}:raised"


def raise_alert(
    *, user_id: int, window_start: datetime, count: int, threshold: int, now: datetime
) -> bool:
    """Write the alert for this person and hour, and hand it to the handlers, in one
    transaction. False when it had already been raised (another worker, a later read)."""
    raised = _raised_key(user_id, int(window_start.timestamp()))
    try:
        with transaction.atomic():
            alert = MisuseAlert.objects.create(
                user_id=user_id,
                window_start=window_start,
                window_end=window_start + WINDOW,
                distinct_children=count,
                threshold=threshold,
                raised_at=now,
            )
            for path in settings.MISUSE_ALERT_HANDLERS:
                import_string(path)(alert)
    except IntegrityError:
        cache.set(raised, True, timeout=int(WINDOW.total_seconds()) + 60)
        return False
    # Later reads this hour skip the attempt (the unique row would refuse it anyway).
    cache.set(raised, True, timeout=int(WINDOW.total_seconds()) + 60)
    logger.warning(
        "Insider-misuse alert %s: user %s read %s distinct children from %s",
        alert.pk,
        user_id,
        count,
        window_start.isoformat(),
    )
    return True
