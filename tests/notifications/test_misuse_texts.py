"""The insider-misuse alert's text to the heads of service (missing.audit.misuse, connected through
settings.MISUSE_ALERT_HANDLERS): written with the alert, sent once through the real Twilio SDK
against the fake server, and nothing about any child in it."""

from __future__ import annotations

import inspect
import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from missing.audit import misuse
from missing.models import MisuseAlert, MisuseSettings, Role, User
from notifications import texts
from notifications.models import AdminAlert, SmsMessage
from notifications.services import escalation_sweep
from tests.factories import FIXED_NOW, ChildFactory, UserFactory
from tests.helpers import login
from tests.notifications.conftest import PUBLIC_BASE_URL, deliver
from tests.notifications.fake_twilio import FROM_NUMBER

pytestmark = pytest.mark.django_db

T = FIXED_NOW + timedelta(minutes=25)  # 12:25 UTC, 13:25 in London (summer time)
TEXT = re.compile(
    r"^ACCESS ALERT (?P<n>\d+): [a-z0-9_.@+-]+ opened \d+ children's records "
    r"\d\d:\d\d-\d\d:\d\d\. https://missing\.example\.gov\.uk/access/alerts/(?P=n)/$"
)


@pytest.fixture
def heads(db) -> list[User]:
    return [
        UserFactory(username="hos_north", role=Role.HEAD_OF_SERVICE, phone="+447700900031"),
        UserFactory(username="hos_south", role=Role.HEAD_OF_SERVICE, phone="+447700900032"),
        UserFactory(username="hos_nophone", role=Role.HEAD_OF_SERVICE, phone=""),
        UserFactory(username="hos_left", role=Role.HEAD_OF_SERVICE, phone="+447700900033"),
    ]


def test_reading_past_the_threshold_texts_each_head_of_service_once(
    heads, ffd, twilio_settings, queue, django_capture_on_commit_callbacks
) -> None:
    User.objects.filter(username="hos_left").update(is_active=False)
    MisuseSettings.objects.create(distinct_children_per_hour=10)
    children = ChildFactory.create_batch(12)
    client = Client()
    with time_machine.travel(T, tick=False):
        login(client, ffd)
        for child in children:
            with django_capture_on_commit_callbacks(execute=True):
                assert client.get(reverse("child_detail", args=[child.pk])).status_code == 200
        assert deliver(T) == ["sent", "sent"]
        # A second raise for the same person and hour (another worker) texts nobody again.
        assert not misuse.raise_alert(
            user_id=ffd.pk, window_start=FIXED_NOW, count=11, threshold=10, now=T
        )
        assert deliver(T + timedelta(minutes=1)) == []

    alert = MisuseAlert.objects.get()
    sent = {request.fields()["To"]: request.fields() for request in twilio_settings.requests}
    assert set(sent) == {"+447700900031", "+447700900032"}
    for fields in sent.values():
        assert fields["From"] == FROM_NUMBER
        body = fields["Body"]
        assert body == (
            f"ACCESS ALERT {alert.pk}: ffd opened 10 children's records 13:00-14:00. "
            f"{PUBLIC_BASE_URL}/access/alerts/{alert.pk}/"
        )
        assert TEXT.match(body)
        for child in children:
            assert child.first_name not in body
            assert child.last_name not in body
    rows = SmsMessage.objects.filter(misuse_alert=alert)
    assert rows.count() == 2
    assert {row.status for row in rows} == {SmsMessage.Status.QUEUED}
    assert all(row.escalation_id is None for row in rows)
    # The head of service with no phone is an administrator's to fix, as a rota gap is.
    [gap] = AdminAlert.objects.filter(kind=AdminAlert.Kind.NO_PHONE)
    assert "hos_nophone" in gap.message


def test_a_sweep_before_the_worker_sends_leaves_the_text_to_go(heads, ffd, twilio_settings, queue):
    """A misuse alert's text has no ladder to stop: the escalation sweep's cancelling of unsent
    texts (for escalations that stopped) never touches it."""
    assert misuse.raise_alert(user_id=ffd.pk, window_start=FIXED_NOW, count=11, threshold=10, now=T)
    escalation_sweep(now=T + timedelta(minutes=1))
    assert deliver(T + timedelta(minutes=2)) == ["sent", "sent", "sent"]


def test_the_text_is_built_from_numbers_a_username_and_a_time() -> None:
    assert list(inspect.signature(texts.misuse_text).parameters) == [
        "alert_id",
        "username",
        "count",
        "window_start",
    ]
