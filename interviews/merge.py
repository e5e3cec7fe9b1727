"""The interviews app's part of merging two child records (settings.CHILD_MERGERS): the removed
child's return interviews move to the kept child. Their episode links, attempts, factors and
mentions hang off the interview (and the episodes move in the core), so they follow. Called by
`missing.cases.merge.child_merge` inside its transaction, with both children locked."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F

from interviews.models import ReturnInterview
from missing.models import User


def merge_child(
    *, actor: User, keep_id: int, remove_id: int, now: datetime
) -> dict[str, list[str]]:
    interviews = ReturnInterview.objects.filter(child_id=remove_id)
    references = [f"I-{pk}" for pk in interviews.order_by("pk").values_list("pk", flat=True)]
    # The version moves on, so a tablet or form opened before the merge is refused as stale
    # rather than writing to an interview whose child changed under it. The change history
    # (PostgreSQL triggers) records the new child id, with the merging user from the context.
    interviews.update(child_id=keep_id, version=F("version") + 1, updated_at=now)
    return {"return interviews": references}
