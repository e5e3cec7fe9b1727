"""Seed the repeat-missing rules with the local-protocol defaults (domain: "Repeat missing"):
3 episodes in 90 days, any episode over 24 hours, a child aged 13 or under, a child flagged for
sexual or criminal exploitation. Councils differ: an administrator edits them in the admin.
"""

from django.db import migrations

RULES = [
    # code, label, kind, parameters, order
    (
        "three-in-ninety-days",
        "Repeat missing (3 in 90 days)",
        "episodes_in_window",
        {"episodes": 3, "days": 90},
        10,
    ),
    ("over-24-hours", "Missing over 24 hours", "duration_over", {"hours": 24}, 20),
    ("aged-13-or-under", "Aged 13 or under", "age_at_most", {"age": 13}, 30),
    (
        "exploitation",
        "Sexual or criminal exploitation",
        "exploitation_flag",
        {"flags": ["sexual", "criminal"]},
        40,
    ),
]


def seed(apps, schema_editor):
    Rule = apps.get_model("missing", "RepeatMissingRule")
    for code, label, kind, parameters, order in RULES:
        Rule.objects.get_or_create(
            code=code,
            defaults={"label": label, "kind": kind, "parameters": parameters, "order": order},
        )


def unseed(apps, schema_editor):
    codes = [rule[0] for rule in RULES]
    # The tasks these rules raised go too: the previous migration's reverse drops the table.
    apps.get_model("missing", "RiskMeetingTask").objects.filter(rule__code__in=codes).delete()
    apps.get_model("missing", "RepeatMissingRule").objects.filter(code__in=codes).delete()


class Migration(migrations.Migration):
    dependencies = [("missing", "0005_repeat_missing_rules")]
    operations = [migrations.RunPython(seed, unseed)]
