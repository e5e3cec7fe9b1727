"""Texts to the other council's out-of-hours phone about a high-risk out-of-area episode
(decision 0070): to a council on the same installation (no email, it sees the episode; the text
is acknowledged on the episode page by its own staff), and to an outside council (with the
email; acknowledged from the email's link or by replying ACK). Once, reminded once, never
after the acknowledgement, and nothing about the child in any text."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from missing.audit import misuse
from missing.models import Council, EpisodeEvent, MisuseAlert, Role
from notifications import council_alerts, services
from notifications.models import CouncilAlert, SmsMessage
from tests.factories import FIXED_NOW, ChildFactory, UserFactory
from tests.helpers import login, report_missing

pytestmark = pytest.mark.django_db

A_CODE, B_CODE = "E06000035", "E10000016"  # Medway, Kent
A_PHONE, ESSEX_PHONE = "+447700900501", "+447700900502"
LATER = FIXED_NOW + timedelta(minutes=1)


@pytest.fixture
def councils(settings) -> tuple[Council, Council]:
    settings.COUNCIL_ONS_CODES = [A_CODE, B_CODE]
    settings.COUNCIL_ONS_CODE = B_CODE
    settings.COUNCIL_ALERT_ESCALATE_AFTER_MINUTES = 60
    a = Council.objects.get(ons_code=A_CODE)
    b = Council.objects.get(ons_code=B_CODE)
    Council.objects.filter(pk=a.pk).update(
        out_of_hours_phone=A_PHONE, out_of_hours_email="ooh@medway.example.gov.uk"
    )
    Council.objects.filter(name="Essex").update(
        out_of_hours_phone=ESSEX_PHONE, out_of_hours_email="ooh@essex.example.gov.uk"
    )
    return a, b


def placed(b: Council, host: str, grade: str, reference: str):
    ffd_b = UserFactory(username=f"ffd-b-{reference}", role=Role.FFD, council=b)
    child = ChildFactory(
        first_name="Placida",
        last_name="Outerby",
        council=b,
        responsible_council="Kent",
        host_council=host,
    )
    with time_machine.travel(FIXED_NOW, tick=False):
        return report_missing(
            actor=ffd_b, now=FIXED_NOW, child=child, grade_code=grade, reference=reference
        )


def texts_of(episode) -> list[tuple[int, str]]:
    return list(
        SmsMessage.objects.filter(council_alert__episode=episode)
        .order_by("level")
        .values_list("level", "to")
    )


def test_a_council_on_this_installation_is_texted_once_for_a_high_risk_episode(councils):
    a, b = councils
    high = placed(b, "Medway", "high", "TX-1")
    medium = placed(b, "Medway", "medium", "TX-2")
    result = council_alerts.council_alert_sweep(now=LATER)
    council_alerts.council_alert_sweep(now=LATER + timedelta(minutes=1))
    assert result.texts == 1
    alert = CouncilAlert.objects.get(episode=high)
    assert (alert.council_id, alert.kind, alert.status) == (
        a.pk,
        CouncilAlert.Kind.MISSING,
        CouncilAlert.Status.ON_INSTALLATION,
    )
    assert texts_of(high) == [(1, A_PHONE)]
    body = SmsMessage.objects.get(council_alert=alert).body
    assert f"MISSING E-{high.pk} HIGH RISK" in body
    assert reverse("notifications:episode_short_link", args=[high.pk]) in body
    assert "Placida" not in body
    assert "Outerby" not in body
    # No email: council A sees the episode on its own board. A medium grade: no text either.
    assert mail.outbox == []
    assert not CouncilAlert.objects.filter(episode=medium).exists()


def test_unacknowledged_it_is_texted_again_once_then_acknowledged_on_the_page(councils):
    a, b = councils
    episode = placed(b, "Medway", "high", "TX-3")
    council_alerts.council_alert_sweep(now=LATER)
    late = LATER + timedelta(minutes=61)
    assert council_alerts.council_alert_sweep(now=late).reminded == 1
    council_alerts.council_alert_sweep(now=late + timedelta(minutes=61))
    assert texts_of(episode) == [(1, A_PHONE), (2, A_PHONE)]
    reminder = SmsMessage.objects.get(council_alert__episode=episode, level=2)
    assert reminder.body.startswith(f"REMINDER MISSING E-{episode.pk} HIGH RISK")
    alert = CouncilAlert.objects.get(episode=episode)
    assert alert.status == CouncilAlert.Status.ON_INSTALLATION  # still no email
    assert mail.outbox == []

    # Council B's front door cannot acknowledge for A (404); A's front door can, once.
    url = reverse("notifications:council_alert_acknowledge", args=[alert.pk])
    ffd_b = UserFactory(username="ffd-b-other", role=Role.FFD, council=b)
    ffd_a = UserFactory(username="ffd-a", role=Role.FFD, council=a, first_name="Ada")
    with time_machine.travel(late + timedelta(minutes=5), tick=False):
        login(client_b := Client(), ffd_b)
        assert client_b.post(url).status_code == 404
        page = Client()
        login(page, ffd_a)
        detail = page.get(reverse("episode_detail", args=[episode.pk]))
        assert url in detail.content.decode()
        assert page.post(url).status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None
    assert alert.acknowledged_by.startswith("Ada ")
    assert EpisodeEvent.objects.filter(episode=episode, action="council_acknowledged").exists()
    # Texts not yet sent are not sent (the outbox transport "sends" at once otherwise).
    assert set(SmsMessage.objects.filter(council_alert=alert).values_list("status", flat=True)) == {
        SmsMessage.Status.CANCELLED
    }


def test_a_text_is_not_sent_after_the_acknowledgement(councils):
    _, b = councils
    episode = placed(b, "Medway", "high", "TX-4")
    council_alerts.council_alert_sweep(now=LATER)
    sms = SmsMessage.objects.get(council_alert__episode=episode)
    assert services.sms_send(sms_id=sms.pk, now=LATER).result == "sent"
    council_alerts.council_alert_sweep(now=LATER + timedelta(minutes=61))
    reminder = SmsMessage.objects.get(council_alert__episode=episode, level=2)
    CouncilAlert.objects.filter(pk=reminder.council_alert_id).update(
        acknowledged_at=LATER + timedelta(minutes=62)
    )
    outcome = services.sms_send(sms_id=reminder.pk, now=LATER + timedelta(minutes=62))
    assert outcome.result == "cancelled"


def test_an_outside_council_gets_the_email_and_the_text_and_may_reply_ack(councils):
    _, b = councils
    episode = placed(b, "Essex", "high", "TX-5")
    council_alerts.council_alert_sweep(now=LATER)
    alert = CouncilAlert.objects.get(episode=episode, kind=CouncilAlert.Kind.MISSING)
    assert alert.status == CouncilAlert.Status.PENDING  # the email, as before
    assert texts_of(episode) == [(1, ESSEX_PHONE)]
    body = SmsMessage.objects.get(council_alert=alert).body
    assert f"Reply ACK {episode.pk}" in body
    assert "Placida" not in body
    # Someone else's number replying changes nothing; the council's own number acknowledges.
    stranger = services.inbound_sms_receive(
        message_sid="SM" + "1" * 32,
        from_number="+447700900777",
        body=f"ACK {episode.pk}",
        now=LATER,
    )
    assert stranger.outcome == "unknown_number"
    result = services.inbound_sms_receive(
        message_sid="SM" + "2" * 32, from_number=ESSEX_PHONE, body=f"ACK {episode.pk}", now=LATER
    )
    assert result.outcome == "acknowledged"
    alert.refresh_from_db()
    assert alert.acknowledged_at == LATER
    # Acknowledged: no reminder, no second text.
    council_alerts.council_alert_sweep(now=LATER + timedelta(minutes=61))
    assert texts_of(episode) == [(1, ESSEX_PHONE)]


def test_a_single_council_installation_texts_an_outside_council_too(settings):
    settings.COUNCIL_ONS_CODES = [B_CODE]
    settings.COUNCIL_ONS_CODE = B_CODE
    Council.objects.filter(name="Essex").update(out_of_hours_phone=ESSEX_PHONE)
    b = Council.objects.get(ons_code=B_CODE)
    episode = placed(b, "Essex", "high", "TX-6")
    council_alerts.council_alert_sweep(now=LATER)
    assert texts_of(episode) == [(1, ESSEX_PHONE)]
    # No email address in the directory: still texted, and reminded by text.
    assert CouncilAlert.objects.get(episode=episode).status == CouncilAlert.Status.NO_ADDRESS
    council_alerts.council_alert_sweep(now=LATER + timedelta(minutes=61))
    assert texts_of(episode) == [(1, ESSEX_PHONE), (2, ESSEX_PHONE)]


def test_the_escalation_sweep_leaves_texts_that_are_not_about_an_escalation(councils):
    """Its clean-up of a stopped ladder's unsent texts once cancelled every text with no
    escalation (a misuse alert's too) when the sweep ran before the worker sent it."""
    _, b = councils
    episode = placed(b, "Medway", "high", "TX-7")
    council_alerts.council_alert_sweep(now=LATER)
    head = UserFactory(username="hos", role=Role.HEAD_OF_SERVICE, phone="+447700900503")
    assert misuse.raise_alert(
        user_id=head.pk, window_start=FIXED_NOW, count=60, threshold=50, now=LATER
    )
    assert MisuseAlert.objects.exists()
    services.escalation_sweep(now=LATER)
    statuses = set(
        SmsMessage.objects.filter(escalation__isnull=True).values_list("status", flat=True)
    )
    assert statuses == {SmsMessage.Status.PENDING}
    assert SmsMessage.objects.filter(council_alert__episode=episode).count() == 1


def test_a_misuse_alert_goes_to_the_heads_of_service_of_that_council_only(councils):
    """Texted to the person's council's heads of service, and shown on their pages only."""
    a, b = councils
    head_a = UserFactory(username="hos-a", role=Role.HEAD_OF_SERVICE, council=a, phone=A_PHONE)
    head_b = UserFactory(
        username="hos-b", role=Role.HEAD_OF_SERVICE, council=b, phone="+447700900504"
    )
    reader = UserFactory(username="reader-a", role=Role.FFD, council=a)
    assert misuse.raise_alert(
        user_id=reader.pk, window_start=FIXED_NOW, count=60, threshold=50, now=LATER
    )
    alert = MisuseAlert.objects.get(user=reader)
    assert list(
        SmsMessage.objects.filter(misuse_alert=alert).values_list("recipient", flat=True)
    ) == [head_a.pk]
    detail = reverse("misuse_alert_detail", args=[alert.pk])
    with time_machine.travel(LATER, tick=False):
        for head, status in ((head_a, 200), (head_b, 404)):
            client = Client()
            login(client, head)
            assert client.get(detail).status_code == status
            listed = client.get(reverse("misuse_alerts")).content.decode()
            assert (detail in listed) == (head is head_a)


def test_a_council_may_have_its_own_misuse_threshold(
    councils, settings, django_capture_on_commit_callbacks
):
    """The council's row applies to its staff, the installation's to the rest; one
    installation row only; a single-council installation reads the installation's."""
    from django.core.cache import cache
    from django.core.exceptions import ValidationError

    from missing.models import MisuseSettings

    a, b = councils
    cache.clear()
    MisuseSettings.objects.create(distinct_children_per_hour=50)
    MisuseSettings.objects.create(distinct_children_per_hour=20, council=a)
    assert (misuse.threshold(a.pk), misuse.threshold(b.pk), misuse.threshold(None)) == (20, 50, 50)
    with pytest.raises(ValidationError):
        MisuseSettings(distinct_children_per_hour=30).full_clean()
    reader_a = UserFactory(username="reader-a2", role=Role.FFD, council=a)
    reader_b = UserFactory(username="reader-b2", role=Role.FFD, council=b)
    with django_capture_on_commit_callbacks(execute=True):
        for child_id in range(1, 21):
            for reader in (reader_a, reader_b):
                misuse.note_read(
                    user_id=reader.pk, child_id=child_id, now=LATER, council_id=reader.council_id
                )
    assert list(MisuseAlert.objects.values_list("user", "threshold")) == [(reader_a.pk, 20)]
    settings.COUNCIL_ONS_CODES = [A_CODE]
    misuse.forget_threshold()
    assert misuse.threshold(a.pk) == 50


def test_ack_from_a_duty_phone_that_is_also_a_staff_number(councils):
    """The out-of-hours phone of a council on this installation may be a member of staff's
    number too: with no escalation of theirs to stop, the ACK still acknowledges the alert."""
    a, b = councils
    UserFactory(username="duty-a", role=Role.FFD, council=a, phone=A_PHONE)
    episode = placed(b, "Medway", "high", "TX-8")
    council_alerts.council_alert_sweep(now=LATER)
    result = services.inbound_sms_receive(
        message_sid="SM" + "3" * 32, from_number=A_PHONE, body=f"ACK {episode.pk}", now=LATER
    )
    assert result.outcome == "acknowledged"
    assert CouncilAlert.objects.get(episode=episode).acknowledged_at == LATER


def test_erasing_the_child_erases_the_texts_to_the_other_council(councils):
    """Retention: the council alerts' texts go with the alerts (they protect them)."""
    from notifications import retention

    _, b = councils
    episode = placed(b, "Medway", "high", "TX-9")
    council_alerts.council_alert_sweep(now=LATER)
    assert SmsMessage.objects.filter(council_alert__episode=episode).exists()
    erased = retention.erase_child(child_ids=[episode.child_id], episode_ids=[episode.pk])
    assert erased["texts"] == 1
    assert erased["alerts to other councils"] == 1
    assert not SmsMessage.objects.exists()
