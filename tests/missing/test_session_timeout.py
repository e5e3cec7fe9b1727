"""The idle time-out from the person's side (issue 13 item 2): how long is left, "stay signed
in", and a form posted after the sign-out kept and offered back to the same person only."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from missing.models import PoliceNotification, User
from tests.factories import FIXED_NOW
from tests.helpers import login
from tests.missing.test_views import notification_post

pytestmark = pytest.mark.django_db


def signed_in(user: User, **kwargs) -> Client:
    client = Client(**kwargs)
    login(client, user)
    return client


def test_status_says_how_long_is_left_and_asking_is_not_activity(ffd: User) -> None:
    with time_machine.travel(FIXED_NOW, tick=False) as clock:
        client = signed_in(ffd)
        url = reverse("session_status") + "?refresh=auto"
        assert client.get(url).json() == {"remaining": 30 * 60}
        clock.shift(timedelta(minutes=10))
        assert client.get(url).json() == {"remaining": 20 * 60}
        clock.shift(timedelta(minutes=10))
        assert client.get(url).json() == {"remaining": 10 * 60}
        # "Stay signed in" is activity: the full 30 minutes again.
        assert client.post(reverse("session_keep_alive")).json() == {"remaining": 30 * 60}
        clock.shift(timedelta(minutes=31))
        assert client.get(url).json() == {"remaining": 0}
        assert client.post(reverse("session_keep_alive")).status_code == 401
    assert Client().get(url).json() == {"remaining": 0}


def test_a_form_posted_after_the_idle_sign_out_is_kept_for_the_same_person(ffd: User) -> None:
    url = reverse("notification_new")
    with time_machine.travel(FIXED_NOW, tick=False) as clock:
        client = signed_in(ffd)
        client.get(url)
        clock.shift(timedelta(minutes=31))
        response = client.post(url, notification_post(police_reference="KNT-KEPT-1"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
        assert not PoliceNotification.objects.filter(police_reference="KNT-KEPT-1").exists()

        login(client, ffd)  # signs in again on the same browser
        offer = client.get(url)
        page = offer.content.decode()
        assert "Send what you typed" in page
        assert 'value="KNT-KEPT-1"' in page
        assert 'name="csrfmiddlewaretoken"' in page
        # Offered once: the next visit is the ordinary form.
        assert "Send what you typed" not in client.get(url).content.decode()

        # Sending it saves it as the original post would have.
        fields = dict(notification_post(police_reference="KNT-KEPT-1"))
        assert client.post(url, fields).status_code == 302
    assert PoliceNotification.objects.filter(police_reference="KNT-KEPT-1").exists()


def test_a_kept_form_is_never_shown_to_someone_else(ffd: User, manager: User) -> None:
    url = reverse("notification_new")
    with time_machine.travel(FIXED_NOW, tick=False) as clock:
        client = signed_in(ffd)
        clock.shift(timedelta(minutes=31))
        client.post(url, notification_post(police_reference="KNT-KEPT-2"))
        login(client, manager)  # another person signs in on that browser
        page = client.get(url).content.decode()
    assert "KNT-KEPT-2" not in page
    assert "Send what you typed" not in page


def test_a_post_failing_the_csrf_check_is_not_kept(ffd: User) -> None:
    url = reverse("notification_new")
    with time_machine.travel(FIXED_NOW, tick=False) as clock:
        client = signed_in(ffd, enforce_csrf_checks=True)
        clock.shift(timedelta(minutes=31))
        client.get(reverse("board"))  # the sign-out happens on this request
        assert client.post(url, notification_post(police_reference="KNT-FORGED")).status_code == 403
        login(client, ffd)
        page = client.get(url).content.decode()
    assert "KNT-FORGED" not in page
