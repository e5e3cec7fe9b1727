"""Downloads of the national returns for managers and heads of service: the SSDA903 Missing
table and Annex A List 8's missing columns, on one page with a GOV.UK form each.

Each download view is one call (`_download`), so the step-up sign-in and the access log can wrap
it as decorators. A download checks the whole return before its first byte (a refusal is the
page again, 409, listing each record and rule) and then streams: its size never sits in memory.
The file name carries the year or date, never a child's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from interviews.returns import annex_a
from interviews.returns import ssda903 as returns
from missing.accounts.security import rate_limit, require_recent_second_factor
from missing.audit import access_log as audit
from missing.cases.errors import InvalidInput
from missing.models import OVERSIGHT_ROLES, is_regional
from missing.web.date_input import GovukDateField
from missing.web.forms import GovukFormMixin
from missing.web.shared import role_required

# Who may download the returns: they name every looked-after child who went missing.
RETURNS_ROLES = OVERSIGHT_ROLES


class CollectionYearForm(GovukFormMixin, forms.Form):
    year = forms.CharField(
        label="Collection year",
        help_text="The year it starts: 2025 for 1 April 2025 to 31 March 2026.",
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "class": "govuk-input--width-4"}),
    )

    def __init__(self, *args: Any, today: date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_year(self) -> int:
        try:
            return returns.parse_collection_year(self.cleaned_data["year"], today=self.today)
        except InvalidInput as exc:
            raise ValidationError(exc.field_errors["year"]) from exc


class AsOfForm(GovukFormMixin, forms.Form):
    as_of = GovukDateField(
        label="As of",
        called="The as-of date",
        help_text="The last day of the 12 months.",
        example="For example, 31 3 2026.",
        error_messages={"required": "Enter the as-of date"},
    )

    def __init__(self, *args: Any, today: date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_as_of(self) -> date:
        try:
            return annex_a.parse_as_of(self.cleaned_data["as_of"].isoformat(), today=self.today)
        except InvalidInput as exc:
            raise ValidationError(exc.field_errors["as_of"]) from exc


@dataclass(frozen=True)
class Download:
    """One return: its form, the field it reads, its checked CSV lines and its file name."""

    form: type[CollectionYearForm] | type[AsOfForm]
    field: str
    lines: Callable[[Any, int | None], Iterator[str]]
    rows: Callable[[Any, int | None], int]
    filename: Callable[[Any], str]


SSDA903 = Download(
    form=CollectionYearForm,
    field="year",
    lines=returns.ssda903_missing_csv,
    rows=returns.ssda903_missing_count,
    filename=lambda year: f"ssda903-missing-{returns.collection_year_label(year)}.csv",
)
ANNEX_A = Download(
    form=AsOfForm,
    field="as_of",
    lines=annex_a.annex_a_missing_csv,
    rows=annex_a.annex_a_missing_count,
    filename=lambda as_of: f"annex-a-list-8-missing-{as_of.isoformat()}.csv",
)


def _page(
    request: HttpRequest,
    *,
    today: date,
    bound: forms.Form | None = None,
    refused: returns.ReturnRefused | None = None,
    status: int = 200,
) -> HttpResponse:
    # The last collection year that has ended, and today, as the forms' starting values.
    last_year = today.year - 1 if today.month >= 4 else today.year - 2
    year_form = bound if isinstance(bound, CollectionYearForm) else None
    as_of_form = bound if isinstance(bound, AsOfForm) else None
    context = {
        "year_form": year_form or CollectionYearForm(initial={"year": last_year}, today=today),
        "as_of_form": as_of_form or AsOfForm(initial={"as_of": today.isoformat()}, today=today),
        "form": bound,  # the one in error, for the error summary
        "refused": refused,
    }
    return render(request, "interviews/returns.html", context, status=status)


def return_council(user: Any) -> int | None:
    """Whose return a user downloads (decision 0067): on a regional installation their own
    council's, never one named in the request; None (the whole installation) on a single-council
    one. A user with no council on a regional installation downloads nothing (deny by default)."""
    if not is_regional():
        return None
    council_id: int | None = getattr(user, "council_id", None)
    if council_id is None:
        raise PermissionDenied("You have no council: ask an administrator to set it.")
    return council_id


def _download(request: HttpRequest, spec: Download) -> HttpResponseBase:
    today = timezone.localdate(timezone.now())
    council_id = return_council(request.user)
    form = spec.form(request.GET, today=today)
    if not form.is_valid():
        return _page(request, today=today, bound=form, status=400)
    value = form.cleaned_data[spec.field]
    try:
        lines = spec.lines(value, council_id)
    except returns.ReturnRefused as exc:
        form.add_error(None, exc.message)
        return _page(request, today=today, bound=form, refused=exc, status=exc.status)
    filename = spec.filename(value)
    # The access row commits with the request, before the body streams: a return names every
    # child in it, so the row records the return and its row count (not each child's id).
    audit.record_export(request, rows=spec.rows(value, council_id), reference=filename)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@role_required(RETURNS_ROLES)
@require_GET
def returns_page(request: HttpRequest) -> HttpResponse:
    """The two forms."""
    return _page(request, today=timezone.localdate(timezone.now()))


@role_required(RETURNS_ROLES)
@require_GET
@require_recent_second_factor
@rate_limit("export")
def ssda903_download(request: HttpRequest) -> HttpResponseBase:
    """The SSDA903 Missing table for ?year=2025, checked, streamed."""
    return _download(request, SSDA903)


@role_required(RETURNS_ROLES)
@require_GET
@require_recent_second_factor
@rate_limit("export")
def annex_a_download(request: HttpRequest) -> HttpResponseBase:
    """Annex A List 8's missing columns for ?as_of=2026-03-31, checked, streamed."""
    return _download(request, ANNEX_A)
