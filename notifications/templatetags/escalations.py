"""Display helpers for escalations, and the block the episode page includes:

{% load escalations %}{% episode_escalations episode.pk %}
"""

from __future__ import annotations

from typing import Any

from django import template

from missing.models import OVERSIGHT_ROLES, InterviewHolder, MissingEpisode, is_regional
from notifications import selectors
from notifications.models import CouncilAlert, Escalation, SmsMessage

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


@register.inclusion_tag("notifications/_episode_council_alerts.html", takes_context=True)
def episode_council_alerts(context: template.Context, episode: MissingEpisode) -> dict[str, Any]:
    """An out-of-area episode's alerts to the other council, their texts, and who holds the
    interview (two queries, none for an episode in its own council's area). On a regional
    installation the other council's staff acknowledge its alert here (decision 0070)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    alerts = (
        list(
            CouncilAlert.objects.filter(episode=episode)
            .prefetch_related("texts")
            .order_by("created_at", "pk")
        )
        if episode.out_of_area_council_id
        else []
    )
    ours = getattr(user, "council_id", None) if is_regional() else None
    return {
        "episode": episode,
        "alerts": alerts,
        "acknowledge_as": ours,
        "can_agree": user is not None and user.is_authenticated and user.has_role(OVERSIGHT_ROLES),
        "holders": InterviewHolder.choices,
        "csrf_token": context.get("csrf_token"),
    }
