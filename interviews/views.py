"""Return-interview pages: the interviewer's queue and tablet form, and the arranging and
sign-off pages for managers. Thin, like the core's: check the role, read through
`interviews.selectors` (visible_to: a row the user may not see is a 404), write through one
service with `now` read once, and put a refusal back on the form (`apply_domain_error`).

No URL carries a child's name, and the tablet's offline drafts never reach the server except as
the form's own fields.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import (
    HttpResponse,
    JsonResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_fsm import can_proceed

from interviews import selectors, services
from interviews.forms import (
    AddEpisodeForm,
    AssignForm,
    AttemptForm,
    CompleteForm,
    CreateForm,
    RecordForm,
    SignOffForm,
    UnassignForm,
)
from interviews.models import FACTOR_KIND_PLURALS, FactorKind, ReturnInterview
from interviews.returns.ssda903 import csv_lines
from missing.accounts.security import rate_limit, require_recent_second_factor
from missing.api import input_limits
from missing.audit import access_log as audit
from missing.cases import clocks, transitions
from missing.cases import services as core_services
from missing.cases.errors import Conflict, DomainError, InvalidInput, NotAllowed
from missing.models import CASE_READERS, OVERSIGHT_ROLES, MissingEpisode, RiskMeetingTask, Role
from missing.web.shared import StaffRequest, get_or_404, role_required
from missing.web.views import (
    DOMAIN_ERRORS,
    RAG,
    apply_domain_error,
    person,
    time_left_text,
)

INTERVIEWER = frozenset({Role.INTERVIEWER})
# Who reaches an interview's pages at all; which interviews is visible_to()'s business.
READERS = CASE_READERS | INTERVIEWER
# Who may write the record: the assigned interviewer, or a manager (checked again by services).
RECORDERS = OVERSIGHT_ROLES | INTERVIEWER
DRAFT_KEY_SALT = "interviews.tablet-draft-key"


def _require_arranger(request: StaffRequest) -> None:
    """The page's own 403, asked with the service's question (`services.may_arrange`)."""
    if not services.may_arrange(request.user):
        raise PermissionDenied(services.ARRANGE_REFUSED)


def _interview(request: StaffRequest, pk: int) -> ReturnInterview:
    """The interview if this user may see it (404 otherwise). A page showing it (GET) writes
    the access row; a POST that changes it is logged by the service (missing.audit.access_log)."""
    interview = get_or_404(lambda: selectors.interview_detail(request.user, pk))
    if request.method == "GET":
        audit.record_view(request, child_id=interview.child_id, reference=interview.reference)
    return interview


def _factors() -> list[Any]:
    return list(selectors.all_factors())


# --------------------------------------------------------------------------------------------
# Lists
# --------------------------------------------------------------------------------------------


def _due(due_at: datetime | None, now: datetime) -> dict[str, Any]:
    rag = clocks.rag(due_at=due_at, window=clocks.INTERVIEW_WINDOW, now=now)
    return {"due_at": due_at, "left": time_left_text(due_at, now), "rag": RAG[rag]}


@role_required(INTERVIEWER)
@rate_limit("list")
def queue(request: StaffRequest) -> HttpResponse:
    """The interviewer's own queue: the children assigned to them, soonest due first, with the
    time left (two queries whatever its length)."""
    now = timezone.now()
    today = timezone.localdate(now)
    rows = [
        {"interview": i, "age": i.child.age_on(today), **_due(i.due_at, now)}  # type: ignore[attr-defined]  # annotated by the selector
        for i in selectors.interview_queue(request.user)
    ]
    audit.record_list(request, child_ids=[row["interview"].child_id for row in rows])
    return render(request, "interviews/queue.html", {"rows": rows, "now": now})


@role_required(CASE_READERS)
@rate_limit("list")
def interview_list(request: StaffRequest) -> HttpResponse:
    """For the case team: returned episodes with no interview yet, and open interviews."""
    now = timezone.now()
    to_arrange = [
        {"episode": e, **_due(e.interview_due_at, now)}
        for e in selectors.episodes_to_arrange(request.user)
    ]
    open_rows = [
        {"interview": i, **_due(i.due_at, now)}  # type: ignore[attr-defined]  # annotated by the selector
        for i in selectors.interview_list(request.user, open_only=True)
    ]
    audit.record_list(
        request,
        child_ids=[row["episode"].child_id for row in to_arrange]
        + [row["interview"].child_id for row in open_rows],
    )
    return render(
        request,
        "interviews/list.html",
        {
            "to_arrange": to_arrange,
            "open_rows": open_rows,
            "may_arrange": services.may_arrange(request.user),
        },
    )


@role_required(CASE_READERS)
@require_recent_second_factor
@rate_limit("export")
def export_csv(request: StaffRequest) -> StreamingHttpResponse:
    """Per-episode interview answers for the data team: references only, never names. The
    answers are the figures' own definitions; `independence_exception` is Y when the episode
    was held by an interviewer assigned under the recorded exception (the figure's count)."""
    header = [
        "episode",
        "child",
        "returned_at",
        "interview_due_at",
        "interview",
        "offered",
        "accepted",
        "held",
        "held_within_72h",
        "outcome",
        "independence_exception",
        "provider",
    ]

    def yes_no(value: bool | None) -> str:
        return "" if value is None else ("Y" if value else "N")

    # The access row is written now, inside the request's transaction: the body streams after
    # the view returns. One row per episode, so the count is the episodes'.
    exported = selectors.episode_answers(request.user)
    audit.record_export(
        request,
        rows=exported.count(),
        child_ids=exported.order_by().values_list("child_id", flat=True).distinct(),
        reference="return-interviews.csv",
    )

    def rows() -> Any:
        for episode in exported.iterator(chunk_size=500):
            answers: Any = episode  # its answers are annotations (figures.with_answers)
            link = getattr(episode, "interview_link", None)
            interview = link.interview if link else None
            # Each answer as the figures count it (interviews.figures.ANSWERS): summing a
            # column over a period's returns gives that figure on the figures page.
            yield [
                episode.reference,
                episode.child.reference,
                episode.returned_at.isoformat() if episode.returned_at else "",
                episode.interview_due_at.isoformat() if episode.interview_due_at else "",
                interview.reference if interview else "",
                yes_no(answers.answer_offered),
                "Y" if answers.answer_accepted else ("N" if answers.answer_refused else ""),
                yes_no(answers.answer_held),
                yes_no(answers.answer_held_within_72h),
                episode.interview_outcome,
                yes_no(answers.answer_independence_exception),
                (
                    interview.interviewer_organisation.name
                    if interview and interview.interviewer_organisation
                    else ""
                ),
            ]

    response = StreamingHttpResponse(
        csv_lines(header, rows()), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="return-interviews.csv"'
    return response


# --------------------------------------------------------------------------------------------
# Opening an interview, assigning, attempts
# --------------------------------------------------------------------------------------------


@role_required(CASE_READERS)
@require_http_methods(["GET", "POST"])
def create(request: StaffRequest, pk: int) -> HttpResponse:
    """Open the interview for the child of episode `pk`, covering the episodes chosen."""
    _require_arranger(request)
    episode = get_or_404(
        lambda: MissingEpisode.objects.visible_to(request.user).with_related().get(pk=pk)
    )
    link = selectors.episode_interview_link(episode.pk)
    if link is not None:
        return redirect("interviews:detail", pk=link.interview_id)
    if request.method == "GET":
        audit.record_view(request, child_id=episode.child_id, reference=episode.reference)
    episodes = list(selectors.coverable_episodes(episode.child))
    form = CreateForm(
        request.POST if request.method == "POST" else None,
        child_id=episode.child_id,
        episodes=episodes,
        initial={"episodes": [str(episode.pk)]},
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                interview = services.interview_create(
                    form.to_data(), actor=request.user, now=timezone.now()
                )
            except DOMAIN_ERRORS as exc:
                status = apply_domain_error(form, exc)
            else:
                messages.success(request, f"Interview {interview.reference} opened.")
                return redirect("interviews:assign", pk=interview.pk)
    return render(
        request,
        "interviews/create.html",
        {"episode": episode, "form": form, "episodes": episodes},
        status=status,
    )


@role_required(READERS)
def detail(request: StaffRequest, pk: int) -> HttpResponse:
    """One interview: the episodes it covers with each one's answers, the arrangement and
    independence, every attempt, the record and the sign-off."""
    interview = _interview(request, pk)
    now = timezone.now()
    user = request.user
    editable = interview.is_editable
    may_arrange = services.may_arrange(user)
    assigned = user.role == Role.INTERVIEWER and interview.interviewer_id == user.pk
    coverable = list(selectors.coverable_episodes(interview.child)) if may_arrange else []
    return render(
        request,
        "interviews/detail.html",
        {
            "interview": interview,
            "age": interview.child.age_on(timezone.localdate(now)),
            "links": [
                {"link": link, **_due(link.episode.interview_due_at, now)}
                for link in interview.covered.all()
            ],
            "attempts": [(a, person(a.recorded_by)) for a in interview.attempts.all()],
            "picks": _picks_by_kind(interview),
            "may_assign": may_arrange and editable,
            "may_attempt": editable and (may_arrange or assigned),
            "may_add_episode": may_arrange and editable and bool(coverable),
            "may_record": editable and (user.has_role(OVERSIGHT_ROLES) or assigned),
            "may_sign_off": can_proceed(interview.sign_off)
            and transitions.role_may(interview.sign_off, user),
            "is_case_staff": user.has_role(CASE_READERS),
        },
    )


def _picks_by_kind(interview: ReturnInterview) -> list[tuple[str, list[Any]]]:
    groups: dict[str, list[Any]] = {kind: [] for kind in FactorKind.values}
    for pick in interview.factors.all():
        groups[pick.factor.kind].append(pick)
    return [(FACTOR_KIND_PLURALS[kind], picks) for kind, picks in groups.items()]


@role_required(CASE_READERS)
@require_http_methods(["GET", "POST"])
def assign(request: StaffRequest, pk: int) -> HttpResponse:
    """Assign or change the interviewer (independence checked on the server), and the plan."""
    _require_arranger(request)
    interview = _interview(request, pk)
    status = 200
    if request.method == "POST" and request.POST.get("action") == "unassign":
        return _unassign(request, interview)
    if request.method == "POST":
        form = AssignForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                services.interview_assign(
                    form.to_data(),
                    actor=request.user,
                    interview_id=interview.pk,
                    expected_version=form.expected_version(),
                    now=timezone.now(),
                )
            except DOMAIN_ERRORS as exc:
                status = apply_domain_error(form, exc)
            else:
                messages.success(request, "Interviewer assigned.")
                return redirect("interviews:detail", pk=interview.pk)
    else:
        form = AssignForm(
            initial={
                "version": interview.version,
                "interviewer": interview.interviewer_id,
                "independence_exception_reason": interview.independence_exception_reason,
                "planned_at": interview.planned_at,
                "planned_place": interview.planned_place,
            }
        )
    return render(
        request,
        "interviews/assign.html",
        {
            "interview": interview,
            "form": form,
            "unassign_form": UnassignForm(initial={"version": interview.version}),
            "editable": interview.is_editable,
        },
        status=status,
    )


def _unassign(request: StaffRequest, interview: ReturnInterview) -> HttpResponse:
    form = UnassignForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            services.interview_unassign(
                form.to_data(),
                actor=request.user,
                interview_id=interview.pk,
                expected_version=form.expected_version(),
                now=timezone.now(),
            )
        except DOMAIN_ERRORS as exc:
            status = apply_domain_error(form, exc)
        else:
            messages.success(request, "Interviewer removed. Their access has ended.")
            return redirect("interviews:detail", pk=interview.pk)
    return render(
        request,
        "interviews/assign.html",
        {
            "interview": interview,
            "form": AssignForm(initial={"version": interview.version}),
            "unassign_form": form,
            "editable": interview.is_editable,
        },
        status=status,
    )


@role_required(READERS)
@require_http_methods(["GET", "POST"])
def attempt(request: StaffRequest, pk: int) -> HttpResponse:
    """Record an offer or an attempt to reach the child (arrangers or the interviewer)."""
    interview = _interview(request, pk)
    if not services.may_record_attempts(request.user, interview):
        raise PermissionDenied(services.ATTEMPTS_REFUSED)
    status = 200
    if request.method == "POST":
        form = AttemptForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                services.interview_attempt_record(
                    form.to_data(),
                    actor=request.user,
                    interview_id=interview.pk,
                    now=timezone.now(),
                )
            except DOMAIN_ERRORS as exc:
                status = apply_domain_error(form, exc)
            else:
                messages.success(request, "Attempt recorded.")
                return redirect("interviews:detail", pk=interview.pk)
    else:
        form = AttemptForm()
    return render(
        request, "interviews/attempt.html", {"interview": interview, "form": form}, status=status
    )


@role_required(CASE_READERS)
@require_http_methods(["GET", "POST"])
def add_episode(request: StaffRequest, pk: int) -> HttpResponse:
    _require_arranger(request)
    interview = _interview(request, pk)
    episodes = list(selectors.coverable_episodes(interview.child))
    status = 200
    form = AddEpisodeForm(
        request.POST if request.method == "POST" else None,
        episodes=episodes,
        initial={"version": interview.version},
    )
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.interview_add_episode(
                    form.to_data(),
                    actor=request.user,
                    interview_id=interview.pk,
                    expected_version=form.expected_version(),
                    now=timezone.now(),
                )
            except DOMAIN_ERRORS as exc:
                status = apply_domain_error(form, exc)
            else:
                messages.success(request, "Episode added to the interview.")
                return redirect("interviews:detail", pk=interview.pk)
    return render(
        request,
        "interviews/add_episode.html",
        {"interview": interview, "form": form, "episodes": episodes},
        status=status,
    )


# --------------------------------------------------------------------------------------------
# The record (the tablet form), its autosave and the draft key
# --------------------------------------------------------------------------------------------


def _record_form(request: StaffRequest, interview: ReturnInterview, data: Any = None) -> RecordForm:
    values = services.record_values(interview)
    picked = {name: values[name] for name in services.FACTOR_FIELDS}
    return RecordForm(
        data,
        factors=_factors(),
        picked=picked,
        may_decide_not_to_hold=request.user.has_role(OVERSIGHT_ROLES)
        or values["outcome"] == "not_held_decision",
        initial=RecordForm.initial_from(values, interview.version),
    )


def _require_recorder(request: StaffRequest, interview: ReturnInterview) -> None:
    if not services.may_record(request.user, interview):
        raise PermissionDenied(
            "Only the assigned interviewer or a manager can write the interview."
        )


@role_required(RECORDERS)
@require_http_methods(["GET", "POST"])
def record(request: StaffRequest, pk: int) -> HttpResponse:
    """The interview record, built for a tablet. Works without JavaScript: "Save" stores what is
    written so far, "Complete" also checks it is complete and shows the answers to check
    (`complete`) before the episodes move on. With
    JavaScript the page also saves as you type (encrypted on the tablet while offline)."""
    interview = _interview(request, pk)
    _require_recorder(request, interview)
    status = 200
    differences: list[dict[str, str]] = []
    if request.method == "POST":
        form = _record_form(request, interview, request.POST)
        status = 400
        if form.is_valid():
            complete = request.POST.get("action") == "complete"
            now = timezone.now()
            try:
                with transaction.atomic():
                    result = services.interview_record_update(
                        form.to_data(),
                        actor=request.user,
                        interview_id=interview.pk,
                        expected_version=form.expected_version(),
                        now=now,
                    )
                    if complete:
                        # Saved, and complete enough: the answers are checked before the
                        # irreversible step (`complete`). Incomplete: nothing is saved.
                        services.require_complete(actor=request.user, interview_id=interview.pk)
            except DOMAIN_ERRORS as exc:
                status = apply_domain_error(form, exc)
                if isinstance(exc, DomainError) and "current_version" in exc.extra:
                    differences = exc.extra.get("differences", [])
                    # Saving again now keeps these answers: they were shown the differences.
                    posted = request.POST.copy()
                    posted["version"] = str(exc.extra["current_version"])
                    form.data = posted
            else:
                if complete:
                    return redirect("interviews:complete", pk=result.interview.pk)
                messages.success(request, "Saved.")
                return redirect("interviews:record", pk=interview.pk)
    else:
        form = _record_form(request, interview)
    return render(
        request,
        "interviews/record.html",
        {
            "interview": interview,
            "form": form,
            "differences": differences,
            "covered": list(interview.covered.all()),
            # The form shows answers the server has not saved (a refused post sent back).
            "unsaved": request.method == "POST",
        },
        status=status,
    )


@role_required(RECORDERS)
@require_http_methods(["GET", "POST"])
def complete(request: StaffRequest, pk: int) -> HttpResponse:
    """Check your answers before completing: the record as saved (outcome, factors, harms,
    disclosures, the places and people named) with "Change" links back to the form, then
    "Confirm and complete" — a POST with the version shown, so an answer changed since (another
    tablet, a manager) is a 409 here rather than completed unseen. Nothing is kept on this
    page that is not on the server already."""
    interview = _interview(request, pk)
    _require_recorder(request, interview)
    status = 200
    form = CompleteForm(request.POST or None, initial={"version": interview.version})
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.interview_complete(
                    form.to_data(),
                    actor=request.user,
                    interview_id=interview.pk,
                    expected_version=form.expected_version(),
                    now=timezone.now(),
                )
            except DOMAIN_ERRORS as exc:
                status = apply_domain_error(form, exc)
                _show_current_version(form, interview, status)
            else:
                messages.success(
                    request, "Interview completed. A manager will read it and sign it off."
                )
                return redirect("interviews:detail", pk=interview.pk)
    return render(
        request,
        "interviews/complete.html",
        {
            "interview": interview,
            "form": form,
            "picks": _picks_by_kind(interview),
            "change_url": reverse("interviews:record", args=[interview.pk]),
        },
        status=status,
    )


def _show_current_version(form: Any, interview: ReturnInterview, status: int) -> None:
    """After a 409 the page shows the record as it is now (read for this request): confirming
    again confirms what is shown, so the form takes that version."""
    if status == 409:
        form.data = form.data.copy()
        form.data["version"] = str(interview.version)


def _json_error(exc: Exception) -> JsonResponse:
    if isinstance(exc, DomainError):
        body: dict[str, Any] = {"detail": exc.message, **exc.extra}
        if exc.field_errors:
            body["errors"] = exc.field_errors
        return JsonResponse(body, status=exc.status)
    return JsonResponse({"detail": "This cannot be done now. Reload and try again."}, status=409)


@role_required(RECORDERS)
@require_POST
def record_autosave(request: StaffRequest, pk: int) -> JsonResponse:
    """The tablet form's autosave (JSON answers). The body is the form's own fields, plus `base`:
    the form as it was when this edit started (JSON), so that a save over someone else's newer
    version is merged field by field, and refused (409) with the differences only on a clash."""
    interview = get_or_404(lambda: selectors.interview_detail(request.user, pk))
    if not services.may_record(request.user, interview):
        return JsonResponse({"detail": "You cannot write this interview."}, status=403)
    form = _record_form(request, interview, request.POST)
    if not form.is_valid():
        errors = {name: [str(m) for m in msgs] for name, msgs in form.errors.items()}
        return JsonResponse({"detail": "The interview has errors.", "errors": errors}, status=400)
    base: RecordForm | None = None
    raw_base = request.POST.get("base", "")
    if raw_base:
        try:
            # Within the API's JSON limits (depth, size): a deep `base` is a 400, not a 500.
            pairs = input_limits.loads(raw_base)
            base_data = QueryDict(mutable=True)
            for name, value in pairs:
                base_data.appendlist(str(name), str(value))
            base_data["version"] = str(form.cleaned_data["version"])
        except input_limits.JsonLimitExceeded as exc:
            return JsonResponse(
                {"detail": exc.message, "errors": {"base": [exc.message]}}, status=400
            )
        except (ValueError, TypeError):
            return JsonResponse({"detail": "The base of the edit is unreadable."}, status=400)
        base_form = _record_form(request, interview, base_data)
        if base_form.is_valid():
            base = base_form
    try:
        result = services.interview_record_update(
            form.to_data(base=base, overwrite=request.POST.get("overwrite") == "true"),
            actor=request.user,
            interview_id=interview.pk,
            expected_version=form.expected_version(),
            now=timezone.now(),
        )
    except (Conflict, InvalidInput, NotAllowed) as exc:
        return _json_error(exc)
    saved = selectors.interview_detail(request.user, pk)
    return JsonResponse(
        {
            "version": saved.version,
            "saved_at": saved.updated_at.isoformat(),
            "merged": result.merged,
            "changed": list(result.changed),
            # The answers as now saved, as form fields: after a merge the tablet shows them.
            "pairs": RecordForm.pairs_from(services.record_values(saved)),
        }
    )


@role_required(RECORDERS)
@require_GET
def draft_key(request: StaffRequest) -> JsonResponse:
    """The key this user's tablet wraps its drafts' key with (AES-GCM, 256 bits): one key per
    user, derived on the server and released only here, to a fully signed-in session (the
    second factor included). The tablet never stores it: it unwraps the data key it keeps
    wrapped in IndexedDB (static/js/draft-crypto.js), so a draft left by a session that ended
    (the 30-minute idle sign-out while offline) is readable again once the same person signs in
    again, and never by anyone else. See decisions 0049 and 0062."""
    key = base64.b64encode(tablet_draft_key(request.user)).decode()
    return JsonResponse({"key": key, "user": request.user.pk})


def tablet_draft_key(user: Any) -> bytes:
    """Derived, not stored: an HMAC under the server's secret of the user's id, when the account
    was made and its session generation. Resetting the second factor (a lost device) bumps the
    generation, so a lost tablet's drafts can no longer be unlocked by anyone; rotating
    `SECRET_KEY` (with the old one kept in `SECRET_KEY_FALLBACKS` or not) does the same."""
    value = f"{user.pk}|{user.date_joined.isoformat()}|{user.session_generation}"
    return salted_hmac(DRAFT_KEY_SALT, value, algorithm="sha256").digest()


@require_GET
def record_offline(request: StaffRequest) -> HttpResponse:
    """The offline copy of the record form (decision 0062): the questions and the code lists,
    no interview, no child, no answers. The service worker keeps it and shows it for
    /interviews/<id>/record/ when that page cannot load; its script fills it from the encrypted
    draft on the tablet. Served without a session (the tablet may reload after the idle
    sign-out), so it must show nothing that is not the same for everyone: every outcome is
    offered (the server still refuses "decided not to hold" from an interviewer), and a factor
    no longer in use is not listed (a draft's pick of one is kept in a hidden field)."""
    form = RecordForm(
        factors=_factors(),
        picked={name: () for name in services.FACTOR_FIELDS},
        may_decide_not_to_hold=True,
    )
    return render(request, "interviews/record_offline.html", {"form": form})


@require_GET
def offline(request: StaffRequest) -> HttpResponse:
    """The page the tablet shows when it reloads an interview with no network. It holds no
    child's details (the service worker keeps a copy of it, of the offline copy of the record
    form and of nothing else but static files): it says where the draft is and sends it once
    the connection is back. A record page gets the offline copy of the form instead."""
    return render(request, "interviews/offline.html")


@require_GET
def service_worker(request: StaffRequest) -> HttpResponse:
    """The service worker, served from /interviews/ so that its scope covers the form (and
    rendered, so that it names the static files by their deployed, hashed names)."""
    return render(request, "interviews/sw.js", content_type="text/javascript; charset=utf-8")


# --------------------------------------------------------------------------------------------
# Sign-off
# --------------------------------------------------------------------------------------------


@role_required(OVERSIGHT_ROLES)
@require_http_methods(["GET", "POST"])
def sign_off(request: StaffRequest, pk: int) -> HttpResponse:
    """A manager reads the completed interview and chooses the follow-up decisions ("Continue",
    step `check`), then checks the answers beside what the record shows — the return, the
    outcome, exploitation flags, disclosures, harms, open risk tasks — with "Change" links, and
    confirms (step `confirm`, with the version read: a stale page is a 409 on the form). Each
    covered episode then closes. The answers travel as the form's hidden fields, never in a URL
    (a note may name someone)."""
    interview = _interview(request, pk)
    episodes = [link.episode for link in interview.covered.all()]
    status = 200
    template = "interviews/sign_off.html"
    step = request.POST.get("step", "")
    # The decision as the service takes it: the check step shows this object, confirm submits it.
    data: services.SignOffData | None = None
    if request.method == "POST":
        form = SignOffForm(request.POST)
        status = 400
        if step == "change":
            status = 200
        elif form.is_valid():
            data = form.to_data()
            if step == "confirm":
                try:
                    services.interview_sign_off(
                        data,
                        actor=request.user,
                        interview_id=interview.pk,
                        expected_version=form.expected_version(),
                        now=timezone.now(),
                    )
                except DOMAIN_ERRORS as exc:
                    status = apply_domain_error(form, exc)
                    _show_current_version(form, interview, status)
                else:
                    messages.success(request, "Interview signed off. Its episodes are closed.")
                    return redirect("interviews:detail", pk=interview.pk)
            else:
                errors = services.sign_off_errors(interview, episodes, data)
                for field, field_messages in errors.items():
                    for message in field_messages:
                        form.add_error(field, message)
                if not errors:
                    status = 200
                    template = "interviews/sign_off_check.html"
    else:
        form = SignOffForm(initial={"version": interview.version})
    return render(
        request,
        template,
        {
            "interview": interview,
            "form": form,
            "data": data,
            "picks": _picks_by_kind(interview),
            "blocked": not can_proceed(interview.sign_off),
            "episodes": [
                (episode, core_services.exploitation_flags(episode)) for episode in episodes
            ],
            "harms": [p for p in interview.factors.all() if p.factor.kind == FactorKind.HARM],
            "concerns": services.follow_up_concerns(interview, episodes),
            # Read only by the check step's template (a lazy queryset: no query otherwise).
            "risk_tasks": RiskMeetingTask.objects.visible_to(request.user)
            .open()
            .filter(child_id=interview.child_id)
            .select_related("episode")
            .order_by("raised_at"),
        },
        status=status,
    )
