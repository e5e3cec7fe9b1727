"""A test-only URLconf: the step-up and rate-limit decorators on a stand-in export, plus the
real sign-in pages they send people to."""

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from missing.accounts.permissions import IsStaffWithFullAccess
from missing.accounts.security import RecentSecondFactor, rate_limit, require_recent_second_factor


@require_recent_second_factor
def export(request: HttpRequest) -> HttpResponse:
    return HttpResponse("export body", content_type="text/csv")


@require_recent_second_factor(max_age=timedelta(minutes=1))
def strict_export(request: HttpRequest) -> HttpResponse:
    return HttpResponse("strict export body", content_type="text/csv")


@rate_limit("export")
def limited_export(request: HttpRequest) -> HttpResponse:
    return HttpResponse("limited", content_type="text/csv")


class ExportApi(APIView):
    permission_classes = [IsStaffWithFullAccess, RecentSecondFactor]
    rate_limit_scope = "export"

    def get(self, request: Request) -> Response:
        return Response({"rows": 0})


urlpatterns = [
    path("api/test-export/", ExportApi.as_view(), name="test_export_api"),
    path("test-export/", export, name="test_export"),
    path("test-strict-export/", strict_export, name="test_strict_export"),
    path("test-limited-export/", limited_export, name="test_limited_export"),
    path("", include("config.urls")),
]
