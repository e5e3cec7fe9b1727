"""Display helpers for escalations, and the block the episode page includes:

{% load escalations %}{% episode_escalations episode.pk %}
"""

from __future__ import annotations

from typing import Any

from django import template

from notifications import selectors
from notifications.models import Escalation, SmsMessage

register = template.Library()

SMS_TAG = {
    SmsMessage.Status.PENDING: "govuk-tag--grey",
    SmsMessage.Status.SUBMITTING: "govuk-tag--grey",
    SmsMessage.Status.RETRY: "govuk-tag--yellow",
    SmsMessage.Status.QUEUED: "govuk-tag--blue",
    SmsMessage.Status.SENDING: "govuk-tag--blue",
    SmsMessage.Status.SENT: "govuk-tag--blue",
    SmsMessage.Status.DELIVERED: "govuk-tag--green",
    SmsMessage.Status.UNDELIVERED: "govuk-tag--red",
    SmsMessage.Status.FAILED: "govuk-tag--red",
    SmsMessage.Status.CANCELLED: "govuk-tag--grey",
}
ESCALATION_TAG = {
    Escalation.State.OPEN: "govuk-tag--red",
    Escalation.State.ACKNOWLEDGED: "govuk-tag--green",
    Escalation.State.RESOLVED: "govuk-tag--grey",
}


@register.filter
def sms_tag(status: str) -> str:
    return SMS_TAG.get(SmsMessage.Status(status), "govuk-tag--grey")


@register.filter
def escalation_tag(state: str) -> str:
    return ESCALATION_TAG.get(Escalation.State(state), "govuk-tag--grey")


@register.inclusion_tag("notifications/_episode_escalations.html", takes_context=True)
def episode_escalations(context: template.Context, episode_id: int) -> dict[str, Any]:
    """Every escalation of one episode with its texts (two queries), for the episode page."""
    request = context.get("request")
    user = getattr(request, "user", None)
    return {
        "escalations": list(selectors.escalation_list(episode_id=episode_id)),
        "can_acknowledge": selectors.may_acknowledge_any(user),
        "next": request.get_full_path() if request is not None else "",
        "csrf_token": context.get("csrf_token"),
    }
