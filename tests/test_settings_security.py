"""The production settings, read in a process of their own with a realistic environment: the
deploy check passes, cookies are `__Host-` prefixed and locked down, and no settings start with
the second factor relaxed while DEBUG is off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from missing.models import User
from tests.helpers import totp_device

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "prod-like-" + "k7Qz9xW2mP4vB8nR1tY6uE3oI5aS0dF" * 2,
    "DATABASE_URL": "postgres://missing:secret@db.internal:5432/missing",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "CACHE_URL": "redis://redis.internal:6379/1",
    "DJANGO_ALLOWED_HOSTS": "missing.example.gov.uk",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://missing.example.gov.uk",
    "PUBLIC_BASE_URL": "https://missing.example.gov.uk",
    "COUNCIL_NAME": "Example Borough Council",
}

COOKIE_SETTINGS = [
    "SESSION_COOKIE_NAME",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "SESSION_COOKIE_DOMAIN",
    "SESSION_COOKIE_PATH",
    "CSRF_COOKIE_NAME",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_SAMESITE",
    "CSRF_COOKIE_DOMAIN",
    "CSRF_COOKIE_PATH",
    "SECURE_HSTS_SECONDS",
    "SECURE_PROXY_SSL_HEADER",
]


def run(args: list[str], extra_env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "MISSING_VAR_DIR": str(tmp_path / "var"),
        **extra_env,
    }
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_passes_the_deploy_check(tmp_path: Path) -> None:
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV, tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_shared_cache(tmp_path: Path) -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "CACHE_URL"}
    result = run(["manage.py", "check"], env, tmp_path)
    assert result.returncode != 0
    assert "Set the environment variable CACHE_URL." in result.stderr


@pytest.mark.parametrize(
    ("settings_module", "extra"),
    [("config.settings.production", PRODUCTION_ENV), ("config.settings.test", {})],
)
def test_relaxed_second_factor_with_debug_off_refuses_to_start(
    tmp_path: Path, settings_module: str, extra: dict[str, str]
) -> None:
    env = {**extra, "DJANGO_SETTINGS_MODULE": settings_module, "SECOND_FACTOR_RELAXED": "true"}
    result = run(["manage.py", "check"], env, tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECOND_FACTOR_RELAXED is only for the local demo" in result.stderr


def test_the_demo_relaxes_by_default_and_can_be_made_strict(tmp_path: Path) -> None:
    code = "from django.conf import settings; print(settings.SECOND_FACTOR_RELAXED)"
    local = {"DJANGO_SETTINGS_MODULE": "config.settings.local"}
    relaxed = run(["-c", f"import django; django.setup(); {code}"], local, tmp_path)
    assert relaxed.stdout.strip() == "True", relaxed.stderr
    strict = run(
        ["-c", f"import django; django.setup(); {code}"],
        {**local, "SECOND_FACTOR_RELAXED": "false"},
        tmp_path,
    )
    assert strict.stdout.strip() == "False", strict.stderr


@pytest.fixture(scope="module")
def production_cookie_settings(tmp_path_factory: pytest.TempPathFactory) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{k: getattr(settings, k) for k in {COOKIE_SETTINGS!r}}}))"
    )
    result = run(["-c", code], PRODUCTION_ENV, tmp_path_factory.mktemp("cookies"))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_cookie_settings(production_cookie_settings: dict) -> None:
    assert production_cookie_settings == {
        "SESSION_COOKIE_NAME": "__Host-sessionid",
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_DOMAIN": None,
        "SESSION_COOKIE_PATH": "/",
        "CSRF_COOKIE_NAME": "__Host-csrftoken",
        "CSRF_COOKIE_SECURE": True,
        "CSRF_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_DOMAIN": None,
        "CSRF_COOKIE_PATH": "/",
        "SECURE_HSTS_SECONDS": 63072000,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }


@pytest.mark.django_db
def test_production_cookies_on_a_real_sign_in(production_cookie_settings: dict, ffd: User) -> None:
    """The browser only accepts a `__Host-` cookie that is Secure, Path=/ and has no Domain."""
    totp_device(ffd)
    overrides = {
        k: v
        for k, v in production_cookie_settings.items()
        if k.endswith(("NAME", "SECURE", "HTTPONLY", "SAMESITE", "DOMAIN", "PATH"))
    }
    with override_settings(**overrides):
        client = Client()
        page = client.get(reverse("login"), secure=True)
        response = client.post(
            reverse("login"),
            {"username": "ffd", "password": "correct horse battery staple"},
            secure=True,
            headers={"Referer": "https://testserver/login/"},
        )
        assert response.status_code == 302
    cookies = {**page.cookies, **response.cookies}
    session, csrf = cookies["__Host-sessionid"], cookies["__Host-csrftoken"]
    for cookie in (session, csrf):
        assert cookie["secure"] is True
        assert cookie["path"] == "/"
        assert cookie["domain"] == ""
        assert cookie["samesite"] == "Lax"
    assert session["httponly"] is True
    assert "sessionid" not in cookies
