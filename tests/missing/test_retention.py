"""Retention: apply_retention's dry run and real run, across apps, with its access row."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from interviews.models import ContactAttempt, InterviewEpisode, ReturnInterview
from missing.audit.retention import birthday
from missing.models import (
    AccessLog,
    CaseAccessGrant,
    Child,
    EpisodeEvent,
    EpisodeState,
    LegalStatusPeriod,
    MissingEpisode,
    OversightDecision,
    PoliceNotification,
    RetentionPolicy,
)
from notifications.models import Escalation, SmsMessage
from notifications.services import escalation_sweep
from tests.factories import ChildFactory
from tests.helpers import report_missing
from tests.interviews.helpers import assign, open_interview, returned_episode

# Episodes happened in 2026; the command runs years later, when the children are grown up.
THEN = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
LATER = datetime(2040, 6, 10, 3, 0, tzinfo=UTC)


def run(*args: str) -> str:
    out = StringIO()
    call_command("apply_retention", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def children(ffd, manager, interviewer):
    """Four children, all with a closed or returned history from 2026:
    - `adult`: never looked after, 25 on 1 March 2040 → erased (local policy: 25);
    - `care_leaver`: same age but looked after then → kept until 75;
    - `young`: 24 in June 2040 → kept;
    - `missing_again`: 25 already, but missing again in an open episode → kept."""
    with time_machine.travel(THEN, tick=False):
        adult = ChildFactory(first_name="Ada", last_name="Grownup", date_of_birth=date(2015, 3, 1))
        care_leaver = ChildFactory(date_of_birth=date(2015, 3, 1), looked_after=True)
        young = ChildFactory(date_of_birth=date(2016, 3, 1))
        missing_again = ChildFactory(date_of_birth=date(2015, 1, 1))
        episode = returned_episode(
            ffd=ffd, manager=manager, child=adult, returned_at=THEN - timedelta(hours=1)
        )
        interview = open_interview(manager=manager, episodes=[episode], now=THEN)
        assign(interview, manager=manager, interviewer=interviewer, now=THEN)
        # The interview is overdue a week later: escalations and texts about the episode.
        escalation_sweep(now=THEN + timedelta(days=7))
        for child in (care_leaver, young, missing_again):
            returned_episode(
                ffd=ffd, manager=manager, child=child, returned_at=THEN - timedelta(hours=1)
            )
    # All long closed by then (closing through interviews is tested in their own modules;
    # here only "closed" matters).
    MissingEpisode.objects.update(state=EpisodeState.CLOSED)
    # Years later the last one goes missing again; that episode is still open.
    report_missing(actor=ffd, now=LATER - timedelta(hours=1), child=missing_again)
    # Left care: the class stays looked after.
    LegalStatusPeriod.objects.filter(child=care_leaver).update(end_date=date(2033, 3, 1))
    return {
        "adult": adult,
        "care_leaver": care_leaver,
        "young": young,
        "missing_again": missing_again,
        "episode": episode,
        "interview": interview,
    }


def test_the_dry_run_lists_references_and_reasons_and_changes_nothing(children):
    counts = (Child.objects.count(), MissingEpisode.objects.count(), AccessLog.objects.count())

    out = run("--dry-run", "--now", LATER.isoformat())

    adult = children["adult"]
    assert out.splitlines() == [
        f"would erase C-{adult.pk}: never looked after: past the 25th birthday (local policy)",
        "1 children would be erased.",
    ]
    assert "Grownup" not in out
    assert (
        Child.objects.count(),
        MissingEpisode.objects.count(),
        AccessLog.objects.count(),
    ) == counts


def test_the_real_run_erases_the_child_everywhere_and_logs_it(children):
    adult, episode, interview = children["adult"], children["episode"], children["interview"]
    assert Escalation.objects.filter(episode=episode).exists()

    with time_machine.travel(LATER, tick=False):
        out = run()

    assert f"erased C-{adult.pk}" in out
    assert "1 children erased." in out
    assert not Child.objects.filter(pk=adult.pk).exists()
    assert not MissingEpisode.objects.filter(pk=episode.pk).exists()
    assert not OversightDecision.objects.filter(episode_id=episode.pk).exists()
    assert not EpisodeEvent.objects.filter(episode_id=episode.pk).exists()
    assert not CaseAccessGrant.objects.filter(episode_id=episode.pk).exists()
    assert not PoliceNotification.objects.filter(episode_id=episode.pk).exists()
    assert not ReturnInterview.objects.filter(pk=interview.pk).exists()
    assert not InterviewEpisode.objects.filter(episode_id=episode.pk).exists()
    assert not ContactAttempt.objects.filter(interview_id=interview.pk).exists()
    assert not Escalation.objects.filter(episode_id=episode.pk).exists()
    assert not SmsMessage.objects.filter(escalation__episode_id=episode.pk).exists()
    # The others are all still there.
    for key in ("care_leaver", "young", "missing_again"):
        assert Child.objects.filter(pk=children[key].pk).exists(), key

    row = AccessLog.objects.get(action="erase")
    assert (row.child_id, row.reference, row.route, row.user_id, row.at) == (
        adult.pk,
        f"C-{adult.pk}",
        "apply_retention",
        None,
        LATER,
    )
    counts = row.detail["counts"]
    assert counts["children"] == 1
    assert counts["episodes"] == 1
    assert counts["return interviews"] == 1
    assert counts["oversight decisions"] == 1
    assert counts["escalations"] >= 1
    assert row.rows == sum(counts.values())
    assert "Grownup" not in str(row.detail)
    # A second run finds nothing more to do.
    with time_machine.travel(LATER, tick=False):
        assert run().strip().endswith("0 children erased.")


def test_looked_after_children_are_kept_until_their_75th_birthday(children):
    care_leaver = children["care_leaver"]
    day_before = datetime(2090, 2, 28, 12, 0, tzinfo=UTC)
    on_the_day = datetime(2090, 3, 1, 12, 0, tzinfo=UTC)

    assert f"C-{care_leaver.pk}" not in run("--dry-run", "--now", day_before.isoformat())
    out = run("--dry-run", "--now", on_the_day.isoformat())
    assert f"would erase C-{care_leaver.pk}: looked after at some time: past the 75th" in out


def test_the_local_period_is_data(children):
    RetentionPolicy.objects.create(other_until_age=30)
    out = run("--dry-run", "--now", LATER.isoformat())
    assert out.splitlines() == ["0 children would be erased."]


def test_the_episode_opening_marks_a_looked_after_child_for_good(ffd, now):
    child = ChildFactory(looked_after=True)
    report_missing(actor=ffd, now=now, child=child)
    child.refresh_from_db()
    assert child.ever_looked_after is True


@pytest.mark.parametrize(
    ("dob", "age", "expected"),
    [
        (date(2015, 3, 1), 25, date(2040, 3, 1)),
        (date(2012, 2, 29), 25, date(2037, 3, 1)),  # no 29 February in 2037
        (date(2012, 2, 29), 28, date(2040, 2, 29)),
    ],
)
def test_birthdays(dob, age, expected):
    assert birthday(dob, age) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--now", "2040-06-10"), "time zone"),
        (("--now", "not a date"), "ISO 8601"),
        (("--limit", "0"), "at least 1"),
    ],
)
def test_bad_options_are_a_clear_command_error(db, args, message):
    with pytest.raises(CommandError, match=message):
        run("--dry-run", *args)


def test_children_without_a_date_of_birth_are_reported_not_erased(db):
    ChildFactory(date_of_birth=None, created_at=LATER)
    out = run("--dry-run", "--now", LATER.isoformat())
    assert "1 children have no date of birth" in out
