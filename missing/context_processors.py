from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    from missing.views import navigation  # views import forms/models: load them lazily

    return {
        "council_name": settings.COUNCIL_NAME,
        "nav": navigation(request),
        # The demo's banner: a password alone lets anyone in (settings.SECOND_FACTOR_RELAXED).
        "second_factor_relaxed": settings.SECOND_FACTOR_RELAXED,
    }
