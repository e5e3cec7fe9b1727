"""One definition per figure: the figures page, its CSV and XLSX, the API
(/api/interview-figures/), the drill-downs and the interview CSV (/interviews/export.csv) give
the same numbers, on a caseload covering every edge in docs/decisions/0032: cohort edges at
London month ends (a return at 23:00 UTC on 31 March is April's), the clocks change (71 and 73
elapsed hours across it; exactly 72), one interview covering two episodes, a refusal at the
door with no offer logged, independence exceptions (held and only assigned), still-open
episodes (missing, back with no interview, interview arranged but not held) and a cancelled one.

The fixed caseload of figures_data.py, plus episodes generated from a seeded random choice of
edges, all built through the real services. A plain-Python reading of the stored facts checks
the shared answer is also the right one for the edges that matter most."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.urls import reverse
from rest_framework.test import APIClient

from interviews import figures as fig
from interviews import services
from missing.cases.clocks import london_date
from missing.models import EpisodeState, InterviewOutcome, MissingEpisode, User
from tests.factories import FIXED_NOW, ChildFactory, OrganisationFactory, UserFactory
from tests.helpers import login
from tests.interviews import figures_data
from tests.interviews.figures_data import episode, utc
from tests.interviews.helpers import assign, complete, open_interview, record_held
from tests.interviews.test_figures_page import _xlsx_sheets, figure_cell

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
# London midnights that are cohort edges (1 March: GMT; 1 April: BST, 23:00 UTC the evening
# before), the moment the clocks went forward (01:00 UTC, 29 March 2026), and the end of
# February for the episodes that start in one month and end in the next.
EDGES = (utc(2026, 3, 1, 0), utc(2026, 3, 31, 23), utc(2026, 3, 29, 1), utc(2026, 2, 28, 23))
# Hours from return to interview around the 72-hour line.
GAPS = (20.0, 71.0, 71.98, 72.0, 72.02, 73.0)
KINDS = ("none", "held", "held_exception", "refused_at_door", "carer_refused", "arranged")


def _refuse(interview: Any, *, actor: User, outcome: str, now: datetime) -> None:
    """The interview not held: recorded straight away, with no attempt or offer logged."""
    interview.refresh_from_db()
    services.interview_record_update(
        services.RecordData(changes={"outcome": outcome, "not_held_reason": "Said no at the door"}),
        actor=actor,
        interview_id=interview.pk,
        expected_version=interview.version,
        now=now,
    )
    complete(interview, actor=actor, now=now)


def generated(*, ffd: User, manager: User, interviewer: User, seed: int, n: int) -> None:
    """`n` episodes of new children, each at a randomly chosen edge, with a randomly chosen
    interview story (seeded: the same caseload every run)."""
    rng = random.Random(seed)
    council = OrganisationFactory(name="Generated council")
    for i in range(n):
        kind = KINDS[i % len(KINDS)] if i < len(KINDS) else rng.choice(KINDS)
        edge = rng.choice(EDGES)
        returned = edge + rng.choice((-90, -1, 0, 1, 90)) * MINUTE
        still_missing = rng.random() < 0.15 and kind == "none"
        last_seen = returned - rng.choice((2, 5, 30)) * H
        sw = UserFactory(role="interviewer", organisation=council)
        child = ChildFactory(
            date_of_birth=rng.choice((None, date(2012, 3, 29), date(2010, 4, 1))),
            looked_after=rng.random() < 0.5,
            social_worker=sw,
        )
        made = episode(
            ffd=ffd,
            manager=manager,
            child=child,
            last_seen=last_seen,
            returned=None if still_missing else returned,
            review_after=rng.choice((timedelta(hours=1), timedelta(hours=9), None)),
        )
        if still_missing or kind == "none":
            continue
        interview = open_interview(manager=manager, episodes=[made], now=returned + H)
        if kind in ("refused_at_door", "carer_refused"):
            outcome = "child_refused" if kind == "refused_at_door" else "carer_refused"
            _refuse(interview, actor=manager, outcome=outcome, now=returned + 2 * H)
            continue
        who = sw if kind == "held_exception" else interviewer
        assign(
            interview,
            manager=manager,
            interviewer=who,
            now=returned + H,
            exception_reason="Asked for her social worker." if who is sw else "",
        )
        if kind == "arranged":
            continue
        held_at = returned + timedelta(hours=rng.choice(GAPS))
        record_held(interview, actor=who, held_at=held_at, now=held_at + H)
        complete(interview, actor=who, now=held_at + H)


@pytest.fixture
def caseload(ffd, manager, interviewer, other_interviewer):
    built = figures_data.build(
        ffd=ffd, manager=manager, interviewer=interviewer, other_interviewer=other_interviewer
    )
    # Assigned under the exception, not held yet: not an exception in the figures.
    pending = episode(
        ffd=ffd,
        manager=manager,
        child=ChildFactory(social_worker=UserFactory(role="interviewer")),
        last_seen=utc(2026, 3, 20, 8),
        returned=utc(2026, 3, 20, 12),
    )
    arranged = open_interview(manager=manager, episodes=[pending], now=utc(2026, 3, 20, 13))
    assign(
        arranged,
        manager=manager,
        interviewer=pending.child.social_worker,
        now=utc(2026, 3, 20, 13),
        exception_reason="Asked for him.",
    )
    generated(ffd=ffd, manager=manager, interviewer=interviewer, seed=32, n=24)
    return built


def _params(caseload: figures_data.Caseload) -> list[dict[str, str]]:
    march = {"period_start": "2026-03-01", "period_end": "2026-03-31"}
    return [
        march,
        {"period_start": "2026-03-28", "period_end": "2026-04-01"},
        {"period_start": "2026-04-01", "period_end": "2026-04-30"},
        {**march, "legal_status": "looked_after"},
        {**march, "age_band": "14-15"},
        {**march, "team": str(caseload.teams["North"].pk)},
        {**march, "provider": str(caseload.providers["safe_steps"].pk)},
    ]


def _csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8").lstrip("\ufeff"))))


def _share_text(line: dict[str, Any]) -> str:
    if line["share_of"] is None:
        return ""
    whole = {
        "episodes": "episodes",
        "children": "children",
        "returns": "returns",
        "children_returned": "children who returned",
        "held": "held",
    }[line["share_of"]]
    shown = "–" if line["percent"] is None else f"{line['percent']}%"
    return f"{shown} of {whole}"


def test_page_csv_xlsx_api_and_drill_downs_agree(caseload, manager, client):
    login(client, manager)
    api = APIClient()
    login(api, manager)
    with time_machine.travel(FIXED_NOW, tick=False):
        for params in _params(caseload):
            response = api.get("/api/interview-figures/", params)
            assert response.status_code == 200, response.json()
            body = response.json()
            lines = body["figures"]
            page = client.get(reverse("interviews:figures"), params).content.decode()
            csv_rows = _csv_rows(client.get(reverse("interviews:figures_csv"), params).content)
            by_label_csv = {r[1]: r[2:] for r in csv_rows if len(r) == 4 and r[0] != "Section"}
            sheets = _xlsx_sheets(client.get(reverse("interviews:figures_xlsx"), params).content)
            by_label_xlsx = {r[1]: r[2:] for r in sheets["Figures"] if len(r) >= 3}
            filters = fig.FigureFilters(
                period_start=date.fromisoformat(params["period_start"]),
                period_end=date.fromisoformat(params["period_end"]),
                team_id=int(params["team"]) if "team" in params else None,
                age_band=params.get("age_band"),
                legal_status=params.get("legal_status"),
                provider_id=int(params["provider"]) if "provider" in params else None,
            )
            assert [line["key"] for line in lines] == [
                key for _, _, keys in fig.SECTIONS for key, _ in keys
            ]
            for line in lines:
                key, value = line["key"], line["value"]
                where = (params, key)
                assert figure_cell(page, key)[0] == str(value), where
                share = _share_text(line)
                assert by_label_csv[line["label"]] == [str(value), share], where
                assert by_label_xlsx[line["label"]] in ([str(value), share], [str(value)]), where
                behind = fig.figure_episodes(filters, key, now=FIXED_NOW)
                counted = (
                    behind.order_by().values("child_id").distinct().count()
                    if line["counts"] == "children"
                    else behind.count()
                )
                if key == fig.REPEAT_EPISODES:
                    counted = behind.count()
                assert counted == value, where
            median = body["median_hours_to_interview"]
            shown = "–" if median is None else f"{median:.1f}"
            assert figure_cell(page, fig.MEDIAN)[0] == (
                shown if median is None else f"{shown} hours"
            )
            if median is not None:
                assert by_label_csv[fig.MEDIAN_LABEL][0] == shown
            assert by_label_csv[fig.MEDIAN_LABEL][1] == f"of {body['timed']} held"


def _interview_csv(client: Any) -> list[dict[str, str]]:
    response = client.get(reverse("interviews:export"))
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    return list(csv.DictReader(io.StringIO(content.decode("utf-8").lstrip("\ufeff"))))


@pytest.mark.parametrize(
    ("first", "last"),
    [(date(2026, 3, 1), date(2026, 3, 31)), (date(2026, 4, 1), date(2026, 4, 30))],
)
def test_the_interview_csv_sums_to_the_figures(caseload, manager, client, first, last):
    """The data team's per-episode CSV has no period: its rows for the episodes back in a
    month (London) add up to that month's interview figures."""
    login(client, manager)
    with time_machine.travel(FIXED_NOW, tick=False):
        rows = [
            r
            for r in _interview_csv(client)
            if first <= london_date(datetime.fromisoformat(r["returned_at"])) <= last
        ]
    counts = fig.compute_figures(
        fig.FigureFilters(period_start=first, period_end=last), now=FIXED_NOW
    ).counts
    column = Counter(
        (name, r[name])
        for r in rows
        for name in ("offered", "accepted", "held", "held_within_72h", "independence_exception")
    )
    outcomes = Counter(r["outcome"] for r in rows)
    assert len(rows) == counts["returns"]
    assert len({r["child"] for r in rows}) == counts["children_returned"]
    assert column["offered", "Y"] == counts["offered"]
    assert column["accepted", "Y"] == counts["accepted"]
    assert column["accepted", "N"] == counts["refused"]
    assert column["held", "Y"] == counts["held"]
    assert column["held_within_72h", "Y"] == counts["held_within_72h"]
    assert column["independence_exception", "Y"] == counts["independence_exceptions"]
    assert outcomes[""] == counts["awaiting_outcome"]
    for outcome in fig.NOT_HELD_OUTCOMES:
        assert outcomes[outcome.value] == counts[f"not_held_{outcome.value}"]


def test_the_shared_answer_is_the_right_one(caseload):
    """A plain reading of the stored facts, episode by episode, for March's returns: the
    72 hours are elapsed hours from each episode's own return; a refusal counts as an offer
    even with no offer logged; an exception counts only when the interview was held."""
    march = fig.FigureFilters(period_start=date(2026, 3, 1), period_end=date(2026, 3, 31))
    counts = fig.compute_figures(march, now=FIXED_NOW).counts
    back = [
        e
        for e in MissingEpisode.objects.exclude(state=EpisodeState.CANCELLED).select_related(
            "interview_link__interview"
        )
        if e.returned_at is not None and london_date(e.returned_at).month == 3
    ]
    held = [e for e in back if e.interview_outcome == InterviewOutcome.HELD]
    link = {e.pk: getattr(e, "interview_link", None) for e in back}
    assert counts["returns"] == len(back)
    assert counts["held"] == len(held)
    assert counts["held_within_72h"] == sum(
        (e.interview_held_at - e.returned_at) <= timedelta(hours=72) for e in held
    )
    assert counts["offered"] == sum(
        e.interview_outcome in ("held", "child_refused", "carer_refused")
        or (link[e.pk] is not None and link[e.pk].offered_at is not None)
        for e in back
    )
    assert counts["independence_exceptions"] == sum(
        link[e.pk].interview.independence == "exception" for e in held
    )
    # The edges are there to be counted: refusals at the door with no offer logged, and an
    # exception assigned but not held.
    at_door = [
        e for e in back if e.interview_outcome == "child_refused" and link[e.pk].offered_at is None
    ]
    assert at_door
    assert any(
        link[e.pk] is not None
        and link[e.pk].interview.independence == "exception"
        and e.interview_outcome == ""
        for e in back
    )
