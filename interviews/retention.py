"""The interviews app's part of a retention erasure (settings.RETENTION_ERASERS): the child's
return interviews, their attempts, factors, the places and people named, and episode links, and the change history of all
of them. Called by `missing.audit.retention.erase_child` inside its transaction."""

from __future__ import annotations

# pghistory makes the *History event models at run time: mypy cannot see them.
from interviews.models import (  # type: ignore[attr-defined]
    ContactAttempt,
    InterviewEpisode,
    InterviewEpisodeHistory,
    InterviewFactor,
    InterviewFactorHistory,
    InterviewMention,
    ReturnInterview,
    ReturnInterviewHistory,
)


def erase_child(*, child_ids: list[int], episode_ids: list[int]) -> dict[str, int]:
    interview_ids = list(
        ReturnInterview.objects.filter(child_id__in=child_ids).values_list("pk", flat=True)
    )
    counts = {
        "interview factors": InterviewFactor.objects.filter(
            interview_id__in=interview_ids
        ).delete()[0],
        "contact attempts": ContactAttempt.objects.filter(interview_id__in=interview_ids).delete()[
            0
        ],
        "places and people named": InterviewMention.objects.filter(
            interview_id__in=interview_ids
        ).delete()[0],
        "interview episode links": InterviewEpisode.objects.filter(
            interview_id__in=interview_ids
        ).delete()[0],
        "return interviews": ReturnInterview.objects.filter(pk__in=interview_ids).delete()[0],
    }
    # After the rows: deleting a tracked row writes one last history event.
    counts["change history"] = (
        InterviewFactorHistory.objects.filter(interview_id__in=interview_ids).delete()[0]
        + InterviewEpisodeHistory.objects.filter(interview_id__in=interview_ids).delete()[0]
        + ReturnInterviewHistory.objects.filter(pgh_obj_id__in=interview_ids).delete()[0]
    )
    return counts
