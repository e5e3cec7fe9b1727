"""`manage.py export_annex_a_missing --as-of 2026-03-31 --out list8.csv`: Ofsted Annex A
List 8's missing columns per child in care, for the 12 months ending on the as-of date.
`--out -` writes to standard output. See docs/decisions/0030-national-returns.md."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from interviews.returns import annex_a
from interviews.returns import ssda903 as returns
from missing.cases.errors import InvalidInput


class Command(BaseCommand):
    help = (
        "Write Annex A List 8's four missing columns (with the child's id) for children in "
        "care, over the 12 months ending on --as-of. Refuses, writing nothing, if a child in the "
        "list has no council child id."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--as-of", required=True, help="The last day of the 12 months, e.g. 2026-03-31."
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
            as_of = annex_a.parse_as_of(options["as_of"], today=today)
        except InvalidInput as exc:
            raise CommandError(
                f"--as-of {options['as_of']!r}: {exc.field_errors['as_of'][0]}"
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
            count = returns.emit(annex_a.annex_a_missing_csv(as_of, council_id), out, self.stdout)
        except returns.ReturnRefused as exc:
            raise CommandError(exc.report()) from exc
        if out != "-":
            self.stderr.write(f"Wrote {count} child(ren) as of {as_of.isoformat()} to {out}.")
