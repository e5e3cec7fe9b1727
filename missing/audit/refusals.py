"""The managers' page of refused requests (issue 14 item 2): who was refused what, newest first.

Rows come from the access log (`action = refuse`, written by missing.audit.access_log.record_refusal). A
run of 404s on consecutive ids from one user is what IDOR probing looks like; a run of 403s on
pages outside a role, a user trying doors. The page shows references and route names only."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from missing.models import AccessAction, AccessLog
from missing.web.shared import oversight_required

# The page shows the newest this many: enough for a morning's review, never a table scan.
REFUSALS_SHOWN = 200


def refusals_recent(*, limit: int = REFUSALS_SHOWN) -> QuerySet[AccessLog]:
    """The newest refusals with their users (one query, through the `at` index)."""
    return (
        AccessLog.objects.filter(action=AccessAction.REFUSE)
        .select_related("user")
        .order_by("-at", "-pk")[:limit]
    )


@oversight_required
@require_GET
def refusals_page(request: HttpRequest) -> HttpResponse:
    """Managers and heads of service: the newest refused requests. Reading it shows no child's
    record (ids and route names only), so it writes no access row of its own."""
    return render(
        request,
        "missing/refusals.html",
        {"rows": list(refusals_recent()), "limit": REFUSALS_SHOWN},
    )
