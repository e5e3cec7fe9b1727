"""`manage.py import_ssd DIR [--dry-run] [--changed-since YYYY-MM-DD] --as USERNAME
[--council ONS]`: import the Standard Safeguarding Dataset CSVs in DIR
(docs/decisions/0048-ssd-import.md). On a regional installation `--council` is required: the
council whose children the extract holds (decision 0070)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from missing.models import User, installation_councils, is_regional
from ssd import importer
from ssd.models import ImportRun


class Command(BaseCommand):
    help = "Import children, legal status, social worker/team and missing history from SSD CSVs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and report; write nothing."
        )
        parser.add_argument(
            "--changed-since",
            type=date.fromisoformat,
            help="The extract holds only rows changed since this date (a sync): kept on the run.",
        )
        parser.add_argument(
            "--as", dest="username", required=True, help="The FFD or manager account importing."
        )
        parser.add_argument(
            "--council",
            default="",
            help="A regional installation: the ONS code of the council whose extract it is (the "
            "children and episodes it creates are that council's). Required there.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {options['username']}.")
        if is_regional() and not options["council"].strip():
            raise CommandError(
                "--council: required on a regional installation: one of "
                f"{', '.join(installation_councils())}."
            )
        try:
            files = importer.read_folder(options["folder"])
            report = importer.run_import(
                files=files,
                actor=user,
                now=timezone.now(),
                origin=ImportRun.Origin.COMMAND,
                source=options["folder"],
                dry_run=options["dry_run"],
                changed_since=options["changed_since"],
                progress=lambda text: self.stdout.write(text),
                council=options["council"],
            )
        except importer.ImportRefused as error:
            raise CommandError(str(error)) from error
        write_report(self.stdout.write, report)


def write_report(write: Any, report: importer.Report) -> None:
    run = report.run
    write("Dry run: nothing was written." if run.dry_run else f"Import {run.pk} applied.")
    for table, counts in sorted(report.counts.items()):
        write(
            f"{table}: {counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged, {counts['rejected']} rejected"
        )
    changed = report.children_changed
    write(f"Children whose facts changed: {len(changed)}")
    if changed:
        write("  " + ", ".join(changed[:200]) + (" …" if len(changed) > 200 else ""))
    for row in report.rejected:
        for problem in row.problems:
            write(f"{row.table}.csv line {row.line}: {problem['field']}: {problem['problem']}")
