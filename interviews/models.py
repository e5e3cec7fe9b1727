"""Return-home interviews: the record an independent interviewer keeps for one child, the
episodes it covers, every offer and attempt to reach the child, and the push factors, pull
factors and harms the child describes (picked from code lists kept as data).

The per-episode milestones the escalations and the board need (arranged, held, outcome) are the
episode's own columns in the core, written through `missing.cases.services` by this app's services; the
interview itself stays here. See docs/decisions/0020-interviewer-independence.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from missing.models import (
    CASE_READERS,
    OVERSIGHT_ROLES,
    CaseAccessGrant,
    Child,
    InterviewOutcome,
    MissingEpisode,
    Organisation,
    Role,
    council_scope,
    interview_arranger_roles,
    is_regional,
)


class FactorKind(models.TextChoices):
    PUSH = "push", "Push factor"
    PULL = "pull", "Pull factor"
    HARM = "harm", "Harm or risk while missing"


# The kinds as headings over a list of them ("Harm or risk while missing" + "s" read
# "Harm or risk while missings").
FACTOR_KIND_PLURALS: dict[str, str] = {
    FactorKind.PUSH: "Push factors",
    FactorKind.PULL: "Pull factors",
    FactorKind.HARM: "Harms or risks while missing",
}


class Factor(models.Model):
    """One entry of a code list (push factors, pull factors, harms). Seeded from the domain
    defaults by a data migration; an administrator adds entries and retires them (`active`),
    and never deletes one that an interview picked (PROTECT)."""

    kind = models.CharField(max_length=10, choices=FactorKind.choices)
    code = models.SlugField(max_length=60, unique=True)
    label = models.CharField(max_length=200)
    # The children in need census assessment factor it maps to (e.g. 11A sexual exploitation).
    cin_code = models.CharField("CIN census factor", max_length=4, blank=True)
    active = models.BooleanField(default=True)
    order = models.PositiveSmallIntegerField(default=100)

    class Meta:
        ordering = ["kind", "order", "label"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.label}"


class InterviewStatus(models.TextChoices):
    """The interview's own state machine. Its covered episodes move in step with it (arranged,
    awaiting sign-off, closed) through interviews.services._move, the one place the two meet;
    see docs/decisions/0022-interview-state-machine.md."""

    TO_ARRANGE = "to_arrange", "To arrange"
    ARRANGED = "arranged", "Arranged"
    COMPLETED = "completed", "Completed – awaiting sign-off"
    SIGNED_OFF = "signed_off", "Signed off"


# The draft: the record, the interviewer, the attempts and the episodes covered may change.
EDITABLE_STATUSES = (InterviewStatus.TO_ARRANGE, InterviewStatus.ARRANGED)


# --- who may run each transition (asked by missing.cases.transitions before anything else) ---
# An interviewer is allowed only on their own interview; the service also checks they still
# hold a live grant (a query, so not here: permissions and conditions read the row only).


def _is_own_interviewer(instance: models.Model, user: Any) -> bool:
    return (
        isinstance(instance, ReturnInterview)
        and user.role == Role.INTERVIEWER
        and instance.interviewer_id == user.pk
    )


def _may_agree_a_time(instance: models.Model, user: Any) -> bool:
    # The interviewer usually agrees the time with the child; the arrangers may record it too.
    return user.has_role(interview_arranger_roles()) or _is_own_interviewer(instance, user)


def _may_withdraw(instance: models.Model, user: Any) -> bool:
    return user.has_role(interview_arranger_roles())


def _may_complete(instance: models.Model, user: Any) -> bool:
    return user.has_role(OVERSIGHT_ROLES) or _is_own_interviewer(instance, user)


def _may_sign_off(instance: models.Model, user: Any) -> bool:
    return user.has_role(OVERSIGHT_ROLES)


class Independence(models.TextChoices):
    CONFIRMED = "confirmed", "Independent of the child's care (checked)"
    EXCEPTION = "exception", "Exception: the child asked to talk to a trusted carer or worker"


class ReturnInterviewQuerySet(models.QuerySet["ReturnInterview"]):
    def visible_to(self, user: Any) -> ReturnInterviewQuerySet:
        """Deny by default. Case staff see every interview; an interviewer only the ones
        assigned to them while they still hold a grant to one of its episodes (unassigning,
        sign-off and cancellation revoke it, so access ends on their next request)."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.role in CASE_READERS:
            if not is_regional():
                return self.all()
            # A regional installation: interviews of the episodes the user's council sees.
            seen = MissingEpisode.objects.filter(council_scope(user)).filter(
                interview_link__interview=OuterRef("pk")
            )
            return self.filter(Exists(seen))
        if user.role == Role.INTERVIEWER:
            grants = CaseAccessGrant.objects.filter(
                episode__interview_link__interview=OuterRef("pk"),
                user=user,
                revoked_at__isnull=True,
            )
            return self.filter(interviewer=user).filter(Exists(grants))
        return self.none()


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    model_name="ReturnInterviewHistory",
    obj_field=pghistory.ObjForeignKey(related_name="history"),
)
class ReturnInterview(ConcurrentTransitionMixin, models.Model):
    """One return-home interview with one child, covering one or more of their episodes."""

    child = models.ForeignKey(Child, on_delete=models.PROTECT, related_name="interviews")
    # Moved only by the transitions below, run by interviews.services through
    # missing.cases.transitions.run_transition (the episode's helper). The same varchar(20) as before.
    status = FSMField(
        max_length=20,
        choices=InterviewStatus.choices,
        default=InterviewStatus.TO_ARRANGE,
        protected=True,
    )
    # Optimistic lock: every change sends the version it read; a stale one is a 409.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField()

    # --- arrangement ---
    interviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="return_interviews",
    )
    # Who employed the interviewer when assigned (figures by provider stay true if they move).
    interviewer_organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    independence = models.CharField(max_length=20, choices=Independence.choices, blank=True)
    independence_exception_reason = models.TextField(blank=True)
    independence_exception_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    planned_at = models.DateTimeField(null=True, blank=True)
    planned_place = models.CharField(max_length=300, blank=True)

    # --- the interview (or why there was none) ---
    outcome = models.CharField(max_length=20, choices=InterviewOutcome.choices, blank=True)
    held_at = models.DateTimeField(null=True, blank=True)
    held_place = models.CharField(max_length=300, blank=True)
    present = models.CharField("who was present", max_length=300, blank=True)
    seen_alone = models.BooleanField(null=True, blank=True)
    account_where = models.TextField("where the child went", blank=True)
    account_who_with = models.TextField("who the child was with", blank=True)
    account_travel = models.TextField("how the child travelled", blank=True)
    account_how_found = models.TextField("how the child was found or came back", blank=True)
    disclosures = models.TextField(blank=True)
    consent_to_share = models.BooleanField(null=True, blank=True)
    shared_with = models.CharField(max_length=300, blank=True)
    wishes_and_feelings = models.TextField("the child's wishes and feelings", blank=True)
    safety_plan = models.TextField(blank=True)
    referrals = models.TextField("referrals and services offered", blank=True)
    not_held_reason = models.TextField("why the interview was not held", blank=True)
    carers_account = models.TextField("what parents or carers said", blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    # --- manager's sign-off ---
    signed_off_at = models.DateTimeField(null=True, blank=True)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    follow_up_strategy_meeting = models.BooleanField("strategy meeting", default=False)
    follow_up_exploitation_referral = models.BooleanField(
        "referral for exploitation", default=False
    )
    follow_up_update_safety_plan = models.BooleanField("update the safety plan", default=False)
    sign_off_note = models.TextField(blank=True)
    # Why no follow-up was chosen although the record shows an exploitation flag, a disclosure or
    # a harm (interviews.services.follow_up_concerns): the manager's reason, kept with the sign-off.
    no_follow_up_reason = models.TextField("why no follow-up", blank=True)

    objects = ReturnInterviewQuerySet.as_manager()

    class Meta:
        indexes = [
            # The interviewer's queue: their open interviews.
            models.Index(
                fields=["interviewer", "status"],
                condition=Q(status__in=["to_arrange", "arranged"]),
                name="interview_queue_idx",
            ),
            models.Index(fields=["child", "created_at"], name="interview_child_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(independence="exception") | ~Q(independence_exception_reason=""),
                name="interview_exception_has_reason",
            ),
        ]

    def __str__(self) -> str:
        # Never the child's name: str() ends up in logs and error reports.
        return self.reference

    @property
    def reference(self) -> str:
        return f"I-{self.pk}"

    @property
    def is_editable(self) -> bool:
        return self.status in EDITABLE_STATUSES

    @property
    def is_exception(self) -> bool:
        return self.independence == Independence.EXCEPTION

    def named(self, kind: str) -> list[str]:
        """The places or people the child named, in the order written (reads `mentions`,
        which the detail selector prefetches)."""
        rows = sorted((m for m in self.mentions.all() if m.kind == kind), key=lambda m: m.position)
        return [m.name for m in rows]

    @property
    def named_places(self) -> list[str]:
        return self.named("place")

    @property
    def named_associates(self) -> list[str]:
        return self.named("associate")

    def follow_ups(self) -> list[str]:
        return [
            str(cast(models.Field, self._meta.get_field(name)).verbose_name)
            for name in (
                "follow_up_strategy_meeting",
                "follow_up_exploitation_referral",
                "follow_up_update_safety_plan",
            )
            if getattr(self, name)
        ]

    # --- conditions: pure checks on the row ---

    def has_interviewer(self) -> bool:
        return self.interviewer_id is not None

    def has_outcome(self) -> bool:
        return bool(self.outcome)

    def is_completed(self) -> bool:
        return self.completed_at is not None

    # --- transitions: each only sets fields on self; services check, save, record and move the
    # covered episodes in step (interviews.services._move). ---

    @transition(
        field=status,
        source=[InterviewStatus.TO_ARRANGE, InterviewStatus.ARRANGED],
        target=InterviewStatus.ARRANGED,
        # django-fsm-2 types a condition as Callable[[Model], bool], not of this model.
        conditions=[has_interviewer],  # type: ignore[list-item]
        permission=_may_agree_a_time,
    )
    def arrange(self, *, planned_at: datetime, planned_place: str) -> None:
        """A time and place are agreed with the child (again, if re-arranged). Arrangers, or the
        interview's own interviewer; an interviewer must be assigned first."""
        self.planned_at = planned_at
        self.planned_place = planned_place

    @transition(
        field=status,
        source=InterviewStatus.ARRANGED,
        target=InterviewStatus.TO_ARRANGE,
        permission=_may_withdraw,
    )
    def withdraw(self) -> None:
        """The arrangement fell through (interviewer changed or removed, the child missing again
        before the planned time): a time is to be agreed again. Arrangers only."""
        self.planned_at = None
        self.planned_place = ""

    @transition(
        field=status,
        source=list(EDITABLE_STATUSES),
        target=InterviewStatus.COMPLETED,
        # django-fsm-2 types a condition as Callable[[Model], bool], not of this model.
        conditions=[has_outcome],  # type: ignore[list-item]
        permission=_may_complete,
    )
    def complete(self, *, completed_at: datetime, by: Any) -> None:
        """The interview is held, or recorded as not held, and its record is complete (the
        service checks each field first). The interview's own interviewer, or a manager. The
        record is closed to edits from here on."""
        self.completed_at = completed_at
        self.completed_by = by

    @transition(
        field=status,
        source=InterviewStatus.COMPLETED,
        target=InterviewStatus.SIGNED_OFF,
        # django-fsm-2 types a condition as Callable[[Model], bool], not of this model.
        conditions=[has_outcome, is_completed],  # type: ignore[list-item]
        permission=_may_sign_off,
    )
    def sign_off(
        self,
        *,
        signed_off_at: datetime,
        by: Any,
        strategy_meeting: bool,
        exploitation_referral: bool,
        update_safety_plan: bool,
        note: str,
        no_follow_up_reason: str = "",
    ) -> None:
        """A manager has read the completed interview and records the follow-up decisions.
        Managers and heads of service only."""
        self.signed_off_at = signed_off_at
        self.signed_off_by = by
        self.follow_up_strategy_meeting = strategy_meeting
        self.follow_up_exploitation_referral = exploitation_referral
        self.follow_up_update_safety_plan = update_safety_plan
        self.sign_off_note = note
        self.no_follow_up_reason = no_follow_up_reason


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    model_name="InterviewEpisodeHistory",
    obj_field=pghistory.ObjForeignKey(related_name="history"),
)
class InterviewEpisode(models.Model):
    """An episode the interview covers, with the dated facts only this link knows: when the
    interview was first offered after this episode's return, and the child's answer.

    One row per episode (an episode is covered by one interview at most), so counting rows
    counts episodes: an interview covering three episodes is three offers, three holds, and
    each is within 72 hours of *its own* return or not (DfE 2014; no double counting).
    Offered, accepted, held and held within 72 hours *as the figures count them* are not
    stored here: they are defined once in `interviews.figures` (ANSWERS) and read with
    `figures.link_answers()`, so a stored flag cannot disagree with a figure."""

    interview = models.ForeignKey(ReturnInterview, on_delete=models.PROTECT, related_name="covered")
    episode = models.OneToOneField(
        MissingEpisode, on_delete=models.PROTECT, related_name="interview_link"
    )
    added_at = models.DateTimeField()
    # First offer made at or after this episode's return (or the interview itself).
    offered_at = models.DateTimeField(null=True, blank=True)
    # True: arranged or held; False: the child refused; None: not known yet.
    accepted = models.BooleanField(null=True, blank=True)

    class Meta:
        ordering = ["episode__last_seen_at", "pk"]

    def __str__(self) -> str:
        return f"I-{self.interview_id} covers E-{self.episode_id}"


class ContactMethod(models.TextChoices):
    PHONE = "phone", "Phone call"
    TEXT = "text", "Text message"
    VISIT = "visit", "Visit"
    LETTER = "letter", "Letter or email"
    VIA_CARER = "via_carer", "Through a parent or carer"
    VIA_PROFESSIONAL = "via_professional", "Through a social worker or school"


class ContactOutcome(models.TextChoices):
    NO_ANSWER = "no_answer", "No answer"
    CHILD_REFUSED = "child_refused", "The child refused"
    CARER_REFUSED = "carer_refused", "The parent or carer refused"
    MISSING_AGAIN = "missing_again", "The child is missing again"
    ARRANGED = "arranged", "Interview arranged"


class ContactAttempt(models.Model):
    """One offer or attempt to reach the child: when, how, and what came of it (DfE 2014:
    every attempt must be recorded)."""

    interview = models.ForeignKey(
        ReturnInterview, on_delete=models.PROTECT, related_name="attempts"
    )
    at = models.DateTimeField()
    method = models.CharField(max_length=20, choices=ContactMethod.choices)
    outcome = models.CharField(max_length=20, choices=ContactOutcome.choices)
    # The interview was offered to the child (or their carer) in this contact.
    offered = models.BooleanField(default=False)
    note = models.TextField(blank=True)
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["interview", "at"], name="attempt_interview_idx")]

    def __str__(self) -> str:
        return f"Attempt {self.pk} for I-{self.interview_id}"


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    model_name="InterviewFactorHistory",
    obj_field=pghistory.ObjForeignKey(related_name="history"),
)
class InterviewFactor(models.Model):
    """A factor picked in an interview, with the interviewer's note on it."""

    interview = models.ForeignKey(ReturnInterview, on_delete=models.PROTECT, related_name="factors")
    factor = models.ForeignKey(Factor, on_delete=models.PROTECT, related_name="picks")
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["factor__kind", "factor__order", "factor__label"]
        constraints = [
            models.UniqueConstraint(fields=["interview", "factor"], name="interview_factor_once")
        ]

    def __str__(self) -> str:
        return f"{self.factor.code} in I-{self.interview_id}"


class PlacementStaff(models.Model):
    """A user who cares for children at, or works for, a placement (a children's home, a
    supported lodging, a foster household). Such a user is not independent of a child placed
    there. Matched on the placement's name, as the child's record holds it, ignoring case."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="placements"
    )
    placement = models.CharField(max_length=200)

    class Meta:
        verbose_name = "placement staff member"
        constraints = [
            models.UniqueConstraint(fields=["user", "placement"], name="placement_staff_once")
        ]

    def __str__(self) -> str:
        return f"User {self.user_id} at {self.placement}"


class MentionKind(models.TextChoices):
    PLACE = "place", "Place the child went or stayed"
    ASSOCIATE = "associate", "Person the child was with"


def normalise_name(name: str) -> str:
    """The key places and people are grouped by across interviews: case, surrounding spaces and
    runs of whitespace ignored ("The Arches " and "the  arches" are one hotspot). Kept simple on
    purpose so that SQL can compute the same key for an episode's free-text found place (see
    interviews.figures.NormalisedName)."""
    return " ".join(name.split()).lower()


class InterviewMention(models.Model):
    """A place the child went or stayed, or a person they were with, as the child told it in
    the interview (one per line on the record form). Structured so that hotspots and people who
    recur across different children can be counted for exploitation and strategy meetings."""

    interview = models.ForeignKey(
        ReturnInterview, on_delete=models.PROTECT, related_name="mentions"
    )
    kind = models.CharField(max_length=10, choices=MentionKind.choices)
    name = models.CharField(max_length=200)
    normalised_name = models.CharField(max_length=200)
    # The order the interviewer wrote them in, so the form shows them back the same way.
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["kind", "position", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["interview", "kind", "normalised_name"], name="interview_mention_once"
            )
        ]
        indexes = [
            # Who else mentioned this place or person: the recurrence lookups and groupings.
            models.Index(fields=["normalised_name", "kind"], name="mention_name_idx"),
        ]

    def __str__(self) -> str:
        # Never the name: it may be a person's, and str() ends up in logs.
        return f"{self.get_kind_display()} in I-{self.interview_id}"
