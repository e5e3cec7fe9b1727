"""Administration of the interviews app's reference data: the code lists (push factors, pull
factors, harms) and who works at which placement. Interviews themselves are casework, not
administration (see missing.admin): they are not registered."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from interviews.models import Factor, PlacementStaff
from missing.web.admin_labels import LabelledAdmin


@admin.register(Factor)
class FactorAdmin(LabelledAdmin):
    list_display = ("label", "kind", "code", "cin_code", "order", "active")
    list_filter = ("kind", "active")
    list_editable = ("active",)
    search_fields = ("label", "code")
    ordering = ("kind", "order", "label")

    def get_readonly_fields(
        self, request: HttpRequest, obj: Factor | None = None
    ) -> tuple[str, ...]:
        # A code, once used, means what it meant: its kind and code never change.
        return ("kind", "code") if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Factor | None = None) -> bool:
        # Retire a code (untick "active"); never delete one an interview picked.
        if obj is None:
            return False
        return not obj.picks.exists()


@admin.register(PlacementStaff)
class PlacementStaffAdmin(LabelledAdmin):
    list_display = ("user", "placement")
    search_fields = ("placement", "user__username", "user__last_name")
    # A plain select, not the autocomplete box: select2's box has no accessible name until a
    # user is chosen (axe: serious), and a council's staff list is short enough to scroll.
