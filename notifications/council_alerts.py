"""Alerts to the other council about a child placed out of area (docs/decisions/0060).

When a child this council looks after goes missing in another council's area, or another
council's child goes missing here, the episode records the other council at opening
(`MissingEpisode.out_of_area_council`, missing.cases.services.out_of_area_council). The sweep, run by
beat every minute, then:

1. raises one `CouncilAlert` per episode, council and kind (missing, returned with the 72-hour
   clock, cancelled when logged in error): INSERT … ON CONFLICT DO NOTHING on a unique
   constraint, so a council is told once however often the sweep runs or races;
2. sends a reminder once when nobody at that council acknowledged within
   COUNCIL_ALERT_ESCALATE_AFTER_MINUTES;
3. writes the texts due to the other council's out-of-hours phone for a high-risk episode
   (COUNCIL_ALERT_TEXT_GRADES): one with the "missing" alert, one with its reminder; they are
   sent, retried and redispatched like every other text (notifications.services.sms_send);
4. hands emails stuck with a lost worker back to the queue, and queues what is due.

On a regional installation a council on the same installation gets no email (it sees the
episode on its own board), but a high-risk episode still texts its out-of-hours phone, and is
acknowledged on the episode page by its staff (decision 0070).

A worker claims an email before sending it (status SENDING, one UPDATE), so two workers never
both send one. The email names the episode reference and links to a page where the other
council acknowledges; the link's code is an HMAC of the alert's id under SECRET_KEY, checked in
constant time, never stored. No child's name is in the email, the page or the logs.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Case, Exists, F, IntegerField, OuterRef, Q, Value, When
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from missing.cases import clocks
from missing.cases.services import episode_note_outside_contact
from missing.models import EpisodeState, MissingEpisode, installation_councils, is_regional
from notifications import texts
from notifications.models import CouncilAlert, SmsMessage
from notifications.services import CLAIMABLE, _enqueue_sends, _insert_ignoring_conflicts

logger = logging.getLogger(__name__)

Kind = CouncilAlert.Kind
Status = CouncilAlert.Status
# Episodes opened longer ago than this raise no new alert: the sweep's work stays sized to the
# recent caseload, not to the history (an episode's own alerts are raised within a minute).
ALERT_WINDOW = timedelta(days=30)
MAX_ATTEMPTS = 5
# A worker that claimed an email and vanished: after this the sweep queues it again.
CLAIM_TIMEOUT = timedelta(minutes=10)
TO_SEND = (Status.PENDING, Status.RETRY)


def portal_code(alert_id: int) -> str:
    return salted_hmac(
        "notifications.council_alert", str(alert_id), algorithm="sha256"
    ).hexdigest()[:40]


def portal_url(alert_id: int) -> str:
    return settings.PUBLIC_BASE_URL + reverse(
        "notifications:council_alert", args=[alert_id, portal_code(alert_id)]
    )


def code_matches(alert_id: int, code: str) -> bool:
    return constant_time_compare(portal_code(alert_id), code)


@dataclass(frozen=True)
class SweepResult:
    raised: int
    reminded: int
    queued: int
    texts: int = 0


def _texted() -> Q:
    """Alerts whose episode's police grade is texted to the other council's phone."""
    return Q(episode__police_grade__code__in=list(settings.COUNCIL_ALERT_TEXT_GRADES)) & ~Q(
        council__out_of_hours_phone=""
    )


def _wanted(kind: str) -> Q:
    """Which out-of-area episodes are due an alert of `kind` (each kind once)."""
    if kind == Kind.MISSING:
        return ~Q(state=EpisodeState.CANCELLED)
    if kind == Kind.RETURNED:
        return Q(returned_at__isnull=False) & ~Q(state=EpisodeState.CANCELLED)
    # Cancelled: only a council already told the child was missing hears it was an error.
    told = CouncilAlert.objects.filter(episode=OuterRef("pk"), kind=Kind.MISSING)
    return Q(state=EpisodeState.CANCELLED) & Q(Exists(told))


def _raise_new(*, now: datetime) -> int:
    recent = MissingEpisode.objects.filter(
        out_of_area_council__isnull=False, created_at__gte=now - ALERT_WINDOW
    )
    here = installation_councils() if is_regional() else []
    outside = recent.exclude(out_of_area_council__ons_code__in=here) if here else recent
    rows: list[CouncilAlert] = []
    for kind in Kind.values:
        already = CouncilAlert.objects.filter(episode=OuterRef("pk"), kind=kind)
        due = (
            outside.filter(_wanted(kind))
            .filter(~Exists(already))
            .values_list("pk", "out_of_area_council_id", "out_of_area_council__out_of_hours_email")
        )
        for episode_id, council_id, email in due:
            rows.append(
                CouncilAlert(
                    episode_id=episode_id,
                    council_id=council_id,
                    kind=kind,
                    created_at=now,
                    email_to=email,
                    status=Status.PENDING if email else Status.NO_ADDRESS,
                )
            )
    if here:
        # The other council is on this installation too: it sees the episode, labelled as
        # shared, on its own board, so no email (decision 0066). A high-risk episode is still
        # texted to its out-of-hours phone: a front door at night does not watch the board
        # (decision 0070). Only the "missing" alert: the return and a cancellation show on
        # the board it already watches for this episode.
        already = CouncilAlert.objects.filter(episode=OuterRef("pk"), kind=Kind.MISSING)
        due = (
            recent.filter(out_of_area_council__ons_code__in=here)
            .filter(police_grade__code__in=list(settings.COUNCIL_ALERT_TEXT_GRADES))
            .filter(_wanted(Kind.MISSING))
            .filter(~Exists(already))
            .values_list("pk", "out_of_area_council_id")
        )
        rows += [
            CouncilAlert(
                episode_id=episode_id,
                council_id=council_id,
                kind=Kind.MISSING,
                created_at=now,
                status=Status.ON_INSTALLATION,
            )
            for episode_id, council_id in due
        ]
    if not rows:
        return 0
    CouncilAlert.objects.bulk_create(rows, ignore_conflicts=True)
    for row in rows:
        if row.status == Status.NO_ADDRESS:
            logger.warning(
                "Council %s has no out-of-hours email: an alert about episode %s cannot be sent",
                row.council_id,
                row.episode_id,
            )
    return len(rows)


def _remind_unacknowledged(*, now: datetime) -> int:
    """Send once more what nobody acknowledged in time. A cancellation needs no answer, and an
    episode since cancelled needs no reminder (its cancellation says so). An emailed alert is
    emailed again; a texted one (high risk) is texted again by `_write_texts`, also when no
    email went (a council on this installation, or none in the directory)."""
    late = now - timedelta(minutes=settings.COUNCIL_ALERT_ESCALATE_AFTER_MINUTES)
    return (
        CouncilAlert.objects.filter(
            acknowledged_at__isnull=True,
            escalated_at__isnull=True,
            created_at__lte=late,
        )
        .filter(
            Q(status=Status.SENT)
            | (
                Q(kind=Kind.MISSING, status__in=[Status.ON_INSTALLATION, Status.NO_ADDRESS])
                & _texted()
            )
        )
        .exclude(kind=Kind.CANCELLED)
        .exclude(episode__state=EpisodeState.CANCELLED)
        .update(
            escalated_at=now,
            status=Case(When(status=Status.SENT, then=Value(Status.PENDING)), default=F("status")),
            next_attempt_at=None,
        )
    )


def _write_texts(*, now: datetime) -> int:
    """The texts due to other councils' out-of-hours phones: level 1 for a high-risk "missing"
    alert, level 2 once it was reminded, never after it was acknowledged. One SELECT and one
    INSERT … ON CONFLICT DO NOTHING (unique per alert and level: written once however often the
    sweep runs); each new text is handed to the `send_sms` worker after commit, and from there
    it is claimed, sent, retried and redispatched like every other text."""
    level = Case(
        When(escalated_at__isnull=True, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    written = SmsMessage.objects.filter(council_alert=OuterRef("pk"), level=OuterRef("text_level"))
    due = (
        CouncilAlert.objects.filter(
            kind=Kind.MISSING, acknowledged_at__isnull=True, created_at__gte=now - ALERT_WINDOW
        )
        .filter(_texted())
        .exclude(episode__state=EpisodeState.CANCELLED)
        .annotate(text_level=level)
        .filter(~Exists(written))
        .values_list("pk", "episode_id", "council__out_of_hours_phone", "text_level", "status")
    )
    redispatch_at = now + timedelta(seconds=settings.SMS_REDISPATCH_AFTER_SECONDS)
    rows = [
        {
            "council_alert": alert_id,
            "level": text_level,
            "to": phone,
            "body": texts.council_alert_text(
                episode_id=episode_id,
                level=text_level,
                on_installation=status == Status.ON_INSTALLATION,
            ),
            "backend": "",
            "status": SmsMessage.Status.PENDING,
            "attempts": 0,
            "needs_check": False,
            "created_at": now,
            "redispatch_at": redispatch_at,
            "error_code": "",
            "error_detail": "",
        }
        for alert_id, episode_id, phone, text_level, status in due
    ]
    sms_ids = _insert_ignoring_conflicts(SmsMessage, rows)
    _enqueue_sends(sms_ids)
    return len(sms_ids)


def council_alert_sweep(*, now: datetime) -> SweepResult:
    """One pass: raise, remind, recover lost claims and queue. A fixed number of statements."""
    with transaction.atomic():
        raised = _raise_new(now=now)
        reminded = _remind_unacknowledged(now=now)
        texted = _write_texts(now=now)
        CouncilAlert.objects.filter(
            status=Status.SENDING, claimed_at__lte=now - CLAIM_TIMEOUT
        ).update(status=Status.RETRY, next_attempt_at=None)
        due = list(
            CouncilAlert.objects.filter(status__in=TO_SEND)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .values_list("pk", flat=True)
        )
        from notifications.tasks import send_council_alert  # tasks import this module

        for alert_id in due:
            transaction.on_commit(partial(send_council_alert.delay, alert_id), robust=True)
    return SweepResult(raised=raised, reminded=reminded, queued=len(due), texts=texted)


def _other_is_host(episode: MissingEpisode) -> bool:
    council = episode.out_of_area_council
    return council is not None and council.is_named_by(episode.host_council)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "not known"
    return moment.astimezone(clocks.LONDON).strftime("%a %d %b %Y, %H:%M") + " (UK time)"


def message_for(alert: CouncilAlert) -> tuple[str, str]:
    """The subject and body: the episode reference, times, the police grade and the link. Never
    the child's name, date of birth, address or any detail of the case."""
    episode = alert.episode
    ours = settings.COUNCIL_NAME
    reminder = "Reminder: " if alert.escalated_at else ""
    subject = f"{reminder}{alert.get_kind_display()}: episode {episode.reference} ({ours})"
    whose = (
        f"a child looked after by {ours}, placed in your area"
        if _other_is_host(episode)
        else f"a child your council looks after, living in the area of {ours}"
    )
    lines = [f"To {alert.council.name}, missing children out-of-hours contact.", ""]
    if alert.kind == Kind.MISSING:
        lines += [
            f"Police have reported {whose} missing.",
            f"Episode reference: {episode.reference}",
            f"Police force: {episode.police_force.name}; police grade: {episode.police_grade.label}",
            f"Last seen: {_when(episode.last_seen_at)}",
        ]
    elif alert.kind == Kind.RETURNED:
        lines += [
            f"{whose[0].upper()}{whose[1:]} has returned.",
            f"Episode reference: {episode.reference}",
            f"Returned: {_when(episode.returned_at)}",
            f"Return interview due by: {_when(episode.interview_due_at)}",
            "Please agree with us who holds the independent return interview.",
        ]
    else:
        lines += [
            f"Episode {episode.reference} was logged in error and has been cancelled.",
            "Please disregard our earlier alert about it.",
        ]
    lines += ["", f"Please acknowledge this alert: {portal_url(alert.pk)}"]
    if settings.COUNCIL_FFD_PHONE:
        lines.append(f"For details, call our Family Front Door on {settings.COUNCIL_FFD_PHONE}.")
    lines += ["", "This message holds no personal details. Do not reply with any."]
    return subject, "\n".join(lines)


@dataclass(frozen=True)
class SendOutcome:
    result: str
    retry_in: timedelta | None = None


def council_alert_send(*, alert_id: int, now: datetime) -> SendOutcome:
    """Send one alert's email, once: claim it (one UPDATE), send, record. A failure is retried
    with backoff up to MAX_ATTEMPTS, then marked failed for the front door to phone instead."""
    claimed = CouncilAlert.objects.filter(pk=alert_id, status__in=TO_SEND).update(
        status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return SendOutcome("not claimable")
    alert = CouncilAlert.objects.select_related(
        "council", "episode__police_force", "episode__police_grade"
    ).get(pk=alert_id)
    subject, body = message_for(alert)
    try:
        EmailMessage(subject, body, to=[alert.email_to]).send()
    except (smtplib.SMTPException, OSError) as exc:
        detail = f"{type(exc).__name__}: {exc}"[:200]
        if alert.attempts >= MAX_ATTEMPTS:
            CouncilAlert.objects.filter(pk=alert_id).update(
                status=Status.FAILED, error_detail=detail
            )
            logger.error("Council alert %s not sent after %s attempts", alert_id, alert.attempts)
            return SendOutcome("failed")
        delay = timedelta(minutes=2**alert.attempts)
        CouncilAlert.objects.filter(pk=alert_id).update(
            status=Status.RETRY, error_detail=detail, next_attempt_at=now + delay
        )
        return SendOutcome("retry", retry_in=delay)
    CouncilAlert.objects.filter(pk=alert_id).update(
        status=Status.SENT, sent_at=now, error_detail=""
    )
    return SendOutcome("sent")


def council_alert_acknowledge(*, alert_id: int, name: str, now: datetime) -> CouncilAlert:
    """The other council says it has the alert (from the link, the caller having checked the
    code; from its own staff on the episode page; or by a text from its out-of-hours phone).
    The first acknowledgement counts; a second changes nothing. Its texts not yet sent are not
    sent. It goes on the episode's timeline, naming the council and the person as given."""
    with transaction.atomic():
        alert = (
            CouncilAlert.objects.select_for_update()
            .select_related("council", "episode")
            .get(pk=alert_id)
        )
        if alert.acknowledged_at is not None:
            return alert
        alert.acknowledged_at = now
        alert.acknowledged_by = name
        alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
        SmsMessage.objects.filter(council_alert=alert, status__in=CLAIMABLE).update(
            status=SmsMessage.Status.CANCELLED, status_updated_at=now, redispatch_at=None
        )
        episode_note_outside_contact(
            episode=alert.episode,
            action="council_acknowledged",
            reason=f"{alert.council.name} acknowledged the alert ({alert.get_kind_display()}): "
            f"{name}.",
            now=now,
        )
    return alert
