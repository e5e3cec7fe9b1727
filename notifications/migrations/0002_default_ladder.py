"""Seed the escalation ladder with the local-protocol defaults (issue 4). Data an administrator
edits in the admin: which rules fire, when, who each level tells, and how long before the next.
"""

from datetime import timedelta

from django.db import migrations

MINUTES_30 = timedelta(minutes=30)

# code, name, trigger, offset, [(level, recipient), …]
RULES = [
    (
        "review-overdue",
        "Manager review overdue",
        "review_overdue",
        timedelta(0),
        [(1, "duty_manager"), (2, "head_of_service")],
    ),
    (
        "missing-24h",
        "Still missing at 24 hours",
        "still_missing",
        timedelta(hours=24),
        [(1, "head_of_service")],
    ),
    (
        "missing-72h",
        "Still missing at 72 hours",
        "still_missing",
        timedelta(hours=72),
        [(1, "head_of_service")],
    ),
    (
        "interview-not-arranged-24h",
        "Return interview not arranged 24 hours after return",
        "interview_not_arranged",
        timedelta(hours=24),
        [(1, "team_manager"), (2, "head_of_service")],
    ),
    (
        "interview-due-12h",
        "Return interview due within 12 hours, not held",
        "interview_due_soon",
        timedelta(hours=-12),
        [(1, "interviewer"), (1, "team_manager"), (2, "head_of_service")],
    ),
    (
        "interview-overdue",
        "Return interview overdue (72 hours passed)",
        "interview_overdue",
        timedelta(0),
        [(1, "team_manager"), (1, "head_of_service")],
    ),
]


def seed(apps, schema_editor):
    Rule = apps.get_model("notifications", "EscalationRule")
    Step = apps.get_model("notifications", "EscalationStep")
    for code, name, trigger, offset, steps in RULES:
        rule, created = Rule.objects.get_or_create(
            code=code,
            defaults={"name": name, "trigger": trigger, "offset": offset, "ack_within": MINUTES_30},
        )
        if created:
            for level, recipient in steps:
                Step.objects.create(rule=rule, level=level, recipient=recipient)


def unseed(apps, schema_editor):
    Rule = apps.get_model("notifications", "EscalationRule")
    Step = apps.get_model("notifications", "EscalationStep")
    codes = [rule[0] for rule in RULES]
    Step.objects.filter(rule__code__in=codes).delete()
    Rule.objects.filter(code__in=codes, escalations__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
