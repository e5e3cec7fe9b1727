from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    from missing.accounts.account_changes import sign_in_notices
    from missing.web.views import navigation  # views import forms/models: load them lazily

    return {
        "council_name": settings.COUNCIL_NAME,
        "nav": navigation(request),
        # Changes to the user's own account decided since they last acknowledged (shown after
        # sign-in until acknowledged once: separation of duties, missing.accounts.account_changes).
        "account_notices": sign_in_notices(request),
        # The demo's banner: a password alone lets anyone in (settings.SECOND_FACTOR_RELAXED).
        "second_factor_relaxed": settings.SECOND_FACTOR_RELAXED,
        # The idle sign-out and its warning (static/js/session-timeout.js).
        "idle_seconds": int(settings.SESSION_IDLE_TIMEOUT.total_seconds()),
        "idle_minutes": int(settings.SESSION_IDLE_TIMEOUT.total_seconds() // 60),
        "idle_warning_seconds": int(settings.SESSION_IDLE_WARNING.total_seconds()),
    }
