"""The core's shared web plumbing, public for every app built on it (interviews,
notifications): who may reach a page, a row the user may not see as a 404, and the API's
documented error answers. Import these from here, never a private name of another module.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from drf_spectacular.utils import OpenApiResponse
from rest_framework.request import Request

from missing.api.serializers import ErrorOut
from missing.models import CASE_READERS, OVERSIGHT_ROLES, User

View = Callable[..., HttpResponseBase]


class StaffRequest(HttpRequest):
    """The request a view behind `role_required` receives: its user has signed in (the
    decorator sent anyone else to sign-in), so `request.user` is a `User`, not anonymous."""

    user: User


class StaffApiRequest(Request):
    """The API's counterpart: every API view requires an authenticated user (settings
    DEFAULT_PERMISSION_CLASSES), so `request.user` is a `User`."""

    user: User


def role_required(roles: frozenset[str]) -> Callable[[View], View]:
    """Anonymous → the login page; signed in with another role → 403. Rows are then filtered
    by the selectors, so this decides only who may reach the page at all."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not request.user.has_role(roles):
                raise PermissionDenied("Your role cannot use this page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


case_staff_required = role_required(CASE_READERS)
oversight_required = role_required(OVERSIGHT_ROLES)


def get_or_404(fetch: Callable[[], Any]) -> Any:
    """Selectors raise DoesNotExist for rows the user may not see: to the user, not there."""
    try:
        return fetch()
    except ObjectDoesNotExist:
        raise Http404("Not found") from None


ERROR_DESCRIPTIONS = {
    400: "Invalid input: `detail`, then each bad field with its messages.",
    401: "No credentials, or an invalid or revoked token.",
    403: "Your role (or an intake-only token) may not do this.",
    404: "No such record, or not one you may see.",
    409: "Conflicts with the record's state or a concurrent change: reload and retry.",
    429: "Over a rate limit (lists, reads, searches or exports; `detail` names it): wait the seconds in `Retry-After`.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The API's refusals for `extend_schema(responses=…)`: one `ErrorOut` per status code."""
    return {code: OpenApiResponse(ErrorOut, description=ERROR_DESCRIPTIONS[code]) for code in codes}
