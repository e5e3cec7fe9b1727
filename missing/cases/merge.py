"""Merging two child records created in error (issue 10).

Police notifications sometimes create a second record for a child the council already knows (a
different spelling, no council child id). The Family Front Door merges the two: every record of
the removed child moves onto the kept one, the kept child's blank details are filled from the
removed record, and the removed Child row is deleted. `ChildMerge` keeps the durable record.

The core imports no other app of ours, so the apps built on it move their own rows through
hooks listed in settings.CHILD_MERGERS (dotted paths, like RETENTION_ERASERS): each is called
inside the merge's transaction as `hook(actor=, keep_id=, remove_id=, now=)` and returns
{record type: [references moved]}. Whatever still points at the removed child afterwards (a
table added later without a hook) is moved by a generic sweep over Child's reverse foreign
keys, so the delete never fails on a forgotten row.

Refusals (409, plain words): both records carry different council child ids or different dates
of birth (the case system must be corrected first: we do not guess which is right), or the
merge would give the child overlapping episodes (FFD decides first, e.g. cancels the duplicate
episode as logged in error). See docs/decisions/0044-merging-child-records.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.db.models import F, Model
from django.utils.module_loading import import_string

from missing.audit import access_log as audit
from missing.cases import child_facts
from missing.cases.errors import Conflict, InvalidInput, require_roles
from missing.cases.services import repeat_rules_evaluate
from missing.models import (
    CASE_READERS,
    Child,
    ChildMerge,
    EpisodeEvent,
    EpisodeState,
    MissingEpisode,
    PoliceNotification,
    RiskMeetingTask,
    User,
)

# FFD and managers (heads of service included); police systems, interviewers and
# administrators are refused.
MERGE_ROLES = CASE_READERS

# The kept child's details filled from the removed record when blank on the kept one. Legal
# status flags are not: the kept record is the council's and says what holds now. The
# retention flag (`ever_looked_after`) is carried over below: once looked after, always.
FILLABLE_FIELDS = (
    "council_child_id",
    "nhs_number",
    "date_of_birth",
    "gender",
    "allocated_team",
    "social_worker",
    "placement",
    "responsible_council",
    "host_council",
)
REASON_MAX = 5000

Merger = Callable[..., dict[str, list[str]]]


def mergers() -> list[Merger]:
    """The other apps' hooks (settings.CHILD_MERGERS)."""
    return [import_string(path) for path in getattr(settings, "CHILD_MERGERS", [])]


def _attname(name: str) -> str:
    # The column (`social_worker_id`), so reading a foreign key costs no query.
    return Child._meta.get_field(name).attname  # type: ignore[union-attr]


def _blank(value: Any) -> bool:
    return value is None or value == ""


def _refuse_different_identities(keep: Child, remove: Child) -> None:
    problems = []
    if (
        keep.council_child_id
        and remove.council_child_id
        and keep.council_child_id != remove.council_child_id
    ):
        problems.append("different council child ids")
    if keep.nhs_number and remove.nhs_number and keep.nhs_number != remove.nhs_number:
        problems.append("different NHS numbers")
    if keep.date_of_birth and remove.date_of_birth and keep.date_of_birth != remove.date_of_birth:
        problems.append("different dates of birth")
    if problems:
        raise Conflict(
            f"{keep.reference} and {remove.reference} have {' and '.join(problems)}, so they may "
            "be different children. Correct the record that is wrong in the case system first, "
            "then merge."
        )


def _span_end(episode: MissingEpisode) -> datetime | None:
    return episode.returned_at  # None: still missing, the span runs on


def _overlap(a: MissingEpisode, b: MissingEpisode) -> bool:
    """Two spans [last seen, return) overlap; an open end runs on for ever (so two episodes
    still missing always overlap). Touching ends do not overlap."""
    a_end, b_end = _span_end(a), _span_end(b)
    return (b_end is None or a.last_seen_at < b_end) and (a_end is None or b.last_seen_at < a_end)


def _refuse_overlapping_episodes(keep: Child, remove: Child) -> None:
    live = list(
        MissingEpisode.objects.filter(child_id__in=[keep.pk, remove.pk])
        .exclude(state=EpisodeState.CANCELLED)
        .order_by("last_seen_at", "pk")
    )
    kept = [e for e in live if e.child_id == keep.pk]
    removed = [e for e in live if e.child_id == remove.pk]
    clashes = [(a, b) for a in kept for b in removed if _overlap(a, b)]
    if clashes:
        pairs = "; ".join(f"{a.reference} and {b.reference}" for a, b in clashes)
        raise Conflict(
            f"Merging would give the child overlapping episodes: {pairs}. Decide first which "
            "episode is right: if one is a duplicate, cancel it as logged in error, then merge."
        )


def _close_duplicate_tasks(
    *, keep: Child, remove: Child, merge: ChildMerge, actor: User, now: datetime
) -> list[str]:
    """One open task per child and rule (a partial unique constraint): where both children have
    one open for the same rule, the older stays open and the other is closed as a duplicate,
    with a timeline event on its episode."""
    open_tasks = list(
        RiskMeetingTask.objects.select_for_update(of=("self",))
        .filter(child_id__in=[keep.pk, remove.pk], status=RiskMeetingTask.Status.OPEN)
        .select_related("episode")
        .order_by("rule_id", "raised_at", "pk")
    )
    by_rule: dict[int, list[RiskMeetingTask]] = {}
    for task in open_tasks:
        by_rule.setdefault(task.rule_id, []).append(task)
    closed = []
    for tasks in by_rule.values():
        kept_task, *duplicates = tasks
        for task in duplicates:
            task.status = RiskMeetingTask.Status.DONE
            task.completed_at = now
            task.completed_by = actor
            task.outcome = (
                f"Closed as a duplicate of {kept_task.reference}: {remove.reference} was merged "
                f"into {keep.reference} ({merge.reference})."
            )
            task.version += 1
            task.save(
                update_fields=["status", "completed_at", "completed_by", "outcome", "version"]
            )
            EpisodeEvent.objects.create(
                episode=task.episode,
                at=now,
                actor=actor,
                action="risk_meeting_done",
                from_state=task.episode.state,
                to_state=task.episode.state,
                reason=f"{task.reference}: {task.outcome}",
            )
            closed.append(task.reference)
    return closed


# Moved explicitly by child_merge (with their references recorded): the sweep skips them.
_MOVED_EXPLICITLY = {
    (MissingEpisode, "child"),
    (PoliceNotification, "child"),
    (RiskMeetingTask, "child"),
}


def _sweep_other_references(*, keep: Child, remove: Child) -> dict[str, int]:
    """Every other foreign key to Child: move it too. Catches a table added later without a
    hook, and the records of earlier merges into the removed child (ChildMerge.kept_child)."""
    counts: dict[str, int] = {}
    for relation in Child._meta.related_objects:
        if not relation.one_to_many:
            continue
        if (relation.related_model, relation.field.name) in _MOVED_EXPLICITLY:
            continue
        if relation.field.name == "pgh_obj":
            # A change history (ChildHistory) stays with the row it describes: the removed
            # record's snapshots are not the kept record's (retention erases them by id).
            continue
        model = cast(type[Model], relation.related_model)  # a one-to-many: a model, never "self"
        field = relation.field.name
        moved = model._default_manager.filter(**{field: remove.pk}).update(**{field: keep.pk})
        if moved:
            name = str(model._meta.verbose_name_plural)
            counts[name] = counts.get(name, 0) + moved
    return counts


@dataclass(frozen=True)
class MergeData:
    """The user's choice: the record created in error (`remove_id`, merged into the child whose
    page or URL the merge is made from) and why the two records are the same child."""

    remove_id: int
    reason: str = ""


def child_merge(data: MergeData, /, *, actor: User, keep_id: int, now: datetime) -> ChildMerge:
    """Merge child `data.remove_id` (a record created in error) into child `keep_id`.

    FFD, managers and heads of service (403 for anyone else). In one transaction, with both
    children locked in id order (two merges of one pair, either way round, cannot deadlock):
    refuses (409) different council child ids or dates of birth, and overlapping episodes;
    closes duplicate open meeting tasks; moves every episode (their access grants, decisions,
    escalations and interview links follow them), police notification and meeting task, and the
    other apps' rows (settings.CHILD_MERGERS); fills the kept child's blank details and carries
    the looked-after retention flag; deletes the removed child; writes the ChildMerge record, a
    timeline event on every moved episode and a change row in the access log for both ids; and
    re-runs the repeat-missing rules on the kept child's latest episode.
    """
    require_roles(actor, MERGE_ROLES, label="merge child records")
    remove_id = data.remove_id
    reason = (data.reason or "").strip()
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["reason"] = ["Enter why the two records are the same child."]
    elif len(reason) > REASON_MAX:
        errors["reason"] = [f"The reason must be {REASON_MAX} characters or fewer."]
    if keep_id == remove_id:
        errors["remove"] = ["Choose another child: a record cannot be merged with itself."]
    if errors:
        raise InvalidInput("The merge has errors.", field_errors=errors)

    with transaction.atomic():
        locked = {
            child.pk: child
            for child in Child.objects.select_for_update()
            .filter(pk__in=sorted([keep_id, remove_id]))
            .order_by("pk")
        }
        if keep_id not in locked:
            raise Conflict(f"C-{keep_id} no longer exists: it was merged or erased. Reload.")
        if remove_id not in locked:
            raise Conflict(f"C-{remove_id} no longer exists: it was merged or erased. Reload.")
        keep, remove = locked[keep_id], locked[remove_id]
        _refuse_different_identities(keep, remove)
        _refuse_overlapping_episodes(keep, remove)

        merge = ChildMerge.objects.create(
            kept_child=keep,
            removed_child_id=remove.pk,
            removed_reference=remove.reference,
            merged_by=actor,
            merged_at=now,
            reason=reason,
        )
        closed = _close_duplicate_tasks(keep=keep, remove=remove, merge=merge, actor=actor, now=now)

        moved: dict[str, list[str]] = {}
        episodes = list(
            MissingEpisode.objects.filter(child=remove)
            .order_by("last_seen_at", "pk")
            .values_list("pk", "state")
        )
        moved["episodes"] = [f"E-{pk}" for pk, _ in episodes]
        moved["police notifications"] = [
            f"N-{pk}"
            for pk in PoliceNotification.objects.filter(child=remove)
            .order_by("pk")
            .values_list("pk", flat=True)
        ]
        moved["strategy / risk meeting tasks"] = [
            f"RM-{pk}"
            for pk in RiskMeetingTask.objects.filter(child=remove)
            .order_by("pk")
            .values_list("pk", flat=True)
        ]
        # The episode's version moves on: a form opened before the merge is refused as stale.
        MissingEpisode.objects.filter(child=remove).update(
            child=keep, version=F("version") + 1, updated_at=now
        )
        PoliceNotification.objects.filter(child=remove).update(child=keep)
        RiskMeetingTask.objects.filter(child=remove).update(child=keep)
        for hook in mergers():
            for name, references in hook(
                actor=actor, keep_id=keep.pk, remove_id=remove.pk, now=now
            ).items():
                moved.setdefault(name, []).extend(references)
        others = _sweep_other_references(keep=keep, remove=remove)

        EpisodeEvent.objects.bulk_create(
            EpisodeEvent(
                episode_id=pk,
                at=now,
                actor=actor,
                action="child_merged",
                from_state=state,
                to_state=state,
                reason=f"Moved from {remove.reference} to {keep.reference} ({merge.reference}): "
                f"{reason}",
            )
            for pk, state in episodes
        )

        filled = [
            name
            for name in FILLABLE_FIELDS
            if _blank(getattr(keep, _attname(name))) and not _blank(getattr(remove, _attname(name)))
        ]
        values = {_attname(name): getattr(remove, _attname(name)) for name in filled}
        carried_looked_after = remove.ever_looked_after
        # Delete first: the council child id is unique, and may be moving to the kept child.
        remove_pk = remove.pk
        remove.delete()
        for name, value in values.items():
            setattr(keep, name, value)
        update = list(filled)
        if carried_looked_after and not keep.ever_looked_after:
            keep.ever_looked_after = True
            update.append("ever_looked_after")
        if update:
            keep.save(update_fields=update)
        # The removed record's legal-status periods moved with the sweep (facts about the same
        # child): the moved episodes' snapshots now come from the union of both records' periods.
        child_facts.recompute_after_merge(keep, actor=actor, now=now, because=merge.reference)

        merge.moved = {name: refs for name, refs in moved.items() if refs}
        merge.counts = {name: len(refs) for name, refs in merge.moved.items()} | others
        merge.filled_fields = filled
        merge.closed_duplicate_tasks = closed
        merge.save(update_fields=["moved", "counts", "filled_fields", "closed_duplicate_tasks"])

        audit.record_change(child_id=keep.pk, reference=merge.reference, now=now)
        audit.record_change(child_id=remove_pk, reference=merge.reference, now=now)

        # A merge can reveal a pattern neither record showed ("3 in 90 days"): check the rules
        # on the kept child's latest episode, in this transaction.
        latest = (
            MissingEpisode.objects.filter(child=keep)
            .exclude(state=EpisodeState.CANCELLED)
            .select_related("child")
            .order_by("-last_seen_at", "-pk")
            .first()
        )
        if latest is not None:
            repeat_rules_evaluate(episode=latest, now=now)
    return merge
