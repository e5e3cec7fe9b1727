"""Hostile input to the API is a 400 naming the problem, never a 500: JSON nested past
JSON_MAX_DEPTH or larger than the body limit (missing.api.input_limits, enforced by the one default
parser, missing.api.parsers.BoundedJSONParser), and dates outside the years 1900–2999."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django import forms
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.test import APIClient
from rest_framework.views import APIView

from interviews.models import ReturnInterview
from missing.api.input_limits import JSON_MAX_DEPTH, json_depth
from missing.api.parsers import BoundedJSONParser
from missing.cases.child_facts import PeriodData, legal_status_period_add
from missing.models import LegalStatus, PoliceNotification, RiskMeetingTask, User
from tests.factories import FIXED_NOW, ChildFactory
from tests.helpers import login, report_missing
from tests.interviews.helpers import open_interview, returned_episode

pytestmark = pytest.mark.django_db

TOO_DEEP = f"The JSON body is nested deeper than {JSON_MAX_DEPTH} levels."


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(FIXED_NOW, tick=False):
        yield


def client_for(user: User) -> APIClient:
    client = APIClient()
    login(client, user)
    return client


def nested(depth: int) -> str:
    """A JSON object whose every value is another object, `depth` levels in all."""
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


# --------------------------------------------------------------------------------------------
# JSON depth and size, on every operation that takes a body
# --------------------------------------------------------------------------------------------


def body_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "requestBody" in operation
    )


BODY_OPERATIONS = body_operations()


def test_the_sweep_covers_the_api():
    # If this drops, the schema lost its request bodies and the sweep below tests nothing.
    assert len(BODY_OPERATIONS) >= 15


@pytest.fixture
def objects(ffd, manager, now) -> dict[str, int]:
    """One real row behind each kind of `{id}`, so that views which look the row up before
    reading the body still reach the body."""
    episode = returned_episode(ffd=ffd, manager=manager, child=ChildFactory(), returned_at=now)
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    report_missing(actor=ffd, now=now, child=ChildFactory(date_of_birth=now.date()))
    period = legal_status_period_add(
        PeriodData(
            status=LegalStatus.CHILD_IN_NEED,
            start_date=now.date() - timedelta(days=400),
            end_date=None,
            reason="From the case system",
        ),
        actor=ffd,
        child_id=episode.child_id,
        now=now,
    )
    return {
        "episodes": episode.pk,
        "children": episode.child_id,
        "period_id": period.pk,
        "interviews": interview.pk,
        "notifications": PoliceNotification.objects.order_by("pk").first().pk,
        "risk-meetings": RiskMeetingTask.objects.order_by("pk").first().pk,
    }


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS)
def test_json_nested_1000_deep_is_a_400_on_every_operation(
    method, path, objects, users_by_role, police_system
):
    url = re.sub(r"\{id\}", lambda _: str(objects[path.split("/")[2]]), path)
    url = url.replace("{period_id}", str(objects["period_id"]))
    answers = {}
    for role, user in {**users_by_role, "police_system": police_system}.items():
        response = client_for(user).generic(
            method, url, nested(1000), content_type="application/json"
        )
        assert response.status_code < 500, (role, response.status_code)
        answers[role] = (response.status_code, response.json().get("detail"))
    # Some role may send this request; for it, the body is refused for its depth.
    assert (400, TOO_DEEP) in answers.values(), answers


def test_the_police_intake_names_depth_and_size(police_system, settings):
    client = client_for(police_system)
    deep = client.post("/api/notifications/", nested(1000), content_type="application/json")
    assert deep.status_code == 400
    assert deep.json() == {"detail": TOO_DEEP}

    # One level over the limit is refused; at the limit the body reaches the serializer.
    over = client.post(
        "/api/notifications/", nested(JSON_MAX_DEPTH + 1), content_type="application/json"
    )
    assert over.json() == {"detail": TOO_DEEP}
    at = client.post("/api/notifications/", nested(JSON_MAX_DEPTH), content_type="application/json")
    assert at.status_code == 400
    assert at.json()["detail"] == "The request has errors."

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    large = client.post(
        "/api/notifications/",
        '{"police_force": "' + "k" * 1_000 + '"}',
        content_type="application/json",
    )
    assert large.status_code == 400
    assert large.json() == {"detail": "The JSON body is larger than 1,000 bytes."}
    assert PoliceNotification.objects.count() == 0


def test_brackets_inside_strings_are_not_nesting(police_system):
    response = client_for(police_system).post(
        "/api/notifications/",
        {"police_force": "kent", "circumstances": "[{" * 500 + '\\"]'},
        format="json",
    )
    assert response.status_code == 400
    # Refused for what the body says (an unknown or missing field), not for its shape.
    assert response.json()["detail"] == "The request has errors."


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("", 0),
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('["]]]", "\\"[[[", {}]', 2),
        ('"unterminated [[[', 3),  # not JSON: the reader refuses it for that
        ("[" * 100_000, 100_000),
    ],
)
def test_json_depth_counts_structure_only(text, depth):
    assert json_depth(text) == depth


def _api_views() -> list[type[APIView]]:
    found: list[type[APIView]] = []

    def walk(patterns: list[Any]) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                view = getattr(pattern.callback, "cls", None)
                if view is not None and issubclass(view, APIView):
                    found.append(view)

    walk(get_resolver().url_patterns)
    return found


def test_every_api_view_parses_through_the_bounded_parser():
    views = _api_views()
    assert len(views) >= 25
    for view in views:
        parsers = view().get_parsers()
        assert parsers, view
        # JSON only through the bounded parser; multipart (the Philomena photograph) cannot nest.
        assert all(isinstance(p, BoundedJSONParser | MultiPartParser) for p in parsers), view
        assert any(isinstance(p, BoundedJSONParser) for p in parsers), view


# --------------------------------------------------------------------------------------------
# Dates outside 1900–2999
# --------------------------------------------------------------------------------------------


def intake(**fields: Any) -> dict[str, Any]:
    return {
        "police_force": "kent",
        "police_reference": "KNT-HOSTILE-1",
        "kind": "reported_missing",
        "child_first_name": "Sam",
        "child_last_name": "Hill",
        "last_seen_at": (FIXED_NOW - timedelta(hours=3)).isoformat(),
        "reported_at": (FIXED_NOW - timedelta(hours=2)).isoformat(),
        "risk_grade": "medium",
        **fields,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("child_date_of_birth", "0001-01-01"),
        ("child_date_of_birth", "9999-12-31"),
        ("child_date_of_birth", "1899-12-31"),
        ("last_seen_at", "0001-01-01T00:00:00Z"),
        ("last_seen_at", "9999-12-31T23:59:59+14:00"),
        ("reported_at", "9999-12-31T23:59:59Z"),
    ],
)
def test_a_date_outside_the_years_is_a_400_naming_the_field(police_system, field, value):
    response = client_for(police_system).post(
        "/api/notifications/", intake(**{field: value}), format="json"
    )
    assert response.status_code == 400, response.json()
    assert response.json()[field] == ["Check the year: it must be between 1900 and 2999."]
    assert PoliceNotification.objects.count() == 0


def test_the_years_at_the_edges_are_accepted(police_system):
    response = client_for(police_system).post(
        "/api/notifications/", intake(child_date_of_birth="1900-01-01"), format="json"
    )
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31"])
@pytest.mark.parametrize("name", ["period_start", "period_end"])
def test_a_query_string_date_outside_the_years_is_a_400(manager, name, value):
    response = client_for(manager).get("/api/interview-figures/", {name: value})
    assert response.status_code == 400
    assert name in response.json()


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out


OUR_MODULES = ("missing.", "interviews.", "notifications.")


def _writable_fields(field: serializers.Field, path: str) -> list[tuple[str, Any]]:
    if isinstance(field, serializers.ListSerializer | serializers.ListField):
        return _writable_fields(field.child, path + "[]")
    if isinstance(field, serializers.Serializer):
        return [
            item
            for name, sub in field.fields.items()
            for item in _writable_fields(sub, f"{path}.{name}")
        ]
    return [] if field.read_only else [(path, field)]


def test_every_date_an_input_serializer_takes_is_bounded():
    """A date field added later to an input serializer (`…In`: those output serializers are
    kept apart from) would accept year 1 or 9999 and overflow downstream: every date one
    takes goes through the bounded fields."""
    from missing.api.serializers import AwareDateTimeField, StrictDateField, StrictInputSerializer

    _api_views()  # imports every API module
    checked = 0
    for cls in _subclasses(serializers.Serializer):
        if not cls.__module__.startswith(OUR_MODULES):
            continue
        if not (issubclass(cls, StrictInputSerializer) or cls.__name__.endswith("In")):
            continue
        for path, field in _writable_fields(cls(), cls.__name__):
            if isinstance(field, serializers.DateTimeField):
                assert isinstance(field, AwareDateTimeField), path
                checked += 1
            elif isinstance(field, serializers.DateField):
                assert isinstance(field, StrictDateField), path
                checked += 1
    assert checked >= 8


def test_every_date_a_web_form_takes_is_bounded():
    """Every date or date-time a form of ours takes is the GOV.UK date input (years 1900–2999,
    London time); none is a native date picker, whatever the field's class."""
    from missing.web.date_input import GovukDateField, GovukDateTimeField

    _api_views()
    checked = 0
    for cls in _subclasses(forms.BaseForm):
        if not cls.__module__.startswith(OUR_MODULES):
            continue
        for name, field in cls.base_fields.items():
            input_type = getattr(field.widget, "input_type", "")
            assert input_type not in ("date", "datetime-local", "time"), (cls, name)
            assert field.widget.attrs.get("type") not in ("date", "datetime-local"), (cls, name)
            if isinstance(field, forms.DateTimeField | forms.DateField | forms.TimeField):
                raise AssertionError(f"{cls.__name__}.{name} is not a GOV.UK date input")
            if isinstance(field, GovukDateField):
                checked += 1
                if "time" in field.widget.parts:
                    assert isinstance(field, GovukDateTimeField), (cls, name)
    assert checked >= 14


def test_interviews_are_untouched_by_a_refused_body(manager, objects):
    before = ReturnInterview.objects.get(pk=objects["interviews"]).version
    client_for(manager).patch(
        f"/api/interviews/{objects['interviews']}/record/",
        nested(1000),
        content_type="application/json",
    )
    assert ReturnInterview.objects.get(pk=objects["interviews"]).version == before
