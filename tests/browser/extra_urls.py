"""The real URLs and one page more, which nothing walks or excludes: for
tests/browser/test_axe_every_page.py's check that such a page is caught."""

from django.urls import path

from config.urls import handler404
from config.urls import urlpatterns as real_urlpatterns
from missing.web.health import healthz

__all__ = ["handler404", "urlpatterns"]

urlpatterns = [*real_urlpatterns, path("brand-new-page/", healthz, name="brand_new_page")]
