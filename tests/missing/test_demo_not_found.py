"""The local demo runs with DEBUG on, whose technical 404 page lists every URL pattern. The demo
settings add missing.web.middleware.NotFoundPageMiddleware, so a 404 there is the real GOV.UK page
(or the API's JSON), while static files are still served."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from tests.helpers import login

ROOT = Path(__file__).resolve().parent.parent.parent
DEMO_404 = "missing.web.middleware.NotFoundPageMiddleware"

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def local_middleware(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """MIDDLEWARE as config.settings.local has it, read in a process of its own."""
    tmp = tmp_path_factory.mktemp("local")
    code = "import json, django; django.setup(); from django.conf import settings; "
    code += "print(json.dumps([settings.DEBUG, settings.MIDDLEWARE]))"
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp),
            "MISSING_VAR_DIR": str(tmp / "var"),
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    debug, middleware = json.loads(result.stdout)
    assert debug is True, "the test is about the demo's DEBUG"
    return middleware


@pytest.fixture
def demo(settings, local_middleware):
    settings.DEBUG = True
    settings.MIDDLEWARE = local_middleware
    return settings


def test_the_demo_settings_list_it_before_axes(local_middleware):
    assert DEMO_404 in local_middleware
    assert local_middleware[-1] == "axes.middleware.AxesMiddleware"


def test_without_it_debug_would_list_the_url_patterns(settings, client, local_middleware):
    """The control: what the demo showed before."""
    settings.DEBUG = True
    settings.MIDDLEWARE = [m for m in local_middleware if m != DEMO_404]
    page = client.get("/no-such-page/").content.decode()
    assert "URLconf" in page
    assert "[name='board']" in page


def test_an_unknown_address_gets_the_govuk_page(demo, client):
    response = client.get("/no-such-page/")
    page = response.content.decode()
    assert response.status_code == 404
    assert '<h1 class="govuk-heading-l">Page not found</h1>' in page
    assert "URLconf" not in page
    assert "[name=" not in page  # how the technical page lists each URL pattern


def test_a_record_that_is_not_there_gets_the_govuk_page(demo, client, manager):
    login(client, manager)
    response = client.get(reverse("child_detail", args=[99_999_999]))
    page = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in page
    assert "Traceback" not in page
    assert "URLconf" not in page


def test_the_api_keeps_its_json(demo, client):
    response = client.get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_an_address_that_needs_its_slash_is_still_redirected(demo, client):
    response = client.get("/board")
    assert response.status_code == 301
    assert response["Location"] == "/board/"


def test_static_files_are_still_served(demo, client):
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)
