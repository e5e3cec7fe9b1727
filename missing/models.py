"""The core records: staff and their roles, police notifications, children and missing episodes.

Reference data that differs between councils and forces (risk grades, forces, teams) is stored
as rows an administrator can extend, never as code.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Self, cast

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Exists, JSONField, OuterRef, Q, Value
from django.db.models.functions import Lower
from django.utils.crypto import salted_hmac
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMFieldMixin, transition

from missing.cases import clocks


class Role(models.TextChoices):
    FFD = "ffd", "FFD practitioner"
    MANAGER = "manager", "Manager"
    HEAD_OF_SERVICE = "head_of_service", "Head of service"
    INTERVIEWER = "interviewer", "Independent interviewer"
    ADMIN = "admin", "Administrator"
    POLICE_SYSTEM = "police_system", "Police system (API)"


# Who may do what. Transitions and services check these sets; views never decide alone.
CASE_READERS = frozenset({Role.FFD, Role.MANAGER, Role.HEAD_OF_SERVICE})
INTAKE_ROLES = frozenset({Role.FFD, Role.MANAGER, Role.HEAD_OF_SERVICE, Role.POLICE_SYSTEM})
OVERSIGHT_ROLES = frozenset({Role.MANAGER, Role.HEAD_OF_SERVICE})
RETURN_ROLES = frozenset({Role.FFD, Role.MANAGER, Role.HEAD_OF_SERVICE, Role.POLICE_SYSTEM})
# Recording an interview's outcome: the assigned interviewer, or a manager (who alone may decide
# not to hold one). An interviewer acts only on episodes granted to them (services check).
INTERVIEW_OUTCOME_ROLES = frozenset({Role.MANAGER, Role.HEAD_OF_SERVICE, Role.INTERVIEWER})


# How much of children's records a role reads, for telling a grant from a removal of access
# (separation of duties, missing.accounts.account_changes): a change to a higher rank grants access and
# waits for a head of service; anything else applies at once. Interviewers read only the
# children they are assigned; FFD every child; managers also restricted intelligence; heads of
# service also approve account changes. Roles not listed read no child.
CASE_ACCESS_RANK: dict[str, int] = {
    Role.INTERVIEWER: 1,
    Role.FFD: 2,
    Role.MANAGER: 3,
    Role.HEAD_OF_SERVICE: 4,
}


def grants_case_access(*, from_role: str, to_role: str) -> bool:
    """True if moving an account from `from_role` to `to_role` lets it read more children's
    records than before (from no role, from a role that reads none, or up the ladder)."""
    return CASE_ACCESS_RANK.get(to_role, 0) > CASE_ACCESS_RANK.get(from_role, 0)


# Who reads police intelligence marked restricted (field-level need-to-know). The Family Front
# Door types it in at intake but does not read it back: it informs the manager's risk decision,
# not the match or the return. Decided here, once: serializers and templates ask
# `may_see_restricted()` and never test roles themselves.
RESTRICTED_READERS = frozenset({Role.MANAGER, Role.HEAD_OF_SERVICE})


def may_see_accountability(user: Any) -> bool:
    """Managers and heads of service see who looked at a child and what changed; nobody else
    (an interviewer must not learn who else is involved; practitioners do not audit peers)."""
    return bool(getattr(user, "is_authenticated", False)) and user.has_role(OVERSIGHT_ROLES)


def may_see_restricted(user: Any) -> bool:
    """True if `user` may receive manager-only fields (restricted police intelligence).
    Deny by default: anonymous, inactive and every other role get False."""
    return bool(getattr(user, "is_authenticated", False)) and user.has_role(RESTRICTED_READERS)


# The manager-only fields of a notification or an episode (and keys of a raw payload).
RESTRICTED_FIELDS = ("restricted_intelligence",)


def without_restricted(payload: dict[str, Any]) -> dict[str, Any]:
    """A raw payload as anyone but a restricted reader may see it."""
    return {key: value for key, value in payload.items() if key not in RESTRICTED_FIELDS}


def interview_arranger_roles() -> frozenset[str]:
    """Who offers the interview and assigns the interviewer: managers, and the Family Front Door
    where local protocol says so (settings.INTERVIEW_ARRANGER_ROLES)."""
    return frozenset(getattr(settings, "INTERVIEW_ARRANGER_ROLES", OVERSIGHT_ROLES))


class Organisation(models.Model):
    class Kind(models.TextChoices):
        COUNCIL = "council", "Council"
        PROVIDER = "provider", "Commissioned interview provider"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.COUNCIL)

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    name = models.CharField(max_length=200, unique=True)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="teams")

    def __str__(self) -> str:
        return self.name


class PoliceForce(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.name


class RiskGrade(models.Model):
    """A police risk grade. Forces differ, so the list is data (College of Policing guidance)."""

    code = models.SlugField(max_length=40, unique=True)
    label = models.CharField(max_length=100)
    # Lower rank = more urgent; used to order grades and to tell an upgrade from a downgrade.
    rank = models.PositiveSmallIntegerField()
    # Local protocol: a manager must review a notification of this grade within this time.
    review_within = models.DurationField()
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["rank"]

    def __str__(self) -> str:
        return self.label


phone_validator = RegexValidator(
    r"^\+[1-9]\d{7,14}$", "Enter the number in international form, e.g. +447700900123."
)


class CouncilQuerySet(models.QuerySet["Council"]):
    def resolve(self, *texts: str) -> dict[str, Council]:
        """The councils that `texts` name, in one query: a text matches a council's ONS code,
        its DfE code or its name, ignoring case and surrounding space (the child's facts hold
        the councils as text, typed or imported). A text that names none is left out."""
        wanted = {text.strip().casefold(): text for text in texts if text and text.strip()}
        if not wanted:
            return {}
        rows = self.filter(
            models.Q(ons_code__in=[key.upper() for key in wanted])
            | models.Q(dfe_code__in=list(wanted))
            | models.Q(name_key__in=list(wanted))
        )
        found: dict[str, Council] = {}
        for council in rows:
            for key in council.match_keys():
                if key in wanted:
                    found[wanted[key]] = council
        return found


class Council(models.Model):
    """An English council with children's services: reference data (the ONS code and the DfE's
    three-digit LA code the national returns use) loaded by migration, and its out-of-hours
    missing contact, kept by the administrator. When a child placed out of area goes missing,
    the other council is told through these contacts (notifications.council_alerts)."""

    ons_code = models.CharField(
        "ONS code",
        max_length=9,
        unique=True,
        validators=[
            RegexValidator(r"^E(06|08|09|10)\d{6}$", "An English ONS code, e.g. E09000033.")
        ],
    )
    dfe_code = models.CharField(
        "DfE LA code",
        max_length=3,
        unique=True,
        validators=[RegexValidator(r"^\d{3}$", "Three digits, e.g. 213.")],
    )
    name = models.CharField(max_length=100, unique=True)
    # casefolded name, for matching the text in a child's facts (kept by save()).
    name_key = models.CharField(max_length=100, unique=True, editable=False)
    out_of_hours_email = models.EmailField(
        "out-of-hours secure email",
        blank=True,
        help_text="Where missing-child alerts go: the council's secure (e.g. gcsx/.gov.uk) mailbox.",
    )
    out_of_hours_phone = models.CharField(
        "out-of-hours phone",
        max_length=16,
        blank=True,
        validators=[phone_validator],
        help_text="For texts about high-risk episodes, in international form.",
    )
    active = models.BooleanField(default=True)

    objects = CouncilQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.name_key = self.name.strip().casefold()
        super().save(*args, **kwargs)

    def match_keys(self) -> tuple[str, str, str]:
        """What a text naming this council may be, casefolded: its ONS code, DfE code or name."""
        return (self.ons_code.casefold(), self.dfe_code, self.name_key)

    def is_named_by(self, text: str) -> bool:
        return text.strip().casefold() in self.match_keys()


# --------------------------------------------------------------------------------------------
# Councils on one installation (a regional deployment, decision 0066)
# --------------------------------------------------------------------------------------------


def installation_councils() -> list[str]:
    """The ONS codes of the councils this installation serves (settings.COUNCIL_ONS_CODES)."""
    return list(getattr(settings, "COUNCIL_ONS_CODES", []) or [])


def is_regional() -> bool:
    """Two or more councils on one installation: every read is narrowed to the user's council.
    With one council (or none configured) nothing is narrowed: the system behaves as before."""
    return len(installation_councils()) > 1


def _user_council_id(user: Any) -> int | None:
    return cast("int | None", getattr(user, "council_id", None))


def council_scope(user: Any, via: str = "", *, shared: bool = True) -> Q:
    """The one rule of who sees which council's rows, as a filter for every `visible_to()`:
    `Q()` (everything) on a single-council installation; on a regional one the rows of the
    user's own council, plus (`shared`) the out-of-area episodes shared with it, whichever side
    of the placement it is on (host or responsible). `via` is the path from the queried model
    to the episode (or, with shared=False, to the row holding `council`), e.g. "episode__".
    A user with no council on a regional installation sees no case row at all."""
    if not is_regional():
        return Q()
    council_id = _user_council_id(user)
    if council_id is None:
        return Q(pk__in=[])
    scope = Q(**{f"{via}council_id": council_id})
    if shared:
        scope |= Q(**{f"{via}out_of_area_council_id": council_id})
    return scope


def is_shared_with(episode: Any, user: Any) -> bool:
    """Whether `user` sees `episode` only because it is shared with their council (the label
    "Shared with <council>: placed out of area" says so)."""
    council_id = _user_council_id(user)
    return (
        is_regional()
        and council_id is not None
        and episode.council_id != council_id
        and episode.out_of_area_council_id == council_id
    )


class User(AbstractUser):
    # Blank: no role yet, no access (an account whose case role awaits a head of service's
    # approval, missing.accounts.account_changes).
    role = models.CharField(max_length=20, choices=Role.choices, blank=True)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="staff"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="staff"
    )
    phone = models.CharField(max_length=16, blank=True, validators=[phone_validator])
    # The council whose children this user works with (a regional installation, decision 0066);
    # empty on a single-council installation, where it changes nothing.
    council = models.ForeignKey(
        Council, null=True, blank=True, on_delete=models.PROTECT, related_name="staff"
    )
    # Set for police-system accounts: the force whose notifications this client may post.
    police_force = models.ForeignKey(
        PoliceForce, null=True, blank=True, on_delete=models.PROTECT, related_name="api_users"
    )
    # Raised to end every session of this user at once (second factor reset): it is part of the
    # session hash below, which Django checks on every request.
    session_generation = models.PositiveIntegerField(default=0, editable=False)
    # When this user last entered a code (sign-in or step-up): the step-up of exports through a
    # personal API token, which has no session (missing.accounts.security.RecentSecondFactor).
    second_factor_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects: ClassVar[UserManager[Self]] = UserManager()

    # Django compares the session auth hash with the one stored at sign-in on every request and
    # ends the session when they differ. Ours covers, besides the password (Django's own), the
    # role, the active flag and the session generation: changing the role, disabling the account
    # or resetting the second factor ends all of the user's sessions on their next request, with
    # no session table to search. Both documented methods are overridden (the current key, and
    # the SECRET_KEY_FALLBACKS rotation), not Django's private `_get_session_auth_hash`; the
    # salt and the value are unchanged, so sessions signed in before this change stay valid.
    def get_session_auth_hash(self) -> str:
        return self._session_hash(secret=None)

    def get_session_auth_fallback_hash(self) -> Iterator[str]:
        for fallback_secret in settings.SECRET_KEY_FALLBACKS:
            yield self._session_hash(secret=fallback_secret)

    def _session_hash(self, *, secret: str | bytes | None) -> str:
        value = f"{self.password}|{self.role}|{self.is_active}|{self.session_generation}"
        return salted_hmac(
            "missing.User.get_session_auth_hash", value, secret=secret, algorithm="sha256"
        ).hexdigest()

    @property
    def role_label(self) -> str:
        return Role(self.role).label if self.role else ""

    def has_role(self, roles: frozenset[str] | set[str]) -> bool:
        return self.is_active and self.role in roles


class ApiToken(models.Model):
    """A bearer token; only its SHA-256 is stored, the token itself is shown once."""

    class Scope(models.TextChoices):
        INTAKE = "intake", "Intake only (police notifications)"
        FULL = "full", "Everything the user's role allows"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=10, choices=Scope.choices)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Personal (full-scope) tokens end at settings.API_TOKEN_MAX_AGE; None: no expiry (police
    # systems' intake tokens, and tokens made before expiry existed).
    expires_at = models.DateTimeField(null=True, blank=True)
    # The user's credential hash when the token was made (User.get_session_auth_hash: password,
    # role, active, second-factor generation). A change to any of them ends the token as it
    # ends sessions. Blank: made before this check (accepted; see decision 0048).
    credential_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.get_scope_display()})"


# --------------------------------------------------------------------------------------------
# Account changes that need a second person (separation of duties, missing.accounts.account_changes)
# --------------------------------------------------------------------------------------------


class AccountChangeKind(models.TextChoices):
    ROLE = "role", "Role change"
    PASSWORD = "password", "Password set by someone else"
    SECOND_FACTOR = "second_factor", "Second factor reset"
    # A regional installation: the account moves to another council's children (0070).
    COUNCIL = "council", "Council change"


class AccountChangeState(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    APPROVED = "approved", "Approved"
    REFUSED = "refused", "Refused"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


def may_decide_account_changes(instance: Any, user: Any) -> bool:
    """Only an active head of service approves or refuses an account change (who may not
    decide their own or one about themselves is the service's check: it needs the row)."""
    return bool(getattr(user, "is_authenticated", False)) and user.has_role({Role.HEAD_OF_SERVICE})


class AccountChangeQuerySet(models.QuerySet["AccountChange"]):
    def with_people(self) -> AccountChangeQuerySet:
        """Subject, requester and decider in the same query (the approvals page, notices)."""
        return self.select_related("subject", "requested_by", "decided_by")


class AccountChange(ConcurrentTransitionMixin, models.Model):
    """A change to an account that would let one person take over another's access: a role
    that grants case access, a password set by someone other than the user, a second-factor
    reset. It waits here until a second person, a head of service, approves it
    (missing.accounts.account_changes applies it then). For a password only the hash is kept, never the
    password itself. A role change that removes access is applied at once and recorded here as
    approved, so the history and the user's sign-in notice are complete."""

    kind = models.CharField(max_length=20, choices=AccountChangeKind.choices)
    subject = models.ForeignKey(User, on_delete=models.PROTECT, related_name="account_changes")
    # None: asked for on the command line by whoever deploys the service (`requested_via`).
    requested_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_via = models.CharField(max_length=20)
    requested_at = models.DateTimeField()
    # role: {"role": new, "from_role": old}; password: {"password_hash": ...}; reset: {}.
    payload = models.JSONField(default=dict, blank=True)
    state = FSMField(
        default=AccountChangeState.PENDING, choices=AccountChangeState.choices, protected=True
    )
    decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField()
    # When the subject dismissed the sign-in notice about this change (shown once).
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    objects = AccountChangeQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["state", "requested_at"], name="account_change_state_idx"),
            models.Index(fields=["subject", "acknowledged_at"], name="account_change_notice_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.get_kind_display()} ({self.get_state_display()})"

    @property
    def reference(self) -> str:
        return f"AC-{self.pk}"

    @property
    def summary(self) -> str:
        """What the change does, in words (no password, no hash)."""
        if self.kind == AccountChangeKind.ROLE:
            before, after = (
                Role(value).label if value else "no role"
                for value in (self.payload.get("from_role"), self.payload.get("role"))
            )
            return f"Role {before} to {after}"
        if self.kind == AccountChangeKind.COUNCIL:
            before, after = (
                self.payload.get(key) or "no council"
                for key in ("from_council_name", "council_name")
            )
            return f"Council {before} to {after}"
        return self.get_kind_display()

    @transition(
        field=state,
        source=AccountChangeState.PENDING,
        target=AccountChangeState.APPROVED,
        permission=may_decide_account_changes,
    )
    def approve(self, *, by: User, at: datetime, reason: str) -> None:
        """A head of service approves; the service applies the change in the same transaction."""
        self.decided_by = by
        self.decided_at = at
        self.reason = reason

    @transition(
        field=state,
        source=AccountChangeState.PENDING,
        target=AccountChangeState.REFUSED,
        permission=may_decide_account_changes,
    )
    def refuse(self, *, by: User, at: datetime, reason: str) -> None:
        """A head of service refuses: nothing changes on the account."""
        self.decided_by = by
        self.decided_at = at
        self.reason = reason

    @transition(field=state, source=AccountChangeState.PENDING, target=AccountChangeState.CANCELLED)
    def cancel(self, *, at: datetime, reason: str) -> None:
        """Superseded by a newer request of the same kind for the same account."""
        self.decided_at = at
        self.reason = reason

    @transition(field=state, source=AccountChangeState.PENDING, target=AccountChangeState.EXPIRED)
    def expire(self, *, at: datetime) -> None:
        """Nobody decided within settings.ACCOUNT_CHANGE_MAX_AGE: ask again if still wanted."""
        self.decided_at = at
        self.reason = "Not decided in time."


class ChildQuerySet(models.QuerySet["Child"]):
    def visible_to(self, user: Any) -> ChildQuerySet:
        """Deny by default: case staff see every child; an interviewer only children they are
        granted through an assignment; everyone else nobody."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.role in CASE_READERS:
            # A child is their own council's: a shared out-of-area episode is seen through the
            # episode, never the other council's whole file of the child.
            return self.filter(council_scope(user, shared=False))
        if user.role == Role.INTERVIEWER:
            grants = CaseAccessGrant.objects.filter(
                episode__child=OuterRef("pk"), user=user, revoked_at__isnull=True
            )
            return self.filter(Exists(grants))
        return self.none()

    def with_legal_status(self, day: date) -> ChildQuerySet:
        """Annotate `looked_after`, `child_protection_plan` and `child_in_need`: whether a
        legal-status period of that kind is in force on the London date `day` (computed from
        the periods, never stored on the child: a period ending at midnight cannot drift)."""
        return self.annotate(
            **{
                status: Exists(
                    LegalStatusPeriod.objects.filter(child=OuterRef("pk"), status=status).in_force(
                        day
                    )
                )
                for status in LegalStatus.values
            }
        )


class RetentionClass(models.TextChoices):
    LOOKED_AFTER = "looked_after", "Looked after (kept until the 75th birthday)"
    OTHER = "other", "Not looked after (the local period)"


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    # The facts FFD and managers edit, not the name or date of birth (history stays lean and
    # an update event fires only when one of these changes).
    fields=[
        "council_child_id",
        "nhs_number",
        "allocated_team",
        "social_worker",
        "social_worker_name",
        "placement",
        "placement_area",
        "responsible_council",
        "host_council",
        "ever_looked_after",
    ],
    model_name="ChildHistory",
    obj_field=pghistory.ObjForeignKey(related_name="history"),
)
class Child(models.Model):
    # Unique per council, with the NHS number (constraints below; decision 0070): on a regional
    # installation two councils may each hold a record of the same child, under their own ids.
    # Null, not blank, when unknown: the unique constraints ignore nulls.
    council_child_id = models.CharField(  # noqa: DJ001
        "council child id", max_length=40, null=True, blank=True
    )
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField(null=True, blank=True)
    gender = models.CharField(max_length=40, blank=True)
    # Ten digits, check digit verified (missing.cases.nhs); shown "943 476 5919". Matched first at
    # intake. Legal status is not stored here: it is the LegalStatusPeriod rows (decision 0046).
    nhs_number = models.CharField("NHS number", max_length=10, null=True, blank=True)  # noqa: DJ001
    allocated_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # A user of the system where the social worker is one (the independence check refuses
    # them); otherwise their name as the case system gives it. Never both.
    social_worker = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="allocated_children"
    )
    social_worker_name = models.CharField("social worker (not a user)", max_length=200, blank=True)
    # The placement provider's name (a children's home, a fostering agency): matched against
    # PlacementStaff by the independence check.
    placement = models.CharField("placement provider", max_length=200, blank=True)
    # The area only (a town, a district, a postcode district): never a full address.
    placement_area = models.CharField("placement area", max_length=100, blank=True)
    responsible_council = models.CharField(
        "placing / responsible council", max_length=200, blank=True
    )
    host_council = models.CharField(max_length=200, blank=True)
    # Whose child this record is on a regional installation (decision 0066): the council whose
    # front door received the first notification; empty on a single-council installation.
    council = models.ForeignKey(
        Council, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    # True while the child has a looked-after period on record, past or present: a care
    # leaver's record is kept until their 75th birthday however their status changes later.
    # Kept by the legal-status services in the transaction of the change (missing.cases.child_facts).
    ever_looked_after = models.BooleanField(default=False)
    # Optimistic locking of the facts' edits (web form, PATCH /api/children/{id}/).
    version = models.PositiveIntegerField(default=1)

    objects = ChildQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "children"
        # One council holds an identifier once; a record with no council (a single-council
        # installation with no COUNCIL_ONS_CODE) is unique among those with none.
        constraints = [
            models.UniqueConstraint(
                fields=["council", "nhs_number"],
                condition=models.Q(council__isnull=False),
                name="child_nhs_number_per_council",
            ),
            models.UniqueConstraint(
                fields=["nhs_number"],
                condition=models.Q(council__isnull=True),
                name="child_nhs_number_no_council",
            ),
            models.UniqueConstraint(
                fields=["council", "council_child_id"],
                condition=models.Q(council__isnull=False),
                name="child_council_id_per_council",
            ),
            models.UniqueConstraint(
                fields=["council_child_id"],
                condition=models.Q(council__isnull=True),
                name="child_council_id_no_council",
            ),
        ]
        indexes = [
            # A single-council installation matches by identifier across every record.
            models.Index(fields=["nhs_number"], name="child_nhs_number_idx"),
            models.Index(fields=["council_child_id"], name="child_council_id_idx"),
            models.Index(Lower("last_name"), "date_of_birth", name="child_match_idx"),
            # Retention: the children past their date are a range of dates of birth.
            models.Index(fields=["date_of_birth"], name="child_dob_idx"),
        ]

    def __str__(self) -> str:
        # Deliberately not the name: str() ends up in logs and error reports.
        return f"Child C-{self.pk}"

    @property
    def reference(self) -> str:
        return f"C-{self.pk}"

    @property
    def full_name(self) -> str:
        return child_full_name(self.first_name, self.last_name)

    @property
    def nhs_number_formatted(self) -> str | None:
        """ "943 476 5919", as people read it (stored as the ten digits)."""
        if not self.nhs_number:
            return None
        return f"{self.nhs_number[:3]} {self.nhs_number[3:6]} {self.nhs_number[6:]}"

    @property
    def retention_class(self) -> str:
        return RetentionClass.LOOKED_AFTER if self.ever_looked_after else RetentionClass.OTHER

    def age_on(self, day: Any) -> int | None:
        return age_on(self.date_of_birth, day)


# Shared by Child and the board's light rows (missing.cases.selectors.BoardChild).
def child_full_name(first_name: str, last_name: str) -> str:
    return f"{first_name} {last_name}"


def age_on(date_of_birth: date | None, day: date) -> int | None:
    """Age in whole years on `day`; None without a date of birth."""
    if date_of_birth is None:
        return None
    dob = date_of_birth
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


class LegalStatus(models.TextChoices):
    LOOKED_AFTER = "looked_after", "Looked after"
    CHILD_PROTECTION_PLAN = "child_protection_plan", "Child protection plan"
    CHILD_IN_NEED = "child_in_need", "Child in need"


class LegalStatusPeriodQuerySet(models.QuerySet["LegalStatusPeriod"]):
    def in_force(self, day: date) -> LegalStatusPeriodQuerySet:
        """Periods in force on the London date `day`: started on or before it and not ended
        by it (the end date is the day the status ceased, as the SSDA903's DEC)."""
        return self.filter(Q(end_date__isnull=True) | Q(end_date__gt=day), start_date__lte=day)


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    model_name="LegalStatusPeriodHistory",
    obj_field=pghistory.ObjForeignKey(related_name="history"),
)
class LegalStatusPeriod(models.Model):
    """A dated period of one legal status: looked after, on a child protection plan, or a
    child in need, from `start_date` until `end_date` (the day it ceased; open while blank).
    The periods are the truth: an episode's snapshot (MissingEpisode.looked_after & co) is the
    periods in force on the London date it started, recomputed whenever a period changes."""

    class Source(models.TextChoices):
        MANUAL = "manual", "Recorded by hand"
        IMPORT = "import", "Imported from the case system"

    child = models.ForeignKey(Child, on_delete=models.PROTECT, related_name="legal_status_periods")
    status = models.CharField(max_length=30, choices=LegalStatus.choices)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    # The case system's key for this period (e.g. an ssd_cla_episodes id), so a re-import
    # updates the row it made instead of adding another. Blank for periods recorded by hand.
    source_key = models.CharField(max_length=100, blank=True)
    # Why it was last added, changed or corrected (required of a person; the history keeps
    # every earlier reason).
    reason = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()
    version = models.PositiveIntegerField(default=1)

    objects = LegalStatusPeriodQuerySet.as_manager()

    class Meta:
        ordering = ["start_date", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gt=models.F("start_date")),
                name="legal_status_end_after_start",
            ),
            models.UniqueConstraint(
                fields=["source", "source_key"],
                condition=~Q(source_key=""),
                name="legal_status_source_key_once",
            ),
        ]
        indexes = [
            models.Index(fields=["child", "status", "start_date"], name="legal_status_child_idx")
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        return f"LS-{self.pk}"

    def in_force_on(self, day: date) -> bool:
        return self.start_date <= day and (self.end_date is None or day < self.end_date)


class EpisodeState(models.TextChoices):
    MISSING = "missing", "Missing"
    RETURNED = "returned", "Returned – interview to arrange"
    INTERVIEW_ARRANGED = "interview_arranged", "Interview arranged"
    AWAITING_SIGN_OFF = "awaiting_sign_off", "Interview done – awaiting sign-off"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled (logged in error)"


OPEN_STATES = (
    EpisodeState.MISSING,
    EpisodeState.RETURNED,
    EpisodeState.INTERVIEW_ARRANGED,
    EpisodeState.AWAITING_SIGN_OFF,
)
# The child is back and the interview is neither held nor recorded as not held: the 72-hour clock
# runs in these states only.
INTERVIEW_PENDING_STATES = (EpisodeState.RETURNED, EpisodeState.INTERVIEW_ARRANGED)
ENDED_STATES = (EpisodeState.CLOSED, EpisodeState.CANCELLED)


class InterviewOutcome(models.TextChoices):
    """How the return interview ended, for each episode it covers (DfE 2014: a refusal, a
    decision not to hold one and every attempt must be recorded, as well as an interview)."""

    HELD = "held", "Held"
    CHILD_REFUSED = "child_refused", "Not held: the child refused"
    CARER_REFUSED = "carer_refused", "Not held: the parent or carer refused"
    NO_CONTACT = "no_contact", "Not held: no contact could be made"
    NOT_HELD_DECISION = "not_held_decision", "Not held: a manager decided not to hold one"


class InterviewHolder(models.TextChoices):
    """For a child placed out of area: whose provider holds the return interview. The statutory
    guidance asks the two councils to agree it; the responsible council counts it either way."""

    NOT_AGREED = "", "Not agreed yet"
    HOST = "host", "The host council's provider"
    RESPONSIBLE = "responsible", "The responsible council's provider"


class ManagerRisk(models.TextChoices):
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


def _may_review(instance: models.Model, user: Any) -> bool:
    return user.has_role(OVERSIGHT_ROLES)


def _may_record_return(instance: models.Model, user: Any) -> bool:
    return user.has_role(RETURN_ROLES)


def _may_regrade(instance: models.Model, user: Any) -> bool:
    return user.has_role(INTAKE_ROLES)


def _may_arrange(instance: models.Model, user: Any) -> bool:
    return user.has_role(interview_arranger_roles())


def _may_agree_a_time(instance: models.Model, user: Any) -> bool:
    # The interviewer usually agrees the time with the child; the arrangers may record it too.
    return user.has_role(interview_arranger_roles() | {Role.INTERVIEWER})


def _may_record_outcome(instance: models.Model, user: Any) -> bool:
    return user.has_role(INTERVIEW_OUTCOME_ROLES)


class MissingEpisodeQuerySet(models.QuerySet["MissingEpisode"]):
    def visible_to(self, user: Any) -> MissingEpisodeQuerySet:
        """Deny by default; interviewers see only episodes granted to them (see Child). Case
        staff see their council's episodes and those shared with it (`council_scope`)."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.role in CASE_READERS:
            return self.filter(council_scope(user))
        if user.role == Role.INTERVIEWER:
            # Minimum necessary: only the episodes the assignment covers, not the child's whole file.
            grants = CaseAccessGrant.objects.filter(
                episode=OuterRef("pk"), user=user, revoked_at__isnull=True
            )
            return self.filter(Exists(grants))
        return self.none()

    def open(self) -> MissingEpisodeQuerySet:
        # Served by the partial index episode_open_idx: cost follows the open caseload.
        return self.filter(state__in=OPEN_STATES)

    def with_related(self) -> MissingEpisodeQuerySet:
        """Joins every list and board row needs: the child, the grade and the force."""
        return self.select_related("child", "police_grade", "police_force")


def episode_reference(pk: int | None) -> str:
    return f"E-{pk}"


def current_clock(episode: Any, review_window: timedelta) -> tuple[str, datetime | None, timedelta]:
    """The clock that matters now: (kind, due, window), from an episode's own fields (`state`,
    `first_reviewed_at`, `review_due_at`, `interview_due_at`): a MissingEpisode or the board's
    light row (missing.cases.selectors.BoardEpisode)."""
    if episode.state not in OPEN_STATES:
        return ("none", None, timedelta(0))
    if episode.first_reviewed_at is None:
        return ("review", episode.review_due_at, review_window)
    if episode.state in INTERVIEW_PENDING_STATES:
        return ("interview", episode.interview_due_at, clocks.INTERVIEW_WINDOW)
    if episode.state == EpisodeState.AWAITING_SIGN_OFF:
        # The interview is done (or recorded as not held): no clock, a manager's sign-off.
        return ("sign_off", None, timedelta(0))
    return ("review", episode.review_due_at, review_window)


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    model_name="EpisodeHistory",
    obj_field=pghistory.ObjForeignKey(related_name="history"),
)
class MissingEpisode(ConcurrentTransitionMixin, models.Model):
    """One period a child was missing or away, from last seen to return, and its casework.

    State (django-fsm-2, protected): missing → returned (interview to arrange) → interview
    arranged → awaiting sign-off (interview held, or recorded as not held) → closed by a manager's
    sign-off; cancelled from any open state if logged in error. Manager oversight runs alongside
    the state rather than inside it, because the guidance lets the return be recorded before or
    after the first review and the clock waits for neither: `first_reviewed_at` and
    `review_due_at` carry it, and sign-off requires it.

    The interview facts the escalations and figures need (arranged, held, outcome) are the
    episode's own columns, written through the core's services by the interviews app: the
    interview record itself lives there, and nothing here imports it.
    """

    class Kind(models.TextChoices):
        MISSING = "M", "Missing (whereabouts unknown)"
        AWAY = "A", "Away from placement without authorisation"

    child = models.ForeignKey(Child, on_delete=models.PROTECT, related_name="episodes")
    kind = models.CharField(max_length=1, choices=Kind.choices, default=Kind.MISSING)
    state = FSMField(default=EpisodeState.MISSING, choices=EpisodeState.choices, protected=True)
    version = models.PositiveIntegerField(default=1)

    police_force = models.ForeignKey(PoliceForce, on_delete=models.PROTECT, related_name="episodes")
    police_reference = models.CharField(max_length=60)
    police_grade = models.ForeignKey(RiskGrade, on_delete=models.PROTECT, related_name="episodes")

    last_seen_at = models.DateTimeField()
    last_seen_place = models.CharField(max_length=300, blank=True)
    reported_at = models.DateTimeField()
    notified_at = models.DateTimeField(
        help_text="When the council received the first notification."
    )
    circumstances = models.TextField(blank=True)
    reported_by = models.CharField(max_length=200, blank=True)
    # Police intelligence marked restricted: managers and heads of service only
    # (`may_see_restricted`). Later notifications add to it, never replace it.
    restricted_intelligence = models.TextField(blank=True)

    returned_at = models.DateTimeField(null=True, blank=True)
    found_place = models.CharField(max_length=300, blank=True)
    found_by = models.CharField(max_length=200, blank=True)
    prevention_interview_done = models.BooleanField(null=True, blank=True)

    # Snapshot at the start of the episode: a child's legal status changes over time and
    # the national returns count the status the child had then.
    looked_after = models.BooleanField(default=False)
    child_protection_plan = models.BooleanField(default=False)
    child_in_need = models.BooleanField(default=False)
    placement = models.CharField(max_length=200, blank=True)
    responsible_council = models.CharField(max_length=200, blank=True)
    host_council = models.CharField(max_length=200, blank=True)
    # Placed out of area: the other council (host or responsible, whichever is not this
    # installation's, settings.COUNCIL_ONS_CODE), told at once (notifications.council_alerts).
    out_of_area_council = models.ForeignKey(
        Council, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Regional installation (decision 0066): the council whose case this is (the child's), and
    # the council responsible for the child, whose figures count the episode (the same one
    # unless the child is another council's placed here). Empty on a single-council one.
    council = models.ForeignKey(
        Council, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    figures_council = models.ForeignKey(
        Council, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Who holds the return interview for a child placed out of area, as the two councils agreed.
    interview_holder = models.CharField(
        max_length=20, blank=True, choices=InterviewHolder.choices, default=""
    )

    flag_sexual_exploitation = models.BooleanField(default=False)
    flag_criminal_exploitation = models.BooleanField(default=False)
    flag_mental_health = models.BooleanField(default=False)
    flag_aged_13_or_under = models.BooleanField(default=False)

    manager_risk = models.CharField(max_length=10, choices=ManagerRisk.choices, blank=True)
    first_reviewed_at = models.DateTimeField(null=True, blank=True)
    # When the first review was due, kept when it is done (review_due_at then moves on to the
    # next review or clears): the figures count reviews done within target from it.
    first_review_due_at = models.DateTimeField(null=True, blank=True)
    # When the next manager review is due; null when none is outstanding.
    review_due_at = models.DateTimeField(null=True, blank=True)
    # returned_at + 72 h, fixed when the return is recorded (clocks.interview_due_at).
    interview_due_at = models.DateTimeField(null=True, blank=True)

    # Set by the interview transitions (the interviews app calls the services that run them).
    interview_arranged_at = models.DateTimeField(null=True, blank=True)
    interview_held_at = models.DateTimeField(null=True, blank=True)
    interview_outcome = models.CharField(
        max_length=20, choices=InterviewOutcome.choices, blank=True
    )
    # The interview record that holds the outcome (its reference, e.g. "I-12"), when there is
    # one: the episode then closes only through that interview's sign-off, which records the
    # manager's follow-up decisions. Blank when a manager recorded "not held" on the episode.
    interview_reference = models.CharField(max_length=20, blank=True)

    signed_off_at = models.DateTimeField(null=True, blank=True)
    signed_off_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancelled_reason = models.TextField(blank=True)

    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    objects = MissingEpisodeQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["police_force", "police_reference"], name="episode_unique_police_ref"
            ),
            # SSDA903 validation: no new episode while one is still open (child not yet back).
            models.UniqueConstraint(
                fields=["child"],
                condition=Q(returned_at__isnull=True) & ~Q(state=EpisodeState.CANCELLED),
                name="episode_one_missing_per_child",
            ),
            models.CheckConstraint(
                condition=Q(returned_at__isnull=True)
                | Q(returned_at__gte=models.F("last_seen_at")),
                name="episode_return_after_last_seen",
            ),
        ]
        indexes = [
            models.Index(
                fields=["state", "child"],
                condition=Q(state__in=OPEN_STATES),
                name="episode_open_idx",
            ),
            models.Index(
                fields=["review_due_at"],
                condition=Q(review_due_at__isnull=False) & Q(state__in=OPEN_STATES),
                name="episode_review_due_idx",
            ),
            models.Index(
                fields=["interview_due_at"],
                condition=Q(state__in=INTERVIEW_PENDING_STATES) & Q(interview_due_at__isnull=False),
                name="episode_interview_due_idx",
            ),
            # The duration sweep: children still missing, oldest first. Partial, so its size
            # follows the open caseload, never history (episode_last_seen_idx covers all rows).
            models.Index(
                fields=["last_seen_at"],
                condition=Q(state=EpisodeState.MISSING),
                name="episode_still_missing_idx",
            ),
            models.Index(fields=["child", "last_seen_at"], name="episode_child_time_idx"),
            models.Index(fields=["last_seen_at"], name="episode_last_seen_idx"),
            # Returns by the time the child came back: the figures' return cohort and the
            # SSDA903 export's episodes carried into a year (interviews.returns.ssda903._touching_year).
            models.Index(fields=["returned_at"], name="episode_returned_idx"),
            # The episode list filtered by state, newest first: one index range per page at any
            # size of history (bench/README.md).
            models.Index(fields=["state", "last_seen_at"], name="episode_state_seen_idx"),
            # SSDA903: looked-after episodes that touch a collection year end in it or after it,
            # or are still open: a range on returned_at (plus IS NULL), not a scan of history.
            models.Index(
                fields=["returned_at"],
                condition=Q(looked_after=True) & ~Q(state=EpisodeState.CANCELLED),
                name="episode_la_returned_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def state_fields(self) -> tuple[FSMFieldMixin, ...]:
        """The FSM fields (one: `state`). django-fsm finds them by testing every field of the
        model on each instance it builds, to snapshot their values; the board builds every open
        episode, and that search was a tenth of its time (issue 15). The test
        test_episode_state_fields_are_the_fsm_fields checks this against django-fsm's own."""
        return _EPISODE_STATE_FIELDS

    @property
    def reference(self) -> str:
        return episode_reference(self.pk)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def has_oversight(self) -> bool:
        return self.first_reviewed_at is not None

    def is_returned(self) -> bool:
        return self.returned_at is not None

    def current_clock(self) -> tuple[str, datetime | None, timedelta]:
        """The clock that matters now: (kind, due, window), from the row's own fields."""
        return current_clock(self, self.police_grade.review_within)

    def has_interview_outcome(self) -> bool:
        return bool(self.interview_outcome)

    # --- transitions: each only sets fields on self; services save, audit and enqueue. ---

    @transition(
        field=state,
        source=EpisodeState.MISSING,
        target=EpisodeState.RETURNED,
        permission=_may_record_return,
    )
    def record_return(
        self,
        *,
        returned_at: datetime,
        found_place: str,
        found_by: str,
        prevention_interview_done: bool | None,
    ) -> None:
        """The child is back: start the 72-hour interview clock. FFD, managers, police systems."""
        self.returned_at = returned_at
        self.found_place = found_place
        self.found_by = found_by
        self.prevention_interview_done = prevention_interview_done
        self.interview_due_at = clocks.interview_due_at(returned_at)
        if self.first_reviewed_at is not None:
            # Reviews at intervals are for a child still missing; the first review stays due.
            self.review_due_at = None

    @transition(field=state, source=list(OPEN_STATES), target=None, permission=_may_review)
    def review(self, *, decided_at: datetime, risk: str, next_review_at: datetime | None) -> None:
        """A manager's oversight decision. Managers and heads of service only."""
        if self.first_reviewed_at is None:
            self.first_reviewed_at = decided_at
            self.first_review_due_at = self.review_due_at
        self.manager_risk = risk
        self.review_due_at = next_review_at if self.state == EpisodeState.MISSING else None

    @transition(field=state, source=list(OPEN_STATES), target=None, permission=_may_regrade)
    def regrade(self, *, grade: RiskGrade, received_at: datetime) -> None:
        """Police changed the risk grade: a review is due within the new grade's time, if sooner."""
        self.police_grade = grade
        if self.state == EpisodeState.MISSING:
            due = clocks.review_due_at(received_at, grade.review_within)
            if self.review_due_at is None or due < self.review_due_at:
                self.review_due_at = due

    @transition(
        field=state,
        source=list(INTERVIEW_PENDING_STATES),
        target=EpisodeState.INTERVIEW_ARRANGED,
        permission=_may_agree_a_time,
    )
    def arrange_interview(self, *, arranged_at: datetime) -> None:
        """A time and place are agreed with the child (again, if re-arranged). Arrangers, or the
        interviewer granted the episode. The 72-hour clock keeps running until it is held."""
        if self.interview_arranged_at is None:
            self.interview_arranged_at = arranged_at

    @transition(
        field=state,
        source=EpisodeState.INTERVIEW_ARRANGED,
        target=EpisodeState.RETURNED,
        permission=_may_arrange,
    )
    def withdraw_arrangement(self) -> None:
        """The arrangement fell through (interviewer unassigned, child missing again before the
        planned time): the interview is to arrange again. Arrangers only."""
        self.interview_arranged_at = None

    @transition(
        field=state,
        source=list(INTERVIEW_PENDING_STATES),
        target=EpisodeState.AWAITING_SIGN_OFF,
        permission=_may_record_outcome,
    )
    def record_interview_outcome(
        self, *, outcome: str, held_at: datetime | None, interview_reference: str = ""
    ) -> None:
        """The interview was held, or is recorded as not held (refused, no contact, a manager's
        decision). The interviewer granted the episode, or a manager. Sign-off comes next."""
        self.interview_outcome = outcome
        self.interview_held_at = held_at
        self.interview_reference = interview_reference

    @transition(
        field=state,
        source=EpisodeState.AWAITING_SIGN_OFF,
        target=EpisodeState.CLOSED,
        # django-fsm-2 types a condition as Callable[[Model], bool], not of this model.
        conditions=[has_oversight, is_returned, has_interview_outcome],  # type: ignore[list-item]
        permission=_may_review,
    )
    def sign_off(self, *, signed_off_at: datetime, by: User) -> None:
        """A manager signs the case off after the interview (held or not). Needs a return and at
        least one oversight decision."""
        self.signed_off_at = signed_off_at
        self.signed_off_by = by
        self.review_due_at = None

    @transition(
        field=state,
        source=list(OPEN_STATES),
        target=EpisodeState.CANCELLED,
        permission=_may_review,
    )
    def cancel(self, *, reason: str) -> None:
        """Logged in error: a manager cancels with a reason. Nothing is deleted."""
        self.cancelled_reason = reason
        self.review_due_at = None


# MissingEpisode.state_fields: found once, not per instance.
_EPISODE_STATE_FIELDS: tuple[FSMFieldMixin, ...] = tuple(
    field for field in MissingEpisode._meta.fields if isinstance(field, FSMFieldMixin)
)


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    model_name="OversightDecisionHistory",
    obj_field=pghistory.ObjForeignKey(related_name="history"),
)
class OversightDecision(models.Model):
    episode = models.ForeignKey(MissingEpisode, on_delete=models.PROTECT, related_name="decisions")
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField()
    risk = models.CharField(max_length=10, choices=ManagerRisk.choices)
    rationale = models.TextField()
    strategy_meeting = models.BooleanField(default=False)
    exploitation_screening = models.BooleanField(default=False)
    inform_social_worker = models.BooleanField(default=False)
    inform_placement = models.BooleanField(default=False)
    police_liaison = models.BooleanField(default=False)
    next_review_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["decided_at", "pk"]
        indexes = [models.Index(fields=["episode", "decided_at"], name="decision_episode_idx")]

    def __str__(self) -> str:
        return f"Decision {self.pk} on E-{self.episode_id}"

    ACTION_FIELDS = (
        "strategy_meeting",
        "exploitation_screening",
        "inform_social_worker",
        "inform_placement",
        "police_liaison",
    )

    def actions(self) -> list[str]:
        return [
            str(cast(models.Field, self._meta.get_field(f)).verbose_name)
            for f in self.ACTION_FIELDS
            if getattr(self, f)
        ]


class EpisodeEvent(models.Model):
    """The timeline: every transition, with who, when, from, to and why. Append-only."""

    episode = models.ForeignKey(MissingEpisode, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField()
    actor = models.ForeignKey(User, null=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=40)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["episode", "at"], name="event_episode_idx")]

    def __str__(self) -> str:
        return f"{self.action} on E-{self.episode_id}"


class NotificationKind(models.TextChoices):
    REPORTED_MISSING = "reported_missing", "Reported missing"
    FOUND = "found", "Found / returned"
    RISK_REGRADED = "risk_regraded", "Risk regraded"
    UPDATE = "update", "Update"


class PoliceNotificationQuerySet(models.QuerySet["PoliceNotification"]):
    def visible_to(self, user: Any) -> PoliceNotificationQuerySet:
        """Deny by default: notifications are the case team's (they name children police have
        not yet matched); interviewers, administrators and police systems read none back. On a
        regional installation, those sent to the user's council, and those of an episode shared
        with it."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.role in CASE_READERS:
            if not is_regional():
                return self.all()
            return self.filter(council_scope(user, shared=False) | council_scope(user, "episode__"))
        return self.none()


class PoliceNotification(models.Model):
    class MatchStatus(models.TextChoices):
        """What became of the notification. Every notification that parses is stored first, with
        one of these; none is refused for the state its episode is in (decision 0045)."""

        MATCHED = "matched", "Applied to its episode"
        AWAITING_MATCH = "awaiting_match", "Awaiting a practitioner's match"
        AWAITING_REPORT = (
            "awaiting_report",
            "Waiting for the incident's reported-missing notification",
        )
        NEEDS_REVIEW = "needs_review", "Differs from the record: for FFD to review"
        RECORDED = "recorded", "Kept on the episode's record; nothing to change"
        REVIEWED = "reviewed", "Reviewed by FFD"

    class ReviewDecision(models.TextChoices):
        APPLIED = "applied", "The police details were applied"
        KEPT = "kept", "The record was kept as it was"

    police_force = models.ForeignKey(
        PoliceForce, on_delete=models.PROTECT, related_name="notifications"
    )
    police_reference = models.CharField(max_length=60)
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    # Police systems number repeated updates and regrades of one incident; 1 for the rest.
    sequence = models.PositiveIntegerField(default=1)
    received_at = models.DateTimeField()
    received_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    child_first_name = models.CharField(max_length=100, blank=True)
    child_last_name = models.CharField(max_length=100, blank=True)
    child_date_of_birth = models.DateField(null=True, blank=True)
    child_gender = models.CharField(max_length=40, blank=True)
    council_child_id = models.CharField(max_length=40, blank=True)
    # As police give it, spaces removed and its check digit verified; blank when not given.
    nhs_number = models.CharField(
        "NHS number", max_length=10, blank=True, default="", db_default=""
    )
    missing_kind = models.CharField(max_length=1, choices=MissingEpisode.Kind.choices, blank=True)

    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_place = models.CharField(max_length=300, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    risk_grade = models.ForeignKey(
        RiskGrade, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    circumstances = models.TextField(blank=True)
    reported_by = models.CharField(max_length=200, blank=True)
    # Managers and heads of service only (`may_see_restricted`); stripped from the raw payload
    # shown to anyone else.
    restricted_intelligence = models.TextField(blank=True)

    found_at = models.DateTimeField(null=True, blank=True)
    found_place = models.CharField(max_length=300, blank=True)
    found_by = models.CharField(max_length=200, blank=True)
    prevention_interview_done = models.BooleanField(null=True, blank=True)

    raw_payload = models.JSONField()
    payload_hash = models.CharField(max_length=64)
    match_status = models.CharField(max_length=20, choices=MatchStatus.choices)
    # What happened to it, in plain words (never the child's name): the police system gets it in
    # its receipt and FFD sees it on the episode's timeline.
    # db_default: rows written by bulk COPY (bench/generate.py) or older clients get them too.
    outcome_detail = models.TextField(blank=True, default="", db_default="")
    # Needs review: {field: {"recorded": value, "police": value}} for the episode fields the police
    # gave differently. Values are JSON (ISO date-times, grade codes).
    differences = models.JSONField(default=dict, blank=True, db_default=Value({}, JSONField()))
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The council it was sent to on a regional installation (decision 0066): given by the police
    # system or the form, else the council of the user who logged it; the child is matched
    # within it. Empty on a single-council installation.
    council = models.ForeignKey(
        Council, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    review_decision = models.CharField(
        max_length=10, choices=ReviewDecision.choices, blank=True, default="", db_default=""
    )
    review_note = models.TextField(blank=True, default="", db_default="")
    child = models.ForeignKey(
        Child, null=True, blank=True, on_delete=models.PROTECT, related_name="notifications"
    )
    episode = models.ForeignKey(
        MissingEpisode,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notifications",
    )

    objects = PoliceNotificationQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["police_force", "police_reference", "kind", "sequence"],
                name="notification_idempotency",
            )
        ]
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=Q(match_status="awaiting_match"),
                name="notification_awaiting_idx",
            ),
            # FFD's queue: what needs a person (review, or a report that has not come). Partial,
            # so its size follows the open work, never history.
            models.Index(
                fields=["received_at"],
                condition=Q(match_status__in=["needs_review", "awaiting_report"]),
                name="notification_review_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"N-{self.pk}"

    @property
    def reference(self) -> str:
        return f"N-{self.pk}"


class CaseAccessGrant(models.Model):
    """Access to a child's records for someone outside the case team (an interviewer), granted
    by an assignment. The interviews app writes these; the core reads them in visible_to()."""

    episode = models.ForeignKey(
        MissingEpisode, on_delete=models.PROTECT, related_name="access_grants"
    )
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="access_grants")
    granted_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["user", "episode"],
                condition=Q(revoked_at__isnull=True),
                name="grant_active_idx",
            )
        ]

    def __str__(self) -> str:
        return f"Grant of E-{self.episode_id} to user {self.user_id}"


class Heartbeat(models.Model):
    """Last time each background process proved it was alive (shown on /healthz)."""

    name = models.CharField(max_length=40, primary_key=True)
    last_seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name


# --------------------------------------------------------------------------------------------
# Repeat-missing rules and the strategy / risk meetings they call for
# --------------------------------------------------------------------------------------------

EXPLOITATION_FLAGS = {
    "sexual": ("flag_sexual_exploitation", "sexual exploitation"),
    "criminal": ("flag_criminal_exploitation", "criminal exploitation"),
}


def _whole_number(value: Any, *, low: int, high: int) -> bool:
    # bool is an int to Python; "true" is not a number of days.
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


class RepeatMissingRule(models.Model):
    """A local-protocol trigger for a strategy or risk-management meeting. Councils differ
    (3 in 30 days, 3 in 90 days…), so the rules are rows an administrator edits, not code.

    `parameters` holds what the kind needs, checked by `clean()` (the admin's form calls it):
    - episodes_in_window: {"episodes": N, "days": D} — N episodes (the new one counted,
      cancelled ones not) starting within D days, by Europe/London dates;
    - duration_over: {"hours": H} — an episode missing longer than H hours, returned or not;
    - age_at_most: {"age": Y} — the child was Y or under on the day the episode began;
    - exploitation_flag: {"flags": ["sexual", "criminal"]} — the episode is flagged for any of
      these.
    """

    class Kind(models.TextChoices):
        EPISODES_IN_WINDOW = "episodes_in_window", "N episodes within D days"
        DURATION_OVER = "duration_over", "Missing longer than H hours"
        AGE_AT_MOST = "age_at_most", "Child aged Y or under"
        EXPLOITATION_FLAG = "exploitation_flag", "Flagged for exploitation"

    # Each kind's keys, a checker for each, and what the admin is told when one is wrong.
    PARAMETER_SPECS: ClassVar[dict[str, dict[str, tuple[Any, str]]]] = {
        Kind.EPISODES_IN_WINDOW: {
            "episodes": (
                lambda v: _whole_number(v, low=2, high=100),
                "a whole number of episodes from 2 to 100",
            ),
            "days": (
                lambda v: _whole_number(v, low=1, high=3660),
                "a whole number of days from 1 to 3660",
            ),
        },
        Kind.DURATION_OVER: {
            "hours": (
                lambda v: _whole_number(v, low=1, high=8784),
                "a whole number of hours from 1 to 8784",
            ),
        },
        Kind.AGE_AT_MOST: {
            "age": (lambda v: _whole_number(v, low=0, high=17), "an age in years from 0 to 17"),
        },
        Kind.EXPLOITATION_FLAG: {
            "flags": (
                lambda v: (
                    isinstance(v, list)
                    and bool(v)
                    and all(isinstance(f, str) and f in EXPLOITATION_FLAGS for f in v)
                    and len(set(v)) == len(v)
                ),
                'a list of one or both of "sexual" and "criminal"',
            ),
        },
    }

    code = models.SlugField(max_length=40, unique=True)
    label = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    parameters = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            'N episodes within D days: {"episodes": 3, "days": 90}. Missing longer than H hours: '
            '{"hours": 24}. Child aged Y or under: {"age": 13}. Flagged for exploitation: '
            '{"flags": ["sexual", "criminal"]}.'
        ),
    )
    active = models.BooleanField(default=True)
    order = models.PositiveSmallIntegerField(default=0, help_text="Order on lists (lowest first).")

    class Meta:
        ordering = ["order", "code"]

    def __str__(self) -> str:
        return self.label

    def parameter_errors(self) -> list[str]:
        """What is wrong with `parameters` for this kind (empty when they are right)."""
        spec = self.PARAMETER_SPECS.get(self.kind)
        if spec is None:
            return []  # the kind's own field validation reports an unknown kind
        if not isinstance(self.parameters, dict):
            return ["Enter the parameters as a JSON object, e.g. " + self._example()]
        errors = [
            f'"{key}" must be {description}.'
            for key, (valid, description) in spec.items()
            if key not in self.parameters or not valid(self.parameters[key])
        ]
        unknown = sorted(set(self.parameters) - set(spec))
        if unknown:
            errors.append(
                f"{self.get_kind_display()} takes only {', '.join(spec)}; remove "
                f"{', '.join(unknown)}."
            )
        return errors

    def _example(self) -> str:
        return {
            self.Kind.EPISODES_IN_WINDOW: '{"episodes": 3, "days": 90}',
            self.Kind.DURATION_OVER: '{"hours": 24}',
            self.Kind.AGE_AT_MOST: '{"age": 13}',
            self.Kind.EXPLOITATION_FLAG: '{"flags": ["sexual", "criminal"]}',
        }[self.Kind(self.kind)]

    def clean(self) -> None:
        errors = self.parameter_errors()
        if errors:
            raise ValidationError({"parameters": errors})


class RiskMeetingTaskQuerySet(models.QuerySet["RiskMeetingTask"]):
    def visible_to(self, user: Any) -> RiskMeetingTaskQuerySet:
        """Deny by default: the case team (FFD, managers, heads of service) sees every task;
        interviewers, administrators and police systems see none. On a regional installation,
        only the tasks of their own council's children."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.role in CASE_READERS:
            return self.filter(council_scope(user, "child__", shared=False))
        return self.none()

    def open(self) -> RiskMeetingTaskQuerySet:
        # Served by the partial index risk_task_open_idx: cost follows the open tasks.
        return self.filter(status=RiskMeetingTask.Status.OPEN)


class RiskMeetingTask(models.Model):
    """ "Strategy / risk meeting needed": raised when a repeat-missing rule fires for a child, in
    the transaction of the change that made it fire (or by the minute sweep for a child still
    missing past a duration rule). A child "is flagged" while it has an open task: derived from
    these rows, never stored twice.

    At most one open task per (child, rule) — a partial unique constraint, so two racing
    changes raise one — and one task per (rule, triggering episode) ever.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"

    child = models.ForeignKey(Child, on_delete=models.PROTECT, related_name="risk_tasks")
    rule = models.ForeignKey(RepeatMissingRule, on_delete=models.PROTECT, related_name="tasks")
    episode = models.ForeignKey(MissingEpisode, on_delete=models.PROTECT, related_name="risk_tasks")
    # Built from the rule and the facts: references and numbers, never a name.
    reason = models.TextField()
    raised_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)

    objects = RiskMeetingTaskQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["child", "rule"],
                condition=Q(status="open"),
                name="risk_task_one_open_per_rule",
            ),
            models.UniqueConstraint(fields=["rule", "episode"], name="risk_task_once_per_episode"),
            models.CheckConstraint(
                condition=Q(status="open", completed_at__isnull=True)
                | Q(status="done", completed_at__isnull=False),
                name="risk_task_done_has_completion",
            ),
        ]
        indexes = [
            models.Index(
                fields=["raised_at"], condition=Q(status="open"), name="risk_task_open_idx"
            ),
            models.Index(fields=["child", "raised_at"], name="risk_task_child_idx"),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        return f"RM-{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


def philomena_photo_path(instance: Any, filename: str) -> str:
    """A random name under philomena/: neither the child's name nor their id is in the path, and
    the uploaded file's own name (which may be the child's) is dropped."""
    import uuid

    extension = ".png" if getattr(instance, "photo_content_type", "") == "image/png" else ".jpg"
    return f"philomena/{uuid.uuid4().hex}{extension}"


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    model_name="PhilomenaProfileHistory",
    obj_field=pghistory.ObjForeignKey(related_name="history"),
)
class PhilomenaProfile(models.Model):
    """The Philomena Protocol profile of a child (docs/decisions/0047-philomena-profile.md): what
    the police need at the moment the child is reported missing, kept current by the Family
    Front Door, managers and the child's social worker (missing.cases.philomena). Previous missing
    history is never typed here: it is computed from the child's episodes."""

    child = models.OneToOneField(Child, on_delete=models.PROTECT, related_name="philomena")
    version = models.PositiveIntegerField(default=1)

    height = models.CharField(max_length=60, blank=True)
    build = models.CharField(max_length=100, blank=True)
    hair = models.CharField(max_length=200, blank=True)
    eyes = models.CharField(max_length=100, blank=True)
    skin = models.CharField("skin / complexion", max_length=100, blank=True)
    distinguishing_features = models.TextField(blank=True)
    usual_clothing = models.TextField("clothing usually worn", blank=True)

    # Stored through Django's default storage under MEDIA_ROOT; never served by URL, only by
    # the authenticated, access-logged photo views (missing.web.philomena_views, philomena_api).
    photo = models.FileField(upload_to=philomena_photo_path, blank=True, max_length=200)
    photo_content_type = models.CharField(max_length=20, blank=True)
    photo_taken_on = models.DateField(null=True, blank=True)
    photo_updated_at = models.DateTimeField(null=True, blank=True)

    # [{"name", "relationship", "risk": bool, "notes"}]
    associates = models.JSONField(default=list, blank=True)
    # Addresses and places the child may go (one string each), phone numbers, social media.
    places = models.JSONField(default=list, blank=True)
    phone_numbers = models.JSONField(default=list, blank=True)
    social_media = models.JSONField(default=list, blank=True)
    medical_needs = models.TextField(blank=True)
    medication = models.TextField(blank=True)
    language_needs = models.TextField("language and communication needs", blank=True)
    other_information = models.TextField("other information for the police", blank=True)

    created_at = models.DateTimeField()
    last_reviewed_at = models.DateTimeField()
    last_reviewed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        # A profile not yet saved has no number (the version check's message names it so).
        return f"PP-{self.pk}" if self.pk else "The Philomena profile"


class RetentionPolicy(models.Model):
    """How long the records of a child who was never looked after are kept: until a birthday
    (local policy, set by an administrator; one row). Looked-after children's records are kept
    until their 75th birthday whatever this says (the Care Planning, Placement and Case Review
    Regulations 2010, reg. 50), so that figure is not editable."""

    other_until_age = models.PositiveSmallIntegerField(
        "keep other children's records until this birthday",
        default=25,
        # At least adulthood (a child's file is needed while they are a child), at most the
        # looked-after period.
        validators=[MinValueValidator(18), MaxValueValidator(75)],
        help_text="Records of children never looked after are erased once the child reaches "
        "this age (and no episode is open).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    LOOKED_AFTER_UNTIL_AGE = 75

    class Meta:
        verbose_name_plural = "retention policy"

    def __str__(self) -> str:
        return f"Retention: looked after until 75, others until {self.other_until_age}"


class AccessAction(models.TextChoices):
    VIEW = "view", "Viewed"
    LIST = "list", "Listed"
    CHANGE = "change", "Changed"
    EXPORT = "export", "Exported"
    ERASE = "erase", "Erased"
    REFUSE = "refuse", "Refused"
    # Account changes (separation of duties): asked for, and decided or applied.
    ACCOUNT_REQUEST = "request", "Asked for an account change"
    ACCOUNT_DECISION = "decide", "Decided an account change"


class AccessLogQuerySet(models.QuerySet["AccessLog"]):
    """Append-only: the application may add rows and read them, never change or remove one.
    (PostgreSQL refuses it too: the pgtrigger `Protect` triggers on the model.)"""

    def update(self, **kwargs: Any) -> int:
        raise AccessLogIsAppendOnly("The access log cannot be changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AccessLogIsAppendOnly("The access log cannot be deleted from.")

    def _raw_delete(self, using: Any) -> int:
        raise AccessLogIsAppendOnly("The access log cannot be deleted from.")

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise AccessLogIsAppendOnly("The access log cannot be changed.")

    def visible_to(self, user: Any) -> AccessLogQuerySet:
        """Deny by default: managers and heads of service read the log (who looked at a
        child); nobody else, so an interviewer cannot learn who else is involved. On a regional
        installation, only the rows about their own council's children."""
        if not may_see_accountability(user):
            return self.none()
        if not is_regional():
            return self.all()
        own_children = Child.objects.filter(council_scope(user, shared=False)).values("pk")
        return self.filter(
            Q(child_id__in=own_children)
            | Q(child_id__isnull=True, user__council_id=_user_council_id(user))
        )

    def for_child(self, child_id: int) -> AccessLogQuerySet:
        """Who looked at or changed this child (detail rows), newest first: served by
        access_child_idx, so the cost follows this child's rows, not the whole log."""
        return self.filter(child_id=child_id).select_related("user").order_by("-at", "-pk")


class AccessLogIsAppendOnly(Exception):
    """Raised on an attempt to change or delete an access row through the ORM."""


@pgtrigger.register(
    pgtrigger.Protect(name="access_log_no_update", operation=pgtrigger.Update),
    pgtrigger.Protect(name="access_log_no_delete", operation=pgtrigger.Delete),
)
class AccessLog(models.Model):
    """One read or change of a child's records (ASVS 5.0 L3 16.3.2): who, in which role, when,
    what, which record and from where. Written in the same transaction as the request it
    describes (`missing.audit.access_log`), so a request that fails leaves no row.

    No personal data: the child is a plain integer id (not a foreign key, so the row outlives
    the child's erasure and still says an erasure happened) and records are named by their
    references (E-34, I-5). Granularity (docs/decisions/0041-access-log.md): a detail read or
    change writes one row per child; a list or export one row per request, with the ids of the
    children it showed and the row count.
    """

    at = models.DateTimeField()
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The role at the time: a later change of role must not rewrite what the log says.
    role = models.CharField(max_length=20, blank=True, choices=Role.choices)
    action = models.CharField(max_length=10, choices=AccessAction.choices)
    child_id = models.BigIntegerField(null=True, blank=True)
    child_ids = models.JSONField(default=list, blank=True)
    reference = models.CharField(max_length=40, blank=True)
    route = models.CharField(max_length=100, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    # An erasure's reason and counts per record type (never a name or a date of birth).
    detail = models.JSONField(default=dict, blank=True)

    objects = AccessLogQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["child_id", "at"], name="access_child_idx"),
            models.Index(fields=["user", "at"], name="access_user_idx"),
            models.Index(fields=["at"], name="access_at_idx"),
        ]

    def __str__(self) -> str:
        return f"Access {self.pk}: {self.action} {self.reference or self.child_id or ''}".strip()

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Not logic in save(): the one guard that keeps a row from being rewritten in place.
        if self.pk is not None and not self._state.adding:
            raise AccessLogIsAppendOnly("The access log cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AccessLogIsAppendOnly("The access log cannot be deleted from.")


# --------------------------------------------------------------------------------------------
# Insider-misuse alerts (missing.audit.misuse)
# --------------------------------------------------------------------------------------------


# The lowest threshold the admin accepts: below it a normal morning raises alerts nobody reads.
# The counter is compared with the setting only from here, so most reads never look it up.
MISUSE_THRESHOLD_MIN = 10


class MisuseSettings(models.Model):
    """When a person's reading of records looks like harvesting (set by an administrator):
    reads of this many distinct children within one clock hour raise an alert to the heads of
    service. A busy FFD hour is 30-40 children; 50 leaves room for that. One row for the
    installation (no council); on a regional installation a council may have its own row,
    which applies to its staff (decision 0070)."""

    distinct_children_per_hour = models.PositiveIntegerField(
        "alert at this many distinct children read in an hour",
        default=50,
        # Above 1,000 it would never fire before the read limit stops the person anyway.
        validators=[MinValueValidator(MISUSE_THRESHOLD_MIN), MaxValueValidator(1000)],
        help_text="A head of service is alerted (page and text) when one person opens the "
        "records of this many different children within one hour.",
    )
    council = models.OneToOneField(
        Council,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty: the installation's setting. A council (a regional installation): the "
        "setting for that council's staff, instead of the installation's.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    DEFAULT_THRESHOLD = 50

    class Meta:
        verbose_name = "insider-misuse alert setting"
        verbose_name_plural = "insider-misuse alert settings"

    def __str__(self) -> str:
        return f"Alert at {self.distinct_children_per_hour} distinct children in an hour"

    def clean(self) -> None:
        super().clean()
        # One installation-wide row (the unique field lets several rows have no council).
        if (
            self.council_id is None
            and MisuseSettings.objects.filter(council__isnull=True).exclude(pk=self.pk).exists()
        ):
            raise ValidationError(
                {"council": "The installation's setting exists already: change that one."}
            )


class MisuseAlert(models.Model):
    """One person read the records of `distinct_children` different children within the clock
    hour from `window_start` (UTC), at or above the threshold then in force. Unique per person
    and hour: the alert is raised once, however many workers saw the threshold passed."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    distinct_children = models.PositiveIntegerField()
    threshold = models.PositiveIntegerField()
    raised_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "window_start"], name="misuse_alert_once_per_hour"
            )
        ]
        indexes = [models.Index(fields=["raised_at"], name="misuse_alert_raised_idx")]

    def __str__(self) -> str:
        return f"Misuse alert {self.pk}: user {self.user_id}, {self.distinct_children} children"


# --------------------------------------------------------------------------------------------
# Merging two child records created in error (missing.cases.merge)
# --------------------------------------------------------------------------------------------


class ChildMerge(models.Model):
    """The durable record of one merge: the removed Child row is deleted, so this is what says
    it existed, who merged it into which child, when, why, and what moved. References and ids
    only, never a name or a date of birth (`filled_fields` names the fields, not their values).
    Erased with the kept child (retention)."""

    kept_child = models.ForeignKey(Child, on_delete=models.PROTECT, related_name="merges")
    removed_child_id = models.BigIntegerField()
    removed_reference = models.CharField(max_length=40)
    merged_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    merged_at = models.DateTimeField()
    reason = models.TextField()
    # Record type -> the references moved onto the kept child, e.g. {"episodes": ["E-4"]}.
    moved = models.JSONField(default=dict, blank=True)
    # Record type -> how many moved (the lengths of `moved`, kept for the figures and the log).
    counts = models.JSONField(default=dict, blank=True)
    # The kept child's blank fields filled from the removed record (names only).
    filled_fields = models.JSONField(default=list, blank=True)
    # Open strategy / risk meeting tasks closed as duplicates of the kept child's (references).
    closed_duplicate_tasks = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [models.Index(fields=["kept_child", "merged_at"], name="child_merge_kept_idx")]

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        return f"CM-{self.pk}"
