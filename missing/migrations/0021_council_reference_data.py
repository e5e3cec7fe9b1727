"""The English councils with children's services (missing/reference/councils.csv): reference
data every installation needs to tell another council about a child placed out of area. Loaded
once; the administrator then keeps each council's out-of-hours contacts."""

import csv
from pathlib import Path

from django.db import migrations

SOURCE = Path(__file__).resolve().parent.parent / "reference" / "councils.csv"


def load(apps, schema_editor):
    Council = apps.get_model("missing", "Council")
    with SOURCE.open(encoding="utf-8") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        Council.objects.bulk_create(
            [
                Council(
                    ons_code=row["ons_code"],
                    dfe_code=row["dfe_code"],
                    name=row["name"],
                    name_key=row["name"].strip().casefold(),
                )
                for row in rows
            ],
            ignore_conflicts=True,
        )


class Migration(migrations.Migration):
    dependencies = [("missing", "0020_councils_and_out_of_area")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
