"""A test-only URLconf: the step-up and rate-limit decorators on a stand-in export, plus the
real sign-in pages they send people to."""

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from missing.security import rate_limit, require_recent_second_factor


@require_recent_second_factor
def export(request: HttpRequest) -> HttpResponse:
    return HttpResponse("export body", content_type="text/csv")


@require_recent_second_factor(max_age=timedelta(minutes=1))
def strict_export(request: HttpRequest) -> HttpResponse:
    return HttpResponse("strict export body", content_type="text/csv")


@rate_limit("export")
def limited_export(request: HttpRequest) -> HttpResponse:
    return HttpResponse("limited", content_type="text/csv")


urlpatterns = [
    path("test-export/", export, name="test_export"),
    path("test-strict-export/", strict_export, name="test_strict_export"),
    path("test-limited-export/", limited_export, name="test_limited_export"),
    path("", include("config.urls")),
]
