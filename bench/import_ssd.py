"""Generate an SSD extract of N children (default 50,000, with placements and linked
identifiers) and import it twice, printing rows per second, the total time and the statements
per row (the bound: a handful per table and batch, never one per row).

    DATABASE_URL=postgres://... .venv/bin/python -m bench.import_ssd --children 50000 --as manager

The user is made (a manager) when the database has none of that name. Not a timed test: run
it by hand against an empty (or bench) database; record the figures in bench/README.md."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=50_000)
    parser.add_argument("--as", dest="username", required=True)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from bench.ssd_extract import write_extract
    from missing.cases import clocks
    from missing.models import Role, User
    from ssd import importer

    user = User.objects.filter(username=args.username).first()
    if user is None:
        user = User.objects.create_user(username=args.username, role=Role.MANAGER)
        print(f"Made the manager {args.username}.")
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        write_extract(
            Path(folder),
            children=args.children,
            seed=args.seed,
            today=clocks.london_date(timezone.now()),
            placements=True,
        )
        print(f"Generated {args.children} children in {time.perf_counter() - started:.1f}s")
        files = importer.read_folder(folder)
        for attempt in ("first import", "re-run (nothing should change)"):
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                report = importer.run_import(
                    files=files,
                    actor=user,
                    now=timezone.now(),
                    origin="command",
                    source=folder,
                )
            seconds = time.perf_counter() - started
            rows = len(report.rows)
            changed = sum(c["created"] + c["updated"] for c in report.counts.values())
            print(
                f"{attempt}: {rows} rows in {seconds:.1f}s = {rows / seconds:,.0f} rows/s; "
                f"{len(queries)} statements ({len(queries) / rows:.4f} per row); "
                f"{changed} rows changed, {len(report.rejected)} rejected, "
                f"{len(report.children_changed)} children changed"
            )


if __name__ == "__main__":
    main()
