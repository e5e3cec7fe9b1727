"""The managers' page for an SSD extract: upload, dry run, import, progress.

- `upload_receive` stores every file as received (a zip stays a zip) and commits it before
  anything reads it (every fact received is kept), then reads it: file names must be SSD
  tables the importer knows, CSVs must be UTF-8, a zip must open and stay under the caps. A
  reading problem refuses the upload (the page lists each file and problem); the files stay.
- `upload_check` (a Celery task) is the import's dry run: the per-file, per-row report (file,
  line, field, problem) and the counts that would change, kept on the upload.
- `upload_start` / `upload_apply` apply it in a worker; the ImportRun records rows done out of
  the total, written on a connection of its own so the page sees it while the import's one
  transaction is still open.

The same importer as `manage.py import_ssd`: idempotent, so uploading the same files again
changes nothing. See docs/decisions/0048-ssd-import.md and 0052-ssd-upload-page-placements-identifiers.md.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import PurePosixPath

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from missing.cases.errors import Conflict, InvalidInput, NotAllowed
from missing.models import OVERSIGHT_ROLES, User
from ssd import importer
from ssd.models import ImportRun, Upload, UploadFile

# Who may upload: managers and heads of service (the command and the sync stay open to FFD).
UPLOAD_ROLES = OVERSIGHT_ROLES
# Rejected rows listed on the upload's report (all of them are on the ImportRun once applied).
REPORT_ROWS = 2_000


class UploadRefused(InvalidInput):
    """The files could not be read: [{"file", "problem"}] on the upload."""

    problems: list[dict[str, str]]


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(message, field_errors={"files": [message]})


def _may_upload(actor: User) -> None:
    if not actor.has_role(UPLOAD_ROLES):
        raise NotAllowed("Only managers and heads of service can upload an extract.")


def upload_receive(*, actor: User, files: Iterable[tuple[str, bytes]], now: datetime) -> Upload:
    """Store the files, then read them. The upload is kept in either case; its status says
    whether it can be checked (`checking`: the dry run is queued on commit) or was refused."""
    _may_upload(actor)
    received = list(files)
    if not received:
        raise _invalid("Choose the SSD files, or one .zip of them.")
    limit = settings.SSD_UPLOAD_MAX_BYTES
    total = sum(len(content) for _, content in received)
    if total > limit:
        raise _invalid(
            f"The files come to {total // 1_000_000} MB: the limit is {limit // 1_000_000} MB."
        )
    if len(received) > settings.SSD_UPLOAD_MAX_FILES:
        raise _invalid(f"{len(received)} files: at most {settings.SSD_UPLOAD_MAX_FILES}.")
    with transaction.atomic():
        upload = Upload.objects.create(
            uploaded_at=now, uploaded_by=actor, status=Upload.Status.CHECKING
        )
        UploadFile.objects.bulk_create(
            UploadFile(
                upload=upload,
                name=name[:200],
                size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
                content=content,
            )
            for name, content in received
        )
    try:
        tables = upload_tables(upload)
    except UploadRefused as refused:
        upload.status = Upload.Status.REFUSED
        upload.problems = refused.problems
        upload.save(update_fields=["status", "problems"])
        return upload
    upload.dry_run_report = {"rows": 0, "files": sorted(f"{t}.csv" for t in tables)}
    upload.save(update_fields=["dry_run_report"])
    from ssd.tasks import check_upload

    transaction.on_commit(lambda: check_upload.delay(upload.pk))
    return upload


class _Refused(UploadRefused):
    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__(
            "The files could not be read.",
            field_errors={"files": [f"{p['file']}: {p['problem']}" for p in problems]},
        )
        self.problems = problems


def upload_tables(upload: Upload) -> dict[str, str]:
    """The stored files as {table: CSV text}; every problem found at once (_Refused)."""
    problems: list[dict[str, str]] = []
    tables: dict[str, str] = {}
    where: dict[str, str] = {}

    def add(name: str, content: bytes, shown: str) -> None:
        table = PurePosixPath(name).name.removesuffix(".csv").removesuffix(".CSV")
        if not PurePosixPath(name).name.lower().endswith(".csv") or table not in importer.TABLES:
            problems.append(
                {
                    "file": shown,
                    "problem": "Not a file of the SSD tables this system reads (their names: "
                    + ", ".join(f"{t}.csv" for t in importer.TABLES)
                    + ").",
                }
            )
            return
        if table in tables or table in where:
            problems.append({"file": shown, "problem": f"{table}.csv is in the upload twice."})
            return
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = content[: error.start].count(b"\n") + 1
            problems.append(
                {
                    "file": shown,
                    "problem": f"Not UTF-8 text: line {line}"
                    f" (byte {error.start + 1}) cannot be read. Save it as CSV UTF-8.",
                }
            )
            where[table] = shown
            return
        if "\x00" in text:
            problems.append({"file": shown, "problem": "Holds NUL bytes: not a CSV file."})
            where[table] = shown
            return
        tables[table] = text
        where[table] = shown

    for stored in upload.files.all():
        content = bytes(stored.content)
        if stored.name.lower().endswith(".zip"):
            _read_zip(stored.name, content, add, problems)
        else:
            add(stored.name, content, stored.name)
    if not problems and not tables:
        problems.append({"file": "", "problem": "The upload holds none of the SSD files."})
    if problems:
        raise _Refused(problems)
    return tables


def _read_zip(
    name: str,
    content: bytes,
    add: Callable[[str, bytes, str], None],
    problems: list[dict[str, str]],
) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        problems.append({"file": name, "problem": "Not a zip file that can be opened."})
        return
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) > settings.SSD_UPLOAD_MAX_FILES:
        problems.append(
            {
                "file": name,
                "problem": f"Holds {len(members)} files: at most {settings.SSD_UPLOAD_MAX_FILES}.",
            }
        )
        return
    unpacked = sum(m.file_size for m in members)
    if unpacked > settings.SSD_UPLOAD_MAX_BYTES:
        problems.append(
            {
                "file": name,
                "problem": f"Unpacks to {unpacked // 1_000_000} MB: the limit is "
                f"{settings.SSD_UPLOAD_MAX_BYTES // 1_000_000} MB.",
            }
        )
        return
    for member in members:
        shown = f"{name}: {member.filename}"
        try:
            # Read at most the declared size plus one byte: a lying header cannot unpack more.
            with archive.open(member) as handle:
                data = handle.read(member.file_size + 1)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as error:
            problems.append({"file": shown, "problem": f"Cannot be unpacked ({error})."})
            continue
        if len(data) > member.file_size:
            problems.append({"file": shown, "problem": "Unpacks to more than it declares."})
            continue
        add(member.filename, data, shown)


def _report(report: importer.Report) -> dict[str, object]:
    rejected = [
        {"file": f"{r.table}.csv", "line": r.line, "field": p["field"], "problem": p["problem"]}
        for r in sorted(report.rejected, key=lambda r: (r.table, r.line))
        for p in r.problems
    ]
    return {
        "rows": len(report.rows),
        "counts": report.counts,
        "children_changed": len(report.children_changed),
        "rejected_count": len(rejected),
        "rejected": rejected[:REPORT_ROWS],
    }


def upload_check(*, upload_id: int, now: datetime) -> Upload:
    """The dry run (a worker runs it): what would change and every bad row."""
    upload = Upload.objects.select_related("uploaded_by").get(pk=upload_id)
    if upload.status != Upload.Status.CHECKING:
        return upload
    report = importer.run_import(
        files=upload_tables(upload),
        actor=upload.uploaded_by,
        now=now,
        origin=ImportRun.Origin.WEB,
        source=f"upload {upload.pk}",
        dry_run=True,
    )
    upload.dry_run_report = {**upload.dry_run_report, **_report(report)}
    upload.status = Upload.Status.CHECKED
    upload.save(update_fields=["dry_run_report", "status"])
    return upload


def upload_start(*, actor: User, upload_id: int) -> Upload:
    """ "Import" pressed: queue the import once (409 when it is not checked, or already
    started)."""
    _may_upload(actor)
    with transaction.atomic():
        upload = Upload.objects.select_for_update().get(pk=upload_id)
        if upload.status != Upload.Status.CHECKED:
            raise Conflict(
                f"This upload is {upload.get_status_display().lower()}: only a checked upload "
                "can be imported, once."
            )
        upload.status = Upload.Status.APPLYING
        upload.save(update_fields=["status"])
        from ssd.tasks import apply_upload

        transaction.on_commit(lambda: apply_upload.delay(upload.pk, actor.pk))
    return upload


def upload_apply(*, upload_id: int, actor_id: int, now: datetime) -> Upload:
    """The import (a worker runs it), as the manager who pressed Import."""
    upload = Upload.objects.get(pk=upload_id)
    if upload.status != Upload.Status.APPLYING:
        return upload  # a second delivery of the task after it finished
    actor = User.objects.get(pk=actor_id)
    progress = _ProgressWriter()
    try:
        report = importer.run_import(
            files=upload_tables(upload),
            actor=actor,
            now=now,
            origin=ImportRun.Origin.WEB,
            source=f"upload {upload.pk}",
            rows_done=progress,
        )
    except Exception:
        Upload.objects.filter(pk=upload.pk).update(status=Upload.Status.FAILED)
        raise
    finally:
        progress.close()
    upload.run = report.run
    upload.status = Upload.Status.APPLIED
    upload.save(update_fields=["run", "status"])
    return upload


class _ProgressWriter:
    """Writes rows done on the run from a second connection (autocommit), so the page sees the
    count while the import's own transaction is open. PostgreSQL only: SQLite has one writer,
    so there the count shows when the import commits."""

    def __init__(self) -> None:
        self.conn: BaseDatabaseWrapper | None = None
        self.run_linked: set[int] = set()

    def __call__(self, run: ImportRun, done: int) -> None:
        if run.pk is None or connection.vendor != "postgresql":
            return
        if self.conn is None:
            self.conn = connections.create_connection(DEFAULT_DB_ALIAS)
        with self.conn.cursor() as cursor:
            cursor.execute("UPDATE ssd_importrun SET rows_done = %s WHERE id = %s", [done, run.pk])
            if run.pk not in self.run_linked:
                # The run is committed before it is applied (the rows are stored first): link
                # it to the upload now, so the page can show its progress.
                cursor.execute(
                    "UPDATE ssd_upload SET run_id = %s WHERE id = %s AND status = %s",
                    [run.pk, _upload_of(run), Upload.Status.APPLYING],
                )
                self.run_linked.add(run.pk)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def _upload_of(run: ImportRun) -> int:
    return int(run.source.removeprefix("upload "))


def progress_of(upload: Upload) -> tuple[int, int] | None:
    """(rows done, rows in all) of the upload's import, once it has started."""
    run = upload.run
    if run is None:
        return None
    return run.rows_done, run.rows_total
