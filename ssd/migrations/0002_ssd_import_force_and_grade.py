"""The police force and grade of missing episodes imported from the case system's history.

An imported episode keeps its SSD row key as `police_reference = "SSD:<miss_table_id>"` under
the "SSD import" force (unique together, so a re-import finds the episode it made). History
carries no police risk grade: "Not recorded (imported history)", inactive so no form offers it.
"""

from datetime import timedelta

from django.db import migrations


def seed(apps, schema_editor):
    apps.get_model("missing", "PoliceForce").objects.get_or_create(
        code="ssd-import", defaults={"name": "SSD import (case-system history)"}
    )
    apps.get_model("missing", "RiskGrade").objects.get_or_create(
        code="not_recorded",
        defaults={
            "label": "Not recorded (imported history)",
            "rank": 90,
            "review_within": timedelta(hours=24),
            "active": False,
        },
    )


def unseed(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    dependencies = [("ssd", "0001_import_runs_and_rows"), ("missing", "0016_philomena_profile")]

    operations = [migrations.RunPython(seed, unseed)]
