"""The figures page, the episodes behind each figure, and the page's downloads (CSV, XLSX).

Managers and heads of service only (OVERSIGHT_ROLES): the figures cover every child, so no
`visible_to` narrowing applies and the role check is the whole gate. Live: every request counts
afresh from the episodes (no cache, no overnight batch). Filters travel in the query string:
dates, ids and codes only, never a name.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import xlsxwriter
from django import forms
from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from interviews import figures as fig
from missing.accounts.security import rate_limit, require_recent_second_factor
from missing.audit import access_log as audit
from missing.cases.clocks import london_date
from missing.models import OVERSIGHT_ROLES, EpisodeState, InterviewOutcome, Organisation, Team
from missing.web.date_input import GovukDateField
from missing.web.forms import GovukFormMixin
from missing.web.shared import StaffRequest, role_required
from missing.web.spreadsheet import csv_writer

PAGE_SIZE = 50
# Long enough for a collection year and comparisons across a few; bounded so that one request
# never counts the whole retention period.
MAX_PERIOD = timedelta(days=5 * 366)


# --------------------------------------------------------------------------------------------
# The filter form
# --------------------------------------------------------------------------------------------


AGE_BAND_CHOICES: list[tuple[str, str]] = [
    ("", "All ages"),
    *((key, label) for key, (label, _, _) in fig.AGE_BANDS.items()),
    (fig.AGE_UNKNOWN, "Date of birth not known"),
]
LEGAL_STATUS_CHOICES: list[tuple[str, str]] = [("", "All"), *fig.LEGAL_STATUSES.items()]
CHOICE_LABELS: dict[str, dict[str, str]] = {
    "age_band": dict(AGE_BAND_CHOICES),
    "legal_status": dict(LEGAL_STATUS_CHOICES),
}


class FiguresForm(GovukFormMixin, forms.Form):
    period_start = GovukDateField(
        label="From",
        called="The first day",
        error_messages={"required": "Enter the first day of the period"},
    )
    period_end = GovukDateField(
        label="To (inclusive)",
        called="The last day",
        error_messages={"required": "Enter the last day of the period"},
    )
    team = forms.ModelChoiceField(
        label="Child's team",
        queryset=Team.objects.order_by("name"),
        required=False,
        empty_label="All teams",
        error_messages={"invalid_choice": "Choose a team from the list"},
    )
    age_band = forms.ChoiceField(
        label="Age when the episode started",
        required=False,
        choices=AGE_BAND_CHOICES,
        error_messages={"invalid_choice": "Choose an age band from the list"},
    )
    legal_status = forms.ChoiceField(
        label="Legal status when the episode started",
        required=False,
        choices=LEGAL_STATUS_CHOICES,
        error_messages={"invalid_choice": "Choose a legal status from the list"},
    )
    provider = forms.ModelChoiceField(
        label="Interview provider",
        queryset=Organisation.objects.order_by("name"),
        required=False,
        empty_label="All providers",
        error_messages={"invalid_choice": "Choose a provider from the list"},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("period_start"), data.get("period_end")
        if start and end:
            if end < start:
                self.add_error("period_end", "The last day must be on or after the first day")
            elif end - start > MAX_PERIOD:
                self.add_error("period_end", "Choose a period of at most 5 years")
        return data

    def filters(self) -> fig.FigureFilters:
        data = self.cleaned_data
        return fig.FigureFilters(
            period_start=data["period_start"],
            period_end=data["period_end"],
            team_id=data["team"].pk if data.get("team") else None,
            age_band=data.get("age_band") or None,
            legal_status=data.get("legal_status") or None,
            provider_id=data["provider"].pk if data.get("provider") else None,
        )

    def query(self) -> dict[str, str]:
        """The filters as query-string parameters (ids and codes: never a name)."""
        data = self.cleaned_data
        out = {
            "period_start": data["period_start"].isoformat(),
            "period_end": data["period_end"].isoformat(),
        }
        if data.get("team"):
            out["team"] = str(data["team"].pk)
        if data.get("age_band"):
            out["age_band"] = data["age_band"]
        if data.get("legal_status"):
            out["legal_status"] = data["legal_status"]
        if data.get("provider"):
            out["provider"] = str(data["provider"].pk)
        return out

    def _choice_label(self, name: str) -> str:
        """The label of the choice made in the choice field `name` ("All" if none)."""
        return CHOICE_LABELS[name][self.cleaned_data.get(name) or ""]

    def description(self) -> list[tuple[str, str]]:
        """What was counted, for the page, the drill-down and the downloads' header."""
        data = self.cleaned_data
        rows = [
            ("Period", f"{_day(data['period_start'])} to {_day(data['period_end'])}"),
            ("Team", data["team"].name if data.get("team") else "All teams"),
            ("Age", self._choice_label("age_band")),
            ("Legal status", self._choice_label("legal_status")),
            ("Interview provider", data["provider"].name if data.get("provider") else "All"),
        ]
        return rows


def _day(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def this_month(now: datetime) -> tuple[date, date]:
    first = london_date(now).replace(day=1)
    return first, fig.add_months(first, 1) - timedelta(days=1)


def figures_form(params: QueryDict, now: datetime) -> FiguresForm:
    """The one reading of the figures' query parameters (period_start, period_end: London
    dates; team, age_band, legal_status, provider), for the page, the drill-downs, the
    downloads and the API: bound to them, or to this month (London) when they name no
    period. Call `is_valid()`; the errors name the parameter."""
    if any(name.startswith(("period_start", "period_end")) for name in params):
        return FiguresForm(params)
    first, last = this_month(now)
    data = params.copy()
    data["period_start"], data["period_end"] = first.isoformat(), last.isoformat()
    return FiguresForm(data)


# --------------------------------------------------------------------------------------------
# What the page shows
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureRow:
    key: str
    label: str
    value: str
    share: str
    href: str | None


def _percent_text(share: int | None) -> str:
    return "–" if share is None else f"{share}%"


def _percent(part: int, whole: int) -> str:
    return _percent_text(fig.percent(part, whole))


def _hours(hours: float | None) -> str:
    return "–" if hours is None else f"{hours:.1f} hours"


# How a share's whole is named beside it ("43% of returns").
WHOLES = {
    "episodes": "episodes",
    "children": "children",
    "returns": "returns",
    "children_returned": "children who returned",
    "held": "held",
}


def figure_sections(
    figures: fig.Figures, query: dict[str, str] | None
) -> list[tuple[str, str, list[FigureRow]]]:
    """The page's figures in order (`fig.SECTIONS`, as the API and the downloads give them),
    each with its share and the link to its episodes (no link for the downloads, `query`
    None)."""
    base = reverse("interviews:figure_episodes") if query is not None else ""

    def href(key: str) -> str | None:
        return f"{base}?{urlencode({'figure': key, **query})}" if query is not None else None

    lines = figures.lines()
    out = []
    for title, note, _ in fig.SECTIONS:
        rows = [
            FigureRow(
                key=line.key,
                label=line.label,
                value=str(line.value),
                share=f"{_percent_text(line.percent)} of {WHOLES[line.share_of]}"
                if line.share_of
                else "",
                href=href(line.key),
            )
            for line in lines
            if line.section == title
        ]
        if title == fig.MEDIAN_SECTION:
            rows.append(
                FigureRow(
                    key=fig.MEDIAN,
                    label=fig.MEDIAN_LABEL,
                    value=_hours(figures.median_hours_to_interview),
                    share=f"of {figures.counts['timed']} held",
                    href=href(fig.MEDIAN),
                )
            )
        out.append((title, note, rows))
    return out


# --- the trend charts: server-drawn SVG (no script, no inline style; classes in figures.css)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    label_x: float
    value: str
    value_y: float


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    bars: list[Bar]
    width: int = 640
    height: int = 260
    top: int = 20
    bottom: int = 220  # the baseline
    left: int = 54
    right: int = 630

    @property
    def axis_x(self) -> int:
        return self.left - 6

    @property
    def months_y(self) -> int:
        return self.bottom + 18

    @property
    def gridlines(self) -> list[tuple[float, str]]:
        span = self.bottom - self.top
        return [(self.bottom - span * share, f"{int(share * 100)}%") for share in (0, 0.5, 1)]


def _chart(
    chart_id: str, title: str, what: str, months: list[fig.TrendMonth], part: str, whole: str
) -> Chart:
    # The chart's own frame, so the bars and the axes it draws always line up.
    left, right, top, bottom = Chart.left, Chart.right, Chart.top, Chart.bottom
    slot = (right - left) / len(months)
    bars = []
    for i, month in enumerate(months):
        n, d = getattr(month, part), getattr(month, whole)
        share = n / d if d else 0.0
        height = (bottom - top) * share
        label = f"{month.month:%b}" + (
            f" {month.month:%y}" if i == 0 or month.month.month == 1 else ""
        )
        bars.append(
            Bar(
                x=round(left + slot * i + slot * 0.2, 1),
                y=round(bottom - height, 1),
                width=round(slot * 0.6, 1),
                height=round(height, 1),
                label=label,
                label_x=round(left + slot * i + slot / 2, 1),
                value=_percent(n, d),
                value_y=round(bottom - height - 5, 1),
            )
        )
    first, last = months[0].month, months[-1].month
    latest = months[-1]
    description = (
        f"{what}, by month, {first:%B %Y} to {last:%B %Y}. {last:%B %Y}: "
        f"{_percent(getattr(latest, part), getattr(latest, whole))} "
        f"({getattr(latest, part)} of {getattr(latest, whole)}). The numbers are in the "
        "table below."
    )
    return Chart(id=chart_id, title=title, description=description, bars=bars)


def trend_charts(months: list[fig.TrendMonth]) -> list[Chart]:
    return [
        _chart(
            "trend-held",
            "Interviews held within 72 hours",
            "Share of returns with an interview held within 72 hours",
            months,
            "held_within_72h",
            "returns",
        ),
        _chart(
            "trend-reviews",
            "Manager reviews within the target time",
            "Share of episodes whose first manager review was within the target time",
            months,
            "reviewed_within_target",
            "episodes",
        ),
    ]


def national_return_links() -> list[tuple[str, str]]:
    """Links to the national returns (SSDA903, Annex A), configured in
    settings.FIGURES_NATIONAL_RETURNS as (url name, label) so this page names no other app."""
    links = []
    for url_name, label in getattr(settings, "FIGURES_NATIONAL_RETURNS", ()):
        try:
            links.append((reverse(url_name), label))
        except NoReverseMatch:
            continue
    return links


# --------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------


@role_required(OVERSIGHT_ROLES)
@require_GET
def figures_page(request: StaffRequest) -> HttpResponse:
    """The figures for a period (this month by default), the patterns and the 12-month trend.
    Queries: the session and user; the two filter lists; compute_figures (2, or 3 on SQLite);
    the trend (1); the patterns (3); plus one per team or provider chosen (form validation)."""
    now = timezone.now()
    form = figures_form(request.GET, now)
    context: dict[str, Any] = {"form": form, "national_returns": national_return_links()}
    if not form.is_valid():
        return render(request, "figures/page.html", context, status=400)
    filters = form.filters()
    query = form.query()
    months = fig.monthly_trend(filters, now=now)
    context.update(
        {
            "sections": figure_sections(fig.compute_figures(filters, now=now), query),
            "patterns": fig.patterns(filters, now=now),
            "months": months,
            "charts": trend_charts(months),
            "described": form.description(),
            "query": urlencode(query),
        }
    )
    return render(request, "figures/page.html", context)


@role_required(OVERSIGHT_ROLES)
@require_GET
@rate_limit("list")
def figure_episodes_page(request: StaffRequest) -> HttpResponse:
    """The episodes behind one figure, 50 a page, references only. Queries: the session and
    user; the count; the page; for a figure that counts children, their number (plus one per
    team or provider chosen)."""
    now = timezone.now()
    form = figures_form(request.GET, now)
    key = request.GET.get("figure", "")
    valid = form.is_valid()
    if key not in fig.FIGURE_KEYS:
        form.add_error(None, "Choose a figure from the figures page")
        valid = False
    if not valid:
        return render(request, "figures/episodes.html", {"form": form}, status=400)
    query = form.query()
    behind = fig.figure_episodes(form.filters(), key, now=now)
    episodes = fig.with_answers(behind).only(
        "pk",
        "child_id",
        "kind",
        "state",
        "last_seen_at",
        "returned_at",
        "first_reviewed_at",
        "first_review_due_at",
        "interview_outcome",
        "interview_held_at",
        "interview_due_at",
        "interview_reference",
    )
    page = Paginator(episodes, PAGE_SIZE).get_page(request.GET.get("page"))
    # A per-child figure counts children: say how many, beside the episodes listed.
    children = (
        behind.order_by().aggregate(n=Count("child_id", distinct=True))["n"]
        if key in fig.PER_CHILD_FIGURES
        else None
    )
    # Each episode's answers are annotations (fig.with_answers): typed Any to read them.
    listed: list[Any] = list(page)
    rows = [
        {
            "episode": e,
            "state": EpisodeState(e.state).label,
            "outcome": InterviewOutcome(e.interview_outcome).label if e.interview_outcome else "",
            # The figures' own answers for this episode (fig.ANSWERS), not a recomputation.
            "within_72h": e.answer_held_within_72h if e.answer_held else None,
            "review_on_time": None
            if e.first_reviewed_at is None or e.first_review_due_at is None
            else e.answer_reviewed_on_time,
        }
        for e in listed
    ]
    audit.record_list(request, child_ids=[row["episode"].child_id for row in rows])
    return render(
        request,
        "figures/episodes.html",
        {
            "form": form,
            "figure": fig.figure_label(key),
            "cohort": fig.COHORT_OF[key],
            "page": page,
            "rows": rows,
            "children": children,
            "described": form.description(),
            "query": urlencode({"figure": key, **query}),
            "back": urlencode(query),
        },
    )


# --------------------------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------------------------

Cell = str | int | float | None
Table = tuple[str, list[str], list[list[Cell]]]  # title, header, rows


def report_tables(
    form: FiguresForm, filters: fig.FigureFilters, now: datetime
) -> list[tuple[str, list[Table]]]:
    """The page as tables, grouped by sheet: (sheet name, tables)."""
    figures = fig.compute_figures(filters, now=now)
    found = fig.patterns(filters, now=now)
    months = fig.monthly_trend(filters, now=now)
    about_rows: list[list[Cell]] = [[label, value] for label, value in form.description()]
    about_rows.append(["Produced", timezone.localtime(now).strftime("%d/%m/%Y %H:%M")])
    about: Table = ("Missing children and return interviews: figures", ["", ""], about_rows)
    figure_rows: list[list[Cell]] = []
    for section, _, rows in figure_sections(figures, None):
        for row in rows:
            value: Cell = (
                figures.counts[row.key]
                if row.key in figures.counts
                else (
                    round(figures.median_hours_to_interview, 1)
                    if figures.median_hours_to_interview is not None
                    else None
                )
            )
            figure_rows.append([section, row.label, value, row.share])
    factor_rows: list[list[Cell]] = [
        [kind, r.label, r.interviews, r.children]
        for kind, rows in found.factors.items()
        for r in rows
    ]
    place_rows: list[list[Cell]] = [[r.name, r.children, r.mentions] for r in found.hotspots]
    associate_rows: list[list[Cell]] = [[r.name, r.children, r.mentions] for r in found.associates]
    trend_rows: list[list[Cell]] = [
        [
            m.month.strftime("%B %Y"),
            m.returns,
            m.held_within_72h,
            _percent(m.held_within_72h, m.returns),
            m.episodes,
            m.reviewed_within_target,
            _percent(m.reviewed_within_target, m.episodes),
        ]
        for m in months
    ]
    return [
        (
            "Figures",
            [about, ("Figures", ["Section", "Figure", "Number", "Share"], figure_rows)],
        ),
        (
            "Patterns",
            [
                (
                    "Push factors, pull factors and harms",
                    ["Kind", "Factor", "Interviews", "Children"],
                    factor_rows,
                ),
                ("Places (hotspots)", ["Place", "Children", "Times named or found"], place_rows),
                (
                    "People named by two or more children",
                    ["Person", "Children", "Times named"],
                    associate_rows,
                ),
            ],
        ),
        (
            "Trend",
            [
                (
                    "By month",
                    [
                        "Month",
                        "Returns",
                        "Held within 72 hours",
                        "Share",
                        "Episodes",
                        "Reviewed within target",
                        "Share",
                    ],
                    trend_rows,
                )
            ],
        ),
    ]


def _filename(filters: fig.FigureFilters, extension: str) -> str:
    return f"figures-{filters.period_start.isoformat()}-to-{filters.period_end.isoformat()}.{extension}"


def _download_form(request: StaffRequest, now: datetime) -> FiguresForm | HttpResponse:
    form = figures_form(request.GET, now)
    if not form.is_valid():
        return render(
            request,
            "figures/page.html",
            {"form": form, "national_returns": national_return_links()},
            status=400,
        )
    return form


@role_required(OVERSIGHT_ROLES)
@require_GET
@require_recent_second_factor
@rate_limit("export")
def figures_csv(request: StaffRequest) -> HttpResponse:
    """The page as CSV: the filters, the figures, the patterns and the trend, one table after
    another. Small (a few hundred rows at most), so built in memory."""
    now = timezone.now()
    form = _download_form(request, now)
    if isinstance(form, HttpResponse):
        return form
    filters = form.filters()
    buffer = io.StringIO()
    buffer.write("\ufeff")  # so that spreadsheet programs read it as UTF-8
    writer = csv_writer(buffer)  # every cell neutralised (missing.web.spreadsheet)
    written = 0
    for _, tables in report_tables(form, filters, now):
        for title, header, rows in tables:
            writer.writerow([title])
            if any(header):
                writer.writerow(header)
            for row in rows:
                writer.writerow(row)
                written += 1
            writer.writerow([])
    filename = _filename(filters, "csv")
    # Figures, not records: the access row holds the download's name and its row count.
    audit.record_export(request, rows=written, reference=filename)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@role_required(OVERSIGHT_ROLES)
@require_GET
@require_recent_second_factor
@rate_limit("export")
def figures_xlsx(request: StaffRequest) -> HttpResponse:
    """The page as a spreadsheet: a sheet each for the figures, the patterns and the trend.
    Text is written as text (never a formula, whatever it starts with); numbers as numbers."""
    now = timezone.now()
    form = _download_form(request, now)
    if isinstance(form, HttpResponse):
        return form
    filters = form.filters()
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        output,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    bold = workbook.add_format({"bold": True})
    written = 0
    for sheet_name, tables in report_tables(form, filters, now):
        sheet = workbook.add_worksheet(sheet_name)
        sheet.set_column(0, 0, 34)
        sheet.set_column(1, 6, 18)
        r = 0
        for title, header, rows in tables:
            sheet.write_string(r, 0, title, bold)
            r += 1
            if any(header):
                for c, text in enumerate(header):
                    sheet.write_string(r, c, text, bold)
                r += 1
            for row in rows:
                for c, cell in enumerate(row):
                    if isinstance(cell, int | float):
                        sheet.write_number(r, c, cell)
                    elif cell is not None:
                        sheet.write_string(r, c, str(cell))
                r += 1
                written += 1
            r += 1
    workbook.close()
    filename = _filename(filters, "xlsx")
    audit.record_export(request, rows=written, reference=filename)
    response = HttpResponse(output.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
