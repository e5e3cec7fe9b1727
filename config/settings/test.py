"""Test settings: SQLite unless DATABASE_URL is set (CI sets PostgreSQL and Redis)."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-not-secret-" + "x" * 32)
os.environ.setdefault("MISSING_VAR_DIR", os.path.join(os.path.dirname(__file__), "../../var/test"))

from config.settings.base import *  # noqa: F403

DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "memory://"
# The rate limits and the misuse counters count in the cache. With Redis at hand (CACHE_URL,
# or the Redis broker CI gives Celery) the tests count in Redis as production does, under a
# prefix of this run's own: tests/conftest.py empties only these keys, never the broker's.
_CACHE_URL = os.environ.get("CACHE_URL") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis://") else ""
)
if _CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _CACHE_URL,
            "KEY_PREFIX": f"test-{os.getpid()}",
        }
    }
# Texts go to the outbox unless a test (or a worker it starts) asks for Twilio.
SMS_BACKEND = os.environ.get("SMS_BACKEND") or "outbox"
# WhiteNoise warns on every request when STATIC_ROOT is absent.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405

# Tests read sent emails from django.core.mail.outbox.
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
