"""The escalation ladder: what fires when, who is told, climbing when nobody acknowledges,
stopping when someone does, and catching up once after the sweep was down for hours."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections

from missing.cases import services as core
from missing.models import MissingEpisode, Role
from notifications import selectors
from notifications.models import (
    AdminAlert,
    Duty,
    Escalation,
    EscalationRule,
    EscalationStep,
    OnCallShift,
    SmsMessage,
)
from notifications.services import escalation_acknowledge, escalation_sweep
from tests.factories import FIXED_NOW, ChildFactory, OrganisationFactory, UserFactory
from tests.helpers import report_missing
from tests.notifications.conftest import deliver, texts_to

T0 = FIXED_NOW
H = timedelta(hours=1)
M = timedelta(minutes=1)


def returned_episode(*, ffd, manager, child=None, returned_at=T0 + H) -> MissingEpisode:
    """Reported an hour before `returned_at`, reviewed, then back: only interview clocks run."""
    start = returned_at - H
    episode = report_missing(actor=ffd, now=start, child=child)
    core.episode_record_decision(
        core.DecisionData(risk="medium", rationale="Known to police; searching."),
        actor=manager,
        episode_id=episode.pk,
        now=start + 30 * M,
    )
    core.episode_record_return(
        core.ReturnData(
            returned_at=returned_at,
            found_place="Friend's house",
            found_by="Police",
            prevention_interview_done=True,
        ),
        actor=ffd,
        episode_id=episode.pk,
        now=returned_at,
    )
    return MissingEpisode.objects.get(pk=episode.pk)


def test_the_default_ladder_is_seeded_as_data(db):
    rules = {r.code: r for r in EscalationRule.objects.prefetch_related("steps")}
    ladder = {
        code: sorted((s.level, s.recipient) for s in rule.steps.all())
        for code, rule in rules.items()
    }
    assert ladder == {
        "review-overdue": [(1, "duty_manager"), (2, "head_of_service")],
        "missing-24h": [(1, "head_of_service")],
        "missing-72h": [(1, "head_of_service")],
        "interview-not-arranged-24h": [(1, "team_manager"), (2, "head_of_service")],
        "interview-due-12h": [(1, "interviewer"), (1, "team_manager"), (2, "head_of_service")],
        "interview-overdue": [(1, "head_of_service"), (1, "team_manager")],
    }
    assert rules["missing-24h"].offset == 24 * H
    assert rules["interview-due-12h"].offset == -12 * H
    assert {r.ack_within for r in rules.values()} == {timedelta(minutes=30)}


def test_review_overdue_texts_whoever_the_rota_has_on_duty(ffd, rota, duty_manager, manager):
    episode = report_missing(actor=ffd, now=T0)  # medium: review due within 4 h
    assert escalation_sweep(now=T0 + 4 * H - M).raised == 0

    result = escalation_sweep(now=T0 + 4 * H + 5 * M)

    assert result.raised == 1
    assert result.texts == 1
    [sms] = texts_to(duty_manager)
    pk = episode.pk
    assert sms.body == (
        f"MISSING E-{pk}: manager review overdue by 5m. Reply ACK {pk}. "
        f"https://missing.example.gov.uk/e/{pk}"
    )
    assert sms.to == duty_manager.phone
    assert sms.status == SmsMessage.Status.PENDING
    assert texts_to(manager) == []  # on the rota is what counts, not being a manager

    # Another manager takes over the rota at 18:00: the next escalation goes to them.
    OnCallShift.objects.filter(pk=rota.pk).update(ends_at=T0 + 6 * H)
    night = UserFactory(username="night_manager", role=Role.MANAGER, phone="+447700900031")
    OnCallShift.objects.create(
        duty=Duty.DUTY_MANAGER, user=night, starts_at=T0 + 6 * H, ends_at=T0 + 18 * H
    )
    second = report_missing(actor=ffd, now=T0 + 3 * H)
    escalation_sweep(now=T0 + 7 * H + M)
    assert [s.escalation.episode_id for s in texts_to(night)] == [second.pk]


def test_unacknowledged_climbs_to_the_next_level_after_the_configured_time(
    ffd, rota, duty_manager, head_of_service
):
    episode = report_missing(actor=ffd, now=T0)
    due = T0 + 4 * H
    escalation_sweep(now=due)
    assert deliver(due) == ["sent"]

    escalation_sweep(now=due + 29 * M)
    assert texts_to(head_of_service) == []

    result = escalation_sweep(now=due + 30 * M)

    assert result.climbed == 1
    [sms] = texts_to(head_of_service)
    assert sms.level == 2
    assert sms.body.startswith(
        f"MISSING E-{episode.pk} ESCALATED: manager review overdue by 30m, not acknowledged."
    )
    escalation = Escalation.objects.get()
    assert escalation.level == 2
    assert escalation.next_level_at is None  # the top of this rule's ladder

    # A rule's timing is data: an administrator makes the next level wait 10 minutes.
    EscalationRule.objects.filter(code="review-overdue").update(ack_within=10 * M)
    second = report_missing(actor=ffd, now=T0 + H)
    escalation_sweep(now=T0 + 5 * H)
    escalation_sweep(now=T0 + 5 * H + 10 * M)
    assert [s.escalation.episode_id for s in texts_to(head_of_service)] == [episode.pk, second.pk]


def test_acknowledged_on_the_web_stops_the_ladder_and_unsent_texts(
    ffd, rota, duty_manager, head_of_service, manager
):
    report_missing(actor=ffd, now=T0)
    due = T0 + 4 * H
    escalation_sweep(now=due)
    escalation = Escalation.objects.get()

    escalation_acknowledge(actor=manager, escalation_id=escalation.pk, now=due + 5 * M)

    escalation.refresh_from_db()
    assert escalation.state == Escalation.State.ACKNOWLEDGED
    assert escalation.acknowledged_by == manager
    assert escalation.acknowledged_via == Escalation.Via.WEB
    assert escalation.next_level_at is None
    # Not yet sent when acknowledged: never sent.
    assert SmsMessage.objects.get().status == SmsMessage.Status.CANCELLED
    assert deliver(due + 6 * M) == []
    escalation_sweep(now=due + 2 * H)
    assert texts_to(head_of_service) == []


def test_cleared_alert_resolves_the_escalation(ffd, rota, duty_manager, head_of_service, manager):
    episode = report_missing(actor=ffd, now=T0)
    due = T0 + 4 * H
    escalation_sweep(now=due)
    core.episode_record_decision(
        core.DecisionData(risk="low", rationale="Seen by police; safe."),
        actor=manager,
        episode_id=episode.pk,
        now=due + 10 * M,
    )

    result = escalation_sweep(now=due + 11 * M)

    assert result.resolved == 1
    escalation = Escalation.objects.get()
    assert escalation.state == Escalation.State.RESOLVED
    assert SmsMessage.objects.get().status == SmsMessage.Status.CANCELLED
    escalation_sweep(now=due + H)
    assert texts_to(head_of_service) == []


def test_each_default_rule_tells_the_right_people(
    ffd, manager, rota, duty_manager, head_of_service, team_manager
):
    org = OrganisationFactory(name="Safe Steps Charity", kind="provider")
    interviewer = UserFactory(
        username="rhi", role=Role.INTERVIEWER, organisation=org, phone="+447700900041"
    )
    child = ChildFactory(allocated_team=team_manager.team)
    returned = T0 + H
    episode = returned_episode(ffd=ffd, manager=manager, child=child, returned_at=returned)
    core.access_grant(episode=episode, user=interviewer, now=returned)

    def told(at):
        escalation_sweep(now=at)
        texts = SmsMessage.objects.filter(created_at=at).select_related("recipient")
        return sorted((t.recipient.username, t.escalation.rule.code) for t in texts)

    assert told(returned + 24 * H - M) == []
    assert told(returned + 24 * H) == [("team_manager", "interview-not-arranged-24h")]
    assert told(returned + 60 * H) == [
        ("hos", "interview-not-arranged-24h"),  # level 2: unacknowledged since
        ("rhi", "interview-due-12h"),
        ("team_manager", "interview-due-12h"),
    ]
    assert told(returned + 72 * H) == [
        ("hos", "interview-overdue"),
        ("team_manager", "interview-overdue"),
    ]
    # Once overdue, "due within 12 h" no longer stands.
    due_soon = Escalation.objects.get(rule__code="interview-due-12h")
    assert due_soon.state == Escalation.State.RESOLVED


def test_still_missing_at_24_and_72_hours_tells_the_head_of_service(ffd, head_of_service):
    episode = report_missing(actor=ffd, now=T0, last_seen_at=T0 - 2 * H)
    told = []
    for at in (T0 + 22 * H - M, T0 + 22 * H, T0 + 70 * H):
        escalation_sweep(now=at)
        told.append(
            [
                t.escalation.rule.code
                for t in SmsMessage.objects.filter(
                    created_at=at, escalation__rule__trigger="still_missing"
                )
            ]
        )
    assert told == [[], ["missing-24h"], ["missing-72h"]]
    assert {t.recipient for t in SmsMessage.objects.filter(escalation__episode=episode)} == {
        head_of_service
    }


def test_team_manager_falls_back_to_the_duty_manager(ffd, manager, rota, duty_manager):
    episode = returned_episode(ffd=ffd, manager=manager, child=ChildFactory(allocated_team=None))
    escalation_sweep(now=episode.returned_at + 24 * H)
    [sms] = texts_to(duty_manager)
    assert sms.escalation.rule.code == "interview-not-arranged-24h"


def test_gap_in_the_rota_alerts_an_administrator_and_tells_the_next_level(ffd, head_of_service):
    episode = report_missing(actor=ffd, now=T0)  # nobody on the duty-manager rota
    escalation_sweep(now=T0 + 4 * H)

    [sms] = SmsMessage.objects.all()
    assert (sms.recipient, sms.level) == (head_of_service, 2)
    alert = AdminAlert.objects.get()
    assert alert.kind == AdminAlert.Kind.NO_RECIPIENT
    assert f"E-{episode.pk}" in alert.message
    assert "rota" in alert.message
    # Seen again next minute: still one open alert.
    escalation_sweep(now=T0 + 4 * H + M)
    assert AdminAlert.objects.count() == 1


def test_a_manager_without_a_phone_is_an_administrator_alert(ffd, head_of_service):
    nophone = UserFactory(username="nophone", role=Role.MANAGER, phone="")
    OnCallShift.objects.create(
        duty=Duty.DUTY_MANAGER, user=nophone, starts_at=T0, ends_at=T0 + 12 * H
    )
    report_missing(actor=ffd, now=T0)
    escalation_sweep(now=T0 + 4 * H)
    assert AdminAlert.objects.get(kind=AdminAlert.Kind.NO_PHONE).message.startswith("nophone")
    assert [s.recipient for s in SmsMessage.objects.all()] == [head_of_service]


def test_sweep_after_six_hours_down_sends_each_overdue_escalation_once(
    ffd, manager, rota, duty_manager, head_of_service, team_manager
):
    """Beat stopped at T0 - 6 h and restarts at T0: everything that fell due meanwhile is raised
    once, and an escalation left unacknowledged climbs one level, not twelve."""
    down_at = T0 - 6 * H
    before = report_missing(actor=ffd, now=down_at - 4 * H - 10 * M)  # review due before outage
    child = ChildFactory(allocated_team=team_manager.team)
    interview = returned_episode(ffd=ffd, manager=manager, child=child, returned_at=T0 - 75 * H)
    escalation_sweep(now=down_at - 10 * M)  # the last sweep before the outage
    assert [s.escalation.episode_id for s in texts_to(duty_manager)] == [before.pk]
    assert sorted(s.escalation.rule.code for s in texts_to(team_manager)) == [
        "interview-due-12h",
        "interview-not-arranged-24h",
    ]

    # Fell due during the outage: reviews of three notifications, and the interview (T0 - 3 h).
    during = [report_missing(actor=ffd, now=down_at + n * H - 4 * H) for n in (1, 2, 3)]

    result = escalation_sweep(now=T0)

    by_episode = {}
    for sms in SmsMessage.objects.filter(created_at=T0).select_related("escalation__rule"):
        key = (sms.escalation.episode_id, sms.escalation.rule.code, sms.recipient.username)
        by_episode[key] = by_episode.get(key, 0) + 1
    expected = {(e.pk, "review-overdue", "duty_manager"): 1 for e in during}
    expected[(before.pk, "review-overdue", "hos")] = 1  # climbed one level
    expected[(interview.pk, "interview-overdue", "team_manager")] = 1
    expected[(interview.pk, "interview-overdue", "hos")] = 1
    expected[(interview.pk, "interview-not-arranged-24h", "hos")] = 1  # climbed
    assert by_episode == expected
    assert result.texts == len(expected)

    # The next sweeps find nothing new; the first deliver sends each text once.
    assert escalation_sweep(now=T0).texts == 0
    assert escalation_sweep(now=T0 + M).texts == 0
    assert set(deliver(T0 + M)) == {"sent"}
    assert deliver(T0 + 2 * M) == []


def test_newly_due_reads_only_open_episodes_past_their_deadline(
    ffd, manager, django_assert_num_queries
):
    report_missing(actor=ffd, now=T0)
    returned_episode(ffd=ffd, manager=manager)
    rule = EscalationRule.objects.get(code="review-overdue")
    # One query per rule: open episodes, on the indexed deadline, without an escalation yet.
    with django_assert_num_queries(1):
        due = selectors.newly_due(rule, now=T0 + 4 * H, limit=100)
    assert len(due) == 1


def test_an_inactive_rule_raises_nothing(ffd, rota, duty_manager):
    EscalationRule.objects.filter(code="review-overdue").update(active=False)
    report_missing(actor=ffd, now=T0)
    assert escalation_sweep(now=T0 + 5 * H).raised == 0


def test_a_rule_with_an_extra_level_climbs_to_it(ffd, rota, duty_manager, head_of_service):
    rule = EscalationRule.objects.get(code="missing-24h")
    EscalationStep.objects.create(rule=rule, level=2, recipient="duty_manager")
    report_missing(actor=ffd, now=T0, last_seen_at=T0 - H)
    escalation_sweep(now=T0 + 23 * H)
    escalation_sweep(now=T0 + 23 * H + 30 * M)
    [sms] = SmsMessage.objects.filter(escalation__rule=rule, level=2)
    assert sms.recipient == duty_manager


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL row locks (SQLite serialises)"
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_at_once_raise_and_text_each_escalation_once(
    ffd, rota, duty_manager, head_of_service, queue
):
    for n in range(6):
        report_missing(actor=ffd, now=T0 + n * M)
    barrier = threading.Barrier(3)
    errors = []

    def sweep() -> None:
        try:
            barrier.wait()
            escalation_sweep(now=T0 + 5 * H)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Escalation.objects.count() == 6
    assert SmsMessage.objects.count() == 6
    assert {s.recipient_id for s in SmsMessage.objects.all()} == {duty_manager.pk}
