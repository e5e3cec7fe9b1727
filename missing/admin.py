"""Administration of reference data and accounts.

Children, episodes and notifications are deliberately not registered: the administrator role
manages the system, not casework (Caldicott: need-to-know), and every change to an episode must go
through the services, which check roles and write the timeline.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from missing import misuse, second_factor, services
from missing.models import (
    ApiToken,
    MisuseSettings,
    Organisation,
    PoliceForce,
    RepeatMissingRule,
    RetentionPolicy,
    RiskGrade,
    Team,
    User,
)


@admin.register(RiskGrade)
class RiskGradeAdmin(admin.ModelAdmin):
    list_display = ("label", "code", "rank", "review_within", "active")
    list_editable = ("active",)
    ordering = ("rank",)

    def has_delete_permission(self, request: HttpRequest, obj: RiskGrade | None = None) -> bool:
        # Grades are referenced by episodes for ever: retire one (active=False), never delete.
        return False


@admin.register(RepeatMissingRule)
class RepeatMissingRuleAdmin(admin.ModelAdmin):
    """Local protocol: which facts call for a strategy / risk meeting. The model's clean()
    checks the parameters for the chosen kind, so a bad edit is a form error, not a rule that
    silently never fires. Editing a rule changes what fires from the next change on; tasks
    already raised keep the reason they were raised with."""

    list_display = ("label", "code", "kind", "parameters", "active", "order")
    list_editable = ("active", "order")
    list_filter = ("kind", "active")
    ordering = ("order", "code")

    def has_delete_permission(
        self, request: HttpRequest, obj: RepeatMissingRule | None = None
    ) -> bool:
        # Tasks name the rule that raised them for ever: retire a rule (active=False).
        return False


@admin.register(PoliceForce)
class PoliceForceAdmin(admin.ModelAdmin):
    list_display = ("name", "code")
    search_fields = ("name", "code")

    def has_delete_permission(self, request: HttpRequest, obj: PoliceForce | None = None) -> bool:
        return False


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "kind")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "organisation")


@admin.register(User)
class StaffAdmin(UserAdmin):
    list_display = ("username", "role", "organisation", "team", "is_active", "last_login")
    list_filter = ("role", "is_active", "organisation")
    fieldsets = (
        *UserAdmin.fieldsets,
        ("Role", {"fields": ("role", "organisation", "team", "phone", "police_force")}),
    )
    add_fieldsets = (
        *UserAdmin.add_fieldsets,
        ("Role", {"fields": ("role", "organisation", "team", "phone", "police_force")}),
    )
    actions = ("reset_second_factor",)

    @admin.action(description="Reset the second factor (lost phone) and end their sessions")
    def reset_second_factor(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        now = timezone.now()
        for user in queryset:
            second_factor.second_factor_reset(actor=request.user, user=user, now=now)
        self.message_user(
            request,
            f"Reset the second factor of {queryset.count()} account(s). They set up a new "
            "authenticator app at their next sign-in.",
        )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "scope", "created_at", "last_used_at", "revoked_at")
    list_filter = ("scope",)
    readonly_fields = ("user", "prefix", "scope", "created_at", "last_used_at", "revoked_at")
    exclude = ("key_hash",)
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Tokens are made by create_staff --token / create_api_client, which show them once.
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        now = timezone.now()
        for token in queryset:
            services.api_token_revoke(token=token, now=now)


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    """The local retention period for children never looked after (one row). Looked-after
    children's records are kept until the 75th birthday by law: not editable here."""

    list_display = ("__str__", "other_until_age", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not RetentionPolicy.objects.exists()

    def has_delete_permission(
        self, request: HttpRequest, obj: RetentionPolicy | None = None
    ) -> bool:
        return False


@admin.register(MisuseSettings)
class MisuseSettingsAdmin(admin.ModelAdmin):
    """When the heads of service are alerted about one person reading many children's records
    in an hour (one row; missing.misuse). The field's validators bound it (10 to 1,000)."""

    list_display = ("__str__", "distinct_children_per_hour", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not MisuseSettings.objects.exists()

    def has_delete_permission(
        self, request: HttpRequest, obj: MisuseSettings | None = None
    ) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: MisuseSettings, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        # Every worker reads the new value at its next read, not a minute later.
        transaction.on_commit(misuse.forget_threshold)
