"""The one exception handler: domain errors, FSM refusals and oversized bodies become
400/403/409, never 500."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django_fsm import ConcurrentTransition, TransitionNotAllowed
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from missing.api import input_limits
from missing.cases.errors import DomainError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError | ConcurrentTransition | TransitionNotAllowed | ValidationError):
        # A refused request leaves nothing behind: whatever the view wrote before the refusal
        # (access-log rows included) goes with the request's transaction (ATOMIC_REQUESTS).
        # DRF's own handler below does the same for the errors it answers.
        set_rollback()
    if isinstance(exc, DomainError):
        body: dict[str, Any] = {"detail": exc.message}
        if exc.field_errors:
            body.update(exc.field_errors)
        body.update(exc.extra)
        return Response(body, status=exc.status)
    if isinstance(exc, ConcurrentTransition):
        return Response(
            {
                "detail": "The record was changed by someone else at the same time. Reload and try again."
            },
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, TransitionNotAllowed):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ValidationError):
        # Same shape as a DomainError: a summary in `detail`, then each bad field and its
        # messages, so a client reads serializer and service refusals the same way.
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return Response(
            {"detail": "The request has errors.", **fields}, status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, RequestDataTooBig):
        # DRF reads a JSON body through request.body, which refuses one larger than
        # DATA_UPLOAD_MAX_MEMORY_SIZE before the parser (missing.api.parsers) sees it.
        set_rollback()
        return Response(
            {"detail": input_limits.too_large_message()}, status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, ObjectDoesNotExist):
        exc = NotFound()
    return drf_exception_handler(exc, context)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 handler (`handler404`). An /api/ address that matches no route (an id that
    is not a whole number, a typo) answers in the API's own shape, JSON `{"detail": …}` as the
    schema documents, not the HTML page a browser gets; everything else gets that page."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)
