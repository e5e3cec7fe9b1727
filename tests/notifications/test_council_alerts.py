"""Children placed out of area: the council directory, the episode's other council, and the
alerts to it (raised once, emailed once, acknowledged, reminded, cancelled)."""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.urls import reverse

import missing
from missing.cases import services
from missing.models import Council, EpisodeEvent, EpisodeState, InterviewHolder, MissingEpisode
from notifications import council_alerts
from notifications.models import CouncilAlert
from tests.factories import ChildFactory
from tests.helpers import login, report_missing

OURS = "E09000033"  # Westminster
HOST = "Kent"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _our_council(settings) -> None:
    settings.COUNCIL_ONS_CODE = OURS
    settings.COUNCIL_NAME = "Westminster City Council"
    settings.COUNCIL_FFD_PHONE = "020 7641 4000"
    Council.objects.filter(name="Kent").update(out_of_hours_email="emergency.duty@kent.gov.uk")


def placed_child(**facts):
    defaults = {"responsible_council": "Westminster", "host_council": HOST}
    defaults.update(facts)
    return ChildFactory(**defaults)


def sweep(now):
    """The sweep, then the emails it queued (the Celery task runs the same service)."""
    result = council_alerts.council_alert_sweep(now=now)
    to_send = CouncilAlert.objects.filter(status__in=council_alerts.TO_SEND).order_by("pk")
    for alert_id in to_send.values_list("pk", flat=True):
        council_alerts.council_alert_send(alert_id=alert_id, now=now)
    return result


# --- the directory -------------------------------------------------------------------------


def test_the_directory_holds_every_english_council_with_childrens_services():
    assert Council.objects.count() == 153
    assert Council.objects.filter(ons_code="E09000001", dfe_code="201").exists()  # City
    assert Council.objects.filter(ons_code="E06000064", name="Westmorland and Furness").exists()
    # Every code is of a council with children's services (unitary, metropolitan, London, county).
    codes = Council.objects.values_list("ons_code", flat=True)
    assert all(re.fullmatch(r"E(06|08|09|10)\d{6}", code) for code in codes)


def test_the_reference_file_and_the_table_agree():
    source = Path(missing.__file__).parent / "reference" / "councils.csv"
    with source.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    assert {(r["ons_code"], r["dfe_code"]) for r in rows} == set(
        Council.objects.values_list("ons_code", "dfe_code")
    )


def test_a_council_is_named_by_its_code_or_its_name():
    found = Council.objects.resolve("E10000016", "886", " kent ", "Nowhere", "")
    assert {key: council.name for key, council in found.items()} == {
        "E10000016": "Kent",
        "886": "Kent",
        " kent ": "Kent",
    }


# --- which episodes are out of area -----------------------------------------------------------


def test_our_child_placed_in_another_area_names_the_host(ffd, now):
    episode = report_missing(actor=ffd, now=now, child=placed_child())
    assert episode.out_of_area_council.name == "Kent"


def test_another_councils_child_living_here_names_the_responsible_council(ffd, now):
    child = placed_child(responsible_council="E10000016", host_council="Westminster")
    episode = report_missing(actor=ffd, now=now, child=child)
    assert episode.out_of_area_council.name == "Kent"


@pytest.mark.parametrize(
    ("responsible", "host"),
    [
        ("Westminster", ""),  # lives in our own area
        ("Westminster", "Westminster"),
        ("Kent", "Surrey"),  # neither side is ours
        ("Westminster", "Atlantis"),  # not in the directory
    ],
)
def test_no_other_council_to_tell(ffd, now, responsible, host):
    child = placed_child(responsible_council=responsible, host_council=host)
    assert report_missing(actor=ffd, now=now, child=child).out_of_area_council is None


def test_nobody_is_told_while_the_installation_does_not_know_its_council(ffd, now, settings):
    settings.COUNCIL_ONS_CODE = ""
    assert report_missing(actor=ffd, now=now, child=placed_child()).out_of_area_council is None


# --- the alerts -----------------------------------------------------------------------------


def test_the_other_council_is_told_once_by_email_without_the_childs_name(ffd, now):
    child = placed_child(first_name="Tallulah", last_name="Featherstonehaugh")
    episode = report_missing(actor=ffd, now=now, child=child)

    first = sweep(now)
    again = sweep(now + timedelta(minutes=1))

    assert (first.raised, again.raised) == (1, 0)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["emergency.duty@kent.gov.uk"]
    assert episode.reference in message.subject
    text = message.subject + message.body
    for secret in ("Tallulah", "Featherstonehaugh", str(child.date_of_birth.year)):
        assert secret not in text
    assert "placed in your area" in message.body
    assert "020 7641 4000" in message.body
    alert = CouncilAlert.objects.get()
    assert council_alerts.portal_url(alert.pk) in message.body
    assert (alert.kind, alert.status, alert.attempts) == ("missing", "sent", 1)


def test_the_return_is_told_with_the_72_hour_clock(ffd, manager, now, settings):
    settings.COUNCIL_ALERT_ESCALATE_AFTER_MINUTES = 600  # no reminder in between
    episode = report_missing(actor=ffd, now=now - timedelta(hours=5), child=placed_child())
    sweep(now - timedelta(hours=5))
    services.episode_record_return(
        services.ReturnData(
            returned_at=now - timedelta(hours=1),
            found_place="Station",
            found_by="Police",
            prevention_interview_done=True,
        ),
        actor=ffd,
        episode_id=episode.pk,
        now=now,
    )
    sweep(now)
    assert [m.subject.split(":")[0] for m in mail.outbox] == [
        "Child missing",
        "Child returned",
    ]
    assert "Return interview due by:" in mail.outbox[1].body
    assert "agree with us who holds" in mail.outbox[1].body


def test_an_episode_logged_in_error_is_cancelled_with_the_council_it_was_sent_to(ffd, manager, now):
    episode = report_missing(actor=ffd, now=now - timedelta(hours=2), child=placed_child())
    sweep(now - timedelta(hours=2))
    services.episode_cancel(
        services.CancelData(reason="Duplicate"), actor=manager, episode_id=episode.pk, now=now
    )
    sweep(now)
    assert [a.kind for a in CouncilAlert.objects.order_by("pk")] == ["missing", "cancelled"]
    # Two emails: no reminder about an episode since cancelled, though two hours have passed.
    assert len(mail.outbox) == 2
    assert "disregard our earlier alert" in mail.outbox[-1].body


def test_an_episode_cancelled_before_any_alert_tells_nobody(ffd, manager, now):
    episode = report_missing(actor=ffd, now=now, child=placed_child())
    services.episode_cancel(
        services.CancelData(reason="Duplicate"), actor=manager, episode_id=episode.pk, now=now
    )
    sweep(now)
    assert not CouncilAlert.objects.exists()
    assert mail.outbox == []


def test_an_unacknowledged_alert_is_sent_again_once(ffd, now, settings):
    settings.COUNCIL_ALERT_ESCALATE_AFTER_MINUTES = 60
    report_missing(actor=ffd, now=now, child=placed_child())
    sweep(now)
    assert sweep(now + timedelta(minutes=59)).reminded == 0
    assert sweep(now + timedelta(minutes=60)).reminded == 1
    assert sweep(now + timedelta(minutes=180)).reminded == 0
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject.startswith("Reminder: ")


def test_a_council_without_an_email_is_recorded_not_lost(ffd, now):
    Council.objects.filter(name="Kent").update(out_of_hours_email="")
    report_missing(actor=ffd, now=now, child=placed_child())
    sweep(now)
    assert CouncilAlert.objects.get().status == CouncilAlert.Status.NO_ADDRESS
    assert mail.outbox == []


def test_a_failed_send_is_retried_then_given_up(ffd, now, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    settings.EMAIL_USE_TLS = False
    report_missing(actor=ffd, now=now, child=placed_child())
    council_alerts.council_alert_sweep(now=now)
    alert = CouncilAlert.objects.get()
    outcome = council_alerts.council_alert_send(alert_id=alert.pk, now=now)
    alert.refresh_from_db()
    assert (outcome.result, alert.status, alert.attempts) == ("retry", "retry", 1)
    assert "ConnectionRefusedError" in alert.error_detail
    for _ in range(council_alerts.MAX_ATTEMPTS - 1):
        CouncilAlert.objects.filter(pk=alert.pk).update(next_attempt_at=None)
        council_alerts.council_alert_send(alert_id=alert.pk, now=now)
    alert.refresh_from_db()
    assert (alert.status, alert.attempts) == ("failed", council_alerts.MAX_ATTEMPTS)


def test_a_claimed_email_is_not_sent_twice(ffd, now):
    report_missing(actor=ffd, now=now, child=placed_child())
    council_alerts.council_alert_sweep(now=now)
    alert = CouncilAlert.objects.get()
    assert council_alerts.council_alert_send(alert_id=alert.pk, now=now).result == "sent"
    assert council_alerts.council_alert_send(alert_id=alert.pk, now=now).result == ("not claimable")
    assert len(mail.outbox) == 1


def test_the_sweep_runs_a_fixed_number_of_queries(ffd, now, django_assert_max_num_queries):
    for _ in range(6):
        report_missing(actor=ffd, now=now, child=placed_child())
    with django_assert_max_num_queries(12):
        result = council_alerts.council_alert_sweep(now=now)
    assert result.raised == 6


# --- the other council's page ---------------------------------------------------------------


def test_the_other_council_acknowledges_from_the_link(client, ffd, now):
    child = placed_child(first_name="Tallulah")
    episode = report_missing(actor=ffd, now=now, child=child)
    sweep(now)
    alert = CouncilAlert.objects.get()
    url = reverse(
        "notifications:council_alert", args=[alert.pk, council_alerts.portal_code(alert.pk)]
    )

    page = client.get(url)
    assert page.status_code == 200
    assert episode.reference in page.content.decode()
    assert "Tallulah" not in page.content.decode()

    assert client.post(url, {"name": "  "}).status_code == 400
    response = client.post(url, {"name": "Sam Duty, EDT Kent"})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == "Sam Duty, EDT Kent"
    assert EpisodeEvent.objects.filter(
        episode=episode, action="council_acknowledged", reason__contains="Kent acknowledged"
    ).exists()
    # A second acknowledgement changes nothing, and no reminder follows.
    client.post(url, {"name": "Someone else"})
    alert.refresh_from_db()
    assert alert.acknowledged_by == "Sam Duty, EDT Kent"
    assert sweep(now + timedelta(hours=5)).reminded == 0


def test_a_wrong_code_finds_nothing(client, ffd, now):
    report_missing(actor=ffd, now=now, child=placed_child())
    sweep(now)
    alert = CouncilAlert.objects.get()
    assert (
        client.get(reverse("notifications:council_alert", args=[alert.pk, "0" * 40])).status_code
        == 404
    )
    other = reverse(
        "notifications:council_alert", args=[alert.pk + 1, council_alerts.portal_code(alert.pk)]
    )
    assert client.get(other).status_code == 404


# --- who holds the interview ------------------------------------------------------------------


def test_the_manager_records_who_holds_the_interview(client, ffd, manager, now):
    episode = report_missing(actor=ffd, now=now, child=placed_child())
    login(client, manager)
    page = client.get(reverse("episode_detail", args=[episode.pk]))
    assert "Placed out of area: Kent" in page.content.decode()
    url = reverse("notifications:episode_interview_holder", args=[episode.pk])
    client.post(url, {"holder": "host", "version": episode.version})
    episode.refresh_from_db()
    assert episode.interview_holder == InterviewHolder.HOST
    # A stale page is refused, and nothing changes.
    client.post(url, {"holder": "responsible", "version": episode.version - 1})
    assert MissingEpisode.objects.get(pk=episode.pk).interview_holder == InterviewHolder.HOST


def test_only_an_out_of_area_episode_has_the_choice(ffd, manager, now):
    episode = report_missing(actor=ffd, now=now, child=ChildFactory())
    with pytest.raises(services.Conflict):
        services.episode_set_interview_holder(
            services.HolderData(holder="host"), actor=manager, episode_id=episode.pk, now=now
        )


def test_the_front_door_cannot_record_it(ffd, now):
    episode = report_missing(actor=ffd, now=now, child=placed_child())
    with pytest.raises(services.NotAllowed):
        services.episode_set_interview_holder(
            services.HolderData(holder="host"), actor=ffd, episode_id=episode.pk, now=now
        )
    assert episode.state == EpisodeState.MISSING


def test_retention_erases_the_alerts_with_the_episodes(ffd, manager, now):
    from missing.audit import retention

    episode = report_missing(actor=ffd, now=now, child=placed_child())
    sweep(now)
    services.episode_cancel(
        services.CancelData(reason="Duplicate"), actor=manager, episode_id=episode.pk, now=now
    )
    sweep(now)
    assert CouncilAlert.objects.filter(episode=episode).count() == 2
    assert retention.erase_child(child_id=episode.child_id, now=now, reason="test") is not None
    assert not CouncilAlert.objects.exists()
