"""Two councils on one installation (decision 0067): the escalation ladder texts only the staff of
the episode's council, with the sweep's statements unchanged; and each council's national returns
hold only the children it is responsible for. A single-council installation is unchanged."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from missing.models import Child, Council, MissingEpisode, Role, User
from notifications.models import AdminAlert, Duty, OnCallShift, SmsMessage
from notifications.services import escalation_sweep
from tests.factories import FIXED_NOW, ChildFactory, TeamFactory, UserFactory
from tests.helpers import login, report_missing
from tests.notifications.test_sweep_queries import BUSY, SAVEPOINTS, _sweep_counting
from tests.returns_data import episode, utc

A_CODE, B_CODE = "E06000035", "E10000016"  # Medway, Kent
T0 = FIXED_NOW
H = timedelta(hours=1)


def council(code: str) -> Council:
    return Council.objects.get(ons_code=code)


def _staff(prefix: str, council_obj: Council | None, phone_tail: int) -> dict[str, User]:
    """A front door worker, a duty manager on call around T0 and a head of service."""
    ffd = UserFactory(
        username=f"{prefix}-ffd",
        role=Role.FFD,
        council=council_obj,
        team=TeamFactory(name=f"{prefix} front door"),
    )
    duty = UserFactory(
        username=f"{prefix}-duty",
        role=Role.MANAGER,
        council=council_obj,
        phone=f"+4477009001{phone_tail:02d}",
        team=TeamFactory(name=f"{prefix} out of hours"),
    )
    head = UserFactory(
        username=f"{prefix}-hos",
        role=Role.HEAD_OF_SERVICE,
        council=council_obj,
        phone=f"+4477009002{phone_tail:02d}",
    )
    OnCallShift.objects.create(
        duty=Duty.DUTY_MANAGER, user=duty, starts_at=T0 - 30 * 24 * H, ends_at=T0 + 30 * 24 * H
    )
    return {"ffd": ffd, "duty": duty, "head": head}


@pytest.fixture
def two_councils(db, settings) -> dict[str, Any]:
    settings.COUNCIL_ONS_CODES = [A_CODE, B_CODE]
    a, b = council(A_CODE), council(B_CODE)
    return {"a": a, "b": b, "A": _staff("a", a, 1), "B": _staff("b", b, 2)}


def _report(staff: dict[str, User], council_obj: Council | None, **child: Any) -> MissingEpisode:
    who = ChildFactory(council=council_obj, **child)
    episode_row = report_missing(actor=staff["ffd"], now=T0, child=who)
    assert episode_row.council_id == (council_obj.pk if council_obj else None)
    return episode_row


def _told(episode_row: MissingEpisode) -> set[str]:
    return set(
        SmsMessage.objects.filter(escalation__episode=episode_row).values_list(
            "recipient__username", flat=True
        )
    )


# --------------------------------------------------------------------------------------------
# The ladder
# --------------------------------------------------------------------------------------------


def test_each_councils_overdue_review_texts_its_own_duty_manager_only(two_councils):
    a_episode = _report(two_councils["A"], two_councils["a"])
    b_episode = _report(two_councils["B"], two_councils["b"])
    result = escalation_sweep(now=T0 + 4 * H)  # medium: the review was due within 4 h
    assert (result.raised, result.texts) == (2, 2)
    assert _told(a_episode) == {"a-duty"}
    assert _told(b_episode) == {"b-duty"}
    assert not AdminAlert.objects.filter(kind=AdminAlert.Kind.NO_RECIPIENT).exists()


def test_the_head_of_service_told_is_the_episodes_councils(two_councils):
    """Missing 24 hours: the head of service, nobody on that rota, so the council's heads."""
    a_episode = _report(two_councils["A"], two_councils["a"])
    escalation_sweep(now=T0 + 30 * H)
    assert "a-hos" in _told(a_episode)
    assert "b-hos" not in _told(a_episode)
    assert "b-duty" not in _told(a_episode)


def test_a_shared_out_of_area_episode_climbs_its_owning_councils_ladder(two_councils):
    """Kent's child placed in Medway: Kent's case, Kent's rota, though Medway sees it too."""
    shared = _report(
        two_councils["B"], two_councils["b"], responsible_council="Kent", host_council="Medway"
    )
    assert shared.out_of_area_council_id == two_councils["a"].pk
    escalation_sweep(now=T0 + 4 * H)
    assert _told(shared) == {"b-duty"}


def test_a_council_with_nobody_on_duty_gets_the_admin_alert_naming_its_code(two_councils):
    OnCallShift.objects.filter(user=two_councils["B"]["duty"]).delete()
    a_episode = _report(two_councils["A"], two_councils["a"])
    b_episode = _report(two_councils["B"], two_councils["b"], first_name="Zebedina")
    escalation_sweep(now=T0 + 4 * H)
    assert _told(a_episode) == {"a-duty"}
    # A's duty manager is not borrowed for B's child.
    assert "a-duty" not in _told(b_episode)
    alert = AdminAlert.objects.get(kind=AdminAlert.Kind.NO_RECIPIENT, escalation__episode=b_episode)
    assert f"of council {B_CODE}" in alert.message
    assert b_episode.reference in alert.message
    assert "Zebedina" not in alert.message
    assert b_episode.child.last_name not in alert.message


def test_the_sweep_takes_the_same_statements_with_one_council_or_two(two_councils):
    _report(two_councils["A"], two_councils["a"])
    work, total, result = _sweep_counting(T0 + 4 * H)
    assert result.texts == 1
    assert (work, total) == (BUSY, BUSY + SAVEPOINTS)

    for _ in range(3):
        _report(two_councils["A"], two_councils["a"])
        _report(two_councils["B"], two_councils["b"])
    work, total, result = _sweep_counting(T0 + 4 * H + timedelta(minutes=1))
    assert result.texts == 6
    assert {sms.recipient.username for sms in SmsMessage.objects.select_related("recipient")} == {
        "a-duty",
        "b-duty",
    }
    assert (work, total) == (BUSY, BUSY + SAVEPOINTS)


def test_a_single_council_installation_is_unchanged(db, settings):
    """One council configured: the rota is the installation's, whatever council a user or an
    episode names, and the alert's words are as before."""
    settings.COUNCIL_ONS_CODES = [A_CODE]
    b = council(B_CODE)
    staff = _staff("only", None, 3)
    staff_other = _staff("other", b, 4)  # a stray council on a user changes nothing
    episode_row = _report(staff, None)
    work, total, _ = _sweep_counting(T0 + 4 * H)
    assert _told(episode_row) == {"only-duty", "other-duty"}
    assert (work, total) == (BUSY, BUSY + SAVEPOINTS)

    OnCallShift.objects.all().delete()
    second = _report(staff_other, None)
    escalation_sweep(now=T0 + 5 * H)
    alert = AdminAlert.objects.get(kind=AdminAlert.Kind.NO_RECIPIENT, escalation__episode=second)
    assert "of council" not in alert.message
    assert alert.message.endswith("Check the on-call rota.")


# --------------------------------------------------------------------------------------------
# The national returns
# --------------------------------------------------------------------------------------------


@pytest.fixture
def caseloads(two_councils) -> dict[str, Any]:
    """A's child, B's child, and B's child placed in A's area but logged by A's front door (A's
    case, B's figures: B is responsible). All looked after, missing in collection year 2025."""
    a, b = two_councils["a"], two_councils["b"]
    made: dict[str, Child] = {
        "A1": ChildFactory(
            council=a, council_child_id="A1", date_of_birth=date(2010, 1, 1), looked_after=True
        ),
        "B1": ChildFactory(
            council=b, council_child_id="B1", date_of_birth=date(2010, 1, 1), looked_after=True
        ),
        "B2": ChildFactory(
            council=a,
            council_child_id="B2",
            date_of_birth=date(2010, 1, 1),
            looked_after=True,
            responsible_council="Kent",
            host_council="Medway",
        ),
    }
    for ref, who in made.items():
        actor = two_councils["A" if who.council_id == a.pk else "B"]["ffd"]
        opened = episode(
            who, actor=actor, last_seen_at=utc(2025, 6, 1, 10), returned_at=utc(2025, 6, 2, 10)
        )
        assert opened.looked_after, ref
    placed = MissingEpisode.objects.get(child=made["B2"])
    assert (placed.council_id, placed.figures_council_id) == (a.pk, b.pk)
    managers = {
        key: UserFactory(username=f"{key}-ret", role=Role.MANAGER, council=two_councils[key])
        for key in ("a", "b")
    }
    return {**two_councils, "managers": managers}


def _download(client: Any, route: str, params: dict[str, str]) -> tuple[int, list[list[str]]]:
    with time_machine.travel(FIXED_NOW, tick=False):
        response = client.get(reverse(route), params)
        if not getattr(response, "streaming", False):
            return response.status_code, []
        body = b"".join(response.streaming_content).decode()
    return response.status_code, list(csv.reader(body.splitlines()))


RETURNS = [
    ("interviews:returns_ssda903", {"year": "2025"}),
    ("interviews:returns_annex_a", {"as_of": "2026-03-31"}),
]


@pytest.mark.parametrize(("route", "params"), RETURNS)
def test_each_councils_return_holds_its_own_children_only(route, params, caseloads, client):
    expected = {"a": {"A1"}, "b": {"B1", "B2"}}
    for key, manager in caseloads["managers"].items():
        client.logout()
        login(client, manager)
        # A council named in the request is ignored: the return is the signed-in user's.
        other = B_CODE if key == "a" else A_CODE
        status, rows = _download(client, route, {**params, "council": other})
        assert status == 200
        assert {row[0] for row in rows[1:]} == expected[key], key


@pytest.mark.parametrize(("route", "params"), RETURNS)
def test_a_manager_with_no_council_on_a_regional_installation_gets_no_return(
    route, params, caseloads, client
):
    login(client, UserFactory(username="nocouncil", role=Role.MANAGER, council=None))
    status, rows = _download(client, route, params)
    assert status == 403
    assert rows == []


@pytest.mark.parametrize(("route", "params"), RETURNS)
def test_a_single_council_installation_returns_every_child(
    route, params, caseloads, client, settings
):
    settings.COUNCIL_ONS_CODES = [A_CODE]
    login(client, caseloads["managers"]["a"])
    status, rows = _download(client, route, params)
    assert status == 200
    assert {row[0] for row in rows[1:]} == {"A1", "B1", "B2"}


def _command(name: str, *args: str) -> list[list[str]]:
    out = io.StringIO()
    with time_machine.travel(FIXED_NOW, tick=False):
        call_command(name, *args, "--out", "-", stdout=out)
    return list(csv.reader(out.getvalue().splitlines()))


COMMANDS = [
    ("export_ssda903_missing", "--year", "2025"),
    ("export_annex_a_missing", "--as-of", "2026-03-31"),
]


@pytest.mark.parametrize("command", COMMANDS)
def test_the_commands_write_the_named_councils_return(command, caseloads):
    assert {row[0] for row in _command(*command, "--council", A_CODE)[1:]} == {"A1"}
    assert {row[0] for row in _command(*command, "--council", B_CODE.lower())[1:]} == {
        "B1",
        "B2",
    }
    with pytest.raises(CommandError, match="--council: A regional installation"):
        _command(*command)
    with pytest.raises(CommandError, match="not one of this installation's"):
        _command(*command, "--council", "E09000001")


@pytest.mark.parametrize("command", COMMANDS)
def test_the_commands_on_a_single_council_installation_need_no_council(
    command, caseloads, settings
):
    settings.COUNCIL_ONS_CODES = [A_CODE]
    assert {row[0] for row in _command(*command)[1:]} == {"A1", "B1", "B2"}
    assert {row[0] for row in _command(*command, "--council", A_CODE)[1:]} == {"A1", "B1", "B2"}
    with pytest.raises(CommandError, match="does not serve"):
        _command(*command, "--council", B_CODE)
