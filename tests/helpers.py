"""Build episodes in any state through the real services."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from missing.accounts.security import SECOND_FACTOR_AT
from missing.cases import services
from missing.models import Child, EpisodeState, MissingEpisode, NotificationKind, User
from tests.factories import ChildFactory, force, grade

_refs = itertools.count(1)


def report_missing(
    *,
    actor: User,
    now: datetime,
    child: Child | None = None,
    grade_code: str = "medium",
    last_seen_at: datetime | None = None,
    reference: str | None = None,
) -> MissingEpisode:
    child = child or ChildFactory()
    data = services.NotificationData(
        police_force=force(),
        police_reference=reference or f"KNT-{next(_refs):05d}",
        kind=NotificationKind.REPORTED_MISSING,
        child_first_name=child.first_name,
        child_last_name=child.last_name,
        child_date_of_birth=child.date_of_birth,
        council_child_id=child.council_child_id or "",
        last_seen_at=last_seen_at or now - timedelta(hours=3),
        last_seen_place="Town centre",
        reported_at=(last_seen_at or now - timedelta(hours=3)) + timedelta(hours=1),
        risk_grade=grade(grade_code),
        circumstances="Did not come home after school.",
        reported_by="Foster carer",
    )
    result = services.notification_receive(
        data, actor=actor, payload={"ref": data.police_reference}, now=now
    )
    assert result.notification.episode is not None
    return result.notification.episode


def episode_in_state(
    state: str,
    *,
    ffd: User,
    manager: User,
    now: datetime,
    reviewed: bool = True,
    interviewer: User | None = None,
) -> MissingEpisode:
    """An episode in `state`, reached through the core's services. `reviewed` adds an oversight
    decision; `interviewer` is granted the episode once the child is back (as an assignment
    would). Past the return: arranged by the manager, held half an hour before `now`."""
    episode = report_missing(actor=ffd, now=now - timedelta(hours=2))
    if reviewed or state == EpisodeState.CLOSED:
        services.episode_record_decision(
            services.DecisionData(risk="medium", rationale="Known pattern; police searching."),
            actor=manager,
            episode_id=episode.pk,
            now=now - timedelta(hours=1, minutes=30),
        )
    if state == EpisodeState.MISSING:
        return MissingEpisode.objects.get(pk=episode.pk)
    if state == EpisodeState.CANCELLED:
        return services.episode_cancel(
            services.CancelData(reason="Duplicate"), actor=manager, episode_id=episode.pk, now=now
        )
    services.episode_record_return(
        services.ReturnData(
            returned_at=now - timedelta(hours=1),
            found_place="Friend's house",
            found_by="Police",
            prevention_interview_done=True,
        ),
        actor=ffd,
        episode_id=episode.pk,
        now=now,
    )
    if interviewer is not None:
        services.access_grant(episode=episode, user=interviewer, now=now)
    if state == EpisodeState.RETURNED:
        return MissingEpisode.objects.get(pk=episode.pk)
    services.episode_arrange_interview(
        actor=manager, episode_id=episode.pk, note="At school, 4pm", now=now
    )
    if state == EpisodeState.INTERVIEW_ARRANGED:
        return MissingEpisode.objects.get(pk=episode.pk)
    services.episode_record_interview_outcome(
        services.OutcomeData(outcome="held", held_at=now - timedelta(minutes=30), note=""),
        actor=manager,
        episode_id=episode.pk,
        now=now,
    )
    if state == EpisodeState.AWAITING_SIGN_OFF:
        return MissingEpisode.objects.get(pk=episode.pk)
    if state == EpisodeState.CLOSED:
        return services.episode_sign_off(
            services.SignOffData(note="Done"), actor=manager, episode_id=episode.pk, now=now
        )
    raise ValueError(state)


def totp_device(user: User) -> TOTPDevice:
    """The user's confirmed authenticator (made on first use, then reused)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Test phone", confirmed=True)


def totp_code(device: TOTPDevice, *, at: datetime | None = None) -> str:
    """The code the user's app would show now (or at `at`), computed from the device's key."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    if at is not None:
        totp.time = at.timestamp()
    return f"{totp.token():0{device.digits}d}"


def login(client: Client, user: User, *, second_factor: bool = True) -> None:
    """Sign a test client in as `user`. Every test signs in through here, so that how a session
    becomes fully signed in (the second factor included) is decided in one place.

    Fully signed in: a confirmed TOTP device and the session verified with it, as if a code had
    just been entered. `second_factor=False` leaves the session at the password alone."""
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    if not second_factor:
        return
    device = totp_device(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[SECOND_FACTOR_AT] = timezone.now().timestamp()
    session.save()


def date_boxes(name: str, value: date | datetime) -> dict[str, str]:
    """What a person types in a GOV.UK date input for `value` (a datetime in London time,
    24-hour clock), keyed by the boxes' names: `{name}_day`, `{name}_month`, `{name}_year`
    and, for a datetime, `{name}_time`."""
    boxes = {f"{name}_day": str(value.day), f"{name}_month": str(value.month)}
    if isinstance(value, datetime):
        local = timezone.localtime(value)
        boxes = {f"{name}_day": str(local.day), f"{name}_month": str(local.month)}
        return {**boxes, f"{name}_year": str(local.year), f"{name}_time": f"{local:%H:%M}"}
    return {**boxes, f"{name}_year": str(value.year)}
