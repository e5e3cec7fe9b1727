"""Import from the Standard Safeguarding Dataset (SSD): children, legal-status periods, the
social worker and team, the current placement, linked identifiers (NHS number, UPN, former ids)
and historical missing episodes with RHI offered / accepted.

The format is Data to Insight's published SSD field names (data-to-insight/ssd-data-model):
one CSV per table, a header row of field names. See docs/decisions/0048-ssd-import.md.

How a run goes:
1. every row of every file is read and kept as an `ImportRow` (raw fields, file, line);
2. rows are checked (dates, codes, ids, end before start, duplicate keys, overlaps): a bad row
   gets one problem per field and is not applied;
3. the good rows are applied in **one transaction** (the whole import or nothing); a re-run of
   the same files finds every row unchanged. A dry run does all of it and rolls back.

Matching: a child is the council child id = `pers_person_id`, or the NHS number
(`pers_common_child_id`, else a current NHS number in `ssd_linked_identifiers`), or a former id
or UPN of the child (`ssd_linked_identifiers`, matched against council child ids and the
identifiers earlier imports kept). Periods and episodes carry the SSD row key
(`LegalStatusPeriod.source_key = "<table>:<id>"`; episodes `police_reference = "SSD:<id>"` under
the "SSD import" police force), so a re-import updates the row it made and never adds another.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q

from interviews.models import InterviewEpisode, InterviewStatus, ReturnInterview
from missing.cases import child_facts, clocks, nhs
from missing.models import (
    AccessAction,
    AccessLog,
    Child,
    Council,
    EpisodeState,
    InterviewOutcome,
    LegalStatus,
    LegalStatusPeriod,
    MissingEpisode,
    Organisation,
    PoliceForce,
    RiskGrade,
    Team,
    User,
    installation_councils,
    is_regional,
)
from ssd.models import ImportRow, ImportRun, LinkedIdentifier

SSD_FORCE_CODE = "ssd-import"
SSD_GRADE_CODE = "not_recorded"
EPISODE_PREFIX = "SSD:"
BATCH = 2000
# bulk_update writes a CASE per row: small batches keep each statement quick.
UPDATE_BATCH = 500
PROGRESS_EVERY = 10_000
PAGE_PROGRESS_EVERY = 2_000

# The files read, in the order they are applied, and the fields read from each.
FIELDS: dict[str, tuple[str, ...]] = {
    "ssd_person": (
        "pers_person_id",
        "pers_sex",
        "pers_dob",
        "pers_common_child_id",
    ),
    "ssd_cla_episodes": (
        "clae_cla_episode_id",
        "clae_person_id",
        "clae_cla_episode_start_date",
        "clae_cla_episode_ceased",
    ),
    "ssd_cp_plans": (
        "cppl_cp_plan_id",
        "cppl_person_id",
        "cppl_cp_plan_start_date",
        "cppl_cp_plan_end_date",
    ),
    "ssd_cin_episodes": (
        "cine_referral_id",
        "cine_person_id",
        "cine_referral_date",
        "cine_close_date",
    ),
    "ssd_linked_identifiers": (
        "link_table_id",
        "link_person_id",
        "link_identifier_type",
        "link_identifier_value",
        "link_valid_from_date",
        "link_valid_to_date",
    ),
    "ssd_cla_placement": (
        "clap_cla_placement_id",
        "clap_person_id",
        "clap_cla_placement_start_date",
        "clap_cla_placement_provider",
        "clap_cla_placement_postcode",
        "clap_cla_placement_end_date",
    ),
    "ssd_professionals": (
        "prof_professional_id",
        "prof_staff_id",
        "prof_professional_name",
    ),
    "ssd_involvements": (
        "invo_involvements_id",
        "invo_person_id",
        "invo_professional_id",
        "invo_professional_team",
        "invo_involvement_start_date",
        "invo_involvement_end_date",
    ),
    "ssd_missing": (
        "miss_table_id",
        "miss_la_person_id",
        "miss_mis_epi_start",
        "miss_mis_epi_type",
        "miss_mis_epi_end",
        "miss_mis_epi_rhi_offered",
        "miss_mis_epi_rhi_accepted",
    ),
}
TABLES = tuple(FIELDS)
# Optional local columns (not in the SSD, which carries no names): read when present.
PERSON_NAME_FIELDS = ("pers_forename", "pers_surname")
# Optional placement columns, read when present: the council the child is placed in (the SSD
# draft's `clap_cla_placement_la`) and, a local column, the placing (responsible) council.
HOST_COUNCIL_FIELD = "clap_cla_placement_la"
PLACING_COUNCIL_FIELD = "clap_placing_la"
# A UK postcode, or its outward part alone: only the outward part (the postcode district) is
# kept as the placement area, never the full address.
POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)(?: ?([0-9][A-Z]{2}))?$")
# A unique pupil number: a check letter and 12 characters (digits; a temporary UPN ends in a
# letter).
UPN = re.compile(r"^[A-Z][0-9]{11}[0-9A-Z]$")
PERIOD_TABLES: dict[str, tuple[str, str, str, str]] = {
    # table: (status, person field, start field, end field)
    "ssd_cla_episodes": (
        LegalStatus.LOOKED_AFTER,
        "clae_person_id",
        "clae_cla_episode_start_date",
        "clae_cla_episode_ceased",
    ),
    "ssd_cp_plans": (
        LegalStatus.CHILD_PROTECTION_PLAN,
        "cppl_person_id",
        "cppl_cp_plan_start_date",
        "cppl_cp_plan_end_date",
    ),
    "ssd_cin_episodes": (
        LegalStatus.CHILD_IN_NEED,
        "cine_person_id",
        "cine_referral_date",
        "cine_close_date",
    ),
}
# The published name of a field read here under an older one: a header with the published name
# is read as the older (the data model names the looked-after episode's end
# `clae_cla_episode_ceased_date`).
PUBLISHED_NAMES = {"clae_cla_episode_ceased_date": "clae_cla_episode_ceased"}
SEX = {"F": "Female", "M": "Male", "U": "Unknown", "": ""}
YES = {"Y", "YES"}
NO = {"N", "NO"}
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")
DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")


@dataclass
class Row:
    table: str
    line: int
    data: dict[str, str]
    problems: list[dict[str, str]] = field(default_factory=list)
    outcome: str = ImportRow.Outcome.PENDING

    def get(self, name: str) -> str:
        return (self.data.get(name) or "").strip()

    def problem(self, name: str, text: str) -> None:
        self.problems.append({"field": name, "problem": text})

    @property
    def key(self) -> str:
        return self.get(FIELDS[self.table][0])


@dataclass
class Report:
    run: ImportRun
    rows: list[Row]
    counts: dict[str, dict[str, int]]
    children_changed: list[str]

    @property
    def rejected(self) -> list[Row]:
        return [r for r in self.rows if r.outcome == ImportRow.Outcome.REJECTED]


class ImportRefused(Exception):
    """The import cannot start (no file, or the acting user may not import)."""


def import_council(*, actor: User, code: str = "") -> Council | None:
    """The council whose children an import is about (decision 0070), before anything is read.
    Single-council installation: the one council (None when not configured); a `code` naming
    another is refused. Regional: the council named by `code` (an ONS code of this
    installation), else the importing user's; a user imports for their own council only."""
    codes = installation_councils()
    code = code.strip().upper()
    if not is_regional():
        if code and code not in codes:
            raise ImportRefused(f"This installation does not serve council {code}.")
        return Council.objects.filter(ons_code=codes[0]).first() if codes else None
    if not code:
        if actor.council_id is None:
            raise ImportRefused(
                f"Say which council the import is for: the ONS code of one of {', '.join(codes)}."
            )
        return actor.council
    council = Council.objects.filter(ons_code=code).first() if code in codes else None
    if council is None:
        raise ImportRefused(
            f"{code} is not a council of this installation: use one of {', '.join(codes)}."
        )
    if actor.council_id != council.pk:
        raise ImportRefused(f"{actor.username} does not work for council {code}.")
    return council


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read_tables(files: Mapping[str, str]) -> list[Row]:
    """Rows of each file ({table: CSV text}); a missing header column is one problem on line 1."""
    rows: list[Row] = []
    for table in TABLES:
        if table not in files:
            continue
        reader = csv.DictReader(io.StringIO(files[table].lstrip("\ufeff")))
        header = [h.strip() for h in (reader.fieldnames or [])]
        header = [
            PUBLISHED_NAMES[h] if h in PUBLISHED_NAMES and PUBLISHED_NAMES[h] not in header else h
            for h in header
        ]
        reader.fieldnames = header
        absent = [f for f in FIELDS[table] if f not in header]
        if absent:
            row = Row(table, 1, {"header": ",".join(header)})
            for name in absent:
                row.problem(name, "This column is missing from the header row.")
            rows.append(row)
            continue
        for data in reader:
            clean = {k: (v or "") for k, v in data.items() if k}
            rows.append(Row(table, reader.line_num, clean))
    return rows


def read_folder(folder: str) -> dict[str, str]:
    from pathlib import Path

    path = Path(folder)
    if not path.is_dir():
        raise ImportRefused(f"{folder} is not a folder.")
    files = {
        t: (path / f"{t}.csv").read_text(encoding="utf-8-sig")
        for t in TABLES
        if (path / f"{t}.csv").is_file()
    }
    if not files:
        raise ImportRefused(f"{folder} holds none of the SSD files ({', '.join(TABLES)}).")
    return files


# --------------------------------------------------------------------------------------------
# Field checks
# --------------------------------------------------------------------------------------------


def _date(row: Row, name: str, *, required: bool, today: date) -> date | None:
    value = row.get(name)
    if not value:
        if required:
            row.problem(name, "Missing: give the date.")
        return None
    value = value[:10] if len(value) > 10 and value[4:5] == "-" else value
    for fmt in DATE_FORMATS:
        try:
            day = datetime.strptime(value, fmt).date()  # noqa: DTZ007 - a date, no time
        except ValueError:
            continue
        if day.year < 1900 or day > today:
            row.problem(name, f"{value} is not a date between 1900 and today.")
            return None
        return day
    row.problem(name, f"{value} is not a date (use YYYY-MM-DD).")
    return None


def _moment(row: Row, name: str, *, required: bool, now: datetime) -> datetime | None:
    """A date and time in London (a date alone is taken as 12:00, clear of the clock change)."""
    value = row.get(name)
    if not value:
        if required:
            row.problem(name, "Missing: give the date.")
        return None
    for fmt in DATETIME_FORMATS:
        try:
            naive = datetime.strptime(value, fmt)  # noqa: DTZ007 - London wall time, made aware
        except ValueError:
            continue
        moment = naive.replace(tzinfo=clocks.LONDON)
        break
    else:
        day = _date(row, name, required=required, today=clocks.london_date(now))
        if day is None:
            return None
        moment = datetime.combine(day, time(12), tzinfo=clocks.LONDON)
    if moment.year < 1900 or moment > now:
        row.problem(name, f"{value} is not a time between 1900 and now.")
        return None
    return moment


def _yes_no(row: Row, name: str) -> bool | None:
    value = row.get(name).upper()
    if value in YES:
        return True
    if value in NO:
        return False
    if value:
        row.problem(name, f"{row.get(name)} is not a code this field takes (Yes, No or blank).")
    return None


def _key(row: Row, seen: dict[tuple[str, str], int]) -> str:
    name = FIELDS[row.table][0]
    key = row.key
    if not key:
        row.problem(name, "Missing: every row needs its id.")
    elif len(key) > 40:
        row.problem(name, "Longer than 40 characters.")
    elif (row.table, key) in seen:
        row.problem(name, f"Duplicate id {key}: already on line {seen[(row.table, key)]}.")
    else:
        seen[(row.table, key)] = row.line
    return key


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


class _Counts:
    def __init__(self) -> None:
        self.by_table: dict[str, dict[str, int]] = defaultdict(
            lambda: {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}
        )

        self.done = 0

    def add(self, row: Row, outcome: str) -> None:
        if row.outcome == ImportRow.Outcome.PENDING:
            self.done += 1
        row.outcome = outcome
        self.by_table[row.table][outcome] += 1


def run_import(
    *,
    files: Mapping[str, str],
    actor: User,
    now: datetime,
    origin: str,
    source: str,
    dry_run: bool = False,
    changed_since: date | None = None,
    progress: Callable[[str], None] = lambda _: None,
    rows_done: Callable[[ImportRun, int], None] = lambda _run, _n: None,
    council: str = "",
) -> Report:
    """Read, keep, check and apply SSD files. Raises ImportRefused before reading anything when
    the actor may not import (FFD, managers and heads of service may), or when it is not
    clear which council's children these are (`import_council`; `council`: an ONS code).
    `rows_done` hears how many rows are settled as the work goes (the managers' page shows
    it)."""
    if not actor.has_role(child_facts.FACTS_ROLES):
        raise ImportRefused("Your role cannot import the child's facts.")
    of_council = import_council(actor=actor, code=council)
    rows = read_tables(files)
    progress(f"Read {len(rows)} rows from {len(files)} files.")
    run = ImportRun(
        started_at=now,
        by=actor,
        origin=origin,
        source=source[:300],
        dry_run=dry_run,
        changed_since=changed_since,
        rows_total=len(rows),
    )
    if not dry_run:
        with transaction.atomic():
            run.save()
            # Kept before anything is applied: every fact received, in its own transaction.
            stored = [
                ImportRow(run=run, table=r.table, line=r.line, row_key=r.key[:100], data=r.data)
                for r in rows
            ]
            ImportRow.objects.bulk_create(stored, batch_size=BATCH)
    try:
        with transaction.atomic():
            counts, changed = _Applier(
                rows,
                actor=actor,
                council=of_council,
                now=now,
                progress=progress,
                rows_done=lambda n: rows_done(run, n),
            ).apply()
            run.status = ImportRun.Status.DRY_RUN if dry_run else ImportRun.Status.APPLIED
            run.finished_at = now
            run.summary = {"counts": dict(counts.by_table), "children_changed": changed}
            run.rows_done = len(rows)
            if dry_run:
                transaction.set_rollback(True)
            else:
                run.save(update_fields=["status", "finished_at", "summary", "rows_done"])
                _store_outcomes(run, rows)
                if changed:
                    AccessLog.objects.create(
                        at=now,
                        user=actor,
                        role=actor.role,
                        action=AccessAction.CHANGE,
                        child_ids=sorted(int(ref[2:]) for ref in changed),
                        reference=f"SSD import {run.pk}",
                        route=f"ssd-import:{origin}",
                        rows=len(changed),
                    )
    except Exception:
        if not dry_run:
            ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.FAILED)
        raise
    return Report(run=run, rows=rows, counts=dict(counts.by_table), children_changed=changed)


def _store_outcomes(run: ImportRun, rows: list[Row]) -> None:
    """One UPDATE per outcome (by line ranges of each table), then the problems of the rejected
    rows: a CASE per row (bulk_update) is far slower on tens of thousands of rows."""
    stored = {
        (t, line): pk
        for pk, t, line in ImportRow.objects.filter(run=run).values_list("pk", "table", "line")
    }
    by_outcome: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        by_outcome[r.outcome].append(stored[(r.table, r.line)])
    for outcome, pks in by_outcome.items():
        for start in range(0, len(pks), BATCH):
            ImportRow.objects.filter(pk__in=pks[start : start + BATCH]).update(outcome=outcome)
    rejected = [
        ImportRow(pk=stored[(r.table, r.line)], problems=r.problems) for r in rows if r.problems
    ]
    ImportRow.objects.bulk_update(rejected, ["problems"], batch_size=UPDATE_BATCH)


class _Applier:
    def __init__(
        self,
        rows: list[Row],
        *,
        actor: User,
        now: datetime,
        progress: Callable[[str], None],
        rows_done: Callable[[int], None] = lambda _: None,
        council: Council | None = None,
    ) -> None:
        self.rows = rows
        # The children and episodes it creates are this council's; on a regional installation
        # it matches and changes this council's children only (decision 0070).
        self.council_id = council.pk if council is not None else None
        regional = is_regional()
        if not regional:
            self.of_council = Q()
        elif self.council_id is None:
            self.of_council = Q(council__isnull=True)
        else:
            self.of_council = Q(council_id=self.council_id)
        # Two councils' extracts number their rows alike: on a regional installation the keys
        # kept of periods, identifiers and episodes start with the council's ONS code.
        self.key_prefix = f"{council.ons_code}:" if regional and council is not None else ""
        self.rows_done = rows_done
        self.actor = actor
        self.now = now
        self.today = clocks.london_date(now)
        self.progress = progress
        self.counts = _Counts()
        self.seen: dict[tuple[str, str], int] = {}
        self.children: dict[str, Child] = {}  # council child id -> child
        self.changed: set[int] = set()
        self.periods_changed: set[int] = set()
        self.new_children: set[int] = set()
        # Good ssd_linked_identifiers rows by person id: (row, kind, value, current).
        self.links: dict[str, list[tuple[Row, str, str, bool]]] = defaultdict(list)
        self.by_table: dict[str, list[Row]] = defaultdict(list)
        for row in rows:
            self.by_table[row.table].append(row)

    def _reject_header_rows(self) -> None:
        for row in self.rows:
            if row.problems:  # header problems, found while reading
                self.counts.add(row, ImportRow.Outcome.REJECTED)

    def apply(self) -> tuple[_Counts, list[str]]:
        self._reject_header_rows()
        self._check_links()
        self._persons()
        self._load_children()
        self._store_links()
        for table in PERIOD_TABLES:
            self._periods(table)
            self.rows_done(self.counts.done)
        self._involvements()
        self._placements()
        self.rows_done(self.counts.done)
        self._missing()
        self._recompute()
        return self.counts, [f"C-{pk}" for pk in sorted(self.changed)]

    def _tick(self, table: str, n: int) -> None:
        if n and n % PAGE_PROGRESS_EVERY == 0:
            self.rows_done(self.counts.done)
        if n and n % PROGRESS_EVERY == 0:
            self.progress(f"{table}: {n} rows checked.")

    def _ok(self, row: Row) -> bool:
        if row.problems:
            self.counts.add(row, ImportRow.Outcome.REJECTED)
            return False
        return True

    # ---- ssd_person ------------------------------------------------------------------------

    def _persons(self) -> None:
        rows = [r for r in self.by_table["ssd_person"] if r.outcome == ImportRow.Outcome.PENDING]
        nhs_seen: dict[str, int] = {}
        good: list[tuple[Row, dict[str, Any]]] = []
        for n, row in enumerate(rows, 1):
            self._tick("ssd_person", n)
            key = _key(row, self.seen)
            dob = _date(row, "pers_dob", required=False, today=self.today)
            sex = row.get("pers_sex").upper()
            if sex not in SEX:
                row.problem("pers_sex", f"{row.get('pers_sex')} is not a code (F, M or U).")
            number = nhs.normalise(row.get("pers_common_child_id")) or self._linked_nhs(key)
            if number:
                trouble = nhs.problem(number)
                if trouble:
                    row.problem("pers_common_child_id", trouble)
                elif number in nhs_seen:
                    row.problem(
                        "pers_common_child_id",
                        f"The same NHS number is on line {nhs_seen[number]}.",
                    )
                else:
                    nhs_seen[number] = row.line
            if self._ok(row):
                facts: dict[str, Any] = {
                    "date_of_birth": dob,
                    "gender": SEX.get(sex, ""),
                    "nhs_number": number or None,
                }
                good.append((row, {"key": key, **facts}))
        keys = [facts["key"] for _, facts in good]
        numbers = [facts["nhs_number"] for _, facts in good if facts["nhs_number"]]
        former = {
            v for k in keys for _, kind, v, _ in self.links.get(k, ()) if kind in FORMER_KINDS
        }
        known = LinkedIdentifier.objects.filter(
            value__in=former, kind__in=FORMER_KINDS
        ).values_list("value", "child_id")
        linked_child = dict(known) if former else {}
        existing = list(
            Child.objects.select_for_update()
            .filter(self.of_council)
            .filter(
                Q(council_child_id__in=[*keys, *former])
                | Q(nhs_number__in=numbers)
                | Q(pk__in=set(linked_child.values()))
            )
        )
        by_id = {c.council_child_id: c for c in existing if c.council_child_id}
        by_nhs = {c.nhs_number: c for c in existing if c.nhs_number}
        by_pk = {c.pk: c for c in existing}
        taken_by_former: dict[int, int] = {}
        new: list[tuple[Row, Child]] = []
        updated: list[Child] = []
        for row, facts in good:
            key, number = facts.pop("key"), facts["nhs_number"]
            child = by_id.get(key)
            other = by_nhs.get(number) if number else None
            if other is not None and child is not None and other.pk != child.pk:
                row.problem(
                    "pers_common_child_id",
                    f"This NHS number is on {other.reference}, the id on {child.reference}: "
                    "merge the two records first.",
                )
            elif other is not None and child is None and other.council_child_id:
                row.problem(
                    "pers_common_child_id",
                    f"This NHS number is on {other.reference}, whose council child id is "
                    f"{other.council_child_id}.",
                )
            if not self._ok(row):
                continue
            child = child or other
            if child is None:
                # A renumbered child: a former id (or UPN) the case system links to this one.
                for link_row, kind, value, _ in self.links.get(key, ()):
                    if kind not in FORMER_KINDS:
                        continue
                    match = by_id.get(value) if kind == LinkedIdentifier.Kind.FORMER_ID else None
                    match = match or by_pk.get(linked_child.get(value, 0))
                    if match is None or match.council_child_id in keys:
                        continue  # no such record, or its own id is in this extract
                    if match.pk in taken_by_former:
                        row.problem(
                            "pers_person_id",
                            f"{value} (ssd_linked_identifiers line {link_row.line}) is the "
                            f"former id of {match.reference}, already matched on line "
                            f"{taken_by_former[match.pk]}.",
                        )
                        break
                    taken_by_former[match.pk] = row.line
                    child = match
                    break
                if not self._ok(row):
                    continue
            if child is None:
                child = Child(
                    council_id=self.council_id,
                    council_child_id=key,
                    first_name=row.get("pers_forename")[:100] or "Name not given",
                    last_name=row.get("pers_surname")[:100],
                    created_at=self.now,
                    **facts,
                )
                new.append((row, child))
                continue
            facts["council_child_id"] = key
            if number is None:
                facts.pop("nhs_number")  # a blank does not erase a number recorded here
            diff = {k: v for k, v in facts.items() if getattr(child, k) != v}
            if diff:
                for name, value in diff.items():
                    setattr(child, name, value)
                child.version += 1
                updated.append(child)
                self.changed.add(child.pk)
                self.counts.add(row, ImportRow.Outcome.UPDATED)
            else:
                self.counts.add(row, ImportRow.Outcome.UNCHANGED)
            self.children[key] = child
        Child.objects.bulk_create([c for _, c in new], batch_size=BATCH)
        for row, child in new:
            if child.council_child_id:  # always: made above with the row's key
                self.children[child.council_child_id] = child
            self.changed.add(child.pk)
            self.new_children.add(child.pk)
            self.counts.add(row, ImportRow.Outcome.CREATED)
        Child.objects.bulk_update(
            updated,
            ["date_of_birth", "gender", "nhs_number", "council_child_id", "version"],
            batch_size=UPDATE_BATCH,
        )
        self.progress(f"ssd_person: {len(new)} children added, {len(updated)} updated.")

    def _load_children(self) -> None:
        """Every child another file names, by council child id (one query)."""
        wanted: set[str] = set()
        for table, person_field in (
            ("ssd_linked_identifiers", "link_person_id"),
            ("ssd_cla_placement", "clap_person_id"),
            ("ssd_cla_episodes", "clae_person_id"),
            ("ssd_cp_plans", "cppl_person_id"),
            ("ssd_cin_episodes", "cine_person_id"),
            ("ssd_involvements", "invo_person_id"),
            ("ssd_missing", "miss_la_person_id"),
        ):
            wanted.update(r.get(person_field) for r in self.by_table[table])
        wanted -= set(self.children)
        wanted.discard("")
        if wanted:
            for child in Child.objects.filter(self.of_council, council_child_id__in=wanted):
                if child.council_child_id:  # always: found by it
                    self.children[child.council_child_id] = child

    def _child(self, row: Row, name: str) -> Child | None:
        key = row.get(name)
        if not key:
            row.problem(name, "Missing: give the person's id.")
            return None
        child = self.children.get(key)
        if child is None:
            row.problem(
                name, f"No child with id {key}: not in ssd_person, or its row was rejected."
            )
        return child

    # ---- linked identifiers ----------------------------------------------------------------

    def _linked_nhs(self, person_id: str) -> str:
        """A current NHS number the case system links to this person (pers_common_child_id is
        blank): used for matching and kept as the child's NHS number."""
        for _, kind, value, current in self.links.get(person_id, ()):
            if kind == LinkedIdentifier.Kind.NHS_NUMBER and current:
                return value
        return ""

    def _check_links(self) -> None:
        """Check ssd_linked_identifiers first: ssd_person is matched with them."""
        person_nhs = {
            r.get("pers_person_id"): nhs.normalise(r.get("pers_common_child_id"))
            for r in self.by_table["ssd_person"]
        }
        for n, row in enumerate(self.by_table["ssd_linked_identifiers"], 1):
            if row.outcome != ImportRow.Outcome.PENDING:
                continue
            self._tick("ssd_linked_identifiers", n)
            _key(row, self.seen)
            person = row.get("link_person_id")
            if not person:
                row.problem("link_person_id", "Missing: give the person's id.")
            given = row.get("link_identifier_type")
            kind = _identifier_kind(given)
            if not given:
                row.problem("link_identifier_type", "Missing: say which identifier this is.")
            elif len(given) > 100:
                row.problem("link_identifier_type", "Longer than 100 characters.")
            value = row.get("link_identifier_value")
            if kind == LinkedIdentifier.Kind.NHS_NUMBER:
                value = nhs.normalise(value)
            elif kind == LinkedIdentifier.Kind.UPN:
                value = value.replace(" ", "").upper()
            if not value:
                row.problem("link_identifier_value", "Missing: give the identifier.")
            elif len(value) > 100:
                row.problem("link_identifier_value", "Longer than 100 characters.")
            elif kind == LinkedIdentifier.Kind.NHS_NUMBER and nhs.problem(value):
                row.problem("link_identifier_value", nhs.problem(value) or "")
            elif kind == LinkedIdentifier.Kind.UPN and not UPN.match(value):
                row.problem(
                    "link_identifier_value",
                    f"{value} is not a UPN (a letter and 12 characters, like A123456789012).",
                )
            start = _date(row, "link_valid_from_date", required=False, today=self.today)
            end = _date(
                row, "link_valid_to_date", required=False, today=self.today + timedelta(3650)
            )
            if start and end and end < start:
                row.problem("link_valid_to_date", "The end date is before the start date.")
            current = end is None or end >= self.today
            own = person_nhs.get(person, "")
            if kind == LinkedIdentifier.Kind.NHS_NUMBER and current and own and own != value:
                row.problem(
                    "link_identifier_value",
                    "A different NHS number from this person's pers_common_child_id.",
                )
            if self._ok(row):
                self.links[person].append((row, kind, value, current))

    def _store_links(self) -> None:
        """Keep each identifier on its child (one row per SSD key), for later matching."""
        good: list[tuple[Row, Child, str, str]] = []
        for links in self.links.values():
            for row, kind, value, _ in links:
                child = self._child(row, "link_person_id")
                if self._ok(row) and child is not None:
                    good.append((row, child, kind, value))
        keys = [f"{self.key_prefix}ssd_linked_identifiers:{row.key}" for row, _, _, _ in good]
        existing = {i.source_key: i for i in LinkedIdentifier.objects.filter(source_key__in=keys)}
        new: list[LinkedIdentifier] = []
        updated: list[LinkedIdentifier] = []
        for (row, child, kind, value), source_key in zip(good, keys, strict=True):
            facts = {
                "child_id": child.pk,
                "kind": kind,
                "type_given": row.get("link_identifier_type")[:100],
                "value": value,
                "valid_from": _date(row, "link_valid_from_date", required=False, today=self.today),
                "valid_to": _date(
                    row, "link_valid_to_date", required=False, today=self.today + timedelta(3650)
                ),
            }
            kept = existing.get(source_key)
            if kept is None:
                new.append(LinkedIdentifier(source_key=source_key, recorded_at=self.now, **facts))
                self.counts.add(row, ImportRow.Outcome.CREATED)
            elif any(getattr(kept, k) != v for k, v in facts.items()):
                for name, v in facts.items():
                    setattr(kept, name, v)
                kept.recorded_at = self.now
                updated.append(kept)
                self.counts.add(row, ImportRow.Outcome.UPDATED)
            else:
                self.counts.add(row, ImportRow.Outcome.UNCHANGED)
                continue
            self.changed.add(child.pk)
        LinkedIdentifier.objects.bulk_create(new, batch_size=BATCH)
        LinkedIdentifier.objects.bulk_update(
            updated,
            ["child", "kind", "type_given", "value", "valid_from", "valid_to", "recorded_at"],
            batch_size=UPDATE_BATCH,
        )
        self.progress(f"ssd_linked_identifiers: {len(new)} added, {len(updated)} updated.")

    # ---- placement -------------------------------------------------------------------------

    def _placements(self) -> None:
        """The current placement (end blank or after today; the latest start wins) becomes the
        child's placement provider and area (the postcode district), and the host and placing
        council where the optional columns give them. Past placements stay in the run's rows."""
        current: dict[int, tuple[date, Row, str]] = {}
        for n, row in enumerate(self.by_table["ssd_cla_placement"], 1):
            if row.outcome != ImportRow.Outcome.PENDING:
                continue
            self._tick("ssd_cla_placement", n)
            _key(row, self.seen)
            child = self._child(row, "clap_person_id")
            start = _date(row, "clap_cla_placement_start_date", required=True, today=self.today)
            end = _date(
                row,
                "clap_cla_placement_end_date",
                required=False,
                today=self.today + timedelta(3650),
            )
            if start and end and end < start:
                row.problem("clap_cla_placement_end_date", "The end date is before the start date.")
            postcode = row.get("clap_cla_placement_postcode").upper()
            match = POSTCODE.match(postcode) if postcode else None
            if postcode and match is None:
                row.problem(
                    "clap_cla_placement_postcode",
                    f"{postcode} is not a postcode (like LS1 4AP, or its first part, LS1).",
                )
            for name in ("clap_cla_placement_provider", HOST_COUNCIL_FIELD, PLACING_COUNCIL_FIELD):
                if len(row.get(name)) > 200:
                    row.problem(name, "Longer than 200 characters.")
            if not self._ok(row) or child is None or start is None:
                continue
            if end is not None and end <= self.today:
                self.counts.add(row, ImportRow.Outcome.UNCHANGED)
                continue
            held = current.get(child.pk)
            if held is not None:
                if held[0] > start:
                    self.counts.add(row, ImportRow.Outcome.UNCHANGED)
                    continue
                self.counts.add(held[1], ImportRow.Outcome.UNCHANGED)
            current[child.pk] = (start, row, match.group(1) if match else "")
        children = {c.pk: c for c in Child.objects.select_for_update().filter(pk__in=current)}
        updated: list[Child] = []
        for child_id, (_, row, area) in current.items():
            child = children[child_id]
            facts: dict[str, Any] = {
                "placement": row.get("clap_cla_placement_provider"),
                "placement_area": area,
            }
            if row.get(HOST_COUNCIL_FIELD):
                facts["host_council"] = row.get(HOST_COUNCIL_FIELD)
            if row.get(PLACING_COUNCIL_FIELD):
                facts["responsible_council"] = row.get(PLACING_COUNCIL_FIELD)
            diff = {k: v for k, v in facts.items() if getattr(child, k) != v}
            if not diff:
                self.counts.add(row, ImportRow.Outcome.UNCHANGED)
                continue
            for name, value in diff.items():
                setattr(child, name, value)
            child.version += 1
            updated.append(child)
            self.changed.add(child_id)
            self.counts.add(row, ImportRow.Outcome.UPDATED)
        Child.objects.bulk_update(
            updated,
            ["placement", "placement_area", "host_council", "responsible_council", "version"],
            batch_size=UPDATE_BATCH,
        )
        self.progress(f"ssd_cla_placement: {len(updated)} children's placements updated.")

    # ---- legal status ---------------------------------------------------------------------

    def _periods(self, table: str) -> None:
        status, person_field, start_field, end_field = PERIOD_TABLES[table]
        rows = [r for r in self.by_table[table] if r.outcome == ImportRow.Outcome.PENDING]
        good: list[tuple[Row, Child, date, date | None]] = []
        for n, row in enumerate(rows, 1):
            self._tick(table, n)
            _key(row, self.seen)
            child = self._child(row, person_field)
            start = _date(row, start_field, required=True, today=self.today)
            end = _date(row, end_field, required=False, today=self.today)
            if start and end and end <= start:
                row.problem(end_field, "The end date must be after the start date.")
            if self._ok(row) and child is not None and start is not None:
                good.append((row, child, start, end))
        child_ids = {c.pk for _, c, _, _ in good}
        existing = list(
            LegalStatusPeriod.objects.filter(child_id__in=child_ids, status=status).order_by("pk")
        )
        by_key = {p.source_key: p for p in existing if p.source == LegalStatusPeriod.Source.IMPORT}
        # (start, end, what) per child: the periods this import leaves in place.
        taken: dict[int, list[tuple[date, date | None, str]]] = defaultdict(list)
        mine = {f"{self.key_prefix}{table}:{row.key}" for row, _, _, _ in good}
        for p in existing:
            if p.source_key not in mine:
                taken[p.child_id].append((p.start_date, p.end_date, p.reference))
        new: list[LegalStatusPeriod] = []
        updated: list[LegalStatusPeriod] = []
        for row, child, start, end in good:
            source_key = f"{self.key_prefix}{table}:{row.key}"
            for other_start, other_end, what in taken[child.pk]:
                if (other_end is None or other_end > start) and (end is None or other_start < end):
                    row.problem(start_field, f"This overlaps {what} of the same child.")
                    break
            if not self._ok(row):
                continue
            taken[child.pk].append((start, end, f"line {row.line}"))
            period = by_key.get(source_key)
            if period is None:
                new.append(
                    LegalStatusPeriod(
                        child_id=child.pk,
                        status=status,
                        start_date=start,
                        end_date=end,
                        source=LegalStatusPeriod.Source.IMPORT,
                        source_key=source_key,
                        reason=f"Imported from the case system ({table} {row.key}).",
                        recorded_by=self.actor,
                        recorded_at=self.now,
                    )
                )
                self.counts.add(row, ImportRow.Outcome.CREATED)
            elif period.child_id != child.pk:
                row.problem(person_field, f"{period.reference} of this id is another child's.")
                self._ok(row)
                continue
            elif (period.start_date, period.end_date) != (start, end):
                period.start_date, period.end_date = start, end
                period.version += 1
                period.recorded_at = self.now
                updated.append(period)
                self.counts.add(row, ImportRow.Outcome.UPDATED)
            else:
                self.counts.add(row, ImportRow.Outcome.UNCHANGED)
                continue
            self.changed.add(child.pk)
            self.periods_changed.add(child.pk)
        LegalStatusPeriod.objects.bulk_create(new, batch_size=BATCH)
        LegalStatusPeriod.objects.bulk_update(
            updated, ["start_date", "end_date", "version", "recorded_at"], batch_size=UPDATE_BATCH
        )
        self.progress(f"{table}: {len(new)} periods added, {len(updated)} updated.")

    # ---- social worker and team -----------------------------------------------------------

    def _involvements(self) -> None:
        professionals: dict[str, Row] = {}
        for row in self.by_table["ssd_professionals"]:
            if row.outcome != ImportRow.Outcome.PENDING:
                continue
            key = _key(row, self.seen)
            if self._ok(row):
                professionals[key] = row
        current: dict[int, tuple[date, Row]] = {}
        for n, row in enumerate(self.by_table["ssd_involvements"], 1):
            if row.outcome != ImportRow.Outcome.PENDING:
                continue
            self._tick("ssd_involvements", n)
            _key(row, self.seen)
            child = self._child(row, "invo_person_id")
            start = _date(row, "invo_involvement_start_date", required=True, today=self.today)
            end = _date(row, "invo_involvement_end_date", required=False, today=self.today)
            if start and end and end < start:
                row.problem("invo_involvement_end_date", "The end date is before the start date.")
            worker = row.get("invo_professional_id")
            if worker and worker not in professionals:
                row.problem("invo_professional_id", f"{worker} is not in ssd_professionals.")
            if not worker and not row.get("invo_professional_team"):
                row.problem("invo_professional_id", "Give the worker, the team or both.")
            if not self._ok(row) or child is None or start is None:
                continue
            if end is not None and end <= self.today:
                # Past involvements are history: kept in the run's rows, not on the child.
                self.counts.add(row, ImportRow.Outcome.UNCHANGED)
                continue
            held = current.get(child.pk)
            if held is not None:
                # The latest current involvement wins; the one it replaces is history.
                if held[0] > start:
                    self.counts.add(row, ImportRow.Outcome.UNCHANGED)
                    continue
                self.counts.add(held[1], ImportRow.Outcome.UNCHANGED)
            current[child.pk] = (start, row)
        team_names = {r.get("invo_professional_team") for _, r in current.values()} - {""}
        teams = {t.name.casefold(): t for t in Team.objects.filter(name__in=team_names)}
        missing_teams = [n for n in sorted(team_names) if n.casefold() not in teams]
        if missing_teams:
            council = Organisation.objects.filter(kind=Organisation.Kind.COUNCIL).order_by("pk")
            organisation = council.first() or Organisation.objects.create(
                name="Children's services", kind=Organisation.Kind.COUNCIL
            )
            for name in missing_teams:
                teams[name.casefold()] = Team.objects.create(name=name, organisation=organisation)
        staff_ids = {
            professionals[r.get("invo_professional_id")].get("prof_staff_id")
            for _, r in current.values()
            if r.get("invo_professional_id")
        } - {""}
        users = {u.username: u for u in User.objects.filter(username__in=staff_ids)}
        children = {c.pk: c for c in Child.objects.select_for_update().filter(pk__in=current)}
        updated: list[Child] = []
        for child_id, (_, row) in current.items():
            child = children[child_id]
            facts: dict[str, Any] = {}
            team = row.get("invo_professional_team")
            if team:
                facts["allocated_team_id"] = teams[team.casefold()].pk
            professional = professionals.get(row.get("invo_professional_id"))
            if professional is not None:
                user = users.get(professional.get("prof_staff_id"))
                facts["social_worker_id"] = user.pk if user else None
                facts["social_worker_name"] = (
                    "" if user else professional.get("prof_professional_name")[:200]
                )
            diff = {k: v for k, v in facts.items() if getattr(child, k) != v}
            if not diff:
                self.counts.add(row, ImportRow.Outcome.UNCHANGED)
                continue
            for name, value in diff.items():
                setattr(child, name, value)
            child.version += 1
            updated.append(child)
            self.changed.add(child_id)
            self.counts.add(row, ImportRow.Outcome.UPDATED)
        Child.objects.bulk_update(
            updated,
            ["allocated_team", "social_worker", "social_worker_name", "version"],
            batch_size=UPDATE_BATCH,
        )
        for row in self.by_table["ssd_professionals"]:
            if row.outcome == ImportRow.Outcome.PENDING:
                self.counts.add(row, ImportRow.Outcome.UNCHANGED)

    # ---- historical missing episodes ------------------------------------------------------

    def _missing(self) -> None:
        rows = [r for r in self.by_table["ssd_missing"] if r.outcome == ImportRow.Outcome.PENDING]
        if not rows:
            return
        force = PoliceForce.objects.get(code=SSD_FORCE_CODE)
        grade = RiskGrade.objects.get(code=SSD_GRADE_CODE)
        good = []
        for n, row in enumerate(rows, 1):
            self._tick("ssd_missing", n)
            key = _key(row, self.seen)
            child = self._child(row, "miss_la_person_id")
            start = _moment(row, "miss_mis_epi_start", required=True, now=self.now)
            end = _moment(row, "miss_mis_epi_end", required=False, now=self.now)
            if not row.get("miss_mis_epi_end"):
                row.problem(
                    "miss_mis_epi_end",
                    "Still missing: the import brings history only; report it through police "
                    "intake so its clocks run.",
                )
            elif start and end and end < start:
                row.problem("miss_mis_epi_end", "The end is before the start.")
            kind = row.get("miss_mis_epi_type").upper()
            if kind not in MissingEpisode.Kind.values:
                row.problem(
                    "miss_mis_epi_type", f"{row.get('miss_mis_epi_type')} is not a code (M or A)."
                )
            offered = _yes_no(row, "miss_mis_epi_rhi_offered")
            accepted = _yes_no(row, "miss_mis_epi_rhi_accepted")
            if accepted is not None and offered is not True:
                row.problem(
                    "miss_mis_epi_rhi_accepted", "Accepted is given but no interview was offered."
                )
            if self._ok(row) and child and start and end:
                ref = EPISODE_PREFIX + self.key_prefix + key
                good.append((row, child, ref, start, end, kind, offered, accepted))
        child_ids = {g[1].pk for g in good}
        existing = list(
            MissingEpisode.objects.filter(child_id__in=child_ids)
            .exclude(state=EpisodeState.CANCELLED)
            .select_related("interview_link")
        )
        mine_refs = {g[2] for g in good}
        by_ref = {
            e.police_reference: e
            for e in existing
            if e.police_force_id == force.pk and e.police_reference in mine_refs
        }
        far = self.now + timedelta(days=1)
        taken: dict[int, list[tuple[datetime, datetime, str]]] = defaultdict(list)
        for e in existing:
            if not (e.police_force_id == force.pk and e.police_reference in mine_refs):
                taken[e.child_id].append((e.last_seen_at, e.returned_at or far, e.reference))
        periods: dict[int, list[LegalStatusPeriod]] = defaultdict(list)
        for p in LegalStatusPeriod.objects.filter(child_id__in=child_ids):
            periods[p.child_id].append(p)
        new: list[tuple[MissingEpisode, bool | None, bool | None]] = []
        updated: list[MissingEpisode] = []
        rhi_changed: list[tuple[MissingEpisode, bool | None, bool | None]] = []
        for row, child, ref, start, end, kind, offered, accepted in sorted(
            good, key=lambda g: (g[1].pk, g[3])
        ):
            for other_start, other_end, what in taken[child.pk]:
                if other_start < end and start < other_end:
                    row.problem("miss_mis_epi_start", f"This overlaps {what} of the same child.")
                    break
            if not self._ok(row):
                continue
            taken[child.pk].append((start, end, f"line {row.line}"))
            outcome = _outcome(offered, accepted)
            snapshot = child_facts.legal_status_on(periods[child.pk], clocks.london_date(start))
            episode = by_ref.get(ref)
            if episode is None:
                episode = MissingEpisode(
                    child_id=child.pk,
                    # The council's own history: counted for it (decision 0070).
                    council_id=self.council_id,
                    figures_council_id=self.council_id,
                    kind=kind,
                    state=EpisodeState.CLOSED,
                    police_force=force,
                    police_reference=ref,
                    police_grade=grade,
                    last_seen_at=start,
                    reported_at=start,
                    notified_at=start,
                    returned_at=end,
                    interview_outcome=outcome,
                    circumstances="Imported from the case system (SSD missing episode).",
                    created_at=self.now,
                    updated_at=self.now,
                    **snapshot,
                )
                new.append((episode, offered, accepted))
                self.counts.add(row, ImportRow.Outcome.CREATED)
                self.changed.add(child.pk)
                continue
            facts = {
                "kind": kind,
                "last_seen_at": start,
                "returned_at": end,
                "interview_outcome": outcome,
                **snapshot,
            }
            diff = {k: v for k, v in facts.items() if getattr(episode, k, None) != v}
            link = getattr(episode, "interview_link", None)
            link_state = (
                (link.offered_at is not None, link.accepted) if link is not None else (False, None)
            )
            rhi_diff = link_state != (offered is True, accepted if offered else None)
            if not diff and not rhi_diff:
                self.counts.add(row, ImportRow.Outcome.UNCHANGED)
                continue
            for name, value in facts.items():
                setattr(episode, name, value)
            episode.updated_at = self.now
            updated.append(episode)
            if rhi_diff:
                rhi_changed.append((episode, offered, accepted))
            self.counts.add(row, ImportRow.Outcome.UPDATED)
            self.changed.add(child.pk)
        MissingEpisode.objects.bulk_create([e for e, _, _ in new], batch_size=BATCH)
        MissingEpisode.objects.bulk_update(
            updated,
            [
                "kind",
                "last_seen_at",
                "returned_at",
                "interview_outcome",
                "looked_after",
                "child_protection_plan",
                "child_in_need",
                "updated_at",
            ],
            batch_size=UPDATE_BATCH,
        )
        self._interviews([x for x in new if x[1]] + rhi_changed)
        self.progress(f"ssd_missing: {len(new)} episodes added, {len(updated)} updated.")

    def _interviews(self, episodes: list[tuple[MissingEpisode, bool | None, bool | None]]) -> None:
        """RHI offered / accepted as the interview record the returns and figures read: one
        signed-off interview per offered episode, its link holding the offer and the answer."""
        links = {
            link.episode_id: link
            for link in InterviewEpisode.objects.filter(episode__in=[e for e, _, _ in episodes])
        }
        fresh: list[tuple[MissingEpisode, ReturnInterview, bool | None]] = []
        changed_links: list[InterviewEpisode] = []
        for episode, offered, accepted in episodes:
            link = links.get(episode.pk)
            if link is not None:
                link.offered_at = episode.returned_at if offered else None
                link.accepted = accepted if offered else None
                changed_links.append(link)
                continue
            if not offered:
                continue
            interview = ReturnInterview(
                child_id=episode.child_id,
                status=InterviewStatus.SIGNED_OFF,
                created_at=self.now,
                created_by=self.actor,
                updated_at=self.now,
                outcome=episode.interview_outcome,
                not_held_reason="" if accepted else "Recorded in the case system as not accepted.",
            )
            fresh.append((episode, interview, accepted))
        ReturnInterview.objects.bulk_create([i for _, i, _ in fresh], batch_size=BATCH)
        InterviewEpisode.objects.bulk_create(
            [
                InterviewEpisode(
                    interview=interview,
                    episode=episode,
                    added_at=self.now,
                    offered_at=episode.returned_at,
                    accepted=accepted,
                )
                for episode, interview, accepted in fresh
            ],
            batch_size=BATCH,
        )
        InterviewEpisode.objects.bulk_update(changed_links, ["offered_at", "accepted"])

    # ---- snapshots -------------------------------------------------------------------------

    def _recompute(self) -> None:
        """Children whose periods changed: their episodes' snapshots and the retention flag,
        once per child (child_facts), locked in id order."""
        if not self.periods_changed:
            return
        # A child added by this run has only this run's episodes, whose snapshots were taken
        # from its periods as they were written: only its retention flag needs setting.
        fresh = self.periods_changed & self.new_children
        looked_after = set(
            LegalStatusPeriod.objects.filter(
                child_id__in=fresh, status=LegalStatus.LOOKED_AFTER
            ).values_list("child_id", flat=True)
        )
        Child.objects.filter(pk__in=looked_after).update(ever_looked_after=True)
        older = self.periods_changed - self.new_children
        for n, child in enumerate(
            Child.objects.select_for_update().filter(pk__in=older).order_by("pk"),
            1,
        ):
            if n % PROGRESS_EVERY == 0:
                self.progress(f"Legal status: {n} children brought up to date.")
            child_facts.recompute_after_import(
                child, actor=self.actor, now=self.now, because="Legal status imported"
            )


FORMER_KINDS = (LinkedIdentifier.Kind.FORMER_ID, LinkedIdentifier.Kind.UPN)


def _identifier_kind(given: str) -> str:
    """The case systems name identifier types freely ("NHS Number", "Former UPN", "Legacy
    ID"): the kind is read from the words."""
    words = given.casefold()
    if "nhs" in words:
        return LinkedIdentifier.Kind.NHS_NUMBER
    if "upn" in words or "pupil" in words:
        return LinkedIdentifier.Kind.UPN
    if any(w in words for w in ("former", "legacy", "previous", "old")):
        return LinkedIdentifier.Kind.FORMER_ID
    return LinkedIdentifier.Kind.OTHER


def _outcome(offered: bool | None, accepted: bool | None) -> str:
    """The episode's interview outcome from RHI offered / accepted: held when accepted, the
    child refused when offered and not accepted, none recorded otherwise (history does not say
    why no interview was offered)."""
    if offered and accepted:
        return InterviewOutcome.HELD
    if offered and accepted is False:
        return InterviewOutcome.CHILD_REFUSED
    return ""


def rejected_rows(run: ImportRun) -> Iterable[ImportRow]:
    return run.rows.filter(outcome=ImportRow.Outcome.REJECTED).order_by("table", "line")
