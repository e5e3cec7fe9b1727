"""Administration of reference data and accounts.

Children, episodes and notifications are deliberately not registered: the administrator role
manages the system, not casework (Caldicott: need-to-know), and every change to an episode must go
through the services, which check roles and write the timeline.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from missing import second_factor, services
from missing.models import (
    ApiToken,
    Council,
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


@admin.register(Council)
class CouncilAdmin(admin.ModelAdmin):
    """The councils are reference data (loaded by migration): the administrator keeps each one's
    out-of-hours missing contact, used to alert it about children placed out of area."""

    list_display = ("name", "ons_code", "dfe_code", "out_of_hours_email", "out_of_hours_phone")
    search_fields = ("name", "ons_code", "dfe_code")
    list_filter = ("active",)
    fields = ("name", "ons_code", "dfe_code", "out_of_hours_email", "out_of_hours_phone", "active")
    readonly_fields = ("name", "ons_code", "dfe_code")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
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
        *(UserAdmin.fieldsets or ()),
        ("Role", {"fields": ("role", "organisation", "team", "phone", "police_force")}),
    )
    add_fieldsets = (
        *UserAdmin.add_fieldsets,
        ("Role", {"fields": ("role", "organisation", "team", "phone", "police_force")}),
    )
    actions = ("reset_second_factor",)
    # Kept by the system, not typed: read-only, which also drops the admin's split date/time
    # inputs, whose "Date:" and "Time:" texts are not labels (axe: critical, unlabelled field).
    readonly_fields = ("last_login", "date_joined")
    # Plain multiple selects: the two-box filter widget's search icons carry an aria-label on
    # a bare <span> (axe: serious, prohibited ARIA). Access is by role; groups are seldom used.
    filter_horizontal = ()

    @admin.action(description="Reset the second factor (lost phone) and end their sessions")
    def reset_second_factor(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        now = timezone.now()
        for user in queryset:
            second_factor.second_factor_reset(actor=cast(User, request.user), user=user, now=now)
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
