"""Administration of the ladder (rules and their levels) and the on-call rota.

Escalations, texts and inbound replies are shown read-only: they are records of what happened,
changed only by the services (the sweep, Twilio's callbacks, acknowledgements).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.utils.duration import duration_string

from missing.web.admin_labels import LabelledAdmin, LabelledTabularInline, NamedValuesFilter
from notifications.models import (
    AdminAlert,
    Escalation,
    EscalationRule,
    EscalationStep,
    InboundSms,
    OnCallShift,
    SmsMessage,
    duration_in_words,
)


class EscalationStepInline(LabelledTabularInline):
    model = EscalationStep
    extra = 1
    ordering = ("level", "recipient")


class SignedDurationField(forms.DurationField):
    """A duration shown as typed: "-12:00:00" for 12 hours before, where Django shows
    "-1 12:00:00" (minus a day plus twelve hours, the same duration read the hard way)."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, timedelta) and value < timedelta(0):
            return f"-{duration_string(-value)}"
        return super().prepare_value(value)


@admin.register(EscalationRule)
class EscalationRuleAdmin(LabelledAdmin):
    formfield_overrides = {models.DurationField: {"form_class": SignedDurationField}}
    list_display = ("name", "code", "trigger", "fires", "acknowledge_within", "active")
    list_editable = ("active",)
    readonly_fields = ("fires",)
    inlines = (EscalationStepInline,)

    @admin.display(description="Fires")
    def fires(self, rule: EscalationRule) -> str:
        # In words: a timedelta prints "-1 day, 12:00:00" for "12 hours before due".
        return rule.fires_in_words().capitalize() if rule.pk else "–"

    @admin.display(description="Acknowledge within", ordering="ack_within")
    def acknowledge_within(self, rule: EscalationRule) -> str:
        return duration_in_words(rule.ack_within)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Escalations refer to their rule for ever: switch a rule off (active), never delete.
        return False


@admin.register(OnCallShift)
class OnCallShiftAdmin(LabelledAdmin):
    list_display = ("duty", "user", "starts_at", "ends_at")
    list_filter = ("duty",)
    date_hierarchy = "starts_at"
    # A plain select, not the autocomplete box (see interviews.admin.PlacementStaffAdmin).
    ordering = ("-starts_at",)


class ReadOnlyAdmin(LabelledAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Escalation)
class EscalationAdmin(ReadOnlyAdmin):
    list_display = ("pk", "episode_id", "rule", "state", "level", "raised_at", "acknowledged_at")
    list_filter = ("state", "rule")
    list_select_related = ("rule",)


@admin.register(SmsMessage)
class SmsMessageAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "escalation_id",
        "misuse_alert_id",
        "level",
        "recipient",
        "status",
        "backend",
        "created_at",
    )
    list_filter = ("status", ("backend", NamedValuesFilter))
    list_select_related = ("recipient",)


@admin.register(InboundSms)
class InboundSmsAdmin(ReadOnlyAdmin):
    list_display = ("message_sid", "received_at", "sender", "outcome", "episode_id")
    list_filter = ("outcome",)


@admin.register(AdminAlert)
class AdminAlertAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "message", "resolved_at")
    list_filter = ("kind",)
