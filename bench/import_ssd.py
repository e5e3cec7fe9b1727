"""Generate an SSD extract of N children (default 50,000) and import it, printing the time.

    DATABASE_URL=postgres://... .venv/bin/python -m bench.import_ssd --children 50000 --as manager

Not a timed test: run it by hand against an empty (or bench) database."""

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
    from django.core.management import call_command
    from django.utils import timezone

    from bench.ssd_extract import write_extract
    from missing import clocks

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        write_extract(
            Path(folder),
            children=args.children,
            seed=args.seed,
            today=clocks.london_date(timezone.now()),
        )
        print(f"Generated {args.children} children in {time.perf_counter() - started:.1f}s")
        for attempt in ("first import", "re-run (nothing should change)"):
            started = time.perf_counter()
            call_command("import_ssd", folder, "--as", args.username, verbosity=1)
            print(f"{attempt}: {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
