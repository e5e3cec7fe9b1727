"""The notifications app's part of a retention erasure (settings.RETENTION_ERASERS): the
escalations raised for the child's episodes, their texts and alerts, replies tied to the
episodes, and the alerts sent to other councils about them. Texts hold references only, but they point at the episodes being erased."""

from __future__ import annotations

from django.db.models import Q

from notifications.models import AdminAlert, CouncilAlert, Escalation, InboundSms, SmsMessage


def erase_child(*, child_ids: list[int], episode_ids: list[int]) -> dict[str, int]:
    escalations = Escalation.objects.filter(episode_id__in=episode_ids)
    # The escalations' texts and those to other councils' phones about the episodes (0070).
    texts = SmsMessage.objects.filter(
        Q(escalation__in=escalations) | Q(council_alert__episode_id__in=episode_ids)
    )
    return {
        "admin alerts": AdminAlert.objects.filter(
            Q(escalation__in=escalations) | Q(sms__in=texts)
        ).delete()[0],
        "texts": texts.delete()[0],
        "escalations": escalations.delete()[0],
        "text replies": InboundSms.objects.filter(episode_id__in=episode_ids).delete()[0],
        "alerts to other councils": CouncilAlert.objects.filter(
            episode_id__in=episode_ids
        ).delete()[0],
    }
