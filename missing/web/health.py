"""`/healthz` for load balancers and monitoring.

No login (a load balancer has none) and nothing personal in the answer: whether the database
answers, and when a Celery worker last ran the heartbeat task that beat schedules every minute.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from missing.models import Heartbeat

logger = logging.getLogger(__name__)


# Outside the request transaction (ATOMIC_REQUESTS): opening one would itself need the
# database, and the check must answer 503, not fail, when the database is down.
@transaction.non_atomic_requests
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 with the last Celery heartbeat when the database answers; 503 when it does not."""
    try:
        # One indexed read proves the database answers and gives the heartbeat in the same trip.
        last = (
            Heartbeat.objects.filter(name="celery").values_list("last_seen_at", flat=True).first()
        )
    except DatabaseError as exc:
        # Only the database's own failures mean "unavailable"; anything else is a bug and a 500.
        logger.warning("Health check: the database did not answer: %s", exc)
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse(
        {
            "status": "ok",
            "database": "ok",
            "celery_last_heartbeat": last.isoformat() if last is not None else None,
        }
    )
