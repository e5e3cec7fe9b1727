"""Separation of duties for account changes (issue 14 item 3): a role that grants case access, a
password set by someone else and a second-factor reset wait for a second person, a head of
service, on every path (admin, commands, services); decisions are logged and shown to the user."""

from __future__ import annotations

import io
import sys
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.db import connection
from django.forms import MultiWidget
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from missing.accounts import account_changes
from missing.cases import services
from missing.cases.errors import Conflict, InvalidInput, NotAllowed
from missing.models import (
    AccessAction,
    AccessLog,
    AccountChange,
    AccountChangeKind,
    AccountChangeState,
    Child,
    Role,
    User,
)
from tests.factories import FIXED_NOW, ChildFactory, UserFactory
from tests.helpers import login, totp_code, totp_device

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new pass phrase for them"


@pytest.fixture
def second_head(db) -> User:
    return UserFactory(username="hos2", role=Role.HEAD_OF_SERVICE)


def admin_client(admin_user: User) -> Client:
    client = Client()
    login(client, admin_user)
    return client


def admin_form_data(response: Any) -> dict[str, Any]:
    """The admin change form's current values as a browser would post them back."""
    form = response.context["adminform"].form
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        value = form[name].value()
        widget = field.widget
        if isinstance(widget, MultiWidget):
            for i, (part, sub) in enumerate(
                zip(widget.decompress(value), widget.widgets, strict=True)
            ):
                data[f"{name}_{i}"] = sub.format_value(part) or ""
        elif value is None or value is False:
            continue
        elif value is True:
            data[name] = "on"
        elif isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        else:
            data[name] = value
    return data


def approve(change: AccountChange, by: User) -> AccountChange:
    return account_changes.account_change_approve(actor=by, change_id=change.pk, now=timezone.now())


def reads_children(user: User) -> bool:
    user.refresh_from_db()
    return Child.objects.visible_to(user).exists()


# --------------------------------------------------------------------------------------------
# The admin's role field no longer grants access
# --------------------------------------------------------------------------------------------


def test_admin_role_field_asks_and_grants_nothing_until_a_head_of_service_approves(
    admin_user: User, head_of_service: User
) -> None:
    ChildFactory()
    target = UserFactory(username="clerk", role=Role.ADMIN, is_staff=True)
    client = admin_client(admin_user)
    url = reverse("admin:missing_user_change", args=(target.pk,))
    data = admin_form_data(client.get(url))
    data["role"] = Role.MANAGER
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]

    target.refresh_from_db()
    assert target.role == Role.ADMIN
    assert not reads_children(target)
    change = AccountChange.objects.get(subject=target)
    assert (change.kind, change.state, change.requested_by) == (
        AccountChangeKind.ROLE,
        AccountChangeState.PENDING,
        admin_user,
    )
    assert change.payload == {"role": Role.MANAGER, "from_role": Role.ADMIN}

    approve(change, head_of_service)
    target.refresh_from_db()
    assert target.role == Role.MANAGER
    # A case role and the Django admin never go together.
    assert (target.is_staff, target.is_superuser) == (False, False)
    assert reads_children(target)


def test_admin_add_form_with_a_case_role_and_a_password_creates_an_account_with_no_access(
    admin_user: User, head_of_service: User
) -> None:
    client = admin_client(admin_user)
    response = client.post(
        reverse("admin:missing_user_add"),
        {
            "username": "newstarter",
            "usable_password": "true",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "role": Role.FFD,
            "phone": "",
        },
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    user = User.objects.get(username="newstarter")
    assert user.role == ""
    assert not user.has_usable_password()
    kinds = set(
        AccountChange.objects.filter(subject=user, state="pending").values_list("kind", flat=True)
    )
    assert kinds == {AccountChangeKind.ROLE, AccountChangeKind.PASSWORD}
    for change in AccountChange.objects.filter(subject=user):
        approve(change, head_of_service)
    user.refresh_from_db()
    assert user.role == Role.FFD
    assert user.check_password(NEW_PASSWORD)


def test_a_role_change_that_removes_access_applies_at_once_and_is_recorded(
    admin_user: User, manager: User
) -> None:
    change = account_changes.account_role_change(
        actor=admin_user, subject=manager, role=Role.FFD, via="admin", now=timezone.now()
    )
    manager.refresh_from_db()
    assert manager.role == Role.FFD
    assert change is not None
    assert change.state == AccountChangeState.APPROVED
    assert change.decided_by is None
    # Taking the role away altogether applies at once too, and reads in words.
    gone = account_changes.account_role_change(
        actor=admin_user, subject=manager, role="", via="admin", now=timezone.now()
    )
    assert gone is not None
    assert gone.summary == "Role FFD practitioner to no role"
    assert not reads_children(manager)


def test_interviewer_to_manager_is_a_grant(admin_user: User, interviewer: User) -> None:
    change = account_changes.account_role_change(
        actor=admin_user, subject=interviewer, role=Role.MANAGER, via="admin", now=timezone.now()
    )
    assert change is not None
    assert change.state == AccountChangeState.PENDING
    interviewer.refresh_from_db()
    assert interviewer.role == Role.INTERVIEWER


# --------------------------------------------------------------------------------------------
# Passwords and second-factor resets: pending, then applied, and the API token ends
# --------------------------------------------------------------------------------------------


def test_admin_password_form_asks_and_the_password_is_unchanged_until_approved(
    admin_user: User, manager: User, head_of_service: User
) -> None:
    token = services.api_token_create(user=manager, scope="full", now=timezone.now())
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    client = admin_client(admin_user)
    response = client.post(
        reverse("admin:auth_user_password_change", args=(manager.pk,)),
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    manager.refresh_from_db()
    assert manager.check_password(PASSWORD)
    assert api.get("/api/episodes/").status_code == 200
    change = AccountChange.objects.get(subject=manager, kind=AccountChangeKind.PASSWORD)
    assert change.state == AccountChangeState.PENDING
    # Only the hash is kept, never the password.
    assert NEW_PASSWORD not in str(change.payload)
    assert set(change.payload) == {"password_hash"}

    approve(change, head_of_service)
    manager.refresh_from_db()
    assert manager.check_password(NEW_PASSWORD)
    # The token ended with the credentials it stood for (missing.accounts.auth's rule, reused).
    assert api.get("/api/episodes/").status_code == 401


def test_second_factor_reset_waits_then_removes_the_device_and_ends_the_token(
    admin_user: User, manager: User, head_of_service: User
) -> None:
    totp_device(manager)
    token = services.api_token_create(user=manager, scope="full", now=timezone.now())
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    change = account_changes.account_second_factor_reset(
        actor=admin_user, subject=manager, via="admin", now=timezone.now()
    )
    assert change.state == AccountChangeState.PENDING
    assert TOTPDevice.objects.filter(user=manager).exists()
    assert api.get("/api/episodes/").status_code == 200

    approve(change, head_of_service)
    assert not TOTPDevice.objects.filter(user=manager).exists()
    assert api.get("/api/episodes/").status_code == 401


def test_the_admin_cannot_add_or_delete_authenticator_devices(
    admin_user: User, manager: User
) -> None:
    device = totp_device(manager)
    client = admin_client(admin_user)
    assert client.get("/admin/otp_totp/totpdevice/add/").status_code == 403
    assert (
        client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


# --------------------------------------------------------------------------------------------
# Who may decide
# --------------------------------------------------------------------------------------------


def test_the_requester_cannot_approve_their_own_request(
    head_of_service: User, second_head: User, ffd: User
) -> None:
    change = account_changes.account_role_change(
        actor=head_of_service, subject=ffd, role=Role.MANAGER, via="admin", now=timezone.now()
    )
    with pytest.raises(NotAllowed, match="you asked for it"):
        approve(change, head_of_service)
    ffd.refresh_from_db()
    assert ffd.role == Role.FFD
    approve(change, second_head)
    ffd.refresh_from_db()
    assert ffd.role == Role.MANAGER


def test_the_subject_cannot_approve_a_request_about_themselves(
    admin_user: User, head_of_service: User, second_head: User
) -> None:
    change = account_changes.account_second_factor_reset(
        actor=admin_user, subject=head_of_service, via="admin", now=timezone.now()
    )
    with pytest.raises(NotAllowed, match="your own account"):
        approve(change, head_of_service)
    client = Client()
    login(client, head_of_service)
    response = client.post(
        reverse("account_change_decide", args=(change.pk,)),
        {"decision": "approve", "reason": "", "version": change.version},
    )
    assert response.status_code == 403
    change.refresh_from_db()
    assert change.state == AccountChangeState.PENDING


@pytest.mark.parametrize("role", [Role.MANAGER, Role.FFD, Role.ADMIN, Role.INTERVIEWER])
def test_only_a_head_of_service_decides(role: str, admin_user: User, ffd: User) -> None:
    change = account_changes.account_role_change(
        actor=admin_user, subject=ffd, role=Role.MANAGER, via="admin", now=timezone.now()
    )
    other = UserFactory(username=f"other-{role}", role=role)
    with pytest.raises(NotAllowed):
        approve(change, other)
    client = Client()
    login(client, other)
    assert client.get(reverse("account_changes")).status_code == 403
    response = client.post(
        reverse("account_change_decide", args=(change.pk,)),
        {"decision": "approve", "reason": "", "version": change.version},
    )
    assert response.status_code == 403
    change.refresh_from_db()
    assert change.state == AccountChangeState.PENDING


def test_refusing_needs_a_reason_and_changes_nothing(
    admin_user: User, head_of_service: User, ffd: User
) -> None:
    change = account_changes.account_role_change(
        actor=admin_user, subject=ffd, role=Role.MANAGER, via="admin", now=timezone.now()
    )
    with pytest.raises(InvalidInput):
        account_changes.account_change_refuse(
            actor=head_of_service, change_id=change.pk, reason=" ", now=timezone.now()
        )
    client = Client()
    login(client, head_of_service)
    url = reverse("account_change_decide", args=(change.pk,))
    response = client.post(url, {"decision": "refuse", "reason": "", "version": change.version})
    assert response.status_code == 400
    assert "Enter the reason for refusing" in response.content.decode()
    response = client.post(
        url, {"decision": "refuse", "reason": "Not asked for", "version": change.version}
    )
    assert response.status_code == 302
    change.refresh_from_db()
    assert (change.state, change.decided_by, change.reason) == (
        AccountChangeState.REFUSED,
        head_of_service,
        "Not asked for",
    )
    ffd.refresh_from_db()
    assert ffd.role == Role.FFD


# --------------------------------------------------------------------------------------------
# The approvals page: stale decisions, history, query count
# --------------------------------------------------------------------------------------------


def test_a_second_approval_of_a_decided_request_is_a_409_saying_who_decided(
    admin_user: User, head_of_service: User, second_head: User, ffd: User
) -> None:
    change = account_changes.account_role_change(
        actor=admin_user, subject=ffd, role=Role.MANAGER, via="admin", now=timezone.now()
    )
    first, second = Client(), Client()
    login(first, head_of_service)
    login(second, second_head)
    url = reverse("account_change_decide", args=(change.pk,))
    # Both opened the page on the same version.
    body = {"decision": "approve", "reason": "", "version": change.version}
    assert first.post(url, body).status_code == 302
    response = second.post(url, body)
    assert response.status_code == 409
    assert "already approved by hos" in response.content.decode()
    # A double click by the same person: 409 too, and applied once.
    assert first.post(url, body).status_code == 409
    assert (
        AccessLog.objects.filter(
            action=AccessAction.ACCOUNT_DECISION, reference=change.reference
        ).count()
        == 1
    )
    with pytest.raises(Conflict):
        approve(change, second_head)


def test_a_request_not_decided_in_time_expires(
    admin_user: User, head_of_service: User, ffd: User, settings
) -> None:
    change = account_changes.account_role_change(
        actor=admin_user, subject=ffd, role=Role.MANAGER, via="admin", now=FIXED_NOW
    )
    later = FIXED_NOW + settings.ACCOUNT_CHANGE_MAX_AGE
    with pytest.raises(Conflict, match="expired"):
        account_changes.account_change_approve(
            actor=head_of_service, change_id=change.pk, now=later
        )
    change.refresh_from_db()
    assert change.state == AccountChangeState.EXPIRED
    ffd.refresh_from_db()
    assert ffd.role == Role.FFD


def test_the_page_lists_pending_and_history_in_a_fixed_number_of_queries(
    admin_user: User, head_of_service: User
) -> None:
    def add(n: int) -> None:
        for i in range(n):
            subject = UserFactory(username=f"s{AccountChange.objects.count()}-{i}", role=Role.ADMIN)
            change = account_changes.account_role_change(
                actor=admin_user, subject=subject, role=Role.FFD, via="admin", now=timezone.now()
            )
            if i % 2:
                approve(change, head_of_service)

    client = Client()
    login(client, head_of_service)
    add(2)
    client.get(reverse("account_changes"))  # warm the session
    with CaptureQueriesContext(connection) as few:
        page = client.get(reverse("account_changes"))
    assert page.status_code == 200
    add(6)
    with CaptureQueriesContext(connection) as many:
        page = client.get(reverse("account_changes"))
    html = page.content.decode()
    assert html.count("Decide<span") == 4
    assert "Role Administrator to FFD practitioner" in html
    # Pending and history are one query each with their people, however many rows.
    assert len(many) == len(few)


# --------------------------------------------------------------------------------------------
# Access log
# --------------------------------------------------------------------------------------------


def test_each_request_and_decision_writes_an_access_log_row(
    admin_user: User, head_of_service: User, ffd: User
) -> None:
    client = admin_client(admin_user)
    url = reverse("admin:missing_user_change", args=(ffd.pk,))
    data = admin_form_data(client.get(url))
    data["role"] = Role.MANAGER
    assert client.post(url, data).status_code == 302
    change = AccountChange.objects.get(subject=ffd)
    asked = AccessLog.objects.get(action=AccessAction.ACCOUNT_REQUEST, reference=change.reference)
    assert (asked.user, asked.role, asked.child_id) == (admin_user, Role.ADMIN, None)
    assert asked.route == "admin:missing_user_change"
    assert asked.detail == {
        "kind": "role",
        "subject": ffd.pk,
        "state": "pending",
        "via": "admin",
        "role": "manager",
    }

    hos = Client()
    login(hos, head_of_service)
    hos.post(
        reverse("account_change_decide", args=(change.pk,)),
        {"decision": "approve", "reason": "Promoted", "version": change.version},
    )
    decided = AccessLog.objects.get(
        action=AccessAction.ACCOUNT_DECISION, reference=change.reference
    )
    assert (decided.user, decided.role) == (head_of_service, Role.HEAD_OF_SERVICE)
    assert decided.route == "account_change_decide"
    assert decided.detail["state"] == "approved"
    assert decided.get_action_display() == "Decided an account change"


# --------------------------------------------------------------------------------------------
# The user's notice at their next sign-in
# --------------------------------------------------------------------------------------------


def sign_in(client: Client, user: User) -> None:
    """The real sign-in: password, then a code from the authenticator (at the frozen time)."""
    device = totp_device(user)
    response = client.post(
        reverse("login"), {"username": user.username, "password": PASSWORD, "next": "/"}
    )
    assert response.status_code == 302
    response = client.post(
        f"{reverse('second_factor_verify')}?next=/board/", {"code": totp_code(device)}
    )
    assert response.status_code == 302, response.content[:300]


def test_the_user_sees_what_changed_at_next_sign_in_once(
    admin_user: User, head_of_service: User, ffd: User
) -> None:
    change = account_changes.account_role_change(
        actor=admin_user, subject=ffd, role=Role.MANAGER, via="admin", now=FIXED_NOW
    )
    account_changes.account_change_approve(
        actor=head_of_service, change_id=change.pk, now=FIXED_NOW
    )
    ffd.refresh_from_db()

    client = Client()
    with time_machine.travel(FIXED_NOW + timedelta(minutes=1), tick=False):
        sign_in(client, ffd)
        html = client.get(reverse("board")).content.decode()
        assert "Changes to your account since you last signed in" in html
        assert "Role FFD practitioner to Manager, asked by admin" in html
        assert "Approved by hos" in html
        # Shown on every page until acknowledged, then never again.
        assert "Changes to your account" in client.get(reverse("episode_list")).content.decode()
        response = client.post(reverse("account_notice_acknowledge"), {"next": "/board/"})
        assert response.status_code == 302
        assert response["Location"] == "/board/"
        assert "Changes to your account" not in client.get(reverse("board")).content.decode()
    change.refresh_from_db()
    assert change.acknowledged_at is not None

    again = Client()
    with time_machine.travel(FIXED_NOW + timedelta(minutes=2), tick=False):
        sign_in(again, ffd)
        assert "Changes to your account" not in again.get(reverse("board")).content.decode()


def test_no_notice_before_the_second_factor(
    admin_user: User, head_of_service: User, ffd: User
) -> None:
    change = account_changes.account_role_change(
        actor=admin_user, subject=ffd, role=Role.MANAGER, via="admin", now=timezone.now()
    )
    approve(change, head_of_service)
    totp_device(ffd)
    client = Client()
    client.post(reverse("login"), {"username": "ffd", "password": PASSWORD, "next": "/"})
    page = client.get(reverse("second_factor_verify"))
    assert "Changes to your account" not in page.content.decode()


# --------------------------------------------------------------------------------------------
# The command line: bootstrap, then like everyone else
# --------------------------------------------------------------------------------------------


def run(*args: str, stdin: str | None = None, monkeypatch: Any = None) -> str:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_the_first_head_of_service_is_created_at_once_then_the_command_line_asks(
    monkeypatch,
) -> None:
    out = run(
        "create_staff",
        "first-hos",
        "--role",
        "head_of_service",
        "--password-stdin",
        stdin=f"{PASSWORD}\n",
        monkeypatch=monkeypatch,
    )
    assert "bootstrap" in out
    first = User.objects.get(username="first-hos")
    assert first.role == Role.HEAD_OF_SERVICE
    assert first.check_password(PASSWORD)
    assert set(
        AccountChange.objects.filter(subject=first).values_list("requested_via", "state")
    ) == {("bootstrap", "approved")}

    out = run(
        "create_staff",
        "second-manager",
        "--role",
        "manager",
        "--password-stdin",
        stdin=f"{PASSWORD}\n",
        monkeypatch=monkeypatch,
    )
    assert "waits for a head of service" in out
    manager = User.objects.get(username="second-manager")
    assert manager.role == ""
    assert not manager.has_usable_password()

    out = run("reset_second_factor", "second-manager")
    assert "asked for" in out
    out = run(
        "changepassword",
        "first-hos",
        "--password-stdin",
        stdin=f"{NEW_PASSWORD}\n",
        monkeypatch=monkeypatch,
    )
    first.refresh_from_db()
    # The only head of service: nobody else could approve, so still the bootstrap.
    assert first.check_password(NEW_PASSWORD)

    out = run(
        "changepassword",
        "second-manager",
        "--password-stdin",
        stdin=f"{NEW_PASSWORD}\n",
        monkeypatch=monkeypatch,
    )
    assert "asked for" in out
    pending = AccountChange.objects.filter(subject=manager, state="pending")
    # The newer password request replaced the one create_staff made.
    assert sorted(pending.values_list("kind", flat=True)) == [
        "password",
        "role",
        "second_factor",
    ]
    for change in pending:
        approve(change, first)
    manager.refresh_from_db()
    assert manager.role == Role.MANAGER
    assert manager.check_password(NEW_PASSWORD)


def test_a_password_for_oneself_is_not_an_account_change(manager: User) -> None:
    with pytest.raises(NotAllowed):
        account_changes.account_password_set(
            actor=manager,
            subject=manager,
            password_hash=make_password(NEW_PASSWORD),
            via="admin",
            now=timezone.now(),
        )
