"""The heads of service's pages of insider-misuse alerts (missing.audit.misuse): who read how many
different children in which hour, and that person's access-log rows for the hour.

Heads of service only: the alert is about a colleague, often a manager, and accountability
for the service's records sits with them (Caldicott). The rows show route names, references
and child ids, never a name, so reading them writes no access row of its own."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from missing.models import AccessLog, MisuseAlert, Role, council_scope
from missing.web.shared import get_or_404, role_required

# Newest alerts shown on the list; rows shown for one alert's hour (the read limit allows 300
# reads an hour, plus lists and refusals).
ALERTS_SHOWN = 200
ROWS_SHOWN = 1000

head_of_service_required = role_required(frozenset({Role.HEAD_OF_SERVICE}))


def alerts_for(head: object) -> QuerySet[MisuseAlert]:
    """The alerts a head of service sees: on a regional installation those about their own
    council's staff only (decision 0070), every alert on a single-council one."""
    return MisuseAlert.objects.filter(council_scope(head, "user__", shared=False))


def alerts_recent(head: object, *, limit: int = ALERTS_SHOWN) -> QuerySet[MisuseAlert]:
    """The newest alerts with their users (one query, through the `raised_at` index)."""
    return alerts_for(head).select_related("user").order_by("-raised_at", "-pk")[:limit]


def alert_rows(alert: MisuseAlert, *, limit: int = ROWS_SHOWN) -> QuerySet[AccessLog]:
    """The person's access-log rows in the alert's hour, oldest first (access_user_idx)."""
    return AccessLog.objects.filter(
        user_id=alert.user_id, at__gte=alert.window_start, at__lt=alert.window_end
    ).order_by("at", "pk")[:limit]


@head_of_service_required
@require_GET
def alerts_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "missing/misuse_alerts.html",
        {"alerts": list(alerts_recent(request.user)), "limit": ALERTS_SHOWN},
    )


@head_of_service_required
@require_GET
def alert_page(request: HttpRequest, pk: int) -> HttpResponse:
    alert: MisuseAlert = get_or_404(
        lambda: alerts_for(request.user).select_related("user").get(pk=pk)
    )
    return render(
        request,
        "missing/misuse_alert.html",
        {"alert": alert, "rows": list(alert_rows(alert)), "limit": ROWS_SHOWN},
    )
