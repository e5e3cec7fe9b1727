"""No child's name or other identifying detail in any text, reply, alert or log line: SMS is not
a secure channel. Checked over every template and level, and over a full run of every rule."""

from __future__ import annotations

import inspect
import logging
import re
from datetime import date, timedelta

import pytest

from missing.cases import services as core
from missing.models import Child, MissingEpisode, Role
from notifications import texts
from notifications.models import AdminAlert, EscalationRule, SmsMessage, Trigger
from notifications.services import escalation_sweep, inbound_sms_receive
from tests.factories import FIXED_NOW, OrganisationFactory, UserFactory, force, grade
from tests.notifications.conftest import deliver

# Everything a text may hold: kind, reference, how overdue, the reply code, the link.
TEXT = re.compile(
    r"^MISSING E-(?P<n>\d+)( ESCALATED)?: [a-z ,0-9]+\. Reply ACK (?P=n)\. "
    r"https://missing\.example\.gov\.uk/e/(?P=n)$"
)


def test_every_trigger_has_a_template():
    assert set(texts.ALERT_TEXT) == set(Trigger.values)


@pytest.mark.parametrize("trigger", Trigger.values)
@pytest.mark.parametrize("level", [1, 2, 3])
def test_every_template_carries_only_the_reference_the_kind_and_the_time(db, trigger, level):
    clock_at = FIXED_NOW - timedelta(hours=3, minutes=20)
    body = texts.escalation_text(
        trigger=trigger, episode_id=4821, clock_at=clock_at, level=level, now=FIXED_NOW
    )
    assert TEXT.match(body), body
    assert len(body) <= 160  # one SMS segment
    # Numbers and times are all a text is built from: there is no way to pass it a child.
    assert list(inspect.signature(texts.escalation_text).parameters) == [
        "trigger",
        "episode_id",
        "clock_at",
        "level",
        "now",
    ]


def test_the_example_from_the_issue(db):
    body = texts.escalation_text(
        trigger=Trigger.INTERVIEW_OVERDUE,
        episode_id=4821,
        clock_at=FIXED_NOW - timedelta(hours=3),
        level=1,
        now=FIXED_NOW,
    )
    assert body == (
        "MISSING E-4821: return interview overdue by 3h. Reply ACK 4821. "
        "https://missing.example.gov.uk/e/4821"
    )


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(minutes=5), "5m"),
        (timedelta(minutes=59, seconds=59), "59m"),
        (timedelta(hours=3, minutes=59), "3h"),
        (timedelta(hours=47), "47h"),
        (timedelta(hours=75), "3d 3h"),
        (timedelta(minutes=-5), "0m"),
    ],
)
def test_durations(delta, text):
    assert texts.duration_text(delta) == text


def test_no_identifying_child_data_anywhere_after_every_rule_fires(
    ffd, manager, head_of_service, rota, duty_manager, team_manager, caplog
):
    """A child with distinctive details goes missing and comes back; every default rule fires and
    climbs; replies come in. Nothing written or logged holds any of the child's details."""
    caplog.set_level(logging.DEBUG)
    child = Child.objects.create(
        council_child_id="ZXCV998877",
        first_name="Peregrine",
        last_name="Quillfeather",
        date_of_birth=date(2012, 2, 29),
        gender="Female",
        allocated_team=team_manager.team,
        placement="Larkspur House residential home",
        responsible_council="Borsetshire County Council",
        created_at=FIXED_NOW,
    )
    identifying = [
        "Peregrine",
        "Quillfeather",
        "ZXCV998877",
        "2012-02-29",
        "29/02/2012",
        "29 Feb",
        "Larkspur",
        "Borsetshire",
        "Marzipan Lane",
        "Nightjar Park",
        "KNT-SECRET-77",
        "Aunt Hortensia",
        child.reference,
    ]
    start = FIXED_NOW - timedelta(hours=100)
    data = core.NotificationData(
        police_force=force(),
        police_reference="KNT-SECRET-77",
        kind="reported_missing",
        child_first_name=child.first_name,
        child_last_name=child.last_name,
        child_date_of_birth=child.date_of_birth,
        council_child_id=child.council_child_id,
        last_seen_at=start - timedelta(hours=1),
        last_seen_place="Marzipan Lane bus stop",
        reported_at=start,
        risk_grade=grade("high"),
        circumstances="Left with an older male known as Aunt Hortensia's lodger.",
        reported_by="Aunt Hortensia",
    )
    episode = core.notification_receive(
        data, actor=ffd, payload={"ref": "KNT-SECRET-77"}, now=start
    ).notification.episode
    org = OrganisationFactory(name="Safe Steps Charity", kind="provider")
    interviewer = UserFactory(
        username="rhi", role=Role.INTERVIEWER, organisation=org, phone="+447700900041"
    )
    core.access_grant(episode=episode, user=interviewer, now=start)

    # Missing for 80 h (review overdue, 24 h, 72 h), then back; interview clocks run out.
    moments = [start + timedelta(hours=h) for h in (1, 1.5, 24, 24.5, 73, 73.5)]
    for at in moments:
        escalation_sweep(now=at)
        deliver(at)
    returned = start + timedelta(hours=80)
    core.episode_record_decision(
        core.DecisionData(risk="high", rationale="Peregrine at risk of exploitation."),
        actor=manager,
        episode_id=episode.pk,
        now=returned - timedelta(hours=1),
    )
    core.episode_record_return(
        core.ReturnData(
            returned_at=returned,
            found_place="Nightjar Park",
            found_by="Police",
            prevention_interview_done=True,
        ),
        actor=ffd,
        episode_id=episode.pk,
        now=returned,
    )
    for hours in (24, 24.5, 60, 60.5, 72, 72.5):
        at = returned + timedelta(hours=hours)
        escalation_sweep(now=at)
        deliver(at)
    reply = inbound_sms_receive(
        message_sid="SM" + "9" * 32,
        from_number=team_manager.phone,
        body=f"ACK {episode.pk}",
        now=returned + timedelta(hours=73),
    )

    fired = set(SmsMessage.objects.values_list("escalation__rule__code", flat=True).distinct())
    assert fired == set(EscalationRule.objects.values_list("code", flat=True))
    bodies = list(SmsMessage.objects.values_list("body", flat=True))
    assert len(bodies) >= 10
    written = [
        *bodies,
        reply.reply or "",
        *AdminAlert.objects.values_list("message", flat=True),
        caplog.text,
    ]
    for text in written:
        for detail in identifying:
            assert detail not in text, (detail, text)
    for body in bodies:
        assert TEXT.match(body), body
        assert f"E-{episode.pk}" in body
    assert MissingEpisode.objects.get(pk=episode.pk).child.first_name == "Peregrine"
