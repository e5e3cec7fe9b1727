"""The sweep runs every minute: its statements are fixed, whatever the number of rules, levels
and due items (issue 15). Cost then follows the open caseload, never the ladder's size."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications import selectors, services
from notifications.models import (
    AdminAlert,
    Escalation,
    EscalationRule,
    EscalationStep,
    SmsMessage,
    Trigger,
)
from notifications.services import escalation_sweep
from tests.factories import FIXED_NOW, ChildFactory
from tests.helpers import report_missing
from tests.notifications.test_ladder import returned_episode

T0 = FIXED_NOW
H = timedelta(hours=1)
M = timedelta(minutes=1)

PG = connection.vendor == "postgresql"
# The rules with their steps 1. On PostgreSQL one statement then resolves what cleared, cancels
# the unsent texts of stopped escalations, raises what is newly due and says whether a climb or
# a lost text is due (1); the climb's claim 1, its recipients 1, and its levels, texts and
# alerts 1. Elsewhere the resolve and the cancel 2, the raise 1, the claim 1, the recipients 1,
# the texts 1 and the levels 1, and the lost texts are always looked for 1. Plus the savepoints
# of the transactions (the test runs inside one): the climb's on PostgreSQL; the resolve's, the
# climb's and the redispatch's elsewhere.
BUSY = 5 if PG else 9
IDLE = 2 if PG else 6  # PostgreSQL: nothing to climb or redispatch, so neither is looked for
SAVEPOINTS = 2 if PG else 6


def _work_queries(captured: CaptureQueriesContext) -> int:
    return sum(
        1
        for q in captured.captured_queries
        if q["sql"].split(" ", 1)[0].upper() not in {"SAVEPOINT", "RELEASE"}
    )


def _sweep_counting(at) -> tuple[int, int, object]:
    with CaptureQueriesContext(connection) as captured:
        result = escalation_sweep(now=at)
    return _work_queries(captured), len(captured.captured_queries), result


def test_one_due_item_on_the_seeded_ladder(ffd, rota, duty_manager, head_of_service):
    report_missing(actor=ffd, now=T0)
    work, total, result = _sweep_counting(T0 + 4 * H)
    assert (result.raised, result.texts) == (1, 1)
    assert work == BUSY
    assert total == BUSY + SAVEPOINTS


def test_many_items_many_rules_many_levels_take_the_same_statements(
    ffd, manager, rota, duty_manager, head_of_service, team_manager, interviewer
):
    # Ten more active rules, each with four levels of mixed recipients.
    for n in range(10):
        rule = EscalationRule.objects.create(
            code=f"extra-{n}",
            name=f"Extra {n}",
            trigger=[Trigger.REVIEW_OVERDUE, Trigger.STILL_MISSING, Trigger.INTERVIEW_OVERDUE][
                n % 3
            ],
            offset=timedelta(minutes=n),
        )
        for level, recipient in enumerate(
            ["duty_manager", "team_manager", "interviewer", "head_of_service"], start=1
        ):
            EscalationStep.objects.create(rule=rule, level=level, recipient=recipient)
    for n in range(12):
        report_missing(actor=ffd, now=T0 - 78 * H + n * M, last_seen_at=T0 - 80 * H)
    child = ChildFactory(allocated_team=team_manager.team)
    returned_episode(ffd=ffd, manager=manager, child=child, returned_at=T0 - 75 * H)

    work, total, result = _sweep_counting(T0)

    assert result.raised > 100
    assert result.texts > 100
    assert work == BUSY
    assert total == BUSY + SAVEPOINTS
    assert SmsMessage.objects.count() == result.texts

    # The worker delivered them. Half an hour later every escalation climbs: the same
    # statements again.
    SmsMessage.objects.update(status=SmsMessage.Status.DELIVERED, redispatch_at=None)
    work, _, result = _sweep_counting(T0 + 30 * M)
    assert result.raised == 0
    assert result.climbed > 50
    assert work == BUSY

    # A minute later nothing is due: the sweep only reads.
    work, total, result = _sweep_counting(T0 + 31 * M)
    assert (result.raised, result.climbed, result.texts) == (0, 0, 0)
    assert work == IDLE
    assert total == IDLE + (0 if PG else SAVEPOINTS)
    assert Escalation.objects.filter(level__gte=2).count() > 50


def test_a_text_due_for_redispatch_is_looked_for_and_handed_over(
    ffd, rota, duty_manager, head_of_service
):
    report_missing(actor=ffd, now=T0)
    escalation_sweep(now=T0 + 4 * H)
    # The task was lost: the text is still pending past its redispatch time.
    work, _, result = _sweep_counting(T0 + 4 * H + 20 * M)
    assert (result.raised, result.climbed, result.redispatched) == (0, 0, 1)
    # The lost text's SELECT and UPDATE; on PostgreSQL only because the statement said it is due.
    assert work == IDLE + (2 if PG else 1)


def test_a_rule_with_no_steps_still_raises_and_alerts(ffd, rota, duty_manager, head_of_service):
    EscalationRule.objects.filter(code="review-overdue").update(active=False)
    rule = EscalationRule.objects.create(
        code="bare", name="Bare", trigger=Trigger.REVIEW_OVERDUE, offset=timedelta(0)
    )
    report_missing(actor=ffd, now=T0)
    work, _, result = _sweep_counting(T0 + 4 * H)
    assert (result.raised, result.texts) == (1, 0)
    assert Escalation.objects.get().rule == rule
    assert AdminAlert.objects.get().key == f"no-steps:{rule.pk}"
    assert work == BUSY  # no texts: the writes are the levels and the alert


@pytest.mark.skipif(not PG, reason="the one-statement path is PostgreSQL's")
def test_the_statement_kept_per_ladder_is_the_one_compiled_afresh(db):
    """The sweep compiles its first statement once per ladder and moves its datetime parameters
    to each sweep's `now`: it must equal the statement compiled at that `now`."""

    def both(at):
        rules = [rule for rule, _ in selectors.rules_with_steps()]
        return (
            services._resolve_and_raise_cached(rules, now=at),
            services._resolve_and_raise_sql(rules, now=at),
        )

    cached, fresh = both(T0 + 37 * M)
    assert cached == fresh
    assert any(p == T0 + 37 * M for p in cached[1])  # `now` is a parameter, moved
    # An administrator's edit is another statement, not the one kept.
    EscalationRule.objects.filter(code="missing-24h").update(offset=timedelta(hours=12))
    cached, fresh = both(T0 + 2 * H)
    assert cached == fresh
    assert any(p == T0 - 10 * H for p in cached[1])  # the new threshold
