"""Seed the push factors, pull factors and harms from the domain defaults (docs/domain.md).

Local lists differ: an administrator adds to these and retires them (active=False); an entry an
interview has used can never be deleted. Reversing removes only the seeded entries no interview
has used.
"""

from django.db import migrations

# (kind, code, label, CIN census assessment factor)
DEFAULTS = [
    ("push", "push-family-conflict", "Family conflict or instability", ""),
    ("push", "push-parental-separation", "Parental separation", ""),
    ("push", "push-domestic-abuse", "Domestic abuse at home", ""),
    ("push", "push-abuse-neglect", "Abuse or neglect", ""),
    ("push", "push-parental-substance-misuse", "Parental substance misuse", ""),
    ("push", "push-mental-health", "The child's mental health", ""),
    ("push", "push-school-bullying", "Problems at school or bullying", ""),
    ("push", "push-loneliness", "Loneliness or isolation", ""),
    ("push", "push-placement", "Unhappy in placement / placement issues", ""),
    ("push", "push-boundaries", "Boundaries and rules at home", ""),
    ("pull", "pull-family-friends", "To see family or friends", ""),
    ("pull", "pull-boyfriend-girlfriend", "Boyfriend or girlfriend", ""),
    ("pull", "pull-family-contact", "Unhappy with family-contact arrangements", ""),
    ("pull", "pull-peer-group", "Peer pressure or peer group", ""),
    ("pull", "pull-parties", "Parties and gatherings", ""),
    ("pull", "pull-drugs-alcohol", "Drugs or alcohol", ""),
    ("pull", "pull-adults-offering", "Adults offering money, gifts, places to stay", ""),
    ("pull", "pull-sexual-exploitation", "Sexual exploitation", "11A"),
    ("pull", "pull-criminal-exploitation", "Criminal exploitation, including county lines", "24A"),
    ("pull", "pull-anti-social-behaviour", "Anti-social behaviour", ""),
    ("harm", "harm-grooming", "Grooming", ""),
    ("harm", "harm-sexual-exploitation", "Sexual exploitation", "11A"),
    ("harm", "harm-criminal-exploitation", "Criminal exploitation / county lines", "24A"),
    ("harm", "harm-violence", "Violence or assault", ""),
    ("harm", "harm-victim-of-crime", "Victim of crime", ""),
    ("harm", "harm-involvement-in-crime", "Involvement in crime", ""),
    ("harm", "harm-drugs-alcohol", "Drugs or alcohol", ""),
    ("harm", "harm-trafficking", "Trafficking", "12A"),
    ("harm", "harm-forced-marriage", "Forced marriage", ""),
    ("harm", "harm-fgm", "Female genital mutilation", ""),
    ("harm", "harm-sleeping-rough", "Sleeping rough", ""),
    ("harm", "harm-no-money-food", "No money or food", ""),
    ("harm", "harm-unknown-adults", "Stayed with unknown adults", ""),
    ("harm", "harm-self-harm", "Self-harm", ""),
]


def seed(apps, schema_editor):
    Factor = apps.get_model("interviews", "Factor")
    for order, (kind, code, label, cin) in enumerate(DEFAULTS, start=1):
        Factor.objects.get_or_create(
            code=code, defaults={"kind": kind, "label": label, "cin_code": cin, "order": order * 10}
        )


def unseed(apps, schema_editor):
    Factor = apps.get_model("interviews", "Factor")
    Factor.objects.filter(code__in=[d[1] for d in DEFAULTS], picks__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("interviews", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
