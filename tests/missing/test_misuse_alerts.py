"""The insider-misuse alert (issue 14 item 1): one person reading many different children's
records within an hour raises one alert for the heads of service (missing.audit.misuse). The text
to the heads of service is tested with the fake Twilio server in tests/notifications."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from django.urls import reverse

from missing.audit import misuse
from missing.models import Child, MisuseAlert, MisuseSettings, User
from tests.factories import FIXED_NOW, ChildFactory
from tests.helpers import login

pytestmark = pytest.mark.django_db

T = FIXED_NOW + timedelta(minutes=10)  # 12:10 UTC: the hour from 12:00
THRESHOLD = 10


@pytest.fixture(autouse=True)
def _clock_and_threshold():
    MisuseSettings.objects.create(distinct_children_per_hour=THRESHOLD)
    with time_machine.travel(T, tick=False), override_settings(MISUSE_ALERT_HANDLERS=[]):
        yield


def _client(user: User) -> Client:
    client = Client()
    login(client, user)
    return client


@pytest.fixture
def read(django_capture_on_commit_callbacks):
    """Open each child's page, each request committing as it would outside the test's
    transaction (the alert is raised once the read has committed)."""

    def read(client: Client, children: list[Child]) -> None:
        for child in children:
            with django_capture_on_commit_callbacks(execute=True):
                assert client.get(reverse("child_detail", args=[child.pk])).status_code == 200

    return read


def test_raised_once_when_distinct_children_reach_the_threshold(read, manager: User) -> None:
    children = ChildFactory.create_batch(THRESHOLD + 3)
    client = _client(manager)
    read(client, children[: THRESHOLD - 1])
    assert not MisuseAlert.objects.exists()
    read(client, children[THRESHOLD - 1 : THRESHOLD])
    [alert] = MisuseAlert.objects.all()
    assert (alert.user, alert.distinct_children, alert.threshold) == (manager, 10, 10)
    assert alert.window_start == FIXED_NOW  # 12:00 UTC
    assert alert.window_end == FIXED_NOW + timedelta(hours=1)
    assert alert.raised_at == T
    # Reading on, through the API too, raises nothing more this hour.
    read(client, children[THRESHOLD:])
    api = Client()
    login(api, manager)
    assert api.get(f"/api/children/{children[0].pk}/").status_code == 200
    assert MisuseAlert.objects.count() == 1


def test_the_same_child_read_again_and_again_is_one_child(read, manager: User) -> None:
    children = ChildFactory.create_batch(3)
    client = _client(manager)
    for _ in range(THRESHOLD * 2):
        read(client, children)
    assert not MisuseAlert.objects.exists()


def test_each_person_and_each_hour_counts_apart(read, manager: User, ffd: User) -> None:
    children = ChildFactory.create_batch(THRESHOLD)
    read(_client(manager), children[:5])
    read(_client(ffd), children[5:])
    assert not MisuseAlert.objects.exists()
    with time_machine.travel(FIXED_NOW + timedelta(hours=1, minutes=1), tick=False):
        client = _client(manager)
        read(client, children[5:])  # 5 more in the next hour: 5, not 10
        assert not MisuseAlert.objects.exists()
        read(client, children[:5])
        [alert] = MisuseAlert.objects.all()
        assert alert.window_start == FIXED_NOW + timedelta(hours=1)


def test_a_failing_alert_never_stops_the_read(read, manager: User) -> None:
    children = ChildFactory.create_batch(THRESHOLD)
    client = _client(manager)
    with override_settings(MISUSE_ALERT_HANDLERS=["tests.missing.test_misuse_alerts.broken"]):
        read(client, children)
    # The alert and what the handler wrote went together; the next read tries again.
    assert not MisuseAlert.objects.exists()
    read(client, ChildFactory.create_batch(1))
    assert MisuseAlert.objects.count() == 1


def broken(alert: MisuseAlert) -> None:
    raise RuntimeError("the SMS provider's library blew up")


def test_raising_twice_for_one_hour_writes_one_alert(manager: User) -> None:
    """Two workers past the threshold at once: the unique row decides."""
    first = misuse.raise_alert(
        user_id=manager.pk, window_start=FIXED_NOW, count=10, threshold=10, now=T
    )
    second = misuse.raise_alert(
        user_id=manager.pk, window_start=FIXED_NOW, count=11, threshold=10, now=T
    )
    assert (first, second) == (True, False)
    assert MisuseAlert.objects.get().distinct_children == 10


def test_the_threshold_is_set_in_the_admin_within_bounds(
    admin_user: User, django_capture_on_commit_callbacks
) -> None:
    setting = MisuseSettings.objects.get()
    setting.distinct_children_per_hour = 5
    with pytest.raises(ValidationError) as refused:
        setting.full_clean()
    assert "distinct_children_per_hour" in refused.value.message_dict

    client = Client()
    login(client, admin_user)
    url = reverse("admin:missing_misusesettings_change", args=[setting.pk])
    page = client.post(url, {"distinct_children_per_hour": "5"})
    assert page.status_code == 200
    assert "greater than or equal to 10" in page.content.decode()
    assert misuse.threshold() == THRESHOLD
    with django_capture_on_commit_callbacks(execute=True):
        saved = client.post(url, {"distinct_children_per_hour": "40"})
    assert saved.status_code == 302
    # Every worker takes the new value at its next read (the cached one is forgotten).
    assert misuse.threshold() == 40


# --------------------------------------------------------------------------------------------
# The heads of service's pages
# --------------------------------------------------------------------------------------------


def test_the_alert_pages_are_for_heads_of_service_only(
    read, manager: User, ffd: User, head_of_service: User, interviewer: User, admin_user: User
) -> None:
    children = ChildFactory.create_batch(THRESHOLD)
    read(_client(ffd), children)
    alert = MisuseAlert.objects.get()
    for user in (manager, ffd, interviewer, admin_user):
        client = _client(user)
        assert client.get(reverse("misuse_alerts")).status_code == 403
        assert client.get(reverse("misuse_alert_detail", args=[alert.pk])).status_code == 403

    client = _client(head_of_service)
    listing = client.get(reverse("misuse_alerts")).content.decode()
    assert "ffd (FFD practitioner)" in listing
    assert reverse("misuse_alert_detail", args=[alert.pk]) in listing
    assert "Access alerts" in listing  # in the navigation
    detail = client.get(reverse("misuse_alert_detail", args=[alert.pk])).content.decode()
    # The person's access-log rows for the hour: each child read, by id and reference.
    for child in children:
        assert child.reference in detail
        assert child.last_name not in detail
    assert detail.count("child_detail") == THRESHOLD
    assert client.get(reverse("misuse_alert_detail", args=[alert.pk + 1])).status_code == 404


def test_the_alert_page_costs_the_same_whatever_the_hour_holds(
    read, ffd: User, head_of_service: User, django_assert_max_num_queries
) -> None:
    read(_client(ffd), ChildFactory.create_batch(THRESHOLD + 5))
    alert = MisuseAlert.objects.get()
    client = _client(head_of_service)
    # Session, user, device, the alert, its rows: no query per row.
    with django_assert_max_num_queries(8):
        assert client.get(reverse("misuse_alert_detail", args=[alert.pk])).status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get(reverse("misuse_alerts")).status_code == 200
