"""The managers' upload page: who may use it, files stored before they are read, the dry run's
per-row report, Import and its progress, a zip, bad file names and encodings, and a re-upload
that changes nothing. The worker's part (the dry run, the import) is called as a worker would."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bench.ssd_extract import rows
from missing.models import AccessLog, Child
from ssd import importer, tasks, uploads
from ssd.models import ImportRun, Upload, UploadFile
from tests.helpers import login

TODAY = date(2026, 6, 10)


def _csv(table: str, table_rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=importer.FIELDS[table])
    writer.writeheader()
    writer.writerows(table_rows)
    return buffer.getvalue().encode()


@pytest.fixture
def tables():
    found = rows(12, seed=3, today=TODAY)
    found["ssd_person"][1]["pers_dob"] = "2019-02-30"  # line 3: not a date
    found["ssd_person"][2]["pers_sex"] = "X"  # line 4: not a code
    return found


def _files(tables) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(f"{t}.csv", _csv(t, r), "text/csv") for t, r in tables.items()]


def _client(user) -> Client:
    client = Client()
    login(client, user)
    return client


def _upload(client: Client, files) -> object:
    return client.post(reverse("ssd:upload"), {"files": files})


@pytest.mark.parametrize("who", ["ffd", "interviewer"])
def test_ffd_and_interviewers_are_refused(db, users_by_role, who, tables):
    client = _client(users_by_role[who])
    assert client.get(reverse("ssd:upload")).status_code == 403
    assert _upload(client, _files(tables)).status_code == 403
    assert Upload.objects.count() == 0


def test_the_dry_run_reports_each_bad_row_and_writes_nothing(db, manager, tables):
    client = _client(manager)
    response = _upload(client, _files(tables))
    upload = Upload.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("ssd:upload_detail", args=[upload.pk])
    # Stored as received, before anything read them, and attributable to the uploader.
    assert upload.uploaded_by == manager
    stored = {f.name: bytes(f.content) for f in UploadFile.objects.filter(upload=upload)}
    assert stored["ssd_person.csv"] == _csv("ssd_person", tables["ssd_person"])
    assert AccessLog.objects.filter(
        user=manager, reference=f"SSD upload {upload.pk}: files received"
    ).exists()

    page = client.get(response["Location"]).content.decode()
    assert "Checking the files" in page
    assert 'http-equiv="refresh"' in page

    tasks.check_upload(upload.pk)  # the worker's dry run
    upload.refresh_from_db()
    assert upload.status == Upload.Status.CHECKED
    assert Child.objects.count() == 0
    assert ImportRun.objects.count() == 0
    problems = {(r["file"], r["line"], r["field"]) for r in upload.dry_run_report["rejected"]}
    assert {("ssd_person.csv", 3, "pers_dob"), ("ssd_person.csv", 4, "pers_sex")} <= problems
    page = client.get(response["Location"]).content.decode()
    assert '<td class="govuk-table__cell govuk-table__cell--numeric">3</td>' in page
    assert "pers_dob" in page
    assert "Import</button>" in page
    assert 'http-equiv="refresh"' not in page


def test_import_applies_and_records_progress(db, manager, tables):
    client = _client(manager)
    _upload(client, _files(tables))
    upload = Upload.objects.get()
    tasks.check_upload(upload.pk)
    response = client.post(reverse("ssd:upload_apply", args=[upload.pk]))
    assert response.status_code == 302
    upload.refresh_from_db()
    assert upload.status == Upload.Status.APPLYING
    page = client.get(reverse("ssd:upload_detail", args=[upload.pk])).content.decode()
    assert "Importing" in page
    assert 'http-equiv="refresh"' in page

    tasks.apply_upload(upload.pk, manager.pk)  # the worker's import
    upload.refresh_from_db()
    run = upload.run
    assert upload.status == Upload.Status.APPLIED
    assert run.origin == ImportRun.Origin.WEB
    assert run.by == manager
    assert run.rows_total == sum(len(r) for r in tables.values())
    assert run.rows_done == run.rows_total
    assert Child.objects.count() == 10  # 12 less the two rejected
    page = client.get(reverse("ssd:upload_detail", args=[upload.pk])).content.decode()
    assert "Imported" in page

    # Pressed twice: the upload is imported once, the second press is a conflict.
    again = client.post(reverse("ssd:upload_apply", args=[upload.pk]))
    assert again.status_code == 409
    assert "only a checked upload can be imported" in again.content.decode()


def test_the_page_shows_rows_done_while_importing(db, manager):
    upload = Upload.objects.create(
        uploaded_at=timezone.now(),
        uploaded_by=manager,
        status=Upload.Status.APPLYING,
        run=ImportRun.objects.create(
            started_at=timezone.now(),
            by=manager,
            origin="web",
            source="upload 1",
            rows_total=5000,
            rows_done=2000,
        ),
    )
    page = _client(manager).get(reverse("ssd:upload_detail", args=[upload.pk])).content.decode()
    assert "2000 of 5000 rows done" in page


def test_a_zip_of_the_files_is_read(db, manager, tables):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for table, table_rows in tables.items():
            archive.writestr(f"extract/{table}.csv", _csv(table, table_rows))
    response = _upload(
        _client(manager), [SimpleUploadedFile("ssd.zip", buffer.getvalue(), "application/zip")]
    )
    assert response.status_code == 302
    upload = Upload.objects.get()
    assert [f.name for f in upload.files.all()] == ["ssd.zip"]  # kept as received
    tasks.check_upload(upload.pk)
    upload.refresh_from_db()
    assert upload.dry_run_report["counts"]["ssd_person"]["created"] == 10


def test_bad_names_and_encodings_are_refused_and_kept(db, manager, tables):
    files = [
        SimpleUploadedFile("people.csv", b"a,b\n1,2\n"),
        SimpleUploadedFile("ssd_cp_plans.csv", "cppl_cp_plan_id\nSt\xe9phanie\n".encode("latin-1")),
        SimpleUploadedFile("ssd_person.csv", _csv("ssd_person", tables["ssd_person"])),
    ]
    response = _upload(_client(manager), files)
    assert response.status_code == 400
    page = response.content.decode()
    assert "people.csv: Not a file of the SSD tables" in page
    assert "ssd_cp_plans.csv: Not UTF-8 text: line 2 (byte 19)" in page
    upload = Upload.objects.get()
    assert upload.status == Upload.Status.REFUSED
    assert upload.files.count() == 3  # every file received is kept
    assert Child.objects.count() == 0


def test_a_broken_zip_and_no_file_are_named(db, manager):
    client = _client(manager)
    response = _upload(client, [SimpleUploadedFile("ssd.zip", b"not a zip")])
    assert response.status_code == 400
    assert "ssd.zip: Not a zip file that can be opened." in response.content.decode()
    response = client.post(reverse("ssd:upload"), {})
    assert response.status_code == 400
    assert "Choose the SSD files" in response.content.decode()


def test_the_upload_cap(db, manager, settings, tables):
    settings.SSD_UPLOAD_MAX_BYTES = 100
    response = _upload(_client(manager), _files(tables))
    assert response.status_code == 400
    assert "the limit is 0 MB" in response.content.decode()
    assert Upload.objects.count() == 0


def test_uploading_the_same_files_again_changes_nothing(db, manager, tables):
    client = _client(manager)
    for _ in range(2):
        _upload(client, _files(tables))
        upload = Upload.objects.order_by("-pk").first()
        tasks.check_upload(upload.pk)
        client.post(reverse("ssd:upload_apply", args=[upload.pk]))
        tasks.apply_upload(upload.pk, manager.pk)
    first, second = Upload.objects.order_by("pk")
    assert first.dry_run_report["children_changed"] == 10
    assert second.dry_run_report["children_changed"] == 0
    assert second.run.summary["children_changed"] == []
    counts = second.run.summary["counts"]
    assert all(c["created"] == c["updated"] == 0 for c in counts.values())
    assert Child.objects.count() == 10


def test_the_service_refuses_other_roles(db, interviewer):
    with pytest.raises(uploads.NotAllowed):
        uploads.upload_receive(actor=interviewer, files=[("ssd_person.csv", b"")], now=None)
