"""The escalations page (managers), the outbox (managers, administrators), the administrators'
alert list, and the short link in texts: allowed and refused roles, content, query counts."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings

from notifications.models import AdminAlert, Escalation, SmsMessage
from notifications.services import escalation_sweep, inbound_sms_receive
from tests.factories import FIXED_NOW
from tests.helpers import login, report_missing
from tests.notifications.conftest import deliver

DUE = FIXED_NOW + timedelta(hours=4)
PAGES = ["/escalations/", "/outbox/", "/sms-alerts/"]
ALLOWED = {
    "/escalations/": {"manager", "head_of_service"},
    "/outbox/": {"manager", "head_of_service", "admin"},
    "/sms-alerts/": {"admin"},
}


@pytest.fixture
def escalated(ffd, rota, duty_manager, head_of_service):
    """Two episodes overdue for review: one acknowledged by SMS, one climbed to level 2."""
    first = report_missing(actor=ffd, now=FIXED_NOW)
    second = report_missing(actor=ffd, now=FIXED_NOW + timedelta(minutes=1))
    escalation_sweep(now=DUE + timedelta(minutes=1))
    deliver(DUE + timedelta(minutes=1))
    inbound_sms_receive(
        message_sid="SM" + "1" * 32,
        from_number=duty_manager.phone,
        body=f"ACK {first.pk}",
        now=DUE + timedelta(minutes=2),
    )
    escalation_sweep(now=DUE + timedelta(minutes=31))
    deliver(DUE + timedelta(minutes=31))
    return first, second


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_goes_to_the_login_page(client, db, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("path", PAGES)
def test_only_the_allowed_roles_reach_each_page(client, users_by_role, path):
    for role, user in users_by_role.items():
        login(client, user)
        status = client.get(path).status_code
        expected = 200 if role in ALLOWED[path] else 403
        assert status == expected, (role, path, status)


def test_escalations_page_shows_every_escalation_text_status_and_acknowledger(
    client, manager, escalated, duty_manager, django_assert_num_queries
):
    first, second = escalated
    login(client, manager)

    # session, user, the session's second-factor device, count, escalations (with rule and
    # acknowledger), texts (with recipient), + 2: the request's transaction (ATOMIC_REQUESTS: a savepoint and its release inside the
    # test's). Escalations show
    # references only: no access row.
    with django_assert_num_queries(8):
        response = client.get("/escalations/?show=all")

    html = response.content.decode()
    assert response.status_code == 200
    assert f"E-{first.pk}" in html
    assert f"E-{second.pk}" in html
    assert "Manager review overdue" in html
    for sms in SmsMessage.objects.all():
        assert sms.body in html
    assert "Delivered" in html
    assert "duty_manager" in html  # who acknowledged, and who was texted
    assert "(SMS reply)" in html
    # Only the open one offers the button.
    open_one = Escalation.objects.get(episode=second)
    assert f"/escalations/{open_one.pk}/acknowledge/" in html
    done = Escalation.objects.get(episode=first)
    assert f"/escalations/{done.pk}/acknowledge/" not in html
    # References only: no child's name reaches the page's texts.
    assert first.child.last_name not in html


def test_escalations_page_filters(client, manager, escalated):
    first, second = escalated
    login(client, manager)
    for url in ("/escalations/?show=open", "/escalations/"):  # open ones by default
        html = client.get(url).content.decode()
        assert f"E-{second.pk}" in html
        assert f"E-{first.pk}<" not in html
        assert "<strong>Open (not yet acknowledged)</strong>" in html
    html = client.get(f"/escalations/?show=all&episode={first.pk}").content.decode()
    assert f"E-{first.pk}" in html
    assert f"E-{second.pk}<" not in html
    assert client.get("/escalations/?episode=abc").status_code == 404


def test_acknowledge_button(client, manager, escalated, head_of_service):
    _, second = escalated
    escalation = Escalation.objects.get(episode=second)
    login(client, head_of_service)

    response = client.post(f"/escalations/{escalation.pk}/acknowledge/")

    assert response.status_code == 302
    escalation.refresh_from_db()
    assert escalation.state == Escalation.State.ACKNOWLEDGED
    assert escalation.acknowledged_by == head_of_service
    assert escalation.acknowledged_via == Escalation.Via.WEB
    # Twice: a message, not an error page.
    again = client.post(f"/escalations/{escalation.pk}/acknowledge/", follow=True)
    assert "already acknowledged" in again.content.decode()


def test_acknowledge_refused_to_other_roles_and_to_get(client, ffd, manager, escalated):
    _, second = escalated
    escalation = Escalation.objects.get(episode=second)
    login(client, ffd)
    assert client.post(f"/escalations/{escalation.pk}/acknowledge/").status_code == 403
    login(client, manager)
    assert client.get(f"/escalations/{escalation.pk}/acknowledge/").status_code == 405
    assert client.post("/escalations/999999/acknowledge/").status_code == 404
    escalation.refresh_from_db()
    assert escalation.state == Escalation.State.OPEN


def test_acknowledge_returns_to_a_local_page_only(client, manager, escalated):
    _, second = escalated
    escalation = Escalation.objects.get(episode=second)
    login(client, manager)
    response = client.post(
        f"/escalations/{escalation.pk}/acknowledge/", {"next": "https://evil.example/"}
    )
    assert response["Location"] == "/escalations/"


def test_outbox_shows_the_texts_sent_to_it(client, admin_user, escalated):
    login(client, admin_user)
    html = client.get("/outbox/").content.decode()
    for sms in SmsMessage.objects.all():
        assert sms.body in html
        assert sms.to in html
    assert "TWILIO_ACCOUNT_SID" in html


def test_alert_list_and_resolve(client, admin_user, ffd):
    report_missing(actor=ffd, now=FIXED_NOW)  # nobody on the rota, no head of service
    escalation_sweep(now=DUE)
    alert = AdminAlert.objects.filter(kind=AdminAlert.Kind.NO_RECIPIENT).first()
    login(client, admin_user)

    html = client.get("/sms-alerts/").content.decode()
    assert alert.message in html

    response = client.post(f"/sms-alerts/{alert.pk}/resolve/")
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.resolved_by == admin_user
    html = client.get("/sms-alerts/").content.decode()
    assert "Recently resolved" in html


def test_resolve_refused_to_managers(client, manager, ffd):
    report_missing(actor=ffd, now=FIXED_NOW)
    escalation_sweep(now=DUE)
    alert = AdminAlert.objects.first()
    login(client, manager)
    assert client.post(f"/sms-alerts/{alert.pk}/resolve/").status_code == 403


def test_short_link_in_texts_leads_to_the_episode_page(client, db):
    response = client.get("/e/4821")
    assert response.status_code == 302
    assert response["Location"] == "/episodes/4821/"


def test_episode_block_for_the_episode_page(rf, manager, escalated):
    """`{% load escalations %}{% episode_escalations episode.pk %}` on the episode page."""
    from django.template import engines

    first, _ = escalated
    request = rf.get(f"/episodes/{first.pk}/")
    request.user = manager
    template = engines["django"].from_string(
        "{% load escalations %}{% episode_escalations episode_id %}"
    )
    html = template.render({"episode_id": first.pk}, request)
    assert "Escalations by SMS" in html
    assert SmsMessage.objects.filter(escalation__episode=first).first().body in html


def test_templates_have_no_inline_script_or_style():
    folder = Path(settings.BASE_DIR) / "notifications" / "templates"
    for template in folder.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template
        assert "style=" not in text, template
        assert "<style" not in text, template
