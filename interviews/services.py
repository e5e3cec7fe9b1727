"""Every write to return interviews. Views, the API and tests call these and nothing else.

Each operation that takes what a person entered takes it as ONE frozen data object, its first
and positional-only argument (`CreateData`, `AssignData`, …), built by the web form's or the
API serializer's own `to_data()`; then keyword-only context: the acting user, the interview,
`now` (read once by the caller) and, where a stale page matters, `expected_version`. So the
two adapters cannot pass the same input differently (docs/decisions/0064). Each runs in one
transaction and raises a `missing.cases.errors` exception when a rule refuses: nothing is
half-written. The
episode's own milestones (arranged, held or not, signed off) go through `missing.cases.services`, which
runs the state machine, so the board, the clocks and the escalations follow the interview.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from interviews.models import (
    ContactAttempt,
    ContactMethod,
    ContactOutcome,
    Factor,
    FactorKind,
    Independence,
    InterviewEpisode,
    InterviewFactor,
    InterviewMention,
    InterviewStatus,
    MentionKind,
    PlacementStaff,
    ReturnInterview,
    normalise_name,
)
from missing.audit import access_log as audit
from missing.cases import services as core
from missing.cases import transitions
from missing.cases.errors import Conflict, InvalidInput, NotAllowed, require_version, stale_version
from missing.models import (
    INTERVIEW_PENDING_STATES,
    OVERSIGHT_ROLES,
    Child,
    EpisodeState,
    InterviewOutcome,
    MissingEpisode,
    Role,
    User,
    interview_arranger_roles,
)

# --------------------------------------------------------------------------------------------
# The record's fields, as services, forms and the API name them
# --------------------------------------------------------------------------------------------

FACTOR_FIELDS: dict[str, str] = {
    "push_factors": FactorKind.PUSH,
    "pull_factors": FactorKind.PULL,
    "harms": FactorKind.HARM,
}

# Places the child went or stayed and people they were with, one per line on the form: kept as
# structured rows (InterviewMention) so the figures can find hotspots and recurring people.
MENTION_FIELDS: dict[str, str] = {
    "places": MentionKind.PLACE,
    "associates": MentionKind.ASSOCIATE,
}
MENTION_MAX_COUNT = 50
MENTION_MAX_LENGTH = 200

# Text fields and their limits (TextFields get LONG_TEXT: nobody's account runs to a megabyte).
LONG_TEXT = 10_000
TEXT_LIMITS: dict[str, int] = {
    "held_place": 300,
    "present": 300,
    "account_where": LONG_TEXT,
    "account_who_with": LONG_TEXT,
    "account_travel": LONG_TEXT,
    "account_how_found": LONG_TEXT,
    "disclosures": LONG_TEXT,
    "shared_with": 300,
    "wishes_and_feelings": LONG_TEXT,
    "safety_plan": LONG_TEXT,
    "referrals": LONG_TEXT,
    "not_held_reason": LONG_TEXT,
    "carers_account": LONG_TEXT,
}
BOOL_FIELDS = ("seen_alone", "consent_to_share")

RECORD_LABELS: dict[str, str] = {
    "outcome": "Was the interview held?",
    "held_at": "When the interview was held",
    "held_place": "Where it was held",
    "present": "Who was present",
    "seen_alone": "Was the child seen alone?",
    "account_where": "Where the child went",
    "account_who_with": "Who they were with",
    "account_travel": "How they travelled",
    "account_how_found": "How they were found or came back",
    "places": "Places the child went or stayed",
    "associates": "People the child was with",
    "push_factors": "Push factors",
    "pull_factors": "Pull factors",
    "harms": "Harms or risks while missing",
    "disclosures": "Disclosures",
    "consent_to_share": "Did the child consent to sharing?",
    "shared_with": "Shared with",
    "wishes_and_feelings": "The child's wishes and feelings",
    "safety_plan": "Safety plan",
    "referrals": "Referrals and services offered",
    "not_held_reason": "Why the interview was not held",
    "carers_account": "What parents or carers said",
}
RECORD_FIELDS: tuple[str, ...] = tuple(RECORD_LABELS)

# What a completed interview must have (DfE 2014: the child's account, their wishes, consent).
REQUIRED_IF_HELD: dict[str, str] = {
    "held_at": "Enter when the interview was held",
    "held_place": "Enter where the interview was held",
    "present": "Enter who was present",
    "seen_alone": "Say whether the child was seen alone",
    "account_where": "Enter where the child says they went",
    "consent_to_share": "Say whether the child consented to sharing what they said",
    "wishes_and_feelings": "Enter the child's wishes and feelings",
}

# A picked factor: (code, note). A list of them is kept sorted by code, so equal means equal.
FactorPicks = tuple[tuple[str, str], ...]


def factor_picks(pairs: Iterable[tuple[str, str]]) -> FactorPicks:
    return tuple(sorted((code, note or "") for code, note in pairs))


def mention_names(names: Iterable[str]) -> tuple[str, ...]:
    """Places or people as the services keep them: trimmed, blanks dropped, each once (by
    normalised name, the first spelling kept), in the order given."""
    seen: set[str] = set()
    out: list[str] = []
    for raw in names:
        name = " ".join(str(raw).split())
        key = normalise_name(name)
        if key and key not in seen:
            seen.add(key)
            out.append(name)
    return tuple(out)


def record_values(interview: ReturnInterview) -> dict[str, Any]:
    """The record's current values, in the shape services compare and forms show. Reads the
    interview's factors and mentions (prefetched by the selectors, else a query each)."""
    values: dict[str, Any] = {
        name: getattr(interview, name)
        for name in RECORD_FIELDS
        if name not in FACTOR_FIELDS and name not in MENTION_FIELDS
    }
    by_mention_kind: dict[str, list[str]] = {kind: [] for kind in MENTION_FIELDS.values()}
    for mention in sorted(interview.mentions.all(), key=lambda m: (m.position, m.pk)):
        by_mention_kind[mention.kind].append(mention.name)
    values.update({name: tuple(by_mention_kind[kind]) for name, kind in MENTION_FIELDS.items()})
    picks: dict[str, list[tuple[str, str]]] = {name: [] for name in FACTOR_FIELDS}
    by_kind = {kind: name for name, kind in FACTOR_FIELDS.items()}
    for pick in interview.factors.all():
        picks[by_kind[pick.factor.kind]].append((pick.factor.code, pick.note))
    values.update({name: factor_picks(pairs) for name, pairs in picks.items()})
    return values


# --------------------------------------------------------------------------------------------
# Who may do what
# --------------------------------------------------------------------------------------------


def may_arrange(user: User) -> bool:
    """Open, assign, unassign, cover another episode (managers, or the Family Front Door
    where configured). The pages and the API ask this same question."""
    return user.has_role(interview_arranger_roles())


ARRANGE_REFUSED = "Your role cannot arrange return interviews."


def _require_arranger(actor: User) -> None:
    if not may_arrange(actor):
        raise NotAllowed(ARRANGE_REFUSED)


def _is_assigned(actor: User, interview: ReturnInterview) -> bool:
    return (
        actor.role == Role.INTERVIEWER
        and interview.interviewer_id == actor.pk
        and ReturnInterview.objects.visible_to(actor).filter(pk=interview.pk).exists()
    )


def may_record(actor: User, interview: ReturnInterview) -> bool:
    """The interview's own interviewer (while assigned), or a manager."""
    return actor.has_role(OVERSIGHT_ROLES) or _is_assigned(actor, interview)


ATTEMPTS_REFUSED = "Only the interviewer or an arranger can record attempts."


def may_record_attempts(actor: User, interview: ReturnInterview) -> bool:
    """An arranger, or the interview's own interviewer (while assigned)."""
    return may_arrange(actor) or _is_assigned(actor, interview)


def _lock(interview_id: int) -> ReturnInterview:
    return (
        ReturnInterview.objects.select_for_update(of=("self",))
        .select_related("child")
        .get(pk=interview_id)
    )


def _refused(interview: ReturnInterview) -> str:
    """Why the interview's state refuses a change, in words (the 409's detail)."""
    if interview.status == InterviewStatus.SIGNED_OFF:
        return f"{interview.reference} is signed off: it can no longer be changed."
    if interview.status == InterviewStatus.COMPLETED:
        return (
            f"{interview.reference} is completed and awaiting a manager's sign-off: "
            "it can no longer be changed."
        )
    return f"{interview.reference} is '{interview.get_status_display()}': it cannot change now."


def _require_editable(interview: ReturnInterview) -> None:
    """The draft edits (record, interviewer, attempts, episodes covered) that move no state."""
    if not interview.is_editable:
        raise Conflict(_refused(interview))


def _lock_for_edit(interview_id: int, expected_version: int | None) -> ReturnInterview:
    """Lock the interview for a draft edit that changes no record field (interviewer, plan,
    episodes covered): still editable (409), and read at `expected_version` (the core's one
    stale-version check, `require_version`: 409). Record edits merge instead
    (`interview_record_update`); transitions check the version in `run_transition`."""
    interview = _lock(interview_id)
    _require_editable(interview)
    require_version(interview, expected_version)
    return interview


def _record_change(interview: ReturnInterview, now: datetime) -> None:
    audit.record_change(child_id=interview.child_id, reference=interview.reference, now=now)


def _bump(interview: ReturnInterview, now: datetime) -> None:
    """Every change to an interview that moves no state passes here (a transition does the same
    in missing.cases.transitions.run_transition): its version, and the access log's row."""
    interview.version += 1
    interview.updated_at = now
    _record_change(interview, now)


def _covered(interview: ReturnInterview) -> list[MissingEpisode]:
    """The interview's episodes, locked, in a fixed order (no deadlock between two writers)."""
    return list(
        MissingEpisode.objects.select_for_update(of=("self",))
        .filter(interview_link__interview=interview)
        .order_by("pk")
    )


def _latest_return(episodes: Sequence[MissingEpisode]) -> datetime | None:
    returns = [e.returned_at for e in episodes if e.returned_at is not None]
    return max(returns) if returns else None


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%a %d %b %Y %H:%M")


# --------------------------------------------------------------------------------------------
# Independence (DfE 2014: the interviewer is not involved in caring for the child)
# --------------------------------------------------------------------------------------------


def independence_problems(
    *, interviewer: User, child: Child, episodes: Iterable[MissingEpisode]
) -> list[str]:
    """Why `interviewer` is not independent of `child`, or [] if they are. See
    docs/decisions/0020-interviewer-independence.md."""
    problems = []
    if child.social_worker_id is not None and child.social_worker_id == interviewer.pk:
        problems.append("They are the child's allocated social worker.")
    if interviewer.team_id is not None and interviewer.team_id == child.allocated_team_id:
        problems.append("They are in the child's allocated team.")
    placements = {
        name.strip() for name in [child.placement, *(e.placement for e in episodes)] if name.strip()
    }
    if placements:
        same_place = Q()
        for name in placements:
            same_place |= Q(placement__iexact=name)
        if PlacementStaff.objects.filter(user=interviewer).filter(same_place).exists():
            problems.append("They care for or work at the child's placement.")
    return problems


# --------------------------------------------------------------------------------------------
# Per-episode dated facts (the first offer after that episode's return, the child's answer)
# --------------------------------------------------------------------------------------------


def _refresh_answers(interview: ReturnInterview) -> None:
    """Recompute each covered episode's dated facts (first offer, the child's answer) from the
    attempts and the outcome. Held and held within 72 hours are not stored: the figures
    read them from the episode's own columns (interviews.figures.ANSWERS)."""
    links = list(interview.covered.select_related("episode"))
    attempts = list(interview.attempts.order_by("at", "pk"))
    held = interview.outcome == InterviewOutcome.HELD and interview.held_at is not None
    for link in links:
        episode = link.episode
        since_return = [
            a for a in attempts if episode.returned_at is None or a.at >= episode.returned_at
        ]
        offers = [a.at for a in since_return if a.offered]
        if held:
            offers.append(interview.held_at)  # type: ignore[arg-type]
        link.offered_at = min(offers) if offers else None
        if held:
            link.accepted = True
        elif interview.outcome == InterviewOutcome.CHILD_REFUSED:
            link.accepted = False
        else:
            answers = [
                a.outcome == ContactOutcome.ARRANGED
                for a in since_return
                if a.outcome in (ContactOutcome.ARRANGED, ContactOutcome.CHILD_REFUSED)
            ]
            link.accepted = answers[-1] if answers else None
    InterviewEpisode.objects.bulk_update(links, ["offered_at", "accepted"])


# --------------------------------------------------------------------------------------------
# Opening an interview and the episodes it covers
# --------------------------------------------------------------------------------------------


def _check_coverable(episode: MissingEpisode, child_id: int) -> None:
    if episode.child_id != child_id:
        raise InvalidInput(
            "The episodes have errors.",
            field_errors={"episodes": [f"{episode.reference} is not an episode of this child."]},
        )
    if episode.state not in INTERVIEW_PENDING_STATES:
        raise Conflict(
            f"{episode.reference} is '{episode.get_state_display()}': only an episode whose "
            "child is back and whose interview is still to hold can be covered."
        )
    link = InterviewEpisode.objects.filter(episode=episode).first()
    if link is not None:
        raise Conflict(
            f"{episode.reference} is already covered by interview I-{link.interview_id}."
        )


@dataclass(frozen=True)
class CreateData:
    """Open an interview: the child, and the returned episodes of theirs it covers."""

    child_id: int
    episode_ids: tuple[int, ...]


def interview_create(data: CreateData, /, *, actor: User, now: datetime) -> ReturnInterview:
    """Open the return interview for a child, covering one or more of their returned episodes
    (arrangers: managers, or the Family Front Door where configured)."""
    _require_arranger(actor)
    child_id, episode_ids = data.child_id, data.episode_ids
    if not episode_ids:
        raise InvalidInput(
            "Choose the episodes.",
            field_errors={"episodes": ["Choose at least one episode for the interview to cover."]},
        )
    with transaction.atomic():
        child = Child.objects.get(pk=child_id)
        episodes = list(
            MissingEpisode.objects.select_for_update(of=("self",))
            .filter(pk__in=episode_ids)
            .order_by("pk")
        )
        unknown = set(episode_ids) - {e.pk for e in episodes}
        if unknown:
            raise InvalidInput(
                "The episodes have errors.",
                field_errors={"episodes": [f"No episode E-{pk}." for pk in sorted(unknown)]},
            )
        for episode in episodes:
            _check_coverable(episode, child.pk)
        interview = ReturnInterview.objects.create(
            child=child, created_at=now, created_by=actor, updated_at=now
        )
        audit.record_change(child_id=child.pk, reference=interview.reference, now=now)
        try:
            with transaction.atomic():
                InterviewEpisode.objects.bulk_create(
                    InterviewEpisode(interview=interview, episode=e, added_at=now) for e in episodes
                )
        except IntegrityError:
            # Someone covered one of them a moment ago (the unique episode link decided).
            raise Conflict(
                "One of these episodes was just covered by another interview. Reload and check."
            ) from None
    return interview


@dataclass(frozen=True)
class AddEpisodeData:
    """Cover one more returned episode of the same child."""

    episode_id: int


def interview_add_episode(
    data: AddEpisodeData,
    /,
    *,
    actor: User,
    interview_id: int,
    now: datetime,
    expected_version: int | None = None,
) -> ReturnInterview:
    """The child went missing again before the interview: it covers that episode too. If a time
    was planned before this latest return, the interview is to arrange again."""
    _require_arranger(actor)
    with transaction.atomic():
        interview = _lock_for_edit(interview_id, expected_version)
        episode = MissingEpisode.objects.select_for_update(of=("self",)).get(pk=data.episode_id)
        _check_coverable(episode, interview.child_id)
        try:
            with transaction.atomic():
                InterviewEpisode.objects.create(interview=interview, episode=episode, added_at=now)
        except IntegrityError:
            raise Conflict(f"{episode.reference} was just covered by another interview.") from None
        if interview.interviewer is not None:
            core.access_grant(episode=episode, user=interview.interviewer, now=now)
        planned = interview.planned_at
        if interview.status == InterviewStatus.ARRANGED and not (
            planned is not None
            and episode.returned_at is not None
            and planned >= episode.returned_at
        ):
            _move(
                interview,
                action="withdraw",
                actor=actor,
                now=now,
                reason=f"The child went missing again ({episode.reference}) before the "
                "planned interview: a new time is to be agreed.",
            )
        else:
            # Still arranged for a time after this return too: the new episode joins in step.
            _move(
                interview,
                action=None,
                actor=actor,
                now=now,
                reason=f"Covered by {interview.reference}, planned {_local(planned)}"
                if planned is not None
                else "",
                episodes=[episode],
            )
            _bump(interview, now)
            interview.save()
        _refresh_answers(interview)
    return interview


# --------------------------------------------------------------------------------------------
# The interview's state machine and its episodes': one place moves both
# --------------------------------------------------------------------------------------------

TRANSITION_LABELS: dict[str, str] = {
    "arrange": "arrange the return interview",
    "withdraw": "withdraw the interview arrangement",
    "complete": "complete the return interview",
    "sign_off": "sign the interview off",
}


def _refused_for(action: str) -> Callable[[ReturnInterview], str]:
    def refused(interview: ReturnInterview) -> str:
        if action != "sign_off":
            return _refused(interview)
        if interview.status == InterviewStatus.SIGNED_OFF:
            return f"{interview.reference} is already signed off."
        return (
            f"{interview.reference} is '{interview.get_status_display()}': it can be signed "
            "off once the interview is completed."
        )

    return refused


def _move(
    interview: ReturnInterview,
    *,
    action: str | None,
    actor: User,
    now: datetime,
    reason: str,
    kwargs: dict[str, Any] | None = None,
    expected_version: int | None = None,
    validate: Callable[[ReturnInterview], None] | None = None,
    episodes: Sequence[MissingEpisode] | None = None,
) -> None:
    """The one place the interview's state and its episodes' states move together; every path
    that changes either comes here, inside its transaction, with the interview locked.

    Runs the interview's transition `action` (arrange, withdraw, complete, sign_off) through
    the core's transition helper (role, the interviewer's live assignment, version, state,
    `validate`, conditions, apply, save, access-log row), then brings each covered episode, or
    only `episodes`, into step through the core's services (which run the episode's own
    transitions, with their own checks and timeline rows):

    - interview arranged        -> each episode still pending is arranged (again, if re-planned);
    - interview to arrange      -> each arranged episode is withdrawn to "interview to arrange";
    - interview completed       -> each pending episode records the outcome, awaiting sign-off;
    - interview signed off      -> each episode awaiting sign-off is signed off (closed).

    With `action=None` nothing moves on the interview: `episodes` (just covered) join its state.
    `reason` is the note on each episode's timeline. Any refusal rolls back the whole change.
    """
    covered = _covered(interview) if episodes is None else list(episodes)
    if action is not None:

        def authorise(interview: ReturnInterview) -> None:
            if actor.role == Role.INTERVIEWER and not _is_assigned(actor, interview):
                raise NotAllowed(f"{interview.reference} is not assigned to you.")

        transitions.run_transition(
            interview,
            action=action,
            actor=actor,
            now=now,
            label=TRANSITION_LABELS[action],
            kwargs=kwargs,
            expected_version=expected_version,
            authorise=authorise,
            validate=validate,
            refused=_refused_for(action),
            record=lambda interview, _from: _record_change(interview, now),
        )
    status = interview.status
    for episode in covered:
        if status == InterviewStatus.ARRANGED and episode.state in INTERVIEW_PENDING_STATES:
            core.episode_arrange_interview(actor=actor, episode_id=episode.pk, note=reason, now=now)
        elif (
            status == InterviewStatus.TO_ARRANGE
            and episode.state == EpisodeState.INTERVIEW_ARRANGED
        ):
            core.episode_withdraw_arrangement(
                actor=actor, episode_id=episode.pk, reason=reason, now=now
            )
        elif status == InterviewStatus.COMPLETED and episode.state in INTERVIEW_PENDING_STATES:
            core.episode_record_interview_outcome(
                core.OutcomeData(
                    outcome=interview.outcome,
                    held_at=interview.held_at
                    if interview.outcome == InterviewOutcome.HELD
                    else None,
                    note=reason,
                ),
                actor=actor,
                episode_id=episode.pk,
                now=now,
                interview_reference=interview.reference,
            )
        elif (
            status == InterviewStatus.SIGNED_OFF and episode.state == EpisodeState.AWAITING_SIGN_OFF
        ):
            core.episode_sign_off(
                core.SignOffData(note=reason),
                actor=actor,
                episode_id=episode.pk,
                now=now,
                from_interview_sign_off=True,
            )


def _arrange_note(interview: ReturnInterview, planned_at: datetime | None) -> str:
    return f"{interview.reference} planned" + (f" for {_local(planned_at)}" if planned_at else "")


def _check_planned(
    planned_at: datetime | None, planned_place: str, episodes: Sequence[MissingEpisode]
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if planned_at is None:
        if planned_place:
            errors["planned_at"] = ["Enter when the interview is planned, or leave both blank."]
        return errors
    latest = _latest_return(episodes)
    if latest is not None and planned_at < latest:
        errors["planned_at"] = [
            f"The interview cannot be planned before the child's return ({_local(latest)})."
        ]
    if not planned_place.strip():
        errors["planned_place"] = ["Enter where the interview will be held."]
    elif len(planned_place) > 300:
        errors["planned_place"] = ["Use at most 300 characters."]
    return errors


# --------------------------------------------------------------------------------------------
# Assigning the interviewer and planning the time
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssignData:
    """The interviewer, the reason for an exception to their independence (managers only),
    and the planned time and place if agreed."""

    interviewer_id: int
    exception_reason: str = ""
    planned_at: datetime | None = None
    planned_place: str = ""


def interview_assign(
    data: AssignData,
    /,
    *,
    actor: User,
    interview_id: int,
    now: datetime,
    expected_version: int | None = None,
) -> ReturnInterview:
    """Assign (or change) the interviewer and, if agreed, the planned time and place.

    The interviewer must be independent of the child (not their allocated social worker, not in
    their allocated team, not a carer or staff member of their placement). The one exception,
    the child asking to talk to a trusted carer or worker, needs a manager's recorded reason and
    is reported as an exception. Assigning grants the interviewer the covered episodes (and
    nothing else of the child); a replaced interviewer loses them on their next request.
    """
    _require_arranger(actor)
    planned_at, planned_place = data.planned_at, data.planned_place
    with transaction.atomic():
        interview = _lock_for_edit(interview_id, expected_version)
        episodes = _covered(interview)
        errors: dict[str, list[str]] = {}
        interviewer = (
            User.objects.filter(pk=data.interviewer_id).select_related("organisation").first()
        )
        reason = data.exception_reason.strip()
        if interviewer is None or not interviewer.has_role({Role.INTERVIEWER}):
            errors["interviewer"] = ["Choose an active independent interviewer."]
        else:
            problems = independence_problems(
                interviewer=interviewer, child=interview.child, episodes=episodes
            )
            if problems and not reason:
                errors["interviewer"] = [
                    "This interviewer is not independent of the child. "
                    + " ".join(problems)
                    + " Choose someone else, or record why the child asked for them."
                ]
            elif problems and not actor.has_role(OVERSIGHT_ROLES):
                errors["independence_exception_reason"] = [
                    "Only a manager can record an exception to the interviewer's independence."
                ]
            elif reason and not problems:
                errors["independence_exception_reason"] = [
                    "This interviewer is independent of the child: no exception is needed. "
                    "Leave this blank."
                ]
            elif len(reason) > LONG_TEXT:
                errors["independence_exception_reason"] = [f"Use at most {LONG_TEXT} characters."]
        errors.update(_check_planned(planned_at, planned_place, episodes))
        if errors or interviewer is None:
            raise InvalidInput("The assignment has errors.", field_errors=errors)

        previous = interview.interviewer
        if previous is not None and previous.pk != interviewer.pk:
            for episode in episodes:
                core.access_revoke(episode=episode, user=previous, now=now)
        for episode in episodes:
            if episode.state in INTERVIEW_PENDING_STATES:
                core.access_grant(episode=episode, user=interviewer, now=now)
        if previous is None or previous.pk != interviewer.pk:
            interview.assigned_at = now
            interview.assigned_by = actor
        interview.interviewer = interviewer
        interview.interviewer_organisation = interviewer.organisation
        if reason:
            interview.independence = Independence.EXCEPTION
            interview.independence_exception_reason = reason
            interview.independence_exception_by = actor
        else:
            interview.independence = Independence.CONFIRMED
            interview.independence_exception_reason = ""
            interview.independence_exception_by = None
        if planned_at is not None:
            _move(
                interview,
                action="arrange",
                actor=actor,
                now=now,
                reason=_arrange_note(interview, planned_at),
                kwargs={"planned_at": planned_at, "planned_place": planned_place.strip()},
                episodes=episodes,
            )
        elif interview.status == InterviewStatus.ARRANGED:
            _move(
                interview,
                action="withdraw",
                actor=actor,
                now=now,
                reason="The interviewer or the plan changed: a time is to be agreed.",
                episodes=episodes,
            )
        else:
            _bump(interview, now)
            interview.save()
    return interview


@dataclass(frozen=True)
class UnassignData:
    """Why the interviewer is taken off (a note on each episode's timeline)."""

    reason: str


def interview_unassign(
    data: UnassignData,
    /,
    *,
    actor: User,
    interview_id: int,
    now: datetime,
    expected_version: int | None = None,
) -> ReturnInterview:
    """Take the interviewer off the interview: their access ends on their next request, and an
    arranged interview is to arrange again."""
    _require_arranger(actor)
    reason = data.reason
    if not reason.strip():
        raise InvalidInput(
            "Give a reason.", field_errors={"reason": ["Enter why the interviewer is removed."]}
        )
    if len(reason) > LONG_TEXT:
        raise InvalidInput(
            "The reason is too long.",
            field_errors={"reason": [f"Use at most {LONG_TEXT} characters."]},
        )
    with transaction.atomic():
        interview = _lock_for_edit(interview_id, expected_version)
        if interview.interviewer is None:
            raise Conflict(f"{interview.reference} has no interviewer to remove.")
        episodes = _covered(interview)
        for episode in episodes:
            core.access_revoke(episode=episode, user=interview.interviewer, now=now)
        interview.interviewer = None
        interview.interviewer_organisation = None
        interview.independence = ""
        interview.independence_exception_reason = ""
        interview.independence_exception_by = None
        if interview.status == InterviewStatus.ARRANGED:
            _move(
                interview,
                action="withdraw",
                actor=actor,
                now=now,
                reason=reason.strip(),
                episodes=episodes,
            )
        else:
            _bump(interview, now)
            interview.save()
    return interview


# --------------------------------------------------------------------------------------------
# Offers and attempts to reach the child
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptData:
    """One offer or attempt to reach the child, and what happened."""

    at: datetime
    method: str
    outcome: str
    offered: bool = False
    note: str = ""
    # When the outcome is "arranged": the agreed time and place.
    planned_at: datetime | None = None
    planned_place: str = ""


OFFERED_BY_OUTCOME = frozenset(
    {ContactOutcome.ARRANGED, ContactOutcome.CHILD_REFUSED, ContactOutcome.CARER_REFUSED}
)


def interview_attempt_record(
    data: AttemptData, /, *, actor: User, interview_id: int, now: datetime
) -> ContactAttempt:
    """Record one offer or attempt to reach the child (arrangers, or the assigned interviewer).
    "Arranged" sets the planned time and place and marks the covered episodes arranged."""
    with transaction.atomic():
        interview = _lock(interview_id)
        if not may_record_attempts(actor, interview):
            raise NotAllowed(ATTEMPTS_REFUSED)
        _require_editable(interview)
        episodes = _covered(interview)
        errors: dict[str, list[str]] = {}
        if data.method not in ContactMethod.values:
            errors["method"] = [f"Choose one of {', '.join(ContactMethod.values)}."]
        if data.outcome not in ContactOutcome.values:
            errors["outcome"] = [f"Choose one of {', '.join(ContactOutcome.values)}."]
        if data.at > now:
            errors["at"] = ["The attempt cannot be in the future."]
        earliest = min((e.returned_at for e in episodes if e.returned_at), default=None)
        if earliest is not None and data.at < earliest:
            errors["at"] = [
                f"The attempt cannot be before the child's return ({_local(earliest)})."
            ]
        if len(data.note) > LONG_TEXT:
            errors["note"] = [f"Use at most {LONG_TEXT} characters."]
        arranged = data.outcome == ContactOutcome.ARRANGED
        if arranged:
            if interview.interviewer_id is None:
                errors["outcome"] = ["Assign an interviewer before arranging the interview."]
            if data.planned_at is None:
                errors["planned_at"] = ["Enter when the interview is arranged for."]
            errors.update(_check_planned(data.planned_at, data.planned_place, episodes))
        elif data.planned_at is not None or data.planned_place:
            errors["planned_at"] = ["Give a planned time only when the interview was arranged."]
        if errors:
            raise InvalidInput("The attempt has errors.", field_errors=errors)
        attempt = ContactAttempt.objects.create(
            interview=interview,
            at=data.at,
            method=data.method,
            outcome=data.outcome,
            offered=data.offered or data.outcome in OFFERED_BY_OUTCOME,
            note=data.note,
            recorded_at=now,
            recorded_by=actor,
        )
        audit.record_change(child_id=interview.child_id, reference=interview.reference, now=now)
        if arranged:
            _move(
                interview,
                action="arrange",
                actor=actor,
                now=now,
                reason=_arrange_note(interview, data.planned_at),
                kwargs={
                    "planned_at": data.planned_at,
                    "planned_place": data.planned_place.strip(),
                },
                episodes=episodes,
            )
        _refresh_answers(interview)
    return attempt


# --------------------------------------------------------------------------------------------
# The record: drafts with an optimistic version, field-by-field merge, then completion
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordData:
    """Part or all of the record (`RECORD_FIELDS` names; in the shape `record_values` gives),
    with, for a merge over someone else's newer save, `base`: the same fields as this edit
    found them; and `overwrite`: the person saw the differences and keeps theirs."""

    changes: Mapping[str, Any]
    base: Mapping[str, Any] | None = None
    overwrite: bool = False


@dataclass(frozen=True)
class RecordResult:
    interview: ReturnInterview
    # Saved over a newer version without a clash: someone else's other changes were kept.
    merged: bool
    changed: tuple[str, ...]


_UNKNOWN = object()


def display_value(field: str, value: Any) -> str:
    """A record value as a person reads it (in a stale edit's list of differences)."""
    if field in FACTOR_FIELDS:
        if not value:
            return "None"
        labels = dict(
            Factor.objects.filter(code__in=[c for c, _ in value]).values_list("code", "label")
        )
        return "; ".join(
            f"{labels.get(code, code)}" + (f" ({note})" if note else "") for code, note in value
        )
    if field in MENTION_FIELDS:
        return "; ".join(value) if value else "None"
    if field in BOOL_FIELDS:
        return {True: "Yes", False: "No", None: "Not answered"}[value]
    if field == "outcome":
        return InterviewOutcome(value).label if value else "Not answered"
    if isinstance(value, datetime):
        return _local(value)
    if value is None or value == "":
        return "Blank"
    return str(value)


def _difference(field: str, yours: Any, theirs: Any) -> dict[str, str]:
    return {
        "field": field,
        "label": RECORD_LABELS[field],
        "yours": display_value(field, yours),
        "theirs": display_value(field, theirs),
    }


def _validate_record(
    changes: dict[str, Any],
    *,
    actor: User,
    interview: ReturnInterview,
    current: dict[str, Any],
    episodes: Sequence[MissingEpisode],
    now: datetime,
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field, limit in TEXT_LIMITS.items():
        value = changes.get(field)
        if value is not None and len(value) > limit:
            errors[field] = [f"Use at most {limit} characters."]
    outcome = changes.get("outcome")
    if outcome is not None and outcome != "" and outcome not in InterviewOutcome.values:
        errors["outcome"] = [f"Choose one of {', '.join(InterviewOutcome.values)}."]
    elif outcome == InterviewOutcome.NOT_HELD_DECISION and not actor.has_role(OVERSIGHT_ROLES):
        errors["outcome"] = ["Only a manager can decide not to hold the interview."]
    held_at = changes.get("held_at")
    if held_at is not None:
        latest = _latest_return(episodes)
        if held_at > now:
            errors["held_at"] = ["The interview time cannot be in the future."]
        elif latest is not None and held_at < latest:
            errors["held_at"] = [
                f"The interview cannot be before the child's return ({_local(latest)})."
            ]
    for field, kind in FACTOR_FIELDS.items():
        if field not in changes:
            continue
        codes = [code for code, _ in changes[field]]
        if len(set(codes)) != len(codes):
            errors[field] = ["Pick each factor once."]
            continue
        known = {f.code: f for f in Factor.objects.filter(code__in=codes)}
        already = {code for code, _ in current[field]}
        problems = []
        for code in codes:
            factor = known.get(code)
            if factor is None or factor.kind != kind:
                problems.append(f"Unknown {FactorKind(kind).label.lower()} '{code}'.")
            elif not factor.active and code not in already:
                problems.append(f"'{factor.label}' is no longer in use.")
        for _, note in changes[field]:
            if len(note) > LONG_TEXT:
                problems.append(f"Use at most {LONG_TEXT} characters in a note.")
        if problems:
            errors[field] = problems
    for field in MENTION_FIELDS:
        names = changes.get(field)
        if names is None:
            continue
        if len(names) > MENTION_MAX_COUNT:
            errors[field] = [f"Give at most {MENTION_MAX_COUNT}, one per line."]
        elif any(len(name) > MENTION_MAX_LENGTH for name in names):
            errors[field] = [f"Use at most {MENTION_MAX_LENGTH} characters on a line."]
    return errors


def _apply_mentions(interview: ReturnInterview, field: str, names: tuple[str, ...]) -> None:
    """Replace the interview's places or people with `names` (already canonical)."""
    kind = MENTION_FIELDS[field]
    interview.mentions.filter(kind=kind).delete()
    InterviewMention.objects.bulk_create(
        InterviewMention(
            interview=interview,
            kind=kind,
            name=name,
            normalised_name=normalise_name(name),
            position=position,
        )
        for position, name in enumerate(names)
    )


def _apply_factors(interview: ReturnInterview, field: str, picks: FactorPicks) -> None:
    kind = FACTOR_FIELDS[field]
    wanted = dict(picks)
    existing = {
        p.factor.code: p
        for p in interview.factors.select_related("factor").filter(factor__kind=kind)
    }
    for code, pick in existing.items():
        if code not in wanted:
            pick.delete()
        elif pick.note != wanted[code]:
            pick.note = wanted[code]
            pick.save(update_fields=["note"])
    new = [code for code in wanted if code not in existing]
    if new:
        factors = {f.code: f for f in Factor.objects.filter(code__in=new)}
        InterviewFactor.objects.bulk_create(
            InterviewFactor(interview=interview, factor=factors[code], note=wanted[code])
            for code in new
        )


def _canonical(values: Mapping[str, Any]) -> dict[str, Any]:
    """Places and people in their canonical form, so equal lists compare equal."""
    return {
        name: mention_names(value) if name in MENTION_FIELDS and value is not None else value
        for name, value in values.items()
    }


def interview_record_update(
    data: RecordData,
    /,
    *,
    actor: User,
    interview_id: int,
    expected_version: int,
    now: datetime,
) -> RecordResult:
    """Save part or all of the interview record (a draft: completeness is checked on completion).

    `expected_version` is the version the edit started from. If someone saved since, the edit
    is merged field by field when `base` (the values the edit started from) shows that each
    field it changes was not changed by them meanwhile; otherwise it is refused (409) with every
    field on which the two edits differ, and nothing is saved. Without `base` any difference
    is a clash. `overwrite` settles every clash in this edit's favour (the person saw the
    differences and chose theirs), still keeping the fields only the other edit changed.
    The interviewer (while assigned) or a manager; never once completed.
    """
    unknown = set(data.changes) - set(RECORD_FIELDS)
    if unknown:
        raise ValueError(f"unknown record fields {sorted(unknown)}")
    changes = _canonical(data.changes)
    base = None if data.base is None else _canonical(data.base)
    overwrite = data.overwrite
    with transaction.atomic():
        interview = _lock(interview_id)
        if not may_record(actor, interview):
            raise NotAllowed("Only the assigned interviewer or a manager can write the interview.")
        _require_editable(interview)
        current = record_values(interview)
        merged = False
        apply: dict[str, Any] = {}
        clashes = []
        for field, mine in changes.items():
            theirs = current[field]
            if mine == theirs:
                continue
            if expected_version == interview.version:
                apply[field] = mine
                continue
            started = _UNKNOWN if base is None else base.get(field, _UNKNOWN)
            if started is not _UNKNOWN and mine == started:
                continue  # not changed in this edit: keep theirs
            if (started is not _UNKNOWN and theirs == started) or overwrite:
                apply[field] = mine  # only this edit changed it, or its author chose it
                merged = True
                continue
            clashes.append(_difference(field, mine, theirs))
        if clashes:
            conflict = stale_version(
                interview,
                expected_version,
                then="Nothing was saved: check the differences, then keep yours or theirs.",
            )
            conflict.extra["differences"] = clashes
            raise conflict
        episodes = _covered(interview)
        errors = _validate_record(
            apply, actor=actor, interview=interview, current=current, episodes=episodes, now=now
        )
        if errors:
            raise InvalidInput("The interview has errors.", field_errors=errors)
        if apply:
            for field, value in apply.items():
                if field in FACTOR_FIELDS:
                    _apply_factors(interview, field, value)
                elif field in MENTION_FIELDS:
                    _apply_mentions(interview, field, value)
                else:
                    setattr(interview, field, value)
            _bump(interview, now)
            interview.save()
    return RecordResult(interview=interview, merged=merged, changed=tuple(apply))


def _completion_errors(
    interview: ReturnInterview, values: dict[str, Any], *, actor: User, attempts: int
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    outcome = values["outcome"]
    if not outcome:
        return {"outcome": ["Say whether the interview was held"]}
    if outcome == InterviewOutcome.HELD:
        if interview.interviewer_id is None:
            errors["outcome"] = ["Assign the interviewer before recording the interview as held."]
        for field, message in REQUIRED_IF_HELD.items():
            if values[field] in (None, ""):
                errors[field] = [message]
        if values["not_held_reason"]:
            errors["not_held_reason"] = ["Leave this blank: the interview was held."]
    else:
        if not values["not_held_reason"].strip():
            errors["not_held_reason"] = ["Enter why the interview was not held"]
        if values["held_at"] is not None:
            errors["held_at"] = ["Leave the time blank: the interview was not held."]
        if outcome == InterviewOutcome.NOT_HELD_DECISION and not actor.has_role(OVERSIGHT_ROLES):
            errors["outcome"] = ["Only a manager can decide not to hold the interview."]
        if outcome == InterviewOutcome.NO_CONTACT and attempts == 0:
            errors["outcome"] = [
                "Record the attempts made to reach the child before recording no contact."
            ]
    return errors


def require_complete(*, actor: User, interview_id: int) -> None:
    """Refuse (naming each missing field) a record that could not be completed as it stands:
    the tablet's "Complete" saves, asks this, then shows the answers to check before the
    irreversible `interview_complete` (which asks it again under the lock)."""
    interview = ReturnInterview.objects.get(pk=interview_id)
    errors = _completion_errors(
        interview, record_values(interview), actor=actor, attempts=interview.attempts.count()
    )
    if errors:
        raise InvalidInput("The interview is not complete.", field_errors=errors)


@dataclass(frozen=True)
class CompleteData:
    """Completing takes nothing a person types: what is completed is the record as saved,
    which the check-your-answers page shows (`record_values`, the same values the service
    checks under the lock), confirmed at the version that page read (`expected_version`).
    Empty, so neither adapter can slip record values into the irreversible step."""


def interview_complete(
    data: CompleteData,
    /,
    *,
    actor: User,
    interview_id: int,
    expected_version: int,
    now: datetime,
) -> ReturnInterview:
    """The interview is held (or recorded as not held) and its record complete: every covered
    episode moves to "awaiting sign-off" and the record can no longer be changed. Refuses
    (naming each missing field) a record without what a completed interview needs."""
    with transaction.atomic():
        interview = _lock(interview_id)

        def validate(interview: ReturnInterview) -> None:
            errors = _completion_errors(
                interview,
                record_values(interview),
                actor=actor,
                attempts=interview.attempts.count(),
            )
            if errors:
                raise InvalidInput("The interview is not complete.", field_errors=errors)

        _move(
            interview,
            action="complete",
            actor=actor,
            now=now,
            reason=f"Recorded in {interview.reference}.",
            kwargs={"completed_at": now, "by": actor},
            expected_version=expected_version,
            validate=validate,
        )
        _refresh_answers(interview)
    return interview


# --------------------------------------------------------------------------------------------
# Sign-off
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignOffData:
    """The manager's follow-up decisions, the sign-off note, and why no follow-up is needed."""

    strategy_meeting: bool = False
    exploitation_referral: bool = False
    update_safety_plan: bool = False
    note: str = ""
    no_follow_up_reason: str = ""

    @property
    def follow_ups(self) -> list[str]:
        return [
            label
            for on, label in (
                (self.strategy_meeting, "strategy meeting"),
                (self.exploitation_referral, "referral for exploitation"),
                (self.update_safety_plan, "update the safety plan"),
            )
            if on
        ]


def follow_up_concerns(interview: ReturnInterview, episodes: Iterable[MissingEpisode]) -> list[str]:
    """What on the record calls for a follow-up, in words: an exploitation flag on a covered
    episode, a disclosure, a harm picked. Signing off with no follow-up over any of these needs
    the manager's reason (issue 13: an episode closed "Follow-up: none" over criminal
    exploitation and a disclosure). Reads `interview.factors` (prefetched by the detail
    selector)."""
    concerns = [
        f"{episode.reference}: flagged for {flag.lower()}"
        for episode in episodes
        for flag in core.exploitation_flags(episode)
    ]
    if interview.disclosures.strip():
        concerns.append("a disclosure")
    concerns += [
        f"harm: {pick.factor.label}"
        for pick in interview.factors.all()
        if pick.factor.kind == FactorKind.HARM
    ]
    return concerns


def sign_off_errors(
    interview: ReturnInterview, episodes: Iterable[MissingEpisode], data: SignOffData
) -> dict[str, list[str]]:
    """The sign-off's own input checked against the record (the page's check step asks it
    before showing the answers; `interview_sign_off` asks it again under the lock)."""
    errors: dict[str, list[str]] = {}
    for field in ("note", "no_follow_up_reason"):
        if len(getattr(data, field)) > LONG_TEXT:
            errors[field] = [f"Use at most {LONG_TEXT} characters."]
    if not data.follow_ups and not data.no_follow_up_reason.strip():
        concerns = follow_up_concerns(interview, episodes)
        if concerns:
            errors["no_follow_up_reason"] = [
                f"Choose a follow-up, or enter why none is needed: the record shows "
                f"{'; '.join(concerns)}"
            ]
    return errors


def interview_sign_off(
    data: SignOffData,
    /,
    *,
    actor: User,
    interview_id: int,
    now: datetime,
    expected_version: int | None = None,
) -> ReturnInterview:
    """A manager has read the completed interview, records the follow-up decisions and signs
    it off: each covered episode is signed off (closed) through the core, which still needs an
    oversight decision on each. All or nothing. No follow-up over an exploitation flag, a
    disclosure or a harm needs a reason (`sign_off_errors`), checked after the version: a
    stale page is a 409 first."""
    transitions.require_role(
        ReturnInterview(), action="sign_off", actor=actor, label=TRANSITION_LABELS["sign_off"]
    )
    follow_ups = data.follow_ups
    reason = data.no_follow_up_reason.strip() if not follow_ups else ""
    with transaction.atomic():
        interview = _lock(interview_id)
        covered = _covered(interview)

        def validate(interview: ReturnInterview) -> None:
            errors = sign_off_errors(interview, covered, data)
            if errors:
                raise InvalidInput("The sign-off has errors.", field_errors=errors)

        note = f"{interview.reference} signed off." + (
            f" Follow-up: {', '.join(follow_ups)}."
            if follow_ups
            else (f" Follow-up: none, because {reason}." if reason else "")
        )
        if data.note.strip():
            note += f" {data.note.strip()}"
        _move(
            interview,
            action="sign_off",
            actor=actor,
            now=now,
            reason=note,
            kwargs={
                "signed_off_at": now,
                "by": actor,
                "strategy_meeting": data.strategy_meeting,
                "exploitation_referral": data.exploitation_referral,
                "update_safety_plan": data.update_safety_plan,
                "note": data.note.strip(),
                "no_follow_up_reason": reason,
            },
            expected_version=expected_version,
            validate=validate,
            episodes=covered,
        )
    return interview
