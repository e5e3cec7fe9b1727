"""A real `celery -A config worker` does an upload's dry run and its import, and the import's
progress (written on a connection of its own) reaches the run. Needs Redis and PostgreSQL, as
tests/missing/test_celery_worker.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date

import pytest
from django.utils import timezone

from bench.ssd_extract import add_placements_and_identifiers, rows
from config.celery import app as celery_app
from missing.models import Child
from ssd import uploads
from ssd.models import Upload
from tests.missing.test_celery_worker import BROKER_URL, ROOT, worker_database_url
from tests.notifications.conftest import forget_queue
from tests.ssd.test_upload_page import _csv

WAIT_SECONDS = 120

pytestmark = [
    pytest.mark.celery,
    pytest.mark.skipif(
        not BROKER_URL.startswith(("redis://", "rediss://")),
        reason="needs CELERY_BROKER_URL=redis://…: the in-memory broker cannot reach another process",
    ),
]


@pytest.fixture
def worker(tmp_path) -> Iterator[subprocess.Popen]:
    queue = f"test-ssd-{uuid.uuid4().hex}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": worker_database_url(),
        "CELERY_BROKER_URL": BROKER_URL,
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603 (fixed argv)
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
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    process.log_path = log_path  # type: ignore[attr-defined]
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        celery_app.conf.task_default_queue = previous
        forget_queue(BROKER_URL, queue)


def _wait_for(worker, upload: Upload, status: str) -> Upload:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            pytest.fail(f"The worker exited:\n{worker.log_path.read_text()}")
        upload.refresh_from_db()
        if upload.status == status:
            return upload
        time.sleep(0.25)
    pytest.fail(f"Upload still {upload.status}. Worker log:\n{worker.log_path.read_text()}")


@pytest.mark.django_db(transaction=True)
def test_a_worker_checks_and_imports_an_upload(manager, worker):
    tables = rows(300, seed=9, today=date(2026, 6, 10))
    add_placements_and_identifiers(tables, seed=9, today=date(2026, 6, 10))
    upload = uploads.upload_receive(
        actor=manager,
        files=[(f"{t}.csv", _csv(t, r)) for t, r in tables.items()],
        now=timezone.now(),
    )
    upload = _wait_for(worker, upload, Upload.Status.CHECKED)
    assert upload.dry_run_report["counts"]["ssd_person"]["created"] == 300
    assert Child.objects.count() == 0

    uploads.upload_start(actor=manager, upload_id=upload.pk)
    upload = _wait_for(worker, upload, Upload.Status.APPLIED)
    run = upload.run
    assert run.rows_total == sum(len(r) for r in tables.values())
    assert run.rows_done == run.rows_total
    assert Child.objects.count() == 300
    assert Child.objects.exclude(placement="").exists()
