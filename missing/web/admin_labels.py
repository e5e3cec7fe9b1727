"""Labels for the admin's form fields that Django leaves without one (axe: critical).

Django labels a change form's fields, but not:
- the inputs of `list_editable` columns on a changelist (the column heading is no label);
- the fields of a tabular inline's rows, its "Delete" box included (headings again);
- the two inputs of a split date-and-time field (one <label> for two inputs: the time has none).

`LabelledAdmin` and `LabelledTabularInline` give each such input an `aria-label` naming its
field and its row ("Active: High"), so a screen reader says what the box is for. Every
ModelAdmin of ours that has one of these uses them (tests/browser/test_axe_every_page.py).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminSplitDateTime
from django.db import models
from django.http import HttpRequest
from django.utils.text import capfirst


def label_fields(form: forms.BaseForm, row: str) -> None:
    """An aria-label on each of the form's visible inputs: the field's label and the row."""
    for field in form.fields.values():
        if isinstance(field.widget, forms.HiddenInput):
            continue
        field.widget.attrs["aria-label"] = f"{capfirst(str(field.label or ''))}: {row}"


def label_split_datetime(formfield: forms.Field | None, db_field: models.Field[Any, Any]) -> None:
    """`AdminSplitDateTime` renders a date input and a time input under one <label>, which
    names only the first: give both their own name."""
    if formfield is not None and isinstance(formfield.widget, AdminSplitDateTime):
        name = capfirst(str(db_field.verbose_name))
        date_widget, time_widget = formfield.widget.widgets
        date_widget.attrs["aria-label"] = f"{name}: date"
        time_widget.attrs["aria-label"] = f"{name}: time"


class NamedValuesFilter(admin.AllValuesFieldListFilter):
    """A filter by a column's values that names the blank value: Django's own shows a link with
    no text for it (axe link-name, serious), e.g. a text not yet handed to a backend."""

    def choices(self, changelist: Any) -> Any:
        for choice in super().choices(changelist):
            if not str(choice["display"]).strip():
                choice = {**choice, "display": "(none)"}
            yield choice


class LabelledChangelistFormSet(forms.BaseModelFormSet):
    def add_fields(self, form: forms.BaseForm, index: int | None) -> None:
        super().add_fields(form, index)
        label_fields(form, str(getattr(form, "instance", "")))


class LabelledInlineFormSet(forms.BaseInlineFormSet):
    def add_fields(self, form: forms.BaseForm, index: int | None) -> None:
        super().add_fields(form, index)
        label_fields(form, "new row" if index is None else f"row {index + 1}")


class LabelledAdmin(admin.ModelAdmin):
    def get_changelist_formset(self, request: HttpRequest, **kwargs: Any) -> Any:
        return super().get_changelist_formset(
            request, **{"formset": LabelledChangelistFormSet, **kwargs}
        )

    def formfield_for_dbfield(
        self, db_field: models.Field[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        label_split_datetime(formfield, db_field)
        return formfield


class LabelledTabularInline(admin.TabularInline):
    formset = LabelledInlineFormSet

    def formfield_for_dbfield(
        self, db_field: models.Field[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        label_split_datetime(formfield, db_field)
        return formfield
