"""A real `celery -A config worker` process takes a task from the broker and writes to the test
database: the settings, the app's task discovery and the broker all work across processes.

Needs Redis (CELERY_BROKER_URL) and PostgreSQL (DATABASE_URL), as in CI: the in-memory broker
and SQLite's in-memory test database cannot be shared with another process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from missing.models import Heartbeat
from missing.tasks import heartbeat

ROOT = Path(settings.BASE_DIR)
BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
WAIT_SECONDS = 60

pytestmark = [
    pytest.mark.celery,
    pytest.mark.skipif(
        not BROKER_URL.startswith(("redis://", "rediss://")),
        reason="needs CELERY_BROKER_URL=redis://…: the in-memory broker cannot reach another process",
    ),
]


def worker_database_url() -> str:
    """DATABASE_URL for the database this test runs in (pytest-django's test_<name>)."""
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.skip("needs DATABASE_URL=postgres://…: a worker cannot share SQLite's test database")
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{user}{password}@{host}{port}/{quote(db['NAME'], safe='')}"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_runs_the_heartbeat_task(tmp_path):
    # A queue of our own: no other worker on the same Redis can take the task, and no message
    # left over from an earlier run can stand in for ours.
    queue = f"test-heartbeat-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": worker_database_url(),
        "CELERY_BROKER_URL": BROKER_URL,
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "worker.log"
    started_at = timezone.now()
    with log_path.open("w") as log:
        worker = subprocess.Popen(  # noqa: S603 (fixed argv)
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--queues",
                queue,
                "--concurrency",
                "1",
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        heartbeat.apply_async(queue=queue)

        deadline = time.monotonic() + WAIT_SECONDS
        row = None
        while row is None and time.monotonic() < deadline:
            if worker.poll() is not None:
                pytest.fail(f"The worker exited ({worker.returncode}):\n{log_path.read_text()}")
            row = Heartbeat.objects.filter(name="celery").first()
            if row is None:
                time.sleep(0.25)
        if row is None:
            pytest.fail(f"No heartbeat after {WAIT_SECONDS} s. Worker log:\n{log_path.read_text()}")
        assert row.last_seen_at >= started_at
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    assert "missing.tasks.heartbeat" in log_path.read_text()
