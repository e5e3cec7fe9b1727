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
