"""Pages (escalations, outbox, administrator alerts) and Twilio's webhooks. Thin: check the role
or the Twilio signature, read through selectors, write through one service with `now` read once.

Nothing here logs a request, a phone number or a text body.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseForbidden,
    HttpResponseRedirect,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from missing.accounts.signin import safe_next
from missing.cases import services as missing_services
from missing.cases.errors import Conflict, InvalidInput, NotAllowed
from missing.models import CASE_READERS, OVERSIGHT_ROLES, MissingEpisode, Role, is_regional
from missing.web.shared import StaffRequest, get_or_404, role_required
from notifications import council_alerts, selectors, services
from notifications.models import AdminAlert, CouncilAlert, Escalation

PAGE_SIZE = 50

ADMIN_ROLES = frozenset({Role.ADMIN})
OUTBOX_ROLES = OVERSIGHT_ROLES | ADMIN_ROLES


# --------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------


@require_safe
@role_required(OVERSIGHT_ROLES)
def escalation_list(request: StaffRequest) -> HttpResponse:
    """Every escalation, every text, its status and who acknowledged (managers, heads of service).
    Five queries whatever the page holds: session, user, count, escalations, texts. Open
    (unacknowledged) ones by default: what needs someone now; "All" is one link away."""
    show = "all" if request.GET.get("show") == "all" else "open"
    episode_id = request.GET.get("episode")
    try:
        episode_filter = int(episode_id) if episode_id else None
    except ValueError as exc:
        raise Http404 from exc
    escalations = selectors.escalation_list(
        open_only=show == "open", episode_id=episode_filter, user=request.user
    )
    page = Paginator(escalations, PAGE_SIZE).get_page(request.GET.get("page"))
    query = f"show={show}" + (f"&episode={episode_filter}" if episode_filter else "")
    return render(
        request,
        "notifications/escalation_list.html",
        {"page": page, "show": show, "episode_id": episode_filter, "query": query},
    )


@require_POST
@role_required(OVERSIGHT_ROLES)
def escalation_acknowledge(request: StaffRequest, pk: int) -> HttpResponse:
    now = timezone.now()
    try:
        escalation = services.escalation_acknowledge(actor=request.user, escalation_id=pk, now=now)
    except Escalation.DoesNotExist as exc:
        raise Http404 from exc
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except Conflict as exc:
        flash.warning(request, exc.message)
    else:
        flash.success(
            request,
            f"Escalation for {escalation.episode_reference} acknowledged: no further texts.",
        )
    return redirect(safe_next(request, reverse("notifications:escalation_list")))


@require_safe
@role_required(OUTBOX_ROLES)
def outbox(request: StaffRequest) -> HttpResponse:
    """Texts the outbox backend 'sent' (the embedded default, SMS_BACKEND=outbox)."""
    page = Paginator(selectors.outbox_messages(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "notifications/outbox.html",
        {"page": page, "query": "", "backend": settings.SMS_BACKEND},
    )


@require_safe
@role_required(ADMIN_ROLES)
def alert_list(request: StaffRequest) -> HttpResponse:
    """Texts that failed for good, and levels with nobody to tell (administrators)."""
    return render(
        request,
        "notifications/alert_list.html",
        {
            "alerts": list(selectors.open_alerts()),
            "resolved": list(selectors.resolved_alerts()),
        },
    )


@require_POST
@role_required(ADMIN_ROLES)
def alert_resolve(request: StaffRequest, pk: int) -> HttpResponse:
    try:
        services.alert_resolve(actor=request.user, alert_id=pk, now=timezone.now())
    except AdminAlert.DoesNotExist as exc:
        raise Http404 from exc
    except Conflict as exc:
        flash.warning(request, exc.message)
    else:
        flash.success(request, "Alert marked as resolved.")
    return redirect("notifications:alert_list")


@require_safe
def episode_short_link(request: StaffRequest, pk: int) -> HttpResponse:
    """`/e/<n>`, the link in a text: on to the episode page, which checks who may see it."""
    return HttpResponseRedirect(reverse("episode_detail", args=[pk]))


# --------------------------------------------------------------------------------------------
# Twilio webhooks
# --------------------------------------------------------------------------------------------


def _signed_by_twilio(request: StaffRequest) -> bool:
    """X-Twilio-Signature over the URL Twilio called (PUBLIC_BASE_URL + path, not the Host header
    a proxy may rewrite) and the POST parameters, with the auth token."""
    token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    return RequestValidator(token).validate(url, request.POST, signature)


# What Twilio itself sends in the fields the webhooks read: SIDs are two letters and 32 hex
# digits (34 characters), a status is one short word, an error code a number, a text at most
# 1,600 characters (Twilio's limit for a message), a phone number E.164. A signed request with
# anything else is a 400 naming the field, before any of it reaches a service or a column.
_SID = (re.compile(r"[A-Za-z0-9]{1,34}"), "at most 34 letters and digits (a Twilio SID)")
_STATUS = (re.compile(r"[a-z_]{1,30}"), "one word of at most 30 lower-case letters")
_E164 = (re.compile(r"\+[1-9][0-9]{1,14}"), "a phone number in E.164 form, e.g. +447700900123")
_ERROR_CODE = (re.compile(r"[0-9]{0,10}"), "a number of at most 10 digits")
_BODY = (re.compile(r".{0,1600}", re.DOTALL), "at most 1,600 characters")
_SIDS = {"MessageSid": _SID, "SmsSid": _SID, "SmsMessageSid": _SID, "AccountSid": _SID}
STATUS_FIELDS = {**_SIDS, "MessageStatus": _STATUS, "SmsStatus": _STATUS, "ErrorCode": _ERROR_CODE}
INBOUND_FIELDS = {**_SIDS, "From": _E164, "Body": _BODY}


def _twilio_field_error(request: StaffRequest, fields: dict[str, Any]) -> HttpResponse | None:
    """A 400 naming the first field (of those a webhook reads) holding what Twilio could not
    have sent, or None. An empty or absent field is left to the view, as before. Called only
    after the signature check: an unsigned request learns nothing."""
    for name, (pattern, expected) in fields.items():
        if any(value and not pattern.fullmatch(value) for value in request.POST.getlist(name)):
            return HttpResponse(
                f"{name} must be {expected}.", status=400, content_type="text/plain"
            )
    return None


@csrf_exempt
@require_POST
def twilio_status(request: StaffRequest, pk: int) -> HttpResponse:
    """Twilio's delivery status callback for one text. Forged: 403. Replayed: no change."""
    if not _signed_by_twilio(request):
        return HttpResponseForbidden("Invalid signature.")
    if refused := _twilio_field_error(request, STATUS_FIELDS):
        return refused
    services.sms_record_status(
        sms_id=pk,
        message_sid=request.POST.get("MessageSid", ""),
        twilio_status=request.POST.get("MessageStatus", ""),
        error_code=request.POST.get("ErrorCode", ""),
        now=timezone.now(),
    )
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def twilio_inbound(request: StaffRequest) -> HttpResponse:
    """An inbound text (the number's "A message comes in" webhook). Answers TwiML: a short
    confirmation for an accepted ACK, an empty answer otherwise."""
    if not _signed_by_twilio(request):
        return HttpResponseForbidden("Invalid signature.")
    if refused := _twilio_field_error(request, INBOUND_FIELDS):
        return refused
    message_sid = request.POST.get("MessageSid", "")
    if not message_sid:
        return HttpResponse(status=400)
    result = services.inbound_sms_receive(
        message_sid=message_sid,
        from_number=request.POST.get("From", ""),
        body=request.POST.get("Body", ""),
        now=timezone.now(),
    )
    twiml = MessagingResponse()
    if result.reply:
        twiml.message(result.reply)
    return HttpResponse(str(twiml), content_type="text/xml")


# --------------------------------------------------------------------------------------------
# Children placed out of area (notifications.council_alerts)
# --------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def council_alert_page(request: HttpRequest, pk: int, code: str) -> HttpResponse:
    """The page the link in an alert email opens, for someone at the other council, who has no
    account: the episode reference, what the alert says and an "Acknowledge" button. A wrong
    code is a 404, like an alert that does not exist. It shows no child's details."""
    if not council_alerts.code_matches(pk, code):
        raise Http404
    alert = CouncilAlert.objects.select_related("council", "episode").filter(pk=pk).first()
    if alert is None:
        raise Http404
    error = ""
    if request.method == "POST" and alert.acknowledged_at is None:
        name = " ".join(request.POST.get("name", "").split())[:200]
        if not name:
            error = "Enter your name and role"
        else:
            council_alerts.council_alert_acknowledge(alert_id=pk, name=name, now=timezone.now())
            return redirect(request.path)
    return render(
        request,
        "notifications/council_alert.html",
        {"alert": alert, "error": error},
        status=400 if error else 200,
    )


@require_POST
@role_required(CASE_READERS)
def council_alert_acknowledge(request: StaffRequest, pk: int) -> HttpResponse:
    """A council on this installation acknowledges the alert texted to its out-of-hours phone,
    from the shared episode's page (decision 0070): its own staff only, signed in; anyone else,
    and every single-council installation, a 404. Then back to the episode page."""
    user = request.user
    council_id = user.council_id
    if not is_regional() or council_id is None:
        raise Http404
    alert = get_or_404(
        lambda: CouncilAlert.objects.filter(
            council_id=council_id, episode__in=MissingEpisode.objects.visible_to(user)
        ).get(pk=pk)
    )
    if alert.acknowledged_at is None:
        who = f"{user.get_full_name() or user.username} ({user.role_label})"
        council_alerts.council_alert_acknowledge(alert_id=alert.pk, name=who, now=timezone.now())
        flash.success(request, "Acknowledged for your council.")
    return redirect("episode_detail", pk=alert.episode_id)


@require_POST
@role_required(OVERSIGHT_ROLES)
def episode_interview_holder(request: StaffRequest, pk: int) -> HttpResponse:
    """Record who holds the return interview of an out-of-area episode, as the two councils
    agreed (managers and heads of service), then back to the episode page."""
    episode = get_or_404(lambda: MissingEpisode.objects.visible_to(request.user).get(pk=pk))
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = None
    try:
        missing_services.episode_set_interview_holder(
            missing_services.HolderData(holder=request.POST.get("holder", "")),
            actor=request.user,
            episode_id=episode.pk,
            now=timezone.now(),
            expected_version=version,
        )
    except (InvalidInput, Conflict) as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, "Recorded who holds the return interview.")
    return redirect("episode_detail", pk=episode.pk)
