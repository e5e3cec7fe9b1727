import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from notifications.models import Duty, OnCallShift


def test_demo_rota_puts_manager_and_head_of_service_on_call_once(
    settings, manager, head_of_service
):
    settings.DEBUG = True
    call_command("load_demo_rota")
    call_command("load_demo_rota")
    now = timezone.now()
    on_call = OnCallShift.objects.filter(starts_at__lte=now, ends_at__gt=now)
    assert sorted(on_call.values_list("duty", "user__username")) == [
        (Duty.DUTY_MANAGER, "manager"),
        (Duty.HEAD_OF_SERVICE, "hos"),
    ]


def test_demo_rota_refuses_without_debug(settings, manager, head_of_service):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("load_demo_rota")
    assert not OnCallShift.objects.exists()


def test_demo_rota_needs_the_demo_users(settings, db):
    settings.DEBUG = True
    with pytest.raises(CommandError, match="load_demo_data first"):
        call_command("load_demo_rota")
    assert not OnCallShift.objects.exists()
