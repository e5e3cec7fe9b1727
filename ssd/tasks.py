"""The scheduled sync: the same import, on the changed-since extract the case system drops in
SSD_SYNC_DIR (off while the setting is empty). Thin: it reads the folder and calls the import."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from missing.cases import clocks
from missing.models import User
from ssd import importer, uploads
from ssd.models import ImportRun


@shared_task
def sync_from_case_system() -> dict[str, object] | None:
    folder = settings.SSD_SYNC_DIR
    if not folder:
        return None
    user = User.objects.get(username=settings.SSD_SYNC_USER, is_active=True)
    now = timezone.now()
    last = (
        ImportRun.objects.filter(origin=ImportRun.Origin.SYNC, status=ImportRun.Status.APPLIED)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    report = importer.run_import(
        files=importer.read_folder(folder),
        actor=user,
        now=now,
        origin=ImportRun.Origin.SYNC,
        source=folder,
        changed_since=clocks.london_date(last) if last else None,
    )
    return {"run": report.run.pk, "children_changed": len(report.children_changed)}


@shared_task
def check_upload(upload_id: int) -> None:
    """The dry run of an upload from the managers' page (ssd.uploads)."""
    uploads.upload_check(upload_id=upload_id, now=timezone.now())


@shared_task
def apply_upload(upload_id: int, actor_id: int) -> None:
    """The import of a checked upload, as the manager who pressed Import (ssd.uploads)."""
    uploads.upload_apply(upload_id=upload_id, actor_id=actor_id, now=timezone.now())
