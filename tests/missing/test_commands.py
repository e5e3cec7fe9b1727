"""The provisioning and demo commands: each success, and each refusal leaving nothing written."""

from __future__ import annotations

import hashlib
import io
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from missing.management.commands.load_demo_data import DEMO_PASSWORD, DEMO_STAFF
from missing.models import (
    ApiToken,
    EpisodeState,
    MissingEpisode,
    Organisation,
    PoliceNotification,
    Role,
    Team,
    User,
)

pytestmark = pytest.mark.django_db


def run(*args: str, stdin: str | None = None, monkeypatch=None) -> str:
    out = io.StringIO()
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def token_in(output: str) -> ApiToken:
    raw = next(line for line in output.splitlines() if line.startswith("mcr_"))
    return ApiToken.objects.get(key_hash=hashlib.sha256(raw.encode()).hexdigest())


def nothing_written(organisations: int = 0, teams: int = 0) -> bool:
    return (
        not User.objects.exists()
        and not ApiToken.objects.exists()
        and Organisation.objects.count() == organisations
        and Team.objects.count() == teams
    )


# --- create_staff ---------------------------------------------------------------------------


def test_create_staff_without_password_has_unusable_one_and_says_how_to_set_it():
    output = run("create_staff", "jo.bloggs", "--role", "manager", "--phone", "+447700900123")

    user = User.objects.get(username="jo.bloggs")
    assert user.role == Role.MANAGER
    assert user.phone == "+447700900123"
    assert not user.has_usable_password()
    assert "manage.py changepassword jo.bloggs" in output
    assert not ApiToken.objects.exists()


def test_create_staff_reads_the_password_from_stdin(monkeypatch):
    output = run(
        "create_staff",
        "sam.ffd",
        "--role",
        "ffd",
        "--password-stdin",
        stdin="a long pass phrase for sam\n",
        monkeypatch=monkeypatch,
    )

    user = User.objects.get(username="sam.ffd")
    assert user.check_password("a long pass phrase for sam")
    assert "changepassword" not in output


def test_create_staff_interviewer_joins_a_provider_organisation():
    run("create_staff", "ivy", "--role", "interviewer", "--org", "Safe Steps")

    user = User.objects.get(username="ivy")
    assert user.organisation.name == "Safe Steps"
    assert user.organisation.kind == Organisation.Kind.PROVIDER


def test_create_staff_team_without_org_belongs_to_the_council(settings):
    run("create_staff", "tm", "--role", "manager", "--team", "Family Front Door")

    user = User.objects.get(username="tm")
    assert user.team.name == "Family Front Door"
    assert user.team.organisation.name == settings.COUNCIL_NAME


def test_create_staff_with_token_prints_a_full_scope_token_once():
    output = run("create_staff", "hos1", "--role", "head_of_service", "--token")

    token = token_in(output)
    assert token.user.username == "hos1"
    assert token.scope == ApiToken.Scope.FULL
    # Only the hash is stored: the printed token appears nowhere in the row.
    raw = next(line for line in output.splitlines() if line.startswith("mcr_"))
    assert raw not in (token.key_hash, token.prefix)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--role", "wizard"], "Unknown role 'wizard'"),
        (["x", "--role", "police_system"], "create_api_client"),
        (["x", "--role", "interviewer"], "organisation"),
        (["x", "--role", "interviewer", "--team", "T", "--token"], "organisation"),
        (["x", "--role", "ffd", "--phone", "07700 900123", "--org", "New Org"], "phone"),
        (["x", "--role", "ffd", "--phone", "+44", "--team", "New Team", "--token"], "phone"),
        (["bad name!", "--role", "ffd", "--org", "New Org", "--token"], "username"),
    ],
)
def test_create_staff_refusals_write_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        run("create_staff", *args)

    assert nothing_written()


def test_create_staff_refuses_a_duplicate_and_changes_nothing():
    run("create_staff", "dup", "--role", "ffd")

    with pytest.raises(CommandError, match="already exists"):
        run("create_staff", "dup", "--role", "manager", "--org", "Elsewhere", "--token")

    assert User.objects.get(username="dup").role == Role.FFD
    assert not Organisation.objects.filter(name="Elsewhere").exists()
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(
    ("stdin", "message"), [("\n", "no password"), ("short\n", "Password refused")]
)
def test_create_staff_refuses_an_empty_or_weak_password(monkeypatch, stdin, message):
    with pytest.raises(CommandError, match=message):
        run(
            "create_staff",
            "x",
            "--role",
            "ffd",
            "--password-stdin",
            stdin=stdin,
            monkeypatch=monkeypatch,
        )

    assert nothing_written()


def test_create_staff_exits_non_zero_from_the_command_line(capsys):
    # call_command raises; from manage.py the same error is a message and exit status 1.
    from django.core.management import execute_from_command_line

    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "create_staff", "x", "--role", "wizard"])

    assert exit_info.value.code == 1
    assert "Unknown role" in capsys.readouterr().err


# --- create_api_client ----------------------------------------------------------------------


def test_create_api_client_makes_a_police_system_with_an_intake_token():
    output = run("create_api_client", "kent-niche", "--force", "kent")

    user = User.objects.get(username="kent-niche")
    assert user.role == Role.POLICE_SYSTEM
    assert user.police_force.code == "kent"
    assert not user.has_usable_password()
    token = token_in(output)
    assert token.user == user
    assert token.scope == ApiToken.Scope.INTAKE


def test_create_api_client_unknown_force_lists_the_valid_codes():
    with pytest.raises(CommandError, match="Unknown police force 'atlantis'") as error:
        run("create_api_client", "x", "--force", "atlantis")

    assert "kent" in str(error.value)
    assert "metropolitan" in str(error.value)
    assert nothing_written()


def test_create_api_client_refuses_a_taken_name_and_writes_nothing():
    run("create_staff", "kent-niche", "--role", "ffd")

    with pytest.raises(CommandError, match="already exists"):
        run("create_api_client", "kent-niche", "--force", "kent")

    assert User.objects.get(username="kent-niche").role == Role.FFD
    assert not ApiToken.objects.exists()


# --- load_demo_data -------------------------------------------------------------------------


def test_load_demo_data_refuses_when_debug_is_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG"):
        run("load_demo_data")

    assert not User.objects.exists()
    assert not MissingEpisode.objects.exists()


def test_load_demo_data_is_idempotent_and_prints_the_logins(settings):
    settings.DEBUG = True

    first = run("load_demo_data")
    counts = (
        User.objects.count(),
        MissingEpisode.objects.count(),
        PoliceNotification.objects.count(),
    )
    second = run("load_demo_data")

    assert counts == (
        User.objects.count(),
        MissingEpisode.objects.count(),
        PoliceNotification.objects.count(),
    )
    assert "already loaded" in second
    for output in (first, second):
        assert DEMO_PASSWORD in output
        for spec in DEMO_STAFF:
            assert spec.username in output
    for spec in DEMO_STAFF:
        user = User.objects.get(username=spec.username)
        assert user.role == spec.role
        assert user.check_password(DEMO_PASSWORD)


def test_load_demo_data_covers_every_state_through_the_services(settings):
    settings.DEBUG = True
    run("load_demo_data")

    states = set(MissingEpisode.objects.values_list("state", flat=True))
    assert states == set(EpisodeState.values)
    # Every episode went through the state machine: its timeline starts with "opened".
    for episode in MissingEpisode.objects.all():
        assert episode.events.order_by("at", "pk").first().action == "opened"
    closed = MissingEpisode.objects.filter(state=EpisodeState.CLOSED)
    assert all(e.decisions.exists() and e.signed_off_by_id for e in closed)
    assert PoliceNotification.objects.filter(match_status="awaiting_match").exists()
    interviewer = User.objects.get(username="interviewer")
    assert interviewer.organisation.kind == Organisation.Kind.PROVIDER
    assert MissingEpisode.objects.visible_to(interviewer).count() == 1


def test_load_demo_data_runs_with_force_when_debug_is_off(settings):
    settings.DEBUG = False

    run("load_demo_data", "--force")

    assert MissingEpisode.objects.exists()
