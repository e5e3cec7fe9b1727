"""The small wording items of issue 13: admin names with real plurals, a rule's timing in words
rather than Python's "-1 day, 12:00:00", and the escalation list opening on the open ones."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from notifications.models import EscalationRule, Trigger, duration_in_words
from tests.helpers import login

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("duration", "words"),
    [
        (timedelta(hours=12), "12 hours"),
        (timedelta(hours=-12), "12 hours"),
        (timedelta(minutes=30), "30 minutes"),
        (timedelta(days=1, hours=6), "30 hours"),
        (timedelta(days=7, hours=2), "7 days 2 hours"),
        (timedelta(hours=1, minutes=1), "1 hour 1 minute"),
        (timedelta(0), "no time"),
    ],
)
def test_durations_in_words(duration, words):
    assert duration_in_words(duration) == words


@pytest.mark.parametrize(
    ("trigger", "offset", "words"),
    [
        (Trigger.INTERVIEW_DUE_SOON, timedelta(hours=-12), "12 hours before due"),
        (Trigger.REVIEW_OVERDUE, timedelta(0), "when due"),
        (Trigger.STILL_MISSING, timedelta(hours=24), "24 hours after last seen"),
        (Trigger.INTERVIEW_NOT_ARRANGED, timedelta(hours=48), "48 hours after the return"),
    ],
)
def test_a_rule_says_when_it_fires_in_words(trigger, offset, words):
    assert EscalationRule(trigger=trigger, offset=offset).fires_in_words() == words


def test_the_admin_shows_real_plurals_and_timings_in_words(admin_user):
    EscalationRule.objects.create(
        code="soon-12h",
        name="Interview due in 12 hours",
        trigger=Trigger.INTERVIEW_DUE_SOON,
        offset=timedelta(hours=-12),
        ack_within=timedelta(minutes=30),
    )
    client = Client()
    login(client, admin_user)
    index = client.get("/admin/").content.decode()
    assert "Inbound text messages" in index
    assert "smss" not in index.lower()
    assert "Text messages" in index
    assert "On-call shifts" in index
    assert "API tokens" in index
    inbound = client.get("/admin/notifications/inboundsms/").content.decode()
    assert "<title>Select inbound text message to view" in inbound
    rules = client.get("/admin/notifications/escalationrule/").content.decode()
    assert "12 hours before due" in rules
    assert "30 minutes" in rules
    assert "-1 day" not in rules


def test_the_escalation_list_opens_on_the_open_ones(manager):
    client = Client()
    login(client, manager)
    page = client.get("/escalations/").content.decode()
    assert "<strong>Open (not yet acknowledged)</strong>" in page
    assert 'href="?show=all"' in page
    assert "<strong>All</strong>" in client.get("/escalations/?show=all").content.decode()
