"""`manage.py export_ssda903_missing --year 2025 --out missing.csv`: the SSDA903 Missing table
for the collection year 1 April 2025 – 31 March 2026, checked against the DfE validator's rules
first. `--out -` writes to standard output. See docs/decisions/0030-national-returns.md."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from interviews.returns import ssda903 as returns
from missing.cases.errors import InvalidInput


class Command(BaseCommand):
    help = (
        "Write the SSDA903 'Missing' table (looked-after children, one row per episode) for a "
        "collection year. Refuses, writing nothing, if any row would fail the DfE validator."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--year",
            required=True,
            help="The year the collection year starts: 2025 for 1 April 2025 – 31 March 2026.",
        )
        parser.add_argument("--out", required=True, help="The CSV file to write, or - for stdout.")
        parser.add_argument(
            "--council",
            default="",
            help="A regional installation: the ONS code of the council whose return it is "
            "(counted by the responsible council, decision 0067). Required there.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        today = timezone.localdate(timezone.now())
        try:
            year = returns.parse_collection_year(options["year"], today=today)
        except InvalidInput as exc:
            raise CommandError(
                f"--year {options['year']!r}: {exc.field_errors['year'][0]}"
            ) from exc
        try:
            council_id = returns.council_for_command(options["council"])
        except InvalidInput as exc:
            raise CommandError(f"--council: {exc.field_errors['council'][0]}") from exc
        out: str = options["out"]
        if problem := returns.output_path_problem(out):
            raise CommandError(problem)
        try:
            # The check runs before the first line; the rows are checked again as they go.
            count = returns.emit(returns.ssda903_missing_csv(year, council_id), out, self.stdout)
        except returns.ReturnRefused as exc:
            raise CommandError(exc.report()) from exc
        if out != "-":
            label = returns.collection_year_label(year)
            self.stderr.write(f"Wrote {count} episode(s) for {label} to {out}.")
