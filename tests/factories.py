"""Factories for the core records. Episodes in a given state are made through the real services
(see tests.helpers), so every test episode went through the state machine like a real one."""

from __future__ import annotations

from datetime import UTC, date, datetime

import factory
from factory.django import DjangoModelFactory

from missing.models import (
    Child,
    LegalStatus,
    LegalStatusPeriod,
    Organisation,
    PoliceForce,
    RiskGrade,
    Role,
    Team,
    User,
)

FIXED_NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


class OrganisationFactory(DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Organisation {n}")
    kind = Organisation.Kind.COUNCIL


class TeamFactory(DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")
    organisation = factory.SubFactory(OrganisationFactory, name="Demo Borough Council")


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    role = Role.FFD
    is_active = True
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ChildFactory(DjangoModelFactory):
    class Meta:
        model = Child

    first_name = factory.Sequence(lambda n: f"Alex{n}")
    last_name = factory.Sequence(lambda n: f"Example{n}")
    date_of_birth = date(2011, 3, 14)
    council_child_id = factory.Sequence(lambda n: f"CC{n:06d}")
    created_at = FIXED_NOW

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        """`looked_after=True` (and the other statuses) record an open legal-status period
        since 1 January 2000: the status holds for every episode the test opens."""
        statuses = [status for status in LegalStatus.values if kwargs.pop(status, False)]
        if LegalStatus.LOOKED_AFTER in statuses:
            kwargs["ever_looked_after"] = True
        child = super()._create(model_class, *args, **kwargs)
        for status in statuses:
            LegalStatusPeriod.objects.create(
                child=child,
                status=status,
                start_date=date(2000, 1, 1),
                reason="Test data",
                recorded_at=FIXED_NOW,
            )
        return child


def legal_status_period(child, status="looked_after", start=date(2000, 1, 1), end=None):
    """A period recorded directly (test data), without recomputing any episode's snapshot."""
    return LegalStatusPeriod.objects.create(
        child=child,
        status=status,
        start_date=start,
        end_date=end,
        reason="Test data",
        recorded_at=FIXED_NOW,
    )


def grade(code: str = "medium") -> RiskGrade:
    return RiskGrade.objects.get(code=code)


def force(code: str = "kent") -> PoliceForce:
    return PoliceForce.objects.get(code=code)
