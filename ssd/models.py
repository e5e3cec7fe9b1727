"""What an import from the Standard Safeguarding Dataset received, kept before it is applied.

Every row of every file of a run is an `ImportRow` (its raw fields as received), written before
anything is applied, so a fact received is never lost: a row that could not be applied stays
listed with its problems for a person to correct in the case system. See
docs/decisions/0048-ssd-import.md.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ImportRun(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received", "Received, not applied yet"
        APPLIED = "applied", "Applied"
        DRY_RUN = "dry_run", "Checked only (dry run)"
        FAILED = "failed", "Failed: nothing applied"

    class Origin(models.TextChoices):
        COMMAND = "command", "Command"
        WEB = "web", "Managers' page"
        SYNC = "sync", "Scheduled sync"

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    origin = models.CharField(max_length=10, choices=Origin.choices)
    source = models.CharField("folder or upload", max_length=300)
    dry_run = models.BooleanField(default=False)
    changed_since = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    # {"counts": {table: {created, updated, unchanged, rejected}}, "children_changed": [C-n]}
    summary = models.JSONField(default=dict, blank=True)
    # Progress of a long import, shown on the managers' page while a worker applies it. Written
    # on a connection of its own (the import's transaction is invisible until it commits).
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"SSD import {self.pk}"


class ImportRow(models.Model):
    class Outcome(models.TextChoices):
        PENDING = "pending", "Not applied yet"
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        UNCHANGED = "unchanged", "Unchanged"
        REJECTED = "rejected", "Rejected"

    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="rows")
    table = models.CharField(max_length=40)
    line = models.PositiveIntegerField()
    row_key = models.CharField(max_length=100, blank=True)
    data = models.JSONField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    # [{"field": ..., "problem": ...}]
    problems = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["run", "table", "line"]
        indexes = [
            models.Index(
                fields=["run", "outcome"],
                condition=models.Q(outcome="rejected"),
                name="ssd_row_rejected_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.table} line {self.line}"


class Upload(models.Model):
    """An extract uploaded on the managers' page. Its files are stored as received (a zip stays
    a zip) before anything reads them; the dry run's report is kept here, and the import it
    leads to is `run`."""

    class Status(models.TextChoices):
        REFUSED = "refused", "Refused: the files could not be read"
        CHECKING = "checking", "Being checked"
        CHECKED = "checked", "Checked: ready to import"
        APPLYING = "applying", "Importing"
        APPLIED = "applied", "Imported"
        FAILED = "failed", "Failed: nothing applied"

    uploaded_at = models.DateTimeField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices)
    # Why the files could not be read: [{"file": ..., "problem": ...}].
    problems = models.JSONField(default=list, blank=True)
    # The dry run: {"rows": N, "counts": {...}, "children_changed": N,
    # "rejected": [{"file", "line", "field", "problem"}]}.
    dry_run_report = models.JSONField(default=dict, blank=True)
    run = models.OneToOneField(
        ImportRun, null=True, blank=True, on_delete=models.PROTECT, related_name="upload"
    )

    class Meta:
        ordering = ["-uploaded_at", "-pk"]

    def __str__(self) -> str:
        return f"SSD upload {self.pk}"


class UploadFile(models.Model):
    """One file of an upload, its bytes as received."""

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    content = models.BinaryField()

    class Meta:
        ordering = ["upload", "pk"]

    def __str__(self) -> str:
        return self.name


class LinkedIdentifier(models.Model):
    """Another identifier the case system holds for a child (ssd_linked_identifiers): a UPN, a
    former (legacy) person id, an NHS number. Kept for matching: a later extract that
    renumbers the child still finds the same record."""

    class Kind(models.TextChoices):
        NHS_NUMBER = "nhs_number", "NHS number"
        UPN = "upn", "Unique pupil number"
        FORMER_ID = "former_id", "Former person id"
        OTHER = "other", "Other"

    child = models.ForeignKey(
        "missing.Child", on_delete=models.CASCADE, related_name="linked_identifiers"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # The type as the case system names it ("Former UPN", "Legacy ID").
    type_given = models.CharField(max_length=100)
    value = models.CharField(max_length=100)
    valid_from = models.DateField(null=True, blank=True)
    valid_to = models.DateField(null=True, blank=True)
    # "ssd_linked_identifiers:<link_table_id>": a re-import updates the row it made.
    source_key = models.CharField(max_length=140, unique=True)
    recorded_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["value"], name="ssd_linked_value_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of C-{self.child_id}"
