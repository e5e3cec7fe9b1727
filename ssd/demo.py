"""A year of made-up history for the local demo, ending today (`manage.py load_demo_history`,
run by `make run` after `load_demo_data`). See docs/decisions/0051-demo-year.md.

Deterministic: one seed, and every date is counted back from today's London date, so two loads
on the same day make the same caseload. Two routes, both the system's own:

- **Before the last RECENT_DAYS**: a Standard Safeguarding Dataset extract (children with
  their legal status, social worker and team; closed missing episodes with RHI offered and
  accepted), written in memory and applied by the SSD importer, as a council starting on the
  system would bring its history.
- **The last RECENT_DAYS**, and the clocks-change weekend: every episode through the real
  services, as the Family Front Door, a manager and the independent interviewer would make it:
  the police notification, the manager's review (some late), the return, the interview (held on
  time, held late, refused, no contact, or not held by a manager's decision) with push and pull
  factors, harms, places and people, and the sign-off. The repeat-missing rules fire on the
  notifications as they would live. Steps whose time is still to come are left undone, so the
  latest episodes wait on the board for their interview.

The names are made up (surnames like "Exampleton"), council ids start DEMO-Y and police
references DEMOY-.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from interviews import services as interviews
from interviews.models import ContactMethod, ContactOutcome, Factor, FactorKind, ReturnInterview
from missing.cases import clocks
from missing.cases import services as core
from missing.models import (
    Child,
    InterviewOutcome,
    MissingEpisode,
    NotificationKind,
    PoliceForce,
    RiskGrade,
    RiskMeetingTask,
    User,
)
from ssd import importer
from ssd.models import ImportRun

SEED = 2026
CHILDREN = 300
RECENT_DAYS = 90
MEETINGS_OPEN_DAYS = 10
CHILD_ID_PREFIX = "DEMO-Y"
REFERENCE_PREFIX = "DEMOY-"
H = timedelta(hours=1)

FIRST_NAMES = tuple(
    [
        "Aaliyah",
        "Ben",
        "Chloe",
        "Dylan",
        "Ella",
        "Finn",
        "Georgia",
        "Harvey",
        "Isla",
        "Jack",
        "Kacey",
        "Liam",
        "Maisie",
        "Nathan",
        "Olivia",
        "Preston",
        "Quinn",
        "Riley",
        "Skye",
        "Toby",
        "Una",
        "Vinnie",
        "Willow",
        "Xander",
        "Yasmin",
        "Zac",
    ]
)
SURNAMES = tuple(
    [
        "Exampleton",
        "Sampleby",
        "Demoford",
        "Fictionley",
        "Mockridge",
        "Placeholder",
        "Specimen",
        "Testwood",
        "Illustro",
        "Notreal",
        "Samplewell",
        "Dummerton",
        "Proxley",
        "Madeupson",
    ]
)
TEAMS = {
    "looked_after": ("Children in Care North", "Children in Care South"),
    "cp_plan": ("Child Protection East",),
    "cin": ("Children in Need West",),
}
PLACES = (
    "The Arches",
    "Central Bus Station",
    "Riverside Retail Park",
    "Station Road car park",
    "Demo Park skate ramp",
    "A friend's flat on Hill Estate",
)
ASSOCIATES = ("Dan (about 20)", "Kelly", "Older boys from Hill Estate", "Jay (on a moped)")


@dataclass
class DemoChild:
    n: int
    first: str
    last: str
    dob: date
    status: str  # looked_after, cp_plan, cin or ""
    status_start: date
    repeat_runner: bool
    episodes: list[tuple[datetime, datetime, str]] = field(default_factory=list)

    @property
    def council_id(self) -> str:
        return f"{CHILD_ID_PREFIX}{self.n:04d}"


def _london(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=clocks.LONDON).astimezone(UTC)


def last_sunday_of_october(year: int) -> date:
    day = date(year, 10, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def clocks_change_saturday(today: date) -> date:
    """The Saturday before the clocks went back (the last Sunday of October), in the year
    ending today."""
    sunday = last_sunday_of_october(today.year)
    if sunday > today - timedelta(days=7):
        sunday = last_sunday_of_october(today.year - 1)
    return sunday - timedelta(days=1)


def plan_children(today: date) -> list[DemoChild]:
    """Who the children are and when each went missing: repeat runners (every fifteenth
    child), looked-after children going missing more often than others."""
    rng = random.Random(SEED)  # noqa: S311 (made-up data, repeatable)
    # Up to yesterday: the latest episodes are still open on the board, waiting for the child
    # or for the interview.
    first_day, last_day = today - timedelta(days=364), today - timedelta(days=1)
    children = []
    for n in range(1, CHILDREN + 1):
        status = {0: "looked_after", 1: "looked_after", 2: "looked_after", 3: "looked_after"}.get(
            n % 10, {4: "cp_plan", 5: "cin", 6: "cin"}.get(n % 10, "")
        )
        age_days = rng.randint(11 * 365 + 120, 17 * 365 + 200)
        child = DemoChild(
            n=n,
            first=FIRST_NAMES[n % len(FIRST_NAMES)],
            last=SURNAMES[(n // len(FIRST_NAMES)) % len(SURNAMES)],
            dob=today - timedelta(days=age_days),
            status=status,
            # Most came into their status before the year; a few during it.
            status_start=today - timedelta(days=rng.randint(30, 300) if n % 20 == 0 else 400 + n),
            repeat_runner=n % 15 == 1,
        )
        if child.repeat_runner:
            count = rng.randint(6, 11)
        elif status == "looked_after":
            count = rng.choice((0, 1, 1, 2, 3))
        else:
            count = rng.choice((0, 0, 0, 1, 1, 2))
        days = sorted(
            first_day + timedelta(days=rng.randint(0, (last_day - first_day).days))
            for _ in range(count)
        )
        free_from = first_day
        for day in days:
            if day < free_from:
                continue
            start = _london(day, rng.randint(14, 21), rng.choice((0, 15, 30, 45)))
            hours = rng.choice((4, 6, 9, 12, 15, 18, 20, 30, 48))
            end = start + timedelta(hours=hours, minutes=rng.choice((0, 20, 40)))
            kind = MissingEpisode.Kind.AWAY if rng.random() < 0.15 else MissingEpisode.Kind.MISSING
            child.episodes.append((start, end, kind))
            free_from = clocks.london_date(end) + timedelta(days=2)
        children.append(child)
    return children


# --------------------------------------------------------------------------------------------
# The history before RECENT_DAYS: an SSD extract through the importer
# --------------------------------------------------------------------------------------------

STATUS_TABLES = {
    "looked_after": (
        "ssd_cla_episodes",
        "clae_cla_episode_id",
        "clae_person_id",
        "clae_cla_episode_start_date",
        "clae_cla_episode_ceased",
    ),
    "cp_plan": (
        "ssd_cp_plans",
        "cppl_cp_plan_id",
        "cppl_person_id",
        "cppl_cp_plan_start_date",
        "cppl_cp_plan_end_date",
    ),
    "cin": (
        "ssd_cin_episodes",
        "cine_referral_id",
        "cine_person_id",
        "cine_referral_date",
        "cine_close_date",
    ),
}


def ssd_tables(children: list[DemoChild], *, cutoff: datetime) -> dict[str, list[dict[str, str]]]:
    """The extract: every child, their status and worker, and their episodes before `cutoff`."""
    rng = random.Random(SEED + 1)  # noqa: S311 (made-up data, repeatable)
    tables: dict[str, list[dict[str, str]]] = {t: [] for t in importer.FIELDS}
    tables["ssd_professionals"] = [
        {
            "prof_professional_id": f"DEMO-P{n}",
            "prof_staff_id": f"demo-sw{n}",
            "prof_professional_name": f"{name} Workerton",
        }
        for n, name in enumerate(("Sam", "Priya", "Tom", "Aisha", "Gareth", "Lena"), 1)
    ]
    for child in children:
        tables["ssd_person"].append(
            {
                "pers_person_id": child.council_id,
                "pers_sex": "FM"[child.n % 2],
                "pers_dob": child.dob.isoformat(),
                "pers_common_child_id": "",
                "pers_forename": child.first,
                "pers_surname": child.last,
            }
        )
        if child.status:
            table, key, person, start, end = STATUS_TABLES[child.status]
            tables[table].append(
                {
                    key: f"{child.council_id}-S",
                    person: child.council_id,
                    start: child.status_start.isoformat(),
                    end: "",
                }
            )
            tables["ssd_involvements"].append(
                {
                    "invo_involvements_id": f"{child.council_id}-I",
                    "invo_person_id": child.council_id,
                    "invo_professional_id": f"DEMO-P{child.n % 6 + 1}",
                    "invo_professional_team": TEAMS[child.status][
                        child.n % len(TEAMS[child.status])
                    ],
                    "invo_involvement_start_date": child.status_start.isoformat(),
                    "invo_involvement_end_date": "",
                }
            )
        for i, (went, came_back, kind) in enumerate(child.episodes):
            if went >= cutoff:
                continue
            offered = rng.random() < 0.92
            accepted = offered and rng.random() < 0.75
            tables["ssd_missing"].append(
                {
                    "miss_table_id": f"{child.council_id}-M{i + 1}",
                    "miss_la_person_id": child.council_id,
                    "miss_mis_epi_start": _wall(went),
                    "miss_mis_epi_type": kind,
                    "miss_mis_epi_end": _wall(came_back),
                    "miss_mis_epi_rhi_offered": "Yes" if offered else "No",
                    "miss_mis_epi_rhi_accepted": ("Yes" if accepted else "No") if offered else "",
                }
            )
    return tables


def _wall(moment: datetime) -> str:
    return moment.astimezone(clocks.LONDON).strftime("%Y-%m-%d %H:%M")


def csv_files(tables: dict[str, list[dict[str, str]]]) -> dict[str, str]:
    files = {}
    for table, rows in tables.items():
        out = io.StringIO()
        header = list(importer.FIELDS[table])
        if table == "ssd_person":
            header += list(importer.PERSON_NAME_FIELDS)
        writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        files[table] = out.getvalue()
    return files


# --------------------------------------------------------------------------------------------
# The recent months: through the services
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Staff:
    ffd: User
    manager: User
    interviewer: User


class RecentEpisodes:
    """Each recent episode through the services, one step at a time, up to `now`."""

    def __init__(self, *, staff: Staff, now: datetime) -> None:
        self.staff = staff
        self.now = now
        self.rng = random.Random(SEED + 2)  # noqa: S311 (made-up data, repeatable)
        self.force = PoliceForce.objects.get(code="kent")
        self.grades = {g.code: g for g in RiskGrade.objects.filter(active=True)}
        self.factors = {
            kind: sorted(
                Factor.objects.filter(kind=kind, active=True).values_list("code", flat=True)
            )
            for kind in FactorKind.values
        }
        self.serial = 0

    def add(
        self,
        child: DemoChild,
        start: datetime,
        end: datetime,
        kind: str,
        *,
        interview_after: timedelta | None = None,
    ) -> None:
        rng = self.rng
        notified = start + timedelta(minutes=rng.choice((40, 70, 110)))
        if notified > self.now:
            return
        episode = self._notify(child, start=start, kind=kind, notified=notified)
        late_review = rng.random() < 0.1
        decided = notified + (timedelta(hours=rng.choice((6, 8))) if late_review else H)
        end = max(end, decided + 2 * H)
        if decided > self.now:
            return
        core.episode_record_decision(
            core.DecisionData(
                risk=rng.choice(("low", "medium", "medium", "high")),
                rationale="Known pattern of going to friends; police searching. Demo decision.",
                inform_social_worker=True,
                exploitation_screening=child.repeat_runner,
            ),
            actor=self.staff.manager,
            episode_id=episode.pk,
            now=decided,
        )
        if end + H > self.now:
            return
        core.episode_record_return(
            core.ReturnData(
                returned_at=end,
                found_place=rng.choice(PLACES),
                found_by=rng.choice(("Police", "Returned of own accord", "Carer collected")),
                prevention_interview_done=True,
            ),
            actor=self.staff.ffd,
            episode_id=episode.pk,
            now=end + H,
        )
        self._interview(child, episode, kind=kind, returned=end, after=interview_after)

    def _notify(
        self, child: DemoChild, *, start: datetime, kind: str, notified: datetime
    ) -> MissingEpisode:
        self.serial += 1
        data = core.NotificationData(
            police_force=self.force,
            police_reference=f"{REFERENCE_PREFIX}{self.serial:05d}",
            kind=NotificationKind.REPORTED_MISSING,
            child_first_name=child.first,
            child_last_name=child.last,
            child_date_of_birth=child.dob,
            council_child_id=child.council_id,
            missing_kind=kind,
            last_seen_at=start,
            last_seen_place=self.rng.choice(PLACES),
            reported_at=start + (notified - start) / 2,
            risk_grade=self.grades[self.rng.choice(("low", "medium", "medium", "high"))],
            circumstances="Did not return to placement after school. Phone switched off.",
            reported_by="Carer (demo)",
        )
        payload = {"demo": True, "reference": data.police_reference, "kind": data.kind}
        result = core.notification_receive(
            data, actor=self.staff.ffd, payload=payload, now=notified
        )
        episode = result.notification.episode
        if episode is None:
            raise RuntimeError(f"Demo notification {data.police_reference} opened no episode.")
        return episode

    def _interview(
        self,
        child: DemoChild,
        episode: MissingEpisode,
        *,
        kind: str,
        returned: datetime,
        after: timedelta | None,
    ) -> None:
        rng, manager, interviewer = self.rng, self.staff.manager, self.staff.interviewer
        if after is not None:
            outcome, at = InterviewOutcome.HELD, returned + after
        elif kind == MissingEpisode.Kind.AWAY and rng.random() < 0.5:
            outcome, at = InterviewOutcome.NOT_HELD_DECISION, returned + 20 * H
        else:
            roll = rng.random()
            outcome = (
                InterviewOutcome.HELD
                if roll < 0.75
                else InterviewOutcome.CHILD_REFUSED
                if roll < 0.9
                else InterviewOutcome.NO_CONTACT
            )
            late = outcome == InterviewOutcome.HELD and roll > 0.6
            at = returned + timedelta(hours=rng.randint(76, 140) if late else rng.randint(18, 66))
        opened = returned + 2 * H
        if opened > self.now:
            return
        interview = interviews.interview_create(
            interviews.CreateData(child_id=episode.child_id, episode_ids=(episode.pk,)),
            actor=manager,
            now=opened,
        )
        if outcome == InterviewOutcome.NOT_HELD_DECISION:
            self._record(
                interview,
                actor=manager,
                at=at,
                changes={
                    "outcome": outcome,
                    "not_held_reason": "Whereabouts known throughout; the social worker visited.",
                },
            )
            return
        interview = interviews.interview_assign(
            interviews.AssignData(interviewer_id=interviewer.pk),
            actor=manager,
            interview_id=interview.pk,
            now=opened + H,
            expected_version=interview.version,
        )
        if outcome == InterviewOutcome.HELD:
            self._record(interview, actor=interviewer, at=at, changes=self._held(child, at))
            return
        attempts = (
            [(ContactOutcome.CHILD_REFUSED, True)]
            if outcome == InterviewOutcome.CHILD_REFUSED
            else [(ContactOutcome.NO_ANSWER, False), (ContactOutcome.NO_ANSWER, False)]
        )
        for i, (answer, offered) in enumerate(attempts):
            moment = opened + (i + 2) * H * 6
            if moment > self.now:
                return
            interviews.interview_attempt_record(
                interviews.AttemptData(
                    at=moment,
                    method=ContactMethod.PHONE if i == 0 else ContactMethod.VISIT,
                    outcome=answer,
                    offered=offered,
                ),
                actor=interviewer,
                interview_id=interview.pk,
                now=moment,
            )
        reason = (
            "The child said they did not want to talk about it."
            if outcome == InterviewOutcome.CHILD_REFUSED
            else "No answer by phone or at the door; carer passed on the offer."
        )
        self._record(
            interview,
            actor=interviewer,
            at=max(at, opened + 20 * H),
            changes={"outcome": outcome, "not_held_reason": reason},
        )

    def _held(self, child: DemoChild, held: datetime) -> dict[str, object]:
        rng = self.rng
        exploited = child.repeat_runner or rng.random() < 0.2
        pulls = rng.sample(self.factors[FactorKind.PULL], rng.randint(0, 2))
        harms = rng.sample(self.factors[FactorKind.HARM], rng.randint(0, 1))
        if exploited:
            pulls = sorted({*pulls, "pull-adults-offering"} & set(self.factors[FactorKind.PULL]))
            harms = sorted(
                {*harms, "harm-criminal-exploitation"} & set(self.factors[FactorKind.HARM])
            )
        return {
            "outcome": InterviewOutcome.HELD,
            "held_at": held,
            "held_place": rng.choice(("At home", "At school", "Café on the high street")),
            "present": "The child and the interviewer",
            "seen_alone": True,
            "account_where": "With friends in town",
            "account_who_with": "Friends",
            "push_factors": tuple(
                (code, "") for code in rng.sample(self.factors[FactorKind.PUSH], rng.randint(1, 2))
            ),
            "pull_factors": tuple((code, "") for code in pulls),
            "harms": tuple((code, "") for code in harms),
            "places": tuple(rng.sample(PLACES, rng.randint(1, 2))),
            "associates": tuple(rng.sample(ASSOCIATES, rng.randint(0, 2 if exploited else 1))),
            "consent_to_share": True,
            "shared_with": "Social worker",
            "wishes_and_feelings": "Wants more time with friends; agreed to keep in touch.",
            "safety_plan": "Curfew agreed; trusted adult's number in the phone.",
        }

    def _record(
        self, interview: ReturnInterview, *, actor: User, at: datetime, changes: dict[str, object]
    ) -> None:
        """Record, complete and (a day later) sign off, each only if its time has come."""
        written = at + H
        if written > self.now:
            return
        interview.refresh_from_db()
        interview = interviews.interview_record_update(
            interviews.RecordData(changes=changes),
            actor=actor,
            interview_id=interview.pk,
            expected_version=interview.version,
            now=written,
        ).interview
        interview = interviews.interview_complete(
            interviews.CompleteData(),
            actor=actor,
            interview_id=interview.pk,
            expected_version=interview.version,
            now=written,
        )
        signed = written + timedelta(hours=self.rng.randint(18, 40))
        if signed > self.now:
            return
        exploitation = any(
            code in ("harm-criminal-exploitation", "harm-sexual-exploitation")
            for code, _ in changes.get("harms", ())  # type: ignore[attr-defined]
        )
        interviews.interview_sign_off(
            interviews.SignOffData(
                strategy_meeting=exploitation,
                exploitation_referral=exploitation,
                update_safety_plan=True,
            ),
            actor=self.staff.manager,
            interview_id=interview.pk,
            now=signed,
            expected_version=interview.version,
        )


def hold_risk_meetings(*, manager: User, now: datetime) -> int:
    """The repeat rules raised meeting tasks as the episodes came in; those raised more than
    MEETINGS_OPEN_DAYS ago were held four days later. The newer ones wait on the board."""
    tasks = RiskMeetingTask.objects.filter(
        status=RiskMeetingTask.Status.OPEN,
        raised_at__lt=now - timedelta(days=MEETINGS_OPEN_DAYS),
        child__council_child_id__startswith=CHILD_ID_PREFIX,
    ).order_by("raised_at", "pk")
    held = 0
    for task_id, raised_at in tasks.values_list("pk", "raised_at"):
        core.risk_task_complete(
            core.MeetingOutcomeData(
                outcome="Strategy meeting held with police and the social worker; safety plan agreed."
            ),
            actor=manager,
            task_id=task_id,
            now=raised_at + timedelta(days=4),
        )
        held += 1
    return held


# --------------------------------------------------------------------------------------------
# The whole year
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    children: int
    imported_episodes: int
    service_episodes: int


def already_loaded() -> bool:
    return Child.objects.filter(council_child_id__startswith=CHILD_ID_PREFIX).exists()


def load(*, staff: Staff, now: datetime, progress: Callable[[str], None]) -> Loaded:
    """Load the year (the caller holds the transaction and checks `already_loaded`)."""
    today = clocks.london_date(now)
    cutoff = clocks.london_midnight(today - timedelta(days=RECENT_DAYS))
    children = plan_children(today)
    saturday = clocks_change_saturday(today)
    # Two looked-after children back on the Saturday night before the clocks went back:
    # interviewed 71 and 73 elapsed hours later (72 and 74 hours on the wall clock).
    weekend = [
        DemoChild(
            n=CHILDREN + i,
            first=first,
            last="Clockley",
            dob=today - timedelta(days=15 * 365 + i * 40),
            status="looked_after",
            status_start=today - timedelta(days=500),
            repeat_runner=False,
        )
        for i, first in ((1, "Autumn"), (2, "Rowan"))
    ]
    tables = ssd_tables([*children, *weekend], cutoff=cutoff)
    report = importer.run_import(
        files=csv_files(tables),
        actor=staff.ffd,
        now=now,
        origin=ImportRun.Origin.COMMAND,
        source="demo history (ssd.demo)",
        progress=progress,
    )
    if report.rejected:
        problems = [f"{r.table} line {r.line}: {r.problems}" for r in report.rejected[:5]]
        raise RuntimeError("The demo extract has rejected rows: " + "; ".join(problems))
    progress(f"Imported {len(tables['ssd_missing'])} earlier episodes from the SSD extract.")
    recent = RecentEpisodes(staff=staff, now=now)
    made = 0
    episodes = sorted(
        (
            (start, end, kind, child)
            for child in children
            for start, end, kind in child.episodes
            if start >= cutoff
        ),
        key=lambda planned: (planned[0], planned[3].n),
    )
    for start, end, kind, child in episodes:
        recent.add(child, start, end, kind)
        made += 1
    back = _london(saturday, 23)  # 22:00 UTC, still British Summer Time
    for child, elapsed in zip(weekend, (71, 73), strict=True):
        recent.add(
            child,
            back - 8 * H,
            back,
            MissingEpisode.Kind.MISSING,
            interview_after=timedelta(hours=elapsed),
        )
        made += 1
    held = hold_risk_meetings(manager=staff.manager, now=now)
    progress(f"Made {made} recent episodes through the services; {held} risk meetings held.")
    return Loaded(
        children=len(children) + len(weekend),
        imported_episodes=len(tables["ssd_missing"]),
        service_episodes=made,
    )
