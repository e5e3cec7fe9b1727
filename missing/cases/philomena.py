"""The Philomena Protocol profile of a child, and the "Part 1" the police ask for (issue 12).

The Philomena Protocol (National Police Chiefs' Council, with councils and care providers) asks
whoever cares for a child to keep a profile the police can use the moment the child is reported
missing: description, a recent photograph, associates, addresses and places the child may go,
phone numbers, social media, medical needs and medication, and previous missing history. The
profile is "Part 1" of the protocol's form; it is handed over at the report.

- Readers (`readable_children`): whoever may see the child (`Child.objects.visible_to`: case
  staff, and an interviewer assigned to one of the child's episodes), and the child's social
  worker when they are a user of the system.
- Editors (`may_edit`): the Family Front Door, managers and heads of service, and the child's
  social worker. A save needs no reason: it records who and when (last reviewed at / by), the
  change history (django-pghistory, PostgreSQL) and a change row in the access log.
- Previous missing history is never typed: `missing_history` computes it from the episodes.

The photograph goes through Django's default storage under MEDIA_ROOT with a random name, and is
only ever served by the authenticated, access-logged photo views. See
docs/decisions/0047-philomena-profile.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from missing.audit import access_log as audit
from missing.cases.errors import InvalidInput, NotAllowed, require_version

# pghistory makes the *History event models at run time: mypy cannot see them.
from missing.models import (  # type: ignore[attr-defined]
    CASE_READERS,
    Child,
    EpisodeState,
    MissingEpisode,
    PhilomenaProfile,
    PhilomenaProfileHistory,
    Role,
    User,
)

# Who keeps the profile current, besides the child's own social worker.
EDITOR_ROLES = CASE_READERS
# Roles that never read a child's profile, whatever else they are (no case data).
_NEVER_READ = frozenset({Role.ADMIN, Role.POLICE_SYSTEM})

PHOTO_MAX_BYTES = 5 * 1024 * 1024
# Magic bytes: the file's own first bytes decide its type, never its name or the browser's word.
_PHOTO_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
HISTORY_RECENT = 5
HISTORY_WINDOW = timedelta(days=365)

# Limits the forms and serializers share (a profile prints on a few A4 pages).
TEXT_FIELDS = {
    "height": 60,
    "build": 100,
    "hair": 200,
    "eyes": 100,
    "skin": 100,
    "distinguishing_features": 2000,
    "usual_clothing": 2000,
    "medical_needs": 2000,
    "medication": 2000,
    "language_needs": 2000,
    "other_information": 5000,
}
LIST_FIELDS = ("places", "phone_numbers", "social_media")
LIST_MAX_ITEMS = 30
LIST_ITEM_MAX = 300
ASSOCIATES_MAX = 30
ASSOCIATE_LIMITS = {"name": 200, "relationship": 100, "notes": 500}


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


def readable_children(user: Any) -> QuerySet[Child]:
    """Children whose profile `user` may read: those they may see, and those whose social
    worker they are. Deny by default."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Child.objects.none()
    if user.role in _NEVER_READ:
        return Child.objects.none()
    return Child.objects.visible_to(user) | Child.objects.filter(social_worker=user)


def may_edit(user: Any, child: Child) -> bool:
    """FFD, managers, heads of service, and the child's own social worker (active, and not an
    administrator or a police system)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.role in EDITOR_ROLES:
        return True
    return child.social_worker_id == user.pk and user.role not in _NEVER_READ


def child_with_profile(user: Any, child_id: int) -> tuple[Child, PhilomenaProfile | None]:
    """The child (DoesNotExist when `user` may not read it) and its profile, if any: one
    query (the profile and its reviewer joined)."""
    child = (
        readable_children(user)
        .select_related("social_worker", "allocated_team", "philomena__last_reviewed_by")
        .get(pk=child_id)
    )
    try:
        profile: PhilomenaProfile | None = child.philomena
    except PhilomenaProfile.DoesNotExist:
        profile = None
    return child, profile


@dataclass(frozen=True)
class MissingHistory:
    """Previous missing history, from the child's episodes (cancelled ones excluded: they were
    logged in error)."""

    since: datetime
    count_12_months: int
    away_12_months: int
    total: int
    recent: list[MissingEpisode] = field(default_factory=list)


def missing_history(
    *, child_id: int, now: datetime, exclude_episode_id: int | None = None
) -> MissingHistory:
    """Episodes in the 365 days to `now` (by last seen), all-time total, and the last five with
    their dates and where the child was found. Two queries. On Part 1 the episode being
    reported is excluded: it is not *previous* history."""
    since = now - HISTORY_WINDOW
    episodes = MissingEpisode.objects.filter(child_id=child_id).exclude(
        state=EpisodeState.CANCELLED
    )
    if exclude_episode_id is not None:
        episodes = episodes.exclude(pk=exclude_episode_id)
    counts = episodes.aggregate(
        total=Count("pk"),
        last_year=Count("pk", filter=Q(last_seen_at__gte=since, last_seen_at__lte=now)),
        away=Count(
            "pk",
            filter=Q(
                last_seen_at__gte=since,
                last_seen_at__lte=now,
                kind=MissingEpisode.Kind.AWAY,
            ),
        ),
    )
    recent = list(
        episodes.filter(last_seen_at__lte=now).order_by("-last_seen_at", "-pk")[:HISTORY_RECENT]
    )
    return MissingHistory(
        since=since,
        count_12_months=counts["last_year"],
        away_12_months=counts["away"],
        total=counts["total"],
        recent=recent,
    )


def open_episode(child_id: int, user: Any) -> MissingEpisode | None:
    """The child's episode still open that `user` may see (the latest), for the child-level
    Part 1."""
    return (
        MissingEpisode.objects.visible_to(user)
        .with_related()
        .filter(child_id=child_id, returned_at__isnull=True)
        .exclude(state=EpisodeState.CANCELLED)
        .order_by("-last_seen_at")
        .first()
    )


def read_photo(profile: PhilomenaProfile) -> bytes | None:
    """The photograph's bytes, or None when there is none (or its file has gone)."""
    if not profile.photo:
        return None
    try:
        with default_storage.open(profile.photo.name, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


# --------------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhilomenaData:
    """Every field a person types. Lists hold one place, number or handle each; associates are
    {"name", "relationship", "risk", "notes"}."""

    height: str = ""
    build: str = ""
    hair: str = ""
    eyes: str = ""
    skin: str = ""
    distinguishing_features: str = ""
    usual_clothing: str = ""
    associates: list[dict[str, Any]] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    phone_numbers: list[str] = field(default_factory=list)
    social_media: list[str] = field(default_factory=list)
    medical_needs: str = ""
    medication: str = ""
    language_needs: str = ""
    other_information: str = ""
    photo_taken_on: date | None = None


def photo_type(upload: UploadedFile) -> str:
    """The photograph's type from its first bytes (JPEG or PNG), else InvalidInput naming the
    `photo` field. Checks the size first, without reading the file."""
    if upload.size is not None and upload.size > PHOTO_MAX_BYTES:
        raise InvalidInput(
            "The photograph is too large.",
            field_errors={"photo": ["The photograph must be 5 MB or smaller."]},
        )
    if not upload.size:
        raise InvalidInput(
            "The photograph is empty.", field_errors={"photo": ["The selected file is empty."]}
        )
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    for signature, content_type in _PHOTO_SIGNATURES:
        if head.startswith(signature):
            return content_type
    raise InvalidInput(
        "The photograph must be a JPEG or PNG.",
        field_errors={"photo": ["The photograph must be a JPEG or PNG image."]},
    )


def _clean_list(values: list[str]) -> list[str]:
    return [v.strip() for v in values if v and v.strip()]


def _clean_associates(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cleaned = []
    for item in values:
        name = str(item.get("name", "")).strip()
        if not name:
            continue
        cleaned.append(
            {
                "name": name,
                "relationship": str(item.get("relationship", "")).strip(),
                "risk": bool(item.get("risk", False)),
                "notes": str(item.get("notes", "")).strip(),
            }
        )
    return cleaned


def _validate(data: PhilomenaData, now: datetime) -> None:
    errors: dict[str, list[str]] = {}
    for name, limit in TEXT_FIELDS.items():
        if len(getattr(data, name)) > limit:
            errors[name] = [f"Must be {limit} characters or fewer."]
    for name in LIST_FIELDS:
        values = getattr(data, name)
        if len(values) > LIST_MAX_ITEMS:
            errors[name] = [f"Enter {LIST_MAX_ITEMS} or fewer."]
        elif any(len(v) > LIST_ITEM_MAX for v in values):
            errors[name] = [f"Each entry must be {LIST_ITEM_MAX} characters or fewer."]
    if len(data.associates) > ASSOCIATES_MAX:
        errors["associates"] = [f"Enter {ASSOCIATES_MAX} associates or fewer."]
    if data.photo_taken_on and data.photo_taken_on > timezone.localdate(now):
        errors["photo_taken_on"] = ["The date the photograph was taken must be today or earlier."]
    if errors:
        raise InvalidInput("The profile has errors.", field_errors=errors)


def _delete_file_on_commit(name: str) -> None:
    """Files are not transactional: remove the old one only once the new row has committed."""
    if name:
        transaction.on_commit(lambda: default_storage.delete(name))


def _locked_profile(
    *, actor: User, child_id: int, now: datetime
) -> tuple[Child, PhilomenaProfile, bool]:
    """Lock the child (two first saves cannot both create a profile), check the actor may
    edit, and return the profile (a new unsaved one when there is none) and whether it is new."""
    child = readable_children(actor).select_for_update(of=("self",)).filter(pk=child_id).first()
    if child is None:
        raise Child.DoesNotExist(f"No child C-{child_id} you may see.")
    if not may_edit(actor, child):
        raise NotAllowed("Your role cannot change the Philomena profile.")
    profile = PhilomenaProfile.objects.select_for_update().filter(child=child).first()
    if profile is None:
        return (
            child,
            PhilomenaProfile(child=child, created_at=now, last_reviewed_at=now, version=0),
            True,
        )
    return child, profile, False


def _stamp(profile: PhilomenaProfile, *, actor: User, now: datetime) -> None:
    profile.last_reviewed_at = now
    profile.last_reviewed_by = actor
    profile.version += 1


def philomena_save(
    data: PhilomenaData,
    /,
    *,
    actor: User,
    child_id: int,
    now: datetime,
    version: int | None = None,
    photo: UploadedFile | None = None,
    remove_photo: bool = False,
) -> PhilomenaProfile:
    """Create or replace the child's profile (every typed field), and optionally its photo.

    FFD, managers, heads of service and the child's social worker (NotAllowed otherwise);
    Child.DoesNotExist for a child the actor may not see. `version` (the one the form or client
    read; 0 for "no profile yet") makes a stale edit a Conflict (409). Records who and when
    (last reviewed), and a change row in the access log; the change history is the triggers'.
    """
    _validate(data, now)
    content_type = photo_type(photo) if photo is not None else ""
    with transaction.atomic():
        child, profile, _ = _locked_profile(actor=actor, child_id=child_id, now=now)
        require_version(profile, version)
        for name in TEXT_FIELDS:
            setattr(profile, name, getattr(data, name).strip())
        for name in LIST_FIELDS:
            setattr(profile, name, _clean_list(getattr(data, name)))
        profile.associates = _clean_associates(data.associates)
        profile.photo_taken_on = data.photo_taken_on
        old_photo = profile.photo.name if profile.photo else ""
        if photo is not None:
            _replace_photo(profile, photo=photo, content_type=content_type, now=now)
        elif remove_photo:
            profile.photo = ""
            profile.photo_content_type = ""
            profile.photo_taken_on = None
            profile.photo_updated_at = now
        _stamp(profile, actor=actor, now=now)
        profile.save()
        if old_photo and old_photo != (profile.photo.name if profile.photo else ""):
            _delete_file_on_commit(old_photo)
        audit.record_change(child_id=child.pk, reference=profile.reference, now=now)
    return profile


def _replace_photo(
    profile: PhilomenaProfile, *, photo: UploadedFile, content_type: str, now: datetime
) -> None:
    """Write the new file now (save=False: the caller saves the row in its transaction). Should
    that transaction roll back, the file stays behind under a random name that no row points
    to and nobody can reach; a rollback here is a refusal found after the write, which the
    checks above make rare."""
    profile.photo_content_type = content_type
    profile.photo.save("photo", photo, save=False)
    profile.photo_updated_at = now


def philomena_set_photo(
    *,
    actor: User,
    child_id: int,
    photo: UploadedFile,
    now: datetime,
    taken_on: date | None = None,
) -> PhilomenaProfile:
    """Replace only the photograph (the API's photo endpoint); creates the profile if the child
    has none. Same roles and records as `philomena_save`."""
    content_type = photo_type(photo)
    if taken_on and taken_on > timezone.localdate(now):
        raise InvalidInput(
            "The profile has errors.",
            field_errors={
                "photo_taken_on": ["The date the photograph was taken must be today or earlier."]
            },
        )
    with transaction.atomic():
        child, profile, _ = _locked_profile(actor=actor, child_id=child_id, now=now)
        old_photo = profile.photo.name if profile.photo else ""
        _replace_photo(profile, photo=photo, content_type=content_type, now=now)
        profile.photo_taken_on = taken_on
        _stamp(profile, actor=actor, now=now)
        profile.save()
        _delete_file_on_commit(old_photo)
        audit.record_change(child_id=child.pk, reference=profile.reference, now=now)
    return profile


# --------------------------------------------------------------------------------------------
# Retention and merging (settings.RETENTION_ERASERS, settings.CHILD_MERGERS)
# --------------------------------------------------------------------------------------------


def erase_child(*, child_ids: list[int], episode_ids: list[int]) -> dict[str, int]:
    """Retention: the children's profiles, their change history and, once the erasure has
    committed, their photograph files."""
    profiles = list(
        PhilomenaProfile.objects.filter(child_id__in=child_ids).values_list("pk", "photo")
    )
    ids = [pk for pk, _ in profiles]
    deleted = PhilomenaProfile.objects.filter(pk__in=ids).delete()[0]
    # After the rows: deleting a tracked row writes a last history event.
    history = PhilomenaProfileHistory.objects.filter(pgh_obj_id__in=ids).delete()[0]
    photos = 0
    for _, name in profiles:
        if name:
            _delete_file_on_commit(name)
            photos += 1
    return {
        "Philomena profiles": deleted,
        "Philomena photographs": photos,
        "Philomena change history": history,
    }


def _blank(value: Any) -> bool:
    return value in (None, "", [])


_MERGE_FILLABLE = (*TEXT_FIELDS, *LIST_FIELDS, "associates")


def merge_child(*, actor: User, keep_id: int, remove_id: int, now: datetime) -> dict[str, Any]:
    """Child merge hook: the kept child's profile stays and its blanks are filled from the
    removed child's (its photograph too, when it has none); a kept child without a profile takes
    the removed one's. Runs inside the merge's transaction, before the removed child goes."""
    removed = PhilomenaProfile.objects.select_for_update().filter(child_id=remove_id).first()
    if removed is None:
        return {}
    kept = PhilomenaProfile.objects.select_for_update().filter(child_id=keep_id).first()
    if kept is None:
        removed.child_id = keep_id
        removed.version += 1
        removed.save(update_fields=["child", "version"])
        return {"Philomena profiles": [removed.reference]}
    filled = []
    for name in _MERGE_FILLABLE:
        if _blank(getattr(kept, name)) and not _blank(getattr(removed, name)):
            setattr(kept, name, getattr(removed, name))
            filled.append(name)
    photo_moved = False
    if not kept.photo and removed.photo:
        kept.photo = removed.photo.name
        kept.photo_content_type = removed.photo_content_type
        kept.photo_taken_on = removed.photo_taken_on
        kept.photo_updated_at = removed.photo_updated_at
        photo_moved = True
    if filled or photo_moved:
        kept.version += 1
        kept.save()
    reference = removed.reference
    removed_photo = removed.photo.name if removed.photo else ""
    removed_pk = removed.pk
    removed.delete()
    PhilomenaProfileHistory.objects.filter(pgh_obj_id=removed_pk).delete()
    if removed_photo and not photo_moved:
        _delete_file_on_commit(removed_photo)
    return {"Philomena profiles": [reference]}
