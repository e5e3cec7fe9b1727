"""The embedded default: SQLite, Celery's filesystem broker, texts to the outbox. For `make run`."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "local-only-not-secret-" + "x" * 32)

from config.env import env_bool
from config.settings.base import *  # noqa: F403
from config.settings.base import MIDDLEWARE as BASE_MIDDLEWARE
from config.settings.base import VAR_DIR

DEBUG = True
# The demo lets a password alone in, so its published logins just work; every page then carries
# a banner saying so. SECOND_FACTOR_RELAXED=false runs the demo with the real second factor.
SECOND_FACTOR_RELAXED = env_bool("SECOND_FACTOR_RELAXED", True)
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# DEBUG's technical 404 page lists every URL pattern: the demo shows the real "Page not found".
_axes = BASE_MIDDLEWARE.index("axes.middleware.AxesMiddleware")  # it stays last
MIDDLEWARE = [
    *BASE_MIDDLEWARE[:_axes],
    "missing.web.middleware.NotFoundPageMiddleware",
    *BASE_MIDDLEWARE[_axes:],
]

_broker = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker / "out"),
        "data_folder_out": str(_broker / "out"),
        "processed_folder": str(_broker / "processed"),
        # Without it kombu writes broadcast state into the working directory.
        "control_folder": str(_broker / "control"),
        "store_processed": False,
    }
    for sub in ("out", "processed", "control"):
        (_broker / sub).mkdir(parents=True, exist_ok=True)

# Emails to other councils (children placed out of area) are printed by the demo, not sent.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or "django.core.mail.backends.console.EmailBackend"
