"""Demo staff, children and episodes for the local demo (`make run`). Safe to run every time.

Everything is made through the real services, at times relative to one reading of the clock, so
the board shows clocks in every colour. The names are made up (surnames like "Exampleton"), the
phone numbers are in Ofcom's drama range (07700 900xxx) and every reference starts DEMO-.

On a regional installation (COUNCIL_ONS_CODES names two or more councils, decision 0066) the
demo staff work for the first council, a second set ("ffd_b", "manager_b", "hos_b") for the
second, which gets a few children of its own, and one of its children placed in the first
council's area is missing: an out-of-area episode both councils see (decision 0070).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from missing.cases import child_facts, services
from missing.models import (
    Child,
    Council,
    MissingEpisode,
    NotificationKind,
    PoliceForce,
    PoliceNotification,
    RiskGrade,
    Role,
    User,
    installation_councils,
    is_regional,
)

# For the local demo only: load_demo_data refuses to run where DEBUG is off.
DEMO_PASSWORD = "demo-password-2026"  # noqa: S105

PROVIDER = "Safe Steps Charity (demo)"
CASE_STAFF = frozenset({Role.FFD, Role.MANAGER, Role.HEAD_OF_SERVICE})
FFD_TEAM = "Family Front Door"


@dataclass(frozen=True)
class DemoStaff:
    username: str
    role: str
    team: str | None = None
    organisation: str | None = None  # None: the council
    phone: str = ""


DEMO_STAFF = (
    DemoStaff("ffd", Role.FFD, team=FFD_TEAM),
    DemoStaff("manager", Role.MANAGER, team=FFD_TEAM, phone="+447700900001"),
    DemoStaff("hos", Role.HEAD_OF_SERVICE, team="Children's Social Care", phone="+447700900002"),
    DemoStaff("interviewer", Role.INTERVIEWER, organisation=PROVIDER, phone="+447700900003"),
    DemoStaff("admin", Role.ADMIN),
)

# The second council's staff on a regional installation (the first council has DEMO_STAFF).
SECOND_COUNCIL_STAFF = (
    DemoStaff("ffd_b", Role.FFD, team=FFD_TEAM),
    DemoStaff("manager_b", Role.MANAGER, team=FFD_TEAM, phone="+447700900011"),
    DemoStaff("hos_b", Role.HEAD_OF_SERVICE, team="Children's Social Care", phone="+447700900012"),
)
# Police references of the second council's cases start here (one force, one numbering).
SECOND_COUNCIL_SERIAL = 500

REFERENCE_PREFIX = "DEMO-"


class Command(BaseCommand):
    help = "Load demo staff (known passwords), children and episodes. Idempotent; DEBUG only."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even though DEBUG is off. Never on a real system: the passwords are public.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "Refusing to load demo data with DEBUG off: the demo accounts have a published "
                "password. Use --force only on a throwaway system."
            )
        now = timezone.now()
        with transaction.atomic():
            staff = self._staff(now)
            if PoliceNotification.objects.filter(
                police_reference__startswith=REFERENCE_PREFIX
            ).exists():
                self.stdout.write("Demo cases already loaded; left as they are.")
            else:
                DemoCases(staff=staff, now=now).load()
                if is_regional():
                    second = DemoCases(staff=staff, now=now)
                    second.serial = SECOND_COUNCIL_SERIAL
                    second.load_second_council()
                count = MissingEpisode.objects.filter(
                    police_reference__startswith=REFERENCE_PREFIX
                ).count()
                self.stdout.write(f"Loaded {count} demo episodes.")
        self._print_logins(staff)

    def _staff(self, now: datetime) -> dict[str, User]:
        users: dict[str, User] = {}
        councils = installation_councils() if is_regional() else []
        specs: list[tuple[DemoStaff, str]] = [(spec, "") for spec in DEMO_STAFF]
        if councils:
            # The case staff of each council work for it; the administrator and the
            # independent interviewer for none (they are not narrowed by council).
            specs = [(spec, councils[0] if spec.role in CASE_STAFF else "") for spec in DEMO_STAFF]
            specs += [(spec, councils[1]) for spec in SECOND_COUNCIL_STAFF]
        for spec, council_code in specs:
            user = User.objects.filter(username=spec.username).first()
            if user is None:
                user = services.staff_create(
                    username=spec.username,
                    role=spec.role,
                    now=now,
                    password=DEMO_PASSWORD,
                    organisation=spec.organisation or settings.COUNCIL_NAME,
                    team=spec.team,
                    phone=spec.phone,
                )
            if council_code and user.council_id is None:
                # Set with the account, as the administrator does in the admin (0066).
                user.council = Council.objects.get(ons_code=council_code)
                user.save(update_fields=["council"])
            users[spec.username] = user
        return users

    def _print_logins(self, staff: dict[str, User]) -> None:
        self.stdout.write("")
        self.stdout.write(f"Demo logins (local demo only), password for all: {DEMO_PASSWORD}")
        for user in staff.values():
            council = f"  ({user.council.name})" if user.council is not None else ""
            self.stdout.write(f"  {user.username:<12} {user.role_label}{council}")


class DemoCases:
    """The demo caseload: each method leaves one episode in a given state and clock."""

    def __init__(self, *, staff: dict[str, User], now: datetime) -> None:
        self.staff = staff
        self.ffd = staff["ffd"]
        self.manager = staff["manager"]
        self.interviewer = staff["interviewer"]
        self.now = now
        self.kent = PoliceForce.objects.get(code="kent")
        self.met = PoliceForce.objects.get(code="metropolitan")
        self.grades = {g.code: g for g in RiskGrade.objects.all()}
        self.serial = 0

    def load(self) -> int:
        now, h, day = self.now, timedelta(hours=1), timedelta(days=1)
        # Missing, no manager review yet: review overdue (red) and nearly due (amber).
        self.report(
            "Ellie", "Exampleton", age=14, grade="high", last_seen=now - 5 * h, at=now - 2 * h
        )
        self.report(
            "Jayden", "Sampleby", age=15, grade="medium", last_seen=now - 5 * h, at=now - 3.5 * h
        )
        # Missing and reviewed; the next review is later today (green).
        ep = self.report(
            "Amira", "Demoford", age=12, grade="low", last_seen=now - 6 * h, at=now - 5 * h
        )
        self.decide(ep, at=now - 3 * h, risk="medium", next_review=now + 12 * h, strategy=True)
        # Away from placement without authorisation (code A): whereabouts known.
        self.report(
            "Tyler",
            "Fictionley",
            age=16,
            grade="very_low",
            last_seen=now - 3 * h,
            at=now - 2 * h,
            kind=MissingEpisode.Kind.AWAY,
        )
        # Returned (police found notification) before any manager review: the review clock
        # still runs and is overdue (red).
        ep = self.report(
            "Keira", "Mockridge", age=13, grade="low", last_seen=now - 40 * h, at=now - 30 * h
        )
        self.found(ep, returned=now - 22 * h, at=now - 20 * h)
        # Returned and reviewed: interview due in 62 h (green), in 12 h (amber), overdue (red).
        returned_eps = []
        for first, last, returned in (
            ("Noah", "Placeholder", now - 10 * h),
            ("Grace", "Specimen", now - 60 * h),
            ("Leo", "Testwood", now - 80 * h),
        ):
            ep = self.report(
                first,
                last,
                age=15,
                grade="medium",
                last_seen=returned - 20 * h,
                at=returned - 18 * h,
            )
            self.decide(ep, at=returned - 16 * h, risk="medium")
            self.record_return(ep, returned=returned, at=returned + h)
            returned_eps.append(ep)
        # The amber one has its interview arranged; the clock runs on until it is held.
        services.episode_arrange_interview(
            actor=self.manager,
            episode_id=returned_eps[1].pk,
            note="Tomorrow 16:00 at home, with the independent service.",
            now=now - 50 * h,
        )
        # Interview held this morning: awaiting the manager's sign-off.
        ep = self.report(
            "Harper", "Exampleson", age=14, grade="medium", last_seen=now - 50 * h, at=now - 49 * h
        )
        self.decide(ep, at=now - 47 * h, risk="low")
        self.record_return(ep, returned=now - 30 * h, at=now - 29 * h)
        self.interview_held(ep, held=now - 6 * h)
        # A child who went missing before: one signed-off episode, and missing again now.
        ep = self.report(
            "Mason",
            "Illustro",
            age=14,
            grade="medium",
            last_seen=now - 15 * day,
            at=now - 15 * day + h,
        )
        self.close(
            ep, decided=now - 15 * day + 2 * h, returned=now - 14 * day, signed_off=now - 12 * day
        )
        self.report_again(ep.child, grade="high", last_seen=now - 2 * h, at=now - 1.5 * h)
        # Logged in error and cancelled by a manager: kept, never deleted.
        ep = self.report(
            "Ruby", "Notreal", age=11, grade="low", last_seen=now - 8 * h, at=now - 7 * h
        )
        services.episode_cancel(
            services.CancelData(
                reason="Duplicate of a notification logged by the out-of-hours team."
            ),
            actor=self.manager,
            episode_id=ep.pk,
            now=now - 6 * h,
        )
        # Another force describes a child the council knows, without the council's id: the
        # notification waits for a practitioner to confirm the match (never merged silently).
        ep = self.report(
            "Sofia",
            "Samplewell",
            age=15,
            grade="low",
            last_seen=now - 40 * day,
            at=now - 40 * day + h,
        )
        self.close(
            ep, decided=now - 40 * day + 3 * h, returned=now - 39 * day, signed_off=now - 37 * day
        )
        self.notify(
            self.met,
            first="Sofia",
            last="Samplewell",
            dob=ep.child.date_of_birth,
            grade="medium",
            last_seen=now - 4 * h,
            at=now - 3 * h,
        )
        # The independent interviewer is granted one returned child (later, the interviews app
        # grants these through assignments): they see that child and nobody else.
        services.access_grant(episode=returned_eps[0], user=self.interviewer, now=now)
        return MissingEpisode.objects.filter(police_reference__startswith=REFERENCE_PREFIX).count()

    def load_second_council(self) -> None:
        """The second council's few cases, logged by its own front door, and one of its
        children, placed in the first council's area, missing: the shared episode."""
        first, second = (Council.objects.get(ons_code=c) for c in installation_councils()[:2])
        self.ffd, self.manager = self.staff["ffd_b"], self.staff["manager_b"]
        now, h, day = self.now, timedelta(hours=1), timedelta(days=1)
        self.report(
            "Oscar", "Pretendham", age=15, grade="medium", last_seen=now - 4 * h, at=now - 3 * h
        )
        ep = self.report(
            "Isla", "Madeupton", age=13, grade="low", last_seen=now - 30 * h, at=now - 28 * h
        )
        self.decide(ep, at=now - 26 * h, risk="low")
        self.record_return(ep, returned=now - 20 * h, at=now - 19 * h)
        # Placed by the second council in the first council's area: missing before (closed),
        # missing again now, graded high. Both councils see this episode, labelled as shared.
        ep = self.report(
            "Freya",
            "Outplaceby",
            age=14,
            grade="medium",
            last_seen=now - 20 * day,
            at=now - 20 * day + h,
        )
        self.close(
            ep, decided=now - 20 * day + 2 * h, returned=now - 19 * day, signed_off=now - 17 * day
        )
        child_facts.child_update_facts(
            child_facts.FactsData(
                changes={
                    "responsible_council": second.name,
                    "host_council": first.name,
                    "placement_area": "Town centre (demo)",
                },
                reason="Placed in a children's home in the neighbouring council's area (demo).",
            ),
            actor=self.manager,
            child_id=ep.child_id,
            now=now - 10 * day,
        )
        self.report_again(ep.child, grade="high", last_seen=now - 3 * h, at=now - 2 * h)

    # --- building blocks, all through the services ---

    def notify(
        self,
        force: PoliceForce,
        *,
        at: datetime,
        last_seen: datetime,
        grade: str,
        first: str,
        last: str,
        dob: date | None,
        council_child_id: str = "",
        kind: str = "",
    ) -> PoliceNotification:
        """A reported-missing notification as an FFD practitioner logs it at `at`."""
        self.serial += 1
        data = services.NotificationData(
            police_force=force,
            police_reference=f"{REFERENCE_PREFIX}{self.serial:05d}",
            kind=NotificationKind.REPORTED_MISSING,
            child_first_name=first,
            child_last_name=last,
            child_date_of_birth=dob,
            council_child_id=council_child_id,
            missing_kind=kind,
            last_seen_at=last_seen,
            last_seen_place="Near the bus station, town centre",
            reported_at=last_seen + (at - last_seen) / 2,
            risk_grade=self.grades[grade],
            circumstances="Did not return to placement after school. Phone switched off.",
            reported_by="Carer (demo)",
        )
        payload = {"demo": True, "reference": data.police_reference, "kind": data.kind}
        return services.notification_receive(
            data, actor=self.ffd, payload=payload, now=at
        ).notification

    def report(
        self,
        first: str,
        last: str,
        *,
        age: int,
        grade: str,
        last_seen: datetime,
        at: datetime,
        kind: str = "",
    ) -> MissingEpisode:
        """A child new to the council: the notification creates the child and the episode."""
        dob = (self.now - timedelta(days=round(365.25 * age) + 45)).date()
        notification = self.notify(
            self.kent,
            first=first,
            last=last,
            dob=dob,
            council_child_id=f"DEMO-C{self.serial + 1:04d}",
            grade=grade,
            last_seen=last_seen,
            at=at,
            kind=kind,
        )
        return self._episode_of(notification)

    def report_again(
        self, child: Child, *, grade: str, last_seen: datetime, at: datetime
    ) -> MissingEpisode:
        """A child already known, matched exactly on the council's child id."""
        notification = self.notify(
            self.kent,
            first=child.first_name,
            last=child.last_name,
            dob=child.date_of_birth,
            council_child_id=child.council_child_id or "",
            grade=grade,
            last_seen=last_seen,
            at=at,
        )
        return self._episode_of(notification)

    def _episode_of(self, notification: PoliceNotification) -> MissingEpisode:
        if notification.episode is None:
            raise CommandError(f"Demo notification {notification.reference} opened no episode.")
        return notification.episode

    def close(
        self,
        episode: MissingEpisode,
        *,
        decided: datetime,
        returned: datetime,
        signed_off: datetime,
    ) -> None:
        self.decide(episode, at=decided, risk="high", screening=True)
        self.record_return(episode, returned=returned, at=returned + timedelta(hours=1))
        self.interview_held(episode, held=returned + timedelta(hours=20))
        services.episode_sign_off(
            services.SignOffData(note="Return interview held; safety plan updated."),
            actor=self.manager,
            episode_id=episode.pk,
            now=signed_off,
        )

    def interview_held(self, episode: MissingEpisode, *, held: datetime) -> None:
        services.episode_record_interview_outcome(
            services.OutcomeData(
                outcome="held", held_at=held, note="Held at home by the independent service."
            ),
            actor=self.manager,
            episode_id=episode.pk,
            now=held + timedelta(hours=1),
        )

    def decide(
        self,
        episode: MissingEpisode,
        *,
        at: datetime,
        risk: str,
        next_review: datetime | None = None,
        strategy: bool = False,
        screening: bool = False,
    ) -> None:
        services.episode_record_decision(
            services.DecisionData(
                risk=risk,
                rationale="Known pattern of going to friends; police searching. Demo decision.",
                strategy_meeting=strategy,
                exploitation_screening=screening,
                inform_social_worker=True,
                next_review_at=next_review,
            ),
            actor=self.manager,
            episode_id=episode.pk,
            now=at,
        )

    def record_return(self, episode: MissingEpisode, *, returned: datetime, at: datetime) -> None:
        services.episode_record_return(
            services.ReturnData(
                returned_at=returned,
                found_place="Friend's flat, Demo Road",
                found_by="Returned of own accord",
                prevention_interview_done=True,
            ),
            actor=self.ffd,
            episode_id=episode.pk,
            now=at,
        )

    def found(self, episode: MissingEpisode, *, at: datetime, returned: datetime) -> None:
        """The return as police report it: a found notification for the same reference."""
        data = services.NotificationData(
            police_force=episode.police_force,
            police_reference=episode.police_reference,
            kind=NotificationKind.FOUND,
            found_at=returned,
            found_place="Stopped by officers at the railway station",
            found_by="Police",
            prevention_interview_done=False,
        )
        payload = {"demo": True, "reference": data.police_reference, "kind": data.kind}
        services.notification_receive(data, actor=self.ffd, payload=payload, now=at)
