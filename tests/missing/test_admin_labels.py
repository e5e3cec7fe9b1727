"""The admin's fields Django leaves unlabelled get a label (missing/web/admin_labels.py); the
browser walk (tests/browser/test_axe_every_page.py) checks the pages with axe, these check the
markup quickly."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.test import Client

from missing.models import MisuseAlert, RiskGrade, User
from notifications.models import EscalationRule, SmsMessage
from tests.helpers import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(admin_user: User) -> Client:
    client = Client()
    login(client, admin_user)
    return client


def test_list_editable_boxes_name_their_field_and_row(client: Client) -> None:
    page = client.get("/admin/missing/riskgrade/").content.decode()
    grade = RiskGrade.objects.order_by("rank").first()
    assert grade is not None
    assert f'aria-label="Active: {grade}"' in page
    boxes = re.findall(r'<input type="checkbox" name="form-\d+-active"[^>]*>', page)
    assert boxes
    assert all("aria-label=" in box for box in boxes)


def test_inline_rows_and_delete_boxes_are_labelled(client: Client) -> None:
    rule = EscalationRule.objects.first()
    assert rule is not None
    page = client.get(f"/admin/notifications/escalationrule/{rule.pk}/change/").content.decode()
    assert 'aria-label="Level: row 1"' in page
    assert 'aria-label="Delete: row 1"' in page
    assert 'aria-label="Recipient: new row"' in page


def test_split_date_and_time_boxes_each_have_a_name(client: Client) -> None:
    page = client.get("/admin/notifications/oncallshift/add/").content.decode()
    assert 'aria-label="Starts at: date"' in page
    assert 'aria-label="Starts at: time"' in page


def test_blank_filter_value_has_a_name(client: Client, ffd: User, now: datetime) -> None:
    """A text not yet handed to a backend has a blank backend: its filter link says so."""
    alert = MisuseAlert.objects.create(
        user=ffd,
        window_start=now,
        window_end=now + timedelta(hours=1),
        distinct_children=50,
        threshold=50,
        raised_at=now,
    )
    SmsMessage.objects.create(
        misuse_alert=alert, recipient=ffd, level=1, to="+447700900009", body="Alert", created_at=now
    )
    page = client.get("/admin/notifications/smsmessage/").content.decode()
    assert re.search(r'<a href="\?backend=">\s*\(none\)\s*</a>', page), page


def test_a_rule_before_its_clock_shows_its_offset_as_typed(client: Client) -> None:
    """ "12 hours before due" is shown and typed as -12:00:00, not Django's -1 12:00:00."""
    from notifications.admin import SignedDurationField

    rule = EscalationRule.objects.first()
    assert rule is not None
    rule.offset = -timedelta(hours=12)
    rule.save(update_fields=["offset"])
    page = client.get(f"/admin/notifications/escalationrule/{rule.pk}/change/").content.decode()
    assert 'name="offset" value="-12:00:00"' in page
    assert "-1 12:00:00" not in page
    field = SignedDurationField()
    assert field.clean(field.prepare_value(-timedelta(hours=12))) == -timedelta(hours=12)
    assert field.prepare_value(timedelta(hours=24)) == "1 00:00:00"
