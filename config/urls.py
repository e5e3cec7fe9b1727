from django.contrib import admin
from django.urls import include, path

from missing.web.health import healthz

# A mistyped /api/ address gets a JSON 404 (the API's documented shape); pages keep 404.html.
handler404 = "missing.api.errors.page_not_found"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/", include("missing.api.urls")),
    path("api/", include("interviews.api_urls")),
    # The Philomena profile's pages and API (its own module: /children/…/philomena/, /api/…).
    path("", include("missing.web.philomena_urls")),
    path("", include("interviews.urls")),
    path("", include("notifications.urls")),
    path("", include("ssd.urls")),
    path("", include("missing.web.urls")),
]
