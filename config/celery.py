import os

from celery import Celery

# Like wsgi.py: a worker started without DJANGO_SETTINGS_MODULE must not fall back to the
# embedded default (DEBUG, a throwaway key, the filesystem broker). `make run` sets local.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

app = Celery("missing")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
