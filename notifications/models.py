"""SMS escalation: the ladder as data, the on-call rota, escalations, every text, and alerts.

Nothing here holds a child's name or details. An escalation points at the episode by key; a text
holds only what was sent (the alert kind, the episode reference, how overdue, a link), the staff
member it went to and what Twilio said about it. See docs/decisions/0010-escalation-ladder.md.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q


class Trigger(models.TextChoices):
    """What a rule watches. Each names one clock column on the episode (see selectors.TRIGGERS)."""

    REVIEW_OVERDUE = "review_overdue", "Manager review overdue"
    STILL_MISSING = "still_missing", "Child still missing"
    INTERVIEW_NOT_ARRANGED = "interview_not_arranged", "Return interview not arranged"
    INTERVIEW_DUE_SOON = "interview_due_soon", "Return interview due soon and not held"
    INTERVIEW_OVERDUE = "interview_overdue", "Return interview overdue"


# What each trigger's clock is, in words, for "12 hours before due" (selectors.TRIGGERS).
TRIGGER_CLOCK_WORDS: dict[str, str] = {
    Trigger.REVIEW_OVERDUE: "due",
    Trigger.STILL_MISSING: "last seen",
    Trigger.INTERVIEW_NOT_ARRANGED: "the return",
    Trigger.INTERVIEW_DUE_SOON: "due",
    Trigger.INTERVIEW_OVERDUE: "due",
}


def duration_in_words(duration: timedelta) -> str:
    """A length of time as people say it ("12 hours", "30 minutes"), never Python's
    "-1 day, 12:00:00"; the sign is the caller's to word ("before", "after"). Hours up to
    four days, as the deadlines are spoken of ("72 hours"); days beyond."""
    seconds = abs(int(duration.total_seconds()))
    units = [("hour", 3600), ("minute", 60), ("second", 1)]
    if seconds >= 4 * 86400:
        units.insert(0, ("day", 86400))
    parts = []
    for unit, size in units:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts) or "no time"


class Recipient(models.TextChoices):
    """Who a step tells: a role resolved at the moment of sending, never a named person."""

    DUTY_MANAGER = "duty_manager", "Duty manager (from the on-call rota)"
    HEAD_OF_SERVICE = (
        "head_of_service",
        "Head of service (on call from the rota, else every head of service)",
    )
    TEAM_MANAGER = (
        "team_manager",
        "Managers of the child's allocated team (else the duty manager)",
    )
    INTERVIEWER = "interviewer", "The episode's return interviewer"


class Duty(models.TextChoices):
    DUTY_MANAGER = "duty_manager", "Duty manager"
    HEAD_OF_SERVICE = "head_of_service", "Head of service on call"


class EscalationRule(models.Model):
    """One rung set of the ladder: what is watched, when it fires, and how long each level has to
    acknowledge before the next level is told. Local protocol, so data an administrator edits."""

    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    trigger = models.CharField(max_length=30, choices=Trigger.choices)
    offset = models.DurationField(
        default=timedelta(0),
        help_text=(
            "When the rule fires, counted from the trigger's clock: 0 for 'when due', "
            "24:00:00 for 'after 24 hours', -12:00:00 for '12 hours before due'."
        ),
    )
    ack_within = models.DurationField(
        default=timedelta(minutes=30),
        help_text="Unacknowledged after this long, the next level up is told.",
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    def fires_in_words(self) -> str:
        """When the rule fires, as staff say it: "12 hours before due", "when due", "24 hours
        after last seen"."""
        clock = TRIGGER_CLOCK_WORDS.get(self.trigger, "due")
        if not self.offset:
            return f"when {clock}" if clock == "due" else f"at {clock}"
        side = "before" if self.offset < timedelta(0) else "after"
        return f"{duration_in_words(self.offset)} {side} {clock}"


class EscalationStep(models.Model):
    """Level N of a rule tells these recipients. Several rows may share a level."""

    rule = models.ForeignKey(EscalationRule, on_delete=models.CASCADE, related_name="steps")
    level = models.PositiveSmallIntegerField()
    recipient = models.CharField(max_length=30, choices=Recipient.choices)

    class Meta:
        ordering = ["rule", "level", "recipient"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "level", "recipient"], name="escalation_step_unique"
            ),
            models.CheckConstraint(condition=Q(level__gte=1), name="escalation_step_level_1_up"),
        ]

    def __str__(self) -> str:
        return f"{self.rule.code} level {self.level}: {self.get_recipient_display()}"


class OnCallShift(models.Model):
    """Who holds a duty from `starts_at` to `ends_at` (nights and weekends are just shifts)."""

    duty = models.CharField(max_length=30, choices=Duty.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="on_call_shifts"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        verbose_name = "on-call shift"
        ordering = ["starts_at", "duty"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="shift_ends_after_start"
            )
        ]
        indexes = [models.Index(fields=["duty", "ends_at", "starts_at"], name="shift_duty_idx")]

    def __str__(self) -> str:
        return f"{self.get_duty_display()} {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%H:%M}"


class Escalation(models.Model):
    """One firing of a rule for one episode, and its climb up the ladder.

    Unique per (rule, episode, clock_at): the sweep may see the same overdue clock every minute,
    after a restart, or from two beats at once, and still raises it once. A new value of the
    clock (the next review falling due) is a new escalation.
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved (no longer overdue)"

    class Via(models.TextChoices):
        SMS = "sms", "SMS reply"
        WEB = "web", "Web page"

    rule = models.ForeignKey(EscalationRule, on_delete=models.PROTECT, related_name="escalations")
    episode = models.ForeignKey(
        "missing.MissingEpisode", on_delete=models.PROTECT, related_name="escalations"
    )
    # The value of the watched clock column when the rule fired, and clock + offset.
    clock_at = models.DateTimeField()
    deadline_at = models.DateTimeField()
    raised_at = models.DateTimeField()
    # The highest level told so far (0: raised, nobody told yet).
    level = models.PositiveSmallIntegerField(default=0)
    # When the next level is due if nobody acknowledges; null when no further level waits.
    next_level_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.OPEN)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    acknowledged_via = models.CharField(max_length=10, choices=Via.choices, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "episode", "clock_at"], name="escalation_once_per_clock"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_level_at"],
                condition=Q(state="open") & Q(next_level_at__isnull=False),
                name="escalation_next_level_idx",
            ),
            models.Index(
                fields=["rule", "episode"], condition=Q(state="open"), name="escalation_open_idx"
            ),
            models.Index(fields=["episode", "raised_at"], name="escalation_episode_idx"),
            models.Index(fields=["raised_at"], name="escalation_raised_idx"),
        ]

    def __str__(self) -> str:
        return f"Escalation {self.pk} ({self.rule_id}) on E-{self.episode_id}"

    @property
    def episode_reference(self) -> str:
        return f"E-{self.episode_id}"

    @property
    def is_open(self) -> bool:
        return self.state == self.State.OPEN


class SmsMessage(models.Model):
    """One text, written before it is sent: unique per (escalation, recipient, level), per
    (insider-misuse alert, recipient), or per (council alert, level), so a retried or duplicated
    task finds the row and never sends a second text. Exactly one of `escalation`,
    `misuse_alert` and `council_alert` says what it is about. A text about a council alert goes
    to that council's out-of-hours number, not to a member of staff: it has no `recipient`."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to send"
        SUBMITTING = "submitting", "Sending to the SMS service"
        RETRY = "retry", "Waiting to retry"
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Not delivered"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Not sent (acknowledged or resolved first)"

    escalation = models.ForeignKey(
        Escalation, null=True, blank=True, on_delete=models.PROTECT, related_name="texts"
    )
    # A text to a head of service about one person's reading of records (missing.audit.misuse).
    misuse_alert = models.ForeignKey(
        "missing.MisuseAlert",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # A text to another council's out-of-hours phone about a high-risk out-of-area episode
    # (notifications.council_alerts): level 1 with the alert, level 2 its reminder.
    council_alert = models.ForeignKey(
        "CouncilAlert", null=True, blank=True, on_delete=models.PROTECT, related_name="texts"
    )
    level = models.PositiveSmallIntegerField()
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sms_received",
    )
    to = models.CharField(max_length=16)
    body = models.CharField(max_length=320)
    backend = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    sid = models.CharField(max_length=64, unique=True, null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Set once an attempt ended without knowing whether Twilio took the message (a timeout, a
    # 5xx, a killed worker): every later attempt first asks Twilio whether it went through.
    needs_check = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    status_updated_at = models.DateTimeField(null=True, blank=True)
    # While pending, submitting or waiting to retry: when the sweep steps in if the row is still
    # in that state (its task was lost with a broker or a worker).
    redispatch_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=20, blank=True)
    error_detail = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = "text message"
        constraints = [
            models.UniqueConstraint(
                fields=["escalation", "recipient", "level"], name="sms_once_per_recipient_level"
            ),
            models.UniqueConstraint(
                fields=["misuse_alert", "recipient"], name="sms_once_per_misuse_recipient"
            ),
            models.UniqueConstraint(
                fields=["council_alert", "level"], name="sms_once_per_council_alert_level"
            ),
            models.CheckConstraint(
                condition=Q(
                    escalation__isnull=False,
                    misuse_alert__isnull=True,
                    council_alert__isnull=True,
                    recipient__isnull=False,
                )
                | Q(
                    escalation__isnull=True,
                    misuse_alert__isnull=False,
                    council_alert__isnull=True,
                    recipient__isnull=False,
                )
                | Q(
                    escalation__isnull=True, misuse_alert__isnull=True, council_alert__isnull=False
                ),
                name="sms_about_one_thing",
            ),
        ]
        indexes = [
            models.Index(
                fields=["redispatch_at"],
                condition=Q(status__in=["pending", "submitting", "retry"]),
                name="sms_redispatch_idx",
            ),
            models.Index(
                fields=["created_at"], condition=Q(backend="outbox"), name="sms_outbox_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"SMS {self.pk} ({self.status})"


class InboundSms(models.Model):
    """An inbound text, kept by Twilio's MessageSid so a replayed webhook acts once.

    Neither the sender's number nor the text is kept: an unknown sender is nobody we may record,
    and a reply is only ever acted on as 'ACK <episode number>'.
    """

    class Outcome(models.TextChoices):
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        UNKNOWN_NUMBER = "unknown_number", "Ignored: number not registered"
        NOT_UNDERSTOOD = "not_understood", "Ignored: not an ACK reply"
        UNKNOWN_REFERENCE = "unknown_reference", "Ignored: no open escalation for that reference"

    message_sid = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField()
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    episode = models.ForeignKey(
        "missing.MissingEpisode", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    acknowledged = models.PositiveSmallIntegerField(default=0)

    class Meta:
        # Not "inbound smss" in the admin.
        verbose_name = "inbound text message"

    def __str__(self) -> str:
        return f"Inbound SMS {self.pk} ({self.outcome})"


class AdminAlert(models.Model):
    """Something an administrator must fix: a text that cannot be delivered (a wrong number),
    a level with nobody to tell (a gap in the rota, a manager with no phone)."""

    class Kind(models.TextChoices):
        SMS_FAILED = "sms_failed", "Text refused by the SMS service"
        SMS_GAVE_UP = "sms_gave_up", "Text not sent after every retry"
        NO_RECIPIENT = "no_recipient", "Nobody to tell"
        NO_PHONE = "no_phone", "Staff member has no phone number"

    # One open alert per key: the same problem seen again is not a new alert.
    key = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    message = models.CharField(max_length=300)
    escalation = models.ForeignKey(
        Escalation, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts"
    )
    sms = models.ForeignKey(
        SmsMessage, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts"
    )
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(resolved_at__isnull=True), name="alert_open_key"
            )
        ]
        indexes = [
            models.Index(
                fields=["created_at"], condition=Q(resolved_at__isnull=True), name="alert_open_idx"
            )
        ]

    def __str__(self) -> str:
        return f"Alert {self.pk} ({self.kind})"


class CouncilAlert(models.Model):
    """One alert to another council about an episode of a child placed out of area: that the
    child is missing, has returned (with the 72-hour clock), or that the episode was logged in
    error. One row per episode, council and kind (a unique constraint: told exactly once, however
    often the sweep runs). The email holds the episode reference and a link, never the child's
    name; the link's code is derived from the row (council_alerts.portal_code), never stored.
    See docs/decisions/0060-out-of-area-alerts.md."""

    class Kind(models.TextChoices):
        MISSING = "missing", "Child missing"
        RETURNED = "returned", "Child returned: interview due within 72 hours"
        CANCELLED = "cancelled", "Logged in error: disregard the earlier alert"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENDING = "sending", "Being sent"
        RETRY = "retry", "Failed, will retry"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        NO_ADDRESS = "no_address", "No out-of-hours email in the directory"
        # The council uses this installation too (decision 0070): it sees the episode on its
        # board, so no email; a high-risk episode still texts its out-of-hours phone.
        ON_INSTALLATION = "on_installation", "Not emailed: on its own board here"

    episode = models.ForeignKey(
        "missing.MissingEpisode", on_delete=models.PROTECT, related_name="council_alerts"
    )
    council = models.ForeignKey("missing.Council", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    created_at = models.DateTimeField()
    # The email: sent at most once per attempt, claimed by one worker (status SENDING).
    email_to = models.EmailField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error_detail = models.CharField(max_length=200, blank=True)
    # A reminder is sent once when nobody has acknowledged in time (and a text, high risk).
    escalated_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["episode", "council", "kind"], name="council_alert_once_per_kind"
            )
        ]
        indexes = [
            # The sweep's work: what is still to send, and what waits for an acknowledgement.
            models.Index(
                fields=["status"],
                name="council_alert_to_send_idx",
                condition=Q(status__in=["pending", "retry", "sending"]),
            ),
            models.Index(
                fields=["created_at"],
                name="council_alert_unacked_idx",
                condition=Q(acknowledged_at__isnull=True, escalated_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.council})"
