"""Administration of reference data and accounts.

Children, episodes and notifications are deliberately not registered: the administrator role
manages the system, not casework (Caldicott: need-to-know), and every change to an episode must go
through the services, which check roles and write the timeline.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from missing.accounts import account_changes
from missing.audit import misuse
from missing.cases import services
from missing.models import (
    AccountChange,
    AccountChangeState,
    ApiToken,
    Council,
    MisuseSettings,
    Organisation,
    PoliceForce,
    RepeatMissingRule,
    RetentionPolicy,
    RiskGrade,
    Team,
    User,
    is_regional,
)
from missing.web.admin_labels import LabelledAdmin


@admin.register(RiskGrade)
class RiskGradeAdmin(LabelledAdmin):
    list_display = ("label", "code", "rank", "review_within", "active")
    list_editable = ("active",)
    ordering = ("rank",)

    def has_delete_permission(self, request: HttpRequest, obj: RiskGrade | None = None) -> bool:
        # Grades are referenced by episodes for ever: retire one (active=False), never delete.
        return False


@admin.register(RepeatMissingRule)
class RepeatMissingRuleAdmin(LabelledAdmin):
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
class PoliceForceAdmin(LabelledAdmin):
    list_display = ("name", "code")
    search_fields = ("name", "code")

    def has_delete_permission(self, request: HttpRequest, obj: PoliceForce | None = None) -> bool:
        return False


@admin.register(Council)
class CouncilAdmin(LabelledAdmin):
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
class OrganisationAdmin(LabelledAdmin):
    list_display = ("name", "kind")


@admin.register(Team)
class TeamAdmin(LabelledAdmin):
    list_display = ("name", "organisation")


@admin.register(User)
class StaffAdmin(UserAdmin):
    list_display = (
        "username",
        "role",
        "council",
        "organisation",
        "team",
        "is_active",
        "last_login",
    )
    list_filter = ("role", "is_active", "council", "organisation")
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Role", {"fields": ("role", "council", "organisation", "team", "phone", "police_force")}),
    )
    add_fieldsets = (
        *UserAdmin.add_fieldsets,
        ("Role", {"fields": ("role", "council", "organisation", "team", "phone", "police_force")}),
    )
    actions = ("reset_second_factor",)
    # Kept by the system, not typed: read-only, which also drops the admin's split date/time
    # inputs, whose "Date:" and "Time:" texts are not labels (axe: critical, unlabelled field).
    readonly_fields = ("last_login", "date_joined")
    # Plain multiple selects: the two-box filter widget's search icons carry an aria-label on
    # a bare <span> (axe: serious, prohibited ARIA). Access is by role; groups are seldom used.
    filter_horizontal = ()

    # The council (a regional installation, decision 0066) is set with the account; a later
    # change opens another council's children, so it asks a head of service of that council
    # (decision 0070), below.

    # Separation of duties (missing.accounts.account_changes): the role field, a password set here and
    # the second-factor reset do not change the account; each asks a head of service, who
    # approves on the approvals page. A role change that grants no more access applies at once.

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        now = timezone.now()
        wanted_role = obj.role
        wanted_council = obj.council
        stored_council_id = (
            User.objects.values_list("council_id", flat=True).get(pk=obj.pk) if change else None
        )
        if stored_council_id is not None:
            obj.council_id = stored_council_id  # changed only through the approval below
        obj.role = User.objects.values_list("role", flat=True).get(pk=obj.pk) if change else ""
        password_hash = None
        if not change and obj.has_usable_password():
            # A new account's first password, set by the administrator: asked for too.
            password_hash = obj.password
            obj.set_unusable_password()
        super().save_model(request, obj, form, change)
        role_change = account_changes.account_role_change(
            actor=cast(User, request.user),
            subject=obj,
            role=wanted_role,
            via=account_changes.VIA_ADMIN,
            now=now,
        )
        self._tell(request, role_change)
        if stored_council_id is not None:
            self._tell(
                request,
                account_changes.account_council_change(
                    actor=cast(User, request.user),
                    subject=obj,
                    council=wanted_council,
                    via=account_changes.VIA_ADMIN,
                    now=now,
                ),
            )
        if password_hash is not None:
            self._tell(
                request,
                account_changes.account_password_set(
                    actor=cast(User, request.user),
                    subject=obj,
                    password_hash=password_hash,
                    via=account_changes.VIA_ADMIN,
                    now=now,
                ),
            )
        obj.refresh_from_db()

    def _tell(self, request: HttpRequest, change: AccountChange | None) -> None:
        if change is None:
            return
        if change.state == AccountChangeState.PENDING:
            self.message_user(
                request,
                f"{change.reference}: {change.summary} for {change.subject.username} waits for "
                "a head of service's approval. Until then the account is unchanged.",
                messages.WARNING,
            )
        else:
            self.message_user(request, f"{change.reference}: {change.summary} applied.")

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        """Setting another account's password asks a head of service (only the hash is kept);
        an administrator's own password, or switching password sign-in off, applies as before."""
        user = self.get_object(request, unquote(id))
        if (
            request.method == "POST"
            and user is not None
            and user.pk != request.user.pk
            and self.has_change_permission(request, user)
        ):
            form = self.change_password_form(user, request.POST)
            if form.is_valid() and form.cleaned_data.get("set_usable_password", True):
                change = account_changes.account_password_set(
                    actor=cast(User, request.user),
                    subject=user,
                    password_hash=make_password(form.cleaned_data["password1"]),
                    via=account_changes.VIA_ADMIN,
                    now=timezone.now(),
                )
                self._tell(request, change)
                return HttpResponseRedirect(reverse("admin:missing_user_change", args=(user.pk,)))
        return super().user_change_password(request, id, form_url)

    @admin.action(description="Ask to reset the second factor (lost phone)")
    def reset_second_factor(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        now = timezone.now()
        for user in queryset:
            self._tell(
                request,
                account_changes.account_second_factor_reset(
                    actor=cast(User, request.user),
                    subject=user,
                    via=account_changes.VIA_ADMIN,
                    now=now,
                ),
            )


@admin.register(AccountChange)
class AccountChangeAdmin(LabelledAdmin):
    """Read only: administrators see what they asked for and what was decided. Heads of service
    decide on /access/account-changes/; nothing here changes a request."""

    list_display = ("__str__", "subject", "requested_by", "requested_at", "decided_by", "state")
    list_filter = ("kind", "state")
    exclude = ("payload",)  # a password's hash stays out of every page

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _ReadOnlyDevices:
    """Authenticator and recovery-code devices: the administrator may see who has enrolled, but
    adding or removing one is a second-factor reset by another name (or a recovery code of the
    administrator's choosing): that goes through the approved reset, never here."""

    # django-otp's help text under the search box ("Search by user's …") becomes the box's
    # aria-describedby, and with only the magnifier's alt text as its label axe then finds the
    # box labelled by a description alone (label-title-only, serious). The box says what it is.
    search_help_text = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyTOTPDeviceAdmin(_ReadOnlyDevices, TOTPDeviceAdmin):
    pass


class ReadOnlyStaticDeviceAdmin(_ReadOnlyDevices, StaticDeviceAdmin):
    pass


for _model, _model_admin in (
    (TOTPDevice, ReadOnlyTOTPDeviceAdmin),
    (StaticDevice, ReadOnlyStaticDeviceAdmin),
):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _model_admin)


class PlainGroupAdmin(GroupAdmin):
    """Groups with a plain multiple select for permissions, as on the user form: the two-box
    widget puts an aria-label on a bare <span> (axe: serious), and access is by role anyway."""

    filter_horizontal = ()


if admin.site.is_registered(Group):
    admin.site.unregister(Group)
admin.site.register(Group, PlainGroupAdmin)


@admin.register(ApiToken)
class ApiTokenAdmin(LabelledAdmin):
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
class RetentionPolicyAdmin(LabelledAdmin):
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
class MisuseSettingsAdmin(LabelledAdmin):
    """When the heads of service are alerted about one person reading many children's records
    in an hour (one row; missing.audit.misuse). The field's validators bound it (10 to 1,000)."""

    list_display = ("__str__", "council", "distinct_children_per_hour", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A regional installation: a row per council besides the installation's (0070).
        return is_regional() or not MisuseSettings.objects.exists()

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
