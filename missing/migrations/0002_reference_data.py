"""Seed the police risk grades with the local-protocol defaults, and police forces.

Both are data an administrator extends: forces grade differently (College of Policing guidance).
"""

from datetime import timedelta

from django.db import migrations

GRADES = [
    # code, label, rank, manager review within
    ("high", "High", 10, timedelta(hours=1)),
    ("medium", "Medium", 20, timedelta(hours=4)),
    ("low", "Low", 30, timedelta(hours=24)),
    ("very_low", "Very low", 40, timedelta(hours=24)),
    ("no_apparent_risk", "No apparent risk (absent)", 50, timedelta(hours=24)),
]

FORCES = [
    ("avon-and-somerset", "Avon and Somerset Constabulary"),
    ("essex", "Essex Police"),
    ("greater-manchester", "Greater Manchester Police"),
    ("kent", "Kent Police"),
    ("metropolitan", "Metropolitan Police Service"),
    ("west-midlands", "West Midlands Police"),
    ("west-yorkshire", "West Yorkshire Police"),
]


def seed(apps, schema_editor):
    RiskGrade = apps.get_model("missing", "RiskGrade")
    PoliceForce = apps.get_model("missing", "PoliceForce")
    for code, label, rank, within in GRADES:
        RiskGrade.objects.get_or_create(
            code=code, defaults={"label": label, "rank": rank, "review_within": within}
        )
    for code, name in FORCES:
        PoliceForce.objects.get_or_create(code=code, defaults={"name": name})


def unseed(apps, schema_editor):
    apps.get_model("missing", "RiskGrade").objects.filter(code__in=[g[0] for g in GRADES]).delete()
    apps.get_model("missing", "PoliceForce").objects.filter(
        code__in=[f[0] for f in FORCES]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("missing", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
