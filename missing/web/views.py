"""Web pages. Thin on purpose: each view checks the role, reads through `missing.cases.selectors`
(which apply `visible_to`, so a row the user may not see is a 404), writes through one
`missing.cases.services` function with `now` read once per request, and hands a refusal to
`apply_domain_error`: field errors beside the fields (400), a clash in the error summary (409),
a role refusal to the 403 page.

Nothing here logs, and no URL carries a child's name: pages are addressed by numeric ids, and the
child search is a POST so a name never lands in an address bar, a history or an access log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_http_methods
from django_fsm import ConcurrentTransition, TransitionNotAllowed, can_proceed

from missing.accounts import security
from missing.audit import access_log as audit
from missing.cases import child_facts, clocks, selectors, services
from missing.cases import merge as merging
from missing.cases.errors import DomainError, NotAllowed
from missing.cases.merge import MERGE_ROLES
from missing.models import (
    CASE_READERS,
    INTERVIEW_PENDING_STATES,
    OVERSIGHT_ROLES,
    Child,
    EpisodeState,
    LegalStatusPeriod,
    MissingEpisode,
    PoliceNotification,
    RiskMeetingTask,
    Role,
    User,
    may_see_restricted,
)
from missing.web.forms import (
    CancelForm,
    ChildFactsForm,
    ChildMergeFindForm,
    ChildMergeForm,
    ChildSearchForm,
    DecisionForm,
    EpisodeActionForm,
    EpisodeFlagsForm,
    LegalStatusPeriodChangeForm,
    LegalStatusPeriodForm,
    LegalStatusPeriodRemoveForm,
    LoginForm,
    MatchForm,
    MeetingCompleteForm,
    NotificationForm,
    NotificationReviewForm,
    ReturnForm,
    SignOffForm,
)
from missing.web.pagination import CappedPaginator
from missing.web.shared import (
    StaffRequest,
    case_staff_required,
    get_or_404,
    oversight_required,
    role_required,
)

PAGE_SIZE = 50
CHILD_SEARCH_LIMIT = 50
INTERVIEWER_ROLES = frozenset({Role.INTERVIEWER})

# Every refusal a service (or the state machine beneath it) can raise.
DOMAIN_ERRORS = (DomainError, TransitionNotAllowed, ConcurrentTransition)


# --------------------------------------------------------------------------------------------
# Access, rendering and errors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NavItem:
    url_name: str
    label: str
    roles: frozenset[str]
    # Pages that belong to this item's section, so it stays highlighted on them.
    section: frozenset[str] = frozenset()


NAV_ITEMS = (
    NavItem("board", "Board", CASE_READERS),
    NavItem(
        "notification_list",
        "Notifications",
        CASE_READERS,
        frozenset({"notification_match", "notification_review"}),
    ),
    NavItem("notification_new", "Log a notification", CASE_READERS),
    NavItem(
        "episode_list",
        "Episodes",
        CASE_READERS,
        frozenset(
            {
                "episode_detail",
                "episode_decision",
                "episode_return",
                "episode_cancel",
                "episode_sign_off",
                "episode_flags",
            }
        ),
    ),
    NavItem(
        "child_list",
        "Children",
        CASE_READERS,
        frozenset({"child_detail", "child_merge", "child_merge_check"}),
    ),
    NavItem("meetings", "Risk meetings", CASE_READERS, frozenset({"meeting_complete"})),
    NavItem(
        "account_changes",
        "Account changes",
        frozenset({Role.HEAD_OF_SERVICE}),
        frozenset({"account_change_decide"}),
    ),
    NavItem(
        "misuse_alerts",
        "Access alerts",
        frozenset({Role.HEAD_OF_SERVICE}),
        frozenset({"misuse_alert_detail"}),
    ),
)


def navigation(request: HttpRequest) -> list[dict[str, Any]]:
    """The service navigation for the signed-in user's role, current page marked. (Shaped to
    become a context processor, so pages rendered by other apps get it too.)"""
    if not request.user.is_authenticated:
        return []
    current = request.resolver_match.view_name if request.resolver_match else None
    # Pages of the apps built on the core add their entries through settings.EXTRA_NAVIGATION,
    # so the core never imports them.
    extra = tuple(
        NavItem(url_name, label, frozenset(roles))
        for url_name, label, roles in getattr(settings, "EXTRA_NAVIGATION", ())
    )
    return [
        {
            "href": reverse(item.url_name),
            "label": item.label,
            "current": current == item.url_name,
            "active": current in item.section,
        }
        for item in (*NAV_ITEMS, *extra)
        if request.user.has_role(item.roles)
    ]


def apply_domain_error(form: forms.Form, exc: Exception) -> int:
    """Put a service's refusal on the form and return the status to answer with.

    InvalidInput names fields by the service's argument names, which the forms share, so each
    message lands beside its field; anything else goes to the top of the error summary.
    NotAllowed becomes the 403 page: the user should not have had the form at all.
    """
    if isinstance(exc, NotAllowed):
        raise PermissionDenied(exc.message) from exc
    if isinstance(exc, DomainError):
        for field, field_messages in exc.field_errors.items():
            for message in field_messages:
                form.add_error(field if field in form.fields else None, message)
        if not exc.field_errors:
            form.add_error(None, exc.message)
        return exc.status
    if isinstance(exc, ConcurrentTransition):
        form.add_error(
            None,
            "The record was changed by someone else at the same time. Reload it and try again.",
        )
        return 409
    if isinstance(exc, TransitionNotAllowed):
        form.add_error(None, "This cannot be done in the record's current state.")
        return 409
    raise exc


# --------------------------------------------------------------------------------------------
# Presentation helpers (display only; the rules live in clocks and selectors)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rag:
    css: str
    text: str


RAG = {
    "red": Rag("govuk-tag--red", "Red – overdue"),
    "amber": Rag("govuk-tag--yellow", "Amber – due soon"),
    "green": Rag("govuk-tag--green", "Green – on time"),
    "grey": Rag("govuk-tag--grey", "No clock"),
}
CLOCK_LABELS = {
    "review": "Manager review",
    "interview": "Return interview",
    "sign_off": "Awaiting sign-off",
    "none": "None",
}
EVENT_LABELS = {
    "opened": "Episode opened",
    "record_return": "Return recorded",
    "review": "Oversight decision",
    "regrade": "Police grade changed",
    "arrange_interview": "Return interview arranged",
    "withdraw_arrangement": "Interview arrangement withdrawn",
    "record_interview_outcome": "Return interview outcome recorded",
    "sign_off": "Signed off",
    "cancel": "Cancelled",
    "police_update": "Police update",
    "police_details_added": "Police details added to the record",
    "police_discrepancy": "Police notification differs from the record",
    "police_notification_kept": "Police notification kept on the record",
    "police_review": "Police notification reviewed",
    "police_details_applied": "Police details applied",
    "flags_changed": "Flags changed",
    "risk_meeting_raised": "Strategy / risk meeting needed",
    "risk_meeting_done": "Strategy / risk meeting completed",
}


def duration_text(delta: timedelta) -> str:
    """'2d 5h', '3h 10m' or '25m': whole minutes, the two largest units."""
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins}m"
    return f"{mins}m"


def time_left_text(due_at: datetime | None, now: datetime) -> str:
    if due_at is None:
        return ""
    left = due_at - now
    if left <= timedelta(0):
        return f"overdue by {duration_text(left)}"
    return f"{duration_text(left)} left"


def state_label(value: str) -> str:
    return EpisodeState(value).label if value in EpisodeState.values else value


def person(user: User | None) -> str:
    if user is None:
        return "System"
    return user.get_full_name() or user.username


@dataclass(frozen=True)
class Clock:
    label: str
    due_at: datetime
    rag: Rag | None
    left: str


def _clocks(episode: MissingEpisode, now: datetime) -> list[Clock]:
    shown = []
    if episode.review_due_at is not None and episode.is_open:
        rag = clocks.rag(
            due_at=episode.review_due_at, window=episode.police_grade.review_within, now=now
        )
        shown.append(
            Clock(
                "Manager review due",
                episode.review_due_at,
                RAG[rag],
                time_left_text(episode.review_due_at, now),
            )
        )
    if episode.interview_due_at is not None:
        live = episode.state in INTERVIEW_PENDING_STATES
        rag = clocks.rag(due_at=episode.interview_due_at, window=clocks.INTERVIEW_WINDOW, now=now)
        shown.append(
            Clock(
                "Return interview due",
                episode.interview_due_at,
                RAG[rag] if live else None,
                time_left_text(episode.interview_due_at, now) if live else "",
            )
        )
    return shown


def _flags(episode: MissingEpisode) -> list[str]:
    flags = {
        "Sexual exploitation": episode.flag_sexual_exploitation,
        "Criminal exploitation": episode.flag_criminal_exploitation,
        "Mental health": episode.flag_mental_health,
        "Aged 13 or under": episode.flag_aged_13_or_under,
        "Looked after": episode.looked_after,
        "Child protection plan": episode.child_protection_plan,
        "Child in need": episode.child_in_need,
    }
    return [label for label, on in flags.items() if on]


def _posted(request: StaffRequest) -> Any:
    # Not `request.POST or None`: an empty POST must still bind the form, so it shows errors.
    return request.POST if request.method == "POST" else None


def _paginate(request: StaffRequest, queryset: QuerySet[Any]) -> Any:
    # Counts at most COUNT_CAP rows: the page's cost must not grow with history.
    return CappedPaginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


# --------------------------------------------------------------------------------------------
# Sign in, home
# --------------------------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    """Sign-in step one, the password. Django's `login()` gives the session a new id; the user
    then goes on to the code page (or sets up an authenticator), unless the demo relaxed it."""

    template_name = "registration/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_success_url(self) -> str:
        target = super().get_success_url()
        if security.second_factor_relaxed() or security.is_verified(self.request.user):
            return target
        return security.next_step_url(self.request.user, target)


class LogoutView(auth_views.LogoutView):
    """POST only (Django 5): a link or a prefetch cannot sign anyone out.

    Signing out also empties the browser's storage for the site: interview drafts kept on a
    tablet while offline (encrypted, and their key goes with the session) are removed, by the
    page's own script before it posts and by the Clear-Site-Data header as a backstop."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        response["Clear-Site-Data"] = '"cache", "cookies", "storage"'
        return response


@login_required
def home(request: StaffRequest) -> HttpResponse:
    """Send each role to its starting page."""
    user = request.user
    if user.has_role(CASE_READERS):
        return redirect("board")
    if user.has_role(INTERVIEWER_ROLES):
        # The interviewer's queue belongs to the interviews app (settings.INTERVIEWER_HOME).
        return redirect(settings.INTERVIEWER_HOME)
    if user.has_role({Role.ADMIN}):
        return redirect("admin:index")
    raise PermissionDenied("Your role has no pages in this service.")


# --------------------------------------------------------------------------------------------
# The board
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardLine:
    row: selectors.BoardRow
    age: int | None
    rag: Rag
    clock_label: str
    left: str


@case_staff_required
@security.rate_limit("list")
def board(request: StaffRequest) -> HttpResponse:
    """Every open episode, most urgent first, with counts per stage (two queries)."""
    now = timezone.now()
    data = selectors.board(user=request.user, now=now)
    stage = request.GET.get("stage", "")
    if stage not in selectors.STAGE_LABELS:
        stage = ""
    today = timezone.localdate(now)
    lines = [
        BoardLine(
            row=row,
            age=row.episode.child.age_on(today),
            rag=RAG[row.rag],
            clock_label=CLOCK_LABELS.get(row.clock, row.clock),
            left=time_left_text(row.due_at, now),
        )
        for row in data.rows
        if not stage or row.stage == stage
    ]
    # One access row per refresh (every 30 s), with the ids of the children shown: the
    # episodes' and the meeting tasks' (the board names the children of the oldest few).
    audit.record_list(
        request,
        child_ids=[line.row.episode.child_id for line in lines]
        + [task.child_id for task in data.meeting_tasks],
    )
    return render(
        request,
        "missing/board.html",
        {
            "board": data,
            "lines": lines,
            "stage": stage,
            "stage_label": selectors.STAGE_LABELS.get(stage, ""),
            "now": now,
            "refresh_seconds": getattr(settings, "BOARD_REFRESH_SECONDS", 30),
            # The page refreshes itself with ?refresh=auto, which does not count as activity:
            # a board left open must not keep its session alive past the idle timeout.
            "refresh_query": urlencode(
                {
                    **({"stage": stage} if stage else {}),
                    security.PASSIVE_PARAM: security.PASSIVE_VALUE,
                }
            ),
        },
    )


# --------------------------------------------------------------------------------------------
# Notifications
# --------------------------------------------------------------------------------------------

RECENT_NOTIFICATIONS = 50


def _recent_notifications(user: User) -> QuerySet[PoliceNotification]:
    return selectors.notification_list(user)[:RECENT_NOTIFICATIONS]


@case_staff_required
@security.rate_limit("list")
def notification_list(request: StaffRequest) -> HttpResponse:
    queue = selectors.split_by_status(list(selectors.notifications_needing_a_person(request.user)))
    recent = list(_recent_notifications(request.user))
    # Held notifications name children not yet matched: their references say which.
    audit.record_list(request, child_ids=[n.child_id for n in recent])
    return render(
        request,
        "missing/notification_list.html",
        {
            "awaiting": queue[PoliceNotification.MatchStatus.AWAITING_MATCH],
            "to_review": queue[PoliceNotification.MatchStatus.NEEDS_REVIEW],
            "awaiting_report": queue[PoliceNotification.MatchStatus.AWAITING_REPORT],
            "recent": recent,
        },
    )


@case_staff_required
@require_http_methods(["GET", "POST"])
def notification_new(request: StaffRequest) -> HttpResponse:
    """Log a police notification; the service matches it to a child or holds it for a match."""
    if request.method != "POST":
        return render(request, "missing/notification_form.html", {"form": NotificationForm()})
    form = NotificationForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            result = services.notification_receive(
                form.to_data(), actor=request.user, payload=form.payload(), now=timezone.now()
            )
        except DOMAIN_ERRORS as exc:
            status = apply_domain_error(form, exc)
        else:
            return _after_intake(request, result)
    return render(request, "missing/notification_form.html", {"form": form}, status=status)


def _after_intake(request: StaffRequest, result: services.IntakeResult) -> HttpResponse:
    notification = result.notification
    if not result.created:
        messages.info(
            request,
            f"Notification {notification.reference} was already logged; nothing new was recorded.",
        )
    if notification.match_status == PoliceNotification.MatchStatus.AWAITING_MATCH:
        if result.created:
            messages.info(
                request,
                f"Notification {notification.reference} is held: confirm which child it is about.",
            )
        return redirect("notification_match", pk=notification.pk)
    if notification.match_status == PoliceNotification.MatchStatus.NEEDS_REVIEW:
        if result.created:
            messages.info(
                request,
                f"Notification {notification.reference} was logged and kept on episode "
                f"E-{notification.episode_id}. {notification.outcome_detail}",
            )
        return redirect("notification_review", pk=notification.pk)
    if result.created:
        messages.success(
            request,
            f"Notification {notification.reference} logged. {notification.outcome_detail}",
        )
    if notification.episode_id is not None:
        return redirect("episode_detail", pk=notification.episode_id)
    return redirect("notification_list")


@case_staff_required
@require_http_methods(["GET", "POST"])
def notification_review(request: StaffRequest, pk: int) -> HttpResponse:
    """A notification kept on an episode that differs from its record: what police said beside
    what is recorded, and FFD's decision (apply the police details, or keep the record)."""
    notification = get_or_404(
        lambda: (
            selectors.notifications_to_review(request.user)
            .select_related("episode", "episode__police_force")
            .get(pk=pk)
        )
    )
    if request.method == "GET":
        audit.record_view(request, child_id=notification.child_id, reference=notification.reference)
    form = NotificationReviewForm(_posted(request), appliable=bool(notification.differences))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.notification_review(
                    form.to_data(),
                    actor=request.user,
                    notification_id=notification.pk,
                    now=timezone.now(),
                )
            except DOMAIN_ERRORS as exc:
                status = apply_domain_error(form, exc)
            else:
                messages.success(request, f"Notification {notification.reference} reviewed.")
                return redirect("episode_detail", pk=notification.episode_id)
    return render(
        request,
        "missing/notification_review.html",
        {
            "notification": notification,
            "form": form,
            "episode": notification.episode,
            "differences": [
                (d["label"], _shown(d["recorded"]), _shown(d["police"]))
                for d in notification.differences.values()
            ],
        },
        status=status,
    )


def _shown(value: Any) -> str:
    """A recorded or police value as staff read it: London time, Yes/No, 'Not recorded'."""
    if value in (None, ""):
        return "Not recorded"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is not None:
            return date_format(timezone.localtime(moment), "D j M Y H:i")
    return str(value)


@case_staff_required
@require_http_methods(["GET", "POST"])
def notification_match(request: StaffRequest, pk: int) -> HttpResponse:
    """Confirm which child a held notification is about, or that it is a new child. Never a
    silent merge: the practitioner chooses, and the service checks the choice was offered."""
    now = timezone.now()
    notification = selectors.notifications_awaiting_match(request.user).filter(pk=pk).first()
    if notification is None:
        raise Http404("No notification awaits a match with this id")
    candidates = services.child_match_candidates(
        first_name=notification.child_first_name,
        last_name=notification.child_last_name,
        date_of_birth=notification.child_date_of_birth,
        council_id=notification.council_id,
    )
    if request.method == "GET":
        audit.record_view(request, child_id=None, reference=notification.reference)
        audit.record_list(request, child_ids=[child.pk for child in candidates])
    form = MatchForm(_posted(request), candidates=candidates)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                matched = services.notification_resolve_match(
                    form.to_data(), actor=request.user, notification_id=notification.pk, now=now
                )
            except DOMAIN_ERRORS as exc:
                status = apply_domain_error(form, exc)
            else:
                messages.success(
                    request,
                    f"Notification {matched.reference} matched to child "
                    f"{matched.child.reference if matched.child else ''}.",
                )
                return redirect("episode_detail", pk=matched.episode_id)
    today = timezone.localdate(now)
    return render(
        request,
        "missing/notification_match.html",
        {
            "notification": notification,
            "form": form,
            "candidates": [(c, c.age_on(today)) for c in candidates],
            "new_child": MatchForm.NEW_CHILD,
        },
        status=status,
    )


# --------------------------------------------------------------------------------------------
# Episodes
# --------------------------------------------------------------------------------------------


@case_staff_required
@security.rate_limit("list")
def episode_list(request: StaffRequest) -> HttpResponse:
    """All episodes the user may see, newest first, 50 a page (two queries: count and page)."""
    state = request.GET.get("state", "")
    if state not in EpisodeState.values:
        state = ""
    page = CappedPaginator(
        selectors.episode_list_rows(request.user, state=state or None),
        PAGE_SIZE,
        rows=selectors.episode_list_page,
    ).get_page(request.GET.get("page"))
    audit.record_list(request, child_ids=[episode.child_id for episode in page])
    return render(
        request,
        "missing/episode_list.html",
        {"page": page, "state": state, "states": EpisodeState.choices},
    )


@dataclass(frozen=True)
class EpisodeAction:
    """One transition form: its URL, the FSM transition it runs and the operation that runs it,
    called as `operation(form.to_data(), actor=…, episode_id=…, now=…, expected_version=…)`."""

    key: str
    transition: str
    url_name: str
    title: str
    button: str
    form_class: type[EpisodeActionForm]
    operation: Callable[..., Any]
    done: str
    warning: bool = False


ACTIONS = {
    action.key: action
    for action in (
        EpisodeAction(
            key="decision",
            transition="review",
            url_name="episode_decision",
            title="Record an oversight decision",
            button="Save the decision",
            form_class=DecisionForm,
            operation=services.episode_record_decision,
            done="Oversight decision recorded.",
        ),
        EpisodeAction(
            key="return",
            transition="record_return",
            url_name="episode_return",
            title="Record the return",
            button="Save the return",
            form_class=ReturnForm,
            operation=services.episode_record_return,
            done="Return recorded. The return interview is due within 72 hours.",
        ),
        EpisodeAction(
            key="sign_off",
            transition="sign_off",
            url_name="episode_sign_off",
            title="Sign the episode off",
            button="Sign off",
            form_class=SignOffForm,
            operation=services.episode_sign_off,
            done="Episode signed off and closed.",
        ),
        EpisodeAction(
            key="cancel",
            transition="cancel",
            url_name="episode_cancel",
            title="Cancel the episode",
            button="Cancel the episode",
            form_class=CancelForm,
            operation=services.episode_cancel,
            done="Episode cancelled. Nothing has been deleted.",
            warning=True,
        ),
    )
}


def available_actions(episode: MissingEpisode, user: User) -> Iterable[EpisodeAction]:
    """The buttons to show: the state allows it, its conditions hold, the role may. Display
    only: the service checks all of this again when the form is sent."""
    startable = selectors.startable_transitions(episode, user)
    return [action for action in ACTIONS.values() if action.transition in startable]


@case_staff_required
@security.rate_limit("read")
def episode_detail(request: StaffRequest, pk: int) -> HttpResponse:
    """One episode: clocks, details, decisions, notifications and the timeline (four queries)."""
    now = timezone.now()
    episode = get_or_404(lambda: selectors.episode_detail(request.user, pk))
    audit.record_view(request, child_id=episode.child_id, reference=episode.reference)
    actions = available_actions(episode, request.user)
    timeline = [
        {
            "at": event.at,
            "who": person(event.actor),
            "action": EVENT_LABELS.get(event.action, event.action),
            "from": state_label(event.from_state) if event.from_state else "",
            "to": state_label(event.to_state),
            "reason": event.reason,
        }
        for event in episode.events.all()
    ]
    return render(
        request,
        "missing/episode_detail.html",
        {
            "episode": episode,
            "stage": selectors.STAGE_LABELS[selectors.episode_stage(episode)]
            if episode.is_open
            else "",
            "age": episode.child.age_on(timezone.localdate(now)),
            "clocks": _clocks(episode, now),
            "flags": _flags(episode),
            # Sign-off, when it is this user's next step, is the banner at the top (issue 13).
            "sign_off": next((a for a in actions if a.key == "sign_off"), None),
            "actions": [a for a in actions if a.key != "sign_off"],
            "next_steps": settings.EPISODE_DETAIL_NEXT_STEPS,
            "may_set_flags": request.user.has_role(OVERSIGHT_ROLES)
            and episode.state != EpisodeState.CANCELLED,
            "decisions": [(d, person(d.decided_by)) for d in episode.decisions.all()],
            "notifications": [(n, person(n.received_by)) for n in episode.notifications.all()],
            "timeline": timeline,
            # Manager-only fields reach the template only for those who may read them.
            "restricted_intelligence": episode.restricted_intelligence
            if may_see_restricted(request.user)
            else None,
            "show_history": selectors.may_see_accountability(request.user),
            "history": selectors.episode_history(request.user, episode.pk),
            "history_captured": connection.vendor == "postgresql",
            # Blocks the apps built on the core add to this page (settings.EPISODE_DETAIL_PANELS).
            "panels": settings.EPISODE_DETAIL_PANELS,
        },
    )


@case_staff_required
@require_http_methods(["GET", "POST"])
def episode_action(request: StaffRequest, pk: int, action: str) -> HttpResponse:
    """GET shows a transition's form; POST runs it through its service. A stale `version`
    (someone else changed the episode since the form was opened) is a 409."""
    spec = ACTIONS[action]
    episode = get_or_404(
        lambda: MissingEpisode.objects.visible_to(request.user).with_related().get(pk=pk)
    )
    if not services.role_may(request.user, spec.transition, episode):
        raise PermissionDenied(f"Your role cannot {spec.title.lower()}.")
    if request.method == "GET":
        audit.record_view(request, child_id=episode.child_id, reference=episode.reference)
    status = 200
    if request.method == "POST":
        form = spec.form_class(request.POST)
        status = 400
        if form.is_valid():
            try:
                spec.operation(
                    form.to_data(),
                    actor=request.user,
                    episode_id=episode.pk,
                    now=timezone.now(),
                    expected_version=form.cleaned_data["version"],
                )
            except DOMAIN_ERRORS as exc:
                status = apply_domain_error(form, exc)
            else:
                messages.success(request, spec.done)
                return redirect("episode_detail", pk=episode.pk)
    else:
        form = spec.form_class(initial={"version": episode.version})
    blocked = request.method != "POST" and not can_proceed(getattr(episode, spec.transition))
    return render(
        request,
        "missing/episode_action.html",
        {
            "episode": episode,
            "action": spec,
            "form": form,
            "blocked": blocked,
            "state_label": episode.get_state_display(),
            # The sign-off page's check of the record (read by that template only: lazy).
            "exploitation_flags": services.exploitation_flags(episode),
            "risk_tasks": RiskMeetingTask.objects.visible_to(request.user)
            .open()
            .filter(child_id=episode.child_id)
            .order_by("raised_at"),
        },
        status=status,
    )


# --------------------------------------------------------------------------------------------
# Children
# --------------------------------------------------------------------------------------------


@case_staff_required
@security.rate_limit({"GET": "list", "POST": "search"})
@require_http_methods(["GET", "POST"])
def child_list(request: StaffRequest) -> HttpResponse:
    """All children, by name, 50 a page; or a search by last-name prefix or council child id.
    The search is a POST so the name searched for never appears in a URL or a log."""
    today = timezone.localdate()
    form = ChildSearchForm(_posted(request))
    context: dict[str, Any] = {"form": form, "searched": request.method == "POST", "page": None}
    status = 200
    children: list[Child] = []
    if request.method == "POST":
        if form.is_valid():
            found = list(
                selectors.child_list(
                    request.user, search=form.cleaned_data["q"], legal_status=False
                )[: CHILD_SEARCH_LIMIT + 1]
            )
            children = found[:CHILD_SEARCH_LIMIT]
            context["more"] = len(found) > CHILD_SEARCH_LIMIT
        else:
            status = 400
    else:
        context["page"] = _paginate(request, selectors.child_list(request.user, legal_status=False))
        children = list(context["page"])
    context["rows"] = [(child, child.age_on(today)) for child in children]
    audit.record_list(request, child_ids=[child.pk for child in children])
    return render(request, "missing/child_list.html", context, status=status)


@case_staff_required
@security.rate_limit("read")
def child_detail(request: StaffRequest, pk: int) -> HttpResponse:
    child: Child = get_or_404(
        lambda: selectors.child_detail(request.user, pk, with_meeting_tasks=True)
    )
    audit.record_view(request, child_id=child.pk, reference=child.reference)
    return render(
        request,
        "missing/child_detail.html",
        {
            "child": child,
            "age": child.age_on(timezone.localdate()),
            # Flagged = has an open meeting task (derived, from the prefetched tasks).
            "flagged": any(task.is_open for task in child.risk_tasks.all()),
            "show_access_log": selectors.may_see_accountability(request.user),
            "access_log": selectors.child_access_log(request.user, child.pk),
            # Blocks the apps built on the core add to this page (settings.CHILD_DETAIL_PANELS).
            "panels": settings.CHILD_DETAIL_PANELS,
            "may_merge": request.user.has_role(MERGE_ROLES),
            "may_edit_facts": request.user.has_role(child_facts.FACTS_ROLES),
            # Managers and heads of service; PostgreSQL only (the triggers exist there).
            "history": selectors.child_history(request.user, child.pk),
            "history_captured": connection.vendor == "postgresql",
        },
    )


@oversight_required
@require_http_methods(["GET", "POST"])
def episode_flags(request: StaffRequest, pk: int) -> HttpResponse:
    """A manager sets what is known of the episode (exploitation, mental health). An
    exploitation flag can raise a strategy / risk meeting task in the same transaction."""
    episode = get_or_404(
        lambda: MissingEpisode.objects.visible_to(request.user).with_related().get(pk=pk)
    )
    if request.method == "GET":
        # The form names the child: a read of their record (a POST is logged as a change).
        audit.record_view(request, child_id=episode.child_id, reference=episode.reference)
    status = 200
    if request.method == "POST":
        form = EpisodeFlagsForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                services.episode_set_flags(
                    form.to_data(),
                    actor=request.user,
                    episode_id=episode.pk,
                    now=timezone.now(),
                    expected_version=form.cleaned_data["version"],
                )
            except DOMAIN_ERRORS as exc:
                status = apply_domain_error(form, exc)
            else:
                messages.success(request, "Flags saved.")
                return redirect("episode_detail", pk=episode.pk)
    else:
        form = EpisodeFlagsForm(
            initial={
                "version": episode.version,
                "sexual_exploitation": episode.flag_sexual_exploitation,
                "criminal_exploitation": episode.flag_criminal_exploitation,
                "mental_health": episode.flag_mental_health,
            }
        )
    return render(
        request, "missing/episode_flags.html", {"episode": episode, "form": form}, status=status
    )


# --------------------------------------------------------------------------------------------
# Strategy / risk meetings
# --------------------------------------------------------------------------------------------


def _meeting_form(task: RiskMeetingTask, data: Any = None) -> MeetingCompleteForm:
    # A prefix per task: every open task has its form on one page, and ids must not clash.
    return MeetingCompleteForm(data, prefix=f"task-{task.pk}", initial={"version": task.version})


def _meetings_page(
    request: StaffRequest,
    *,
    failed: tuple[RiskMeetingTask, MeetingCompleteForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    tasks = list(selectors.open_meeting_tasks(request.user))
    audit.record_list(request, child_ids=[task.child_id for task in tasks])
    may_complete = request.user.has_role(OVERSIGHT_ROLES)
    rows = []
    for task in tasks:
        form = None
        if may_complete:
            form = failed[1] if failed and failed[0].pk == task.pk else _meeting_form(task)
        rows.append((task, form))
    return render(
        request,
        "missing/meetings.html",
        {
            "rows": rows,
            "may_complete": may_complete,
            # The refused form, for the error summary (its task may no longer be open).
            "form": failed[1] if failed else None,
            "failed_task": failed[0] if failed else None,
        },
        status=status,
    )


@case_staff_required
def meetings(request: StaffRequest) -> HttpResponse:
    """ "Strategy / risk meetings needed": every open task, oldest first (three queries).
    Managers and heads of service complete them here; the Family Front Door sees the list,
    since they often convene the meeting, but cannot complete one."""
    return _meetings_page(request)


@oversight_required
@require_http_methods(["POST"])
def meeting_complete(request: StaffRequest, pk: int) -> HttpResponse:
    """Complete one task with its outcome. Errors come back on the list page: a missing outcome
    beside the field (400), a stale or already-completed task in the summary (409)."""
    task = get_or_404(lambda: RiskMeetingTask.objects.visible_to(request.user).get(pk=pk))
    form = _meeting_form(task, request.POST)
    status = 400
    if form.is_valid():
        try:
            done = services.risk_task_complete(
                form.to_data(),
                actor=request.user,
                task_id=task.pk,
                now=timezone.now(),
                expected_version=form.cleaned_data["version"],
            )
        except DOMAIN_ERRORS as exc:
            status = apply_domain_error(form, exc)
        else:
            messages.success(request, f"{done.reference} completed.")
            return redirect("meetings")
    return _meetings_page(request, failed=(task, form), status=status)


# --------------------------------------------------------------------------------------------
# Merging two child records created in error (missing.cases.merge)
# --------------------------------------------------------------------------------------------

merge_roles_required = role_required(MERGE_ROLES)


@merge_roles_required
@require_http_methods(["GET", "POST"])
def child_merge(request: StaffRequest, pk: int) -> HttpResponse:
    """Merging, step one: the reference of the other record (FFD, managers). The next page
    shows both side by side; nothing changes until it is confirmed there."""
    child = get_or_404(lambda: Child.objects.visible_to(request.user).get(pk=pk))
    form = ChildMergeFindForm(_posted(request))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            other = form.cleaned_data["other"]
            if other == child.pk:
                form.add_error("other", "Enter the reference of another record, not this one")
            elif not Child.objects.visible_to(request.user).filter(pk=other).exists():
                form.add_error("other", f"There is no child C-{other}")
            else:
                query = urlencode({"remove": other})
                return redirect(f"{reverse('child_merge_check', kwargs={'pk': child.pk})}?{query}")
    else:
        # The page names the child: a read of their record.
        audit.record_view(request, child_id=child.pk, reference=child.reference)
    return render(
        request, "missing/child_merge.html", {"child": child, "form": form}, status=status
    )


@merge_roles_required
@require_http_methods(["GET", "POST"])
def child_merge_check(request: StaffRequest, pk: int) -> HttpResponse:
    """Merging, step two: both records side by side (names, dates of birth, council ids,
    episodes) and the reason; confirming merges `remove` into this child. A refusal (different
    ids or dates of birth, overlapping episodes) comes back in the error summary (409)."""
    keep = get_or_404(lambda: selectors.child_detail(request.user, pk))
    form = ChildMergeForm(_posted(request), initial={"remove": request.GET.get("remove")})
    raw = request.POST.get("remove") if request.method == "POST" else request.GET.get("remove")
    remove_id = int(raw) if raw and raw.isdigit() and len(raw) < 19 else None
    if remove_id is None or remove_id == keep.pk:
        return redirect("child_merge", pk=keep.pk)
    remove = get_or_404(lambda: selectors.child_detail(request.user, remove_id))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                merge = merging.child_merge(
                    form.to_data(), actor=request.user, keep_id=keep.pk, now=timezone.now()
                )
            except DOMAIN_ERRORS as exc:
                status = apply_domain_error(form, exc)
            else:
                messages.success(
                    request,
                    f"{merge.removed_reference} was merged into {keep.reference} "
                    f"({merge.reference}).",
                )
                return redirect("child_detail", pk=keep.pk)
    else:
        audit.record_view(request, child_id=keep.pk, reference=keep.reference)
        audit.record_view(request, child_id=remove.pk, reference=remove.reference)
    return render(
        request,
        "missing/child_merge_check.html",
        {"keep": keep, "remove": remove, "both": [keep, remove], "form": form},
        status=status,
    )


# --------------------------------------------------------------------------------------------
# The child's facts and legal-status periods (missing.cases.child_facts)
# --------------------------------------------------------------------------------------------

facts_roles_required = role_required(child_facts.FACTS_ROLES)


def _facts_page(
    request: StaffRequest,
    *,
    child: Child,
    form: forms.Form,
    title: str,
    action: str,
    button: str,
    status: int = 200,
    intro: str = "",
) -> HttpResponse:
    return render(
        request,
        "missing/child_facts_form.html",
        {
            "child": child,
            "form": form,
            "title": title,
            "action": action,
            "button": button,
            "intro": intro,
        },
        status=status,
    )


@facts_roles_required
@require_http_methods(["GET", "POST"])
def child_facts_edit(request: StaffRequest, pk: int) -> HttpResponse:
    """FFD and managers change the child's facts (NHS number, ids, social worker, team,
    placement), with a reason; a stale form is refused (409)."""
    child = get_or_404(
        lambda: Child.objects.visible_to(request.user).select_related("social_worker").get(pk=pk)
    )
    status = 200
    if request.method == "POST":
        form = ChildFactsForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                child_facts.child_update_facts(
                    form.to_data(),
                    actor=request.user,
                    child_id=child.pk,
                    now=timezone.now(),
                    expected_version=form.cleaned_data["version"],
                )
            except DOMAIN_ERRORS as exc:
                status = apply_domain_error(form, exc)
            else:
                messages.success(request, f"{child.reference}'s details were saved.")
                return redirect("child_detail", pk=child.pk)
    else:
        # The form shows the child's details: a read of their record.
        audit.record_view(request, child_id=child.pk, reference=child.reference)
        form = ChildFactsForm(
            initial={
                "version": child.version,
                "nhs_number": child.nhs_number_formatted or "",
                **{
                    name: getattr(child, name)
                    for name in child_facts.FACT_FIELDS
                    if name != "nhs_number"
                },
            }
        )
    return _facts_page(
        request,
        child=child,
        form=form,
        title="Change the child's details",
        action=reverse("child_facts_edit", kwargs={"pk": child.pk}),
        button="Save the details",
        status=status,
    )


@facts_roles_required
@require_http_methods(["GET", "POST"])
def legal_status_add(request: StaffRequest, pk: int) -> HttpResponse:
    """Record a legal-status period; the child's episode snapshots follow in the same
    transaction (FFD, managers)."""
    child = get_or_404(lambda: Child.objects.visible_to(request.user).get(pk=pk))
    status = 200
    if request.method == "POST":
        form = LegalStatusPeriodForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                period = child_facts.legal_status_period_add(
                    form.to_data(),
                    actor=request.user,
                    child_id=child.pk,
                    now=timezone.now(),
                    expected_version=form.cleaned_data["version"],
                )
            except DOMAIN_ERRORS as exc:
                status = apply_domain_error(form, exc)
            else:
                messages.success(request, f"{period.reference} was recorded.")
                return redirect("child_detail", pk=child.pk)
    else:
        audit.record_view(request, child_id=child.pk, reference=child.reference)
        form = LegalStatusPeriodForm(initial={"version": child.version})
    return _facts_page(
        request,
        child=child,
        form=form,
        title="Add a legal-status period",
        action=reverse("legal_status_add", kwargs={"pk": child.pk}),
        button="Add the period",
        status=status,
        intro="Episodes that started while the period was in force (by the London date) "
        "count it in the national returns and the figures.",
    )


def _visible_period(request: StaffRequest, pk: int, period_id: int) -> LegalStatusPeriod:
    return get_or_404(
        lambda: LegalStatusPeriod.objects.select_related("child").get(
            pk=period_id,
            child__in=Child.objects.visible_to(request.user).filter(pk=pk),
        )
    )


@facts_roles_required
@require_http_methods(["GET", "POST"])
def legal_status_change(request: StaffRequest, pk: int, period_id: int) -> HttpResponse:
    """End or correct a legal-status period, with a reason (FFD, managers)."""
    period = _visible_period(request, pk, period_id)
    child = period.child
    status = 200
    if request.method == "POST":
        form = LegalStatusPeriodChangeForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                child_facts.legal_status_period_change(
                    form.to_data(),
                    actor=request.user,
                    period_id=period.pk,
                    now=timezone.now(),
                    expected_version=form.cleaned_data["version"],
                )
            except DOMAIN_ERRORS as exc:
                status = apply_domain_error(form, exc)
            else:
                messages.success(request, f"{period.reference} was changed.")
                return redirect("child_detail", pk=child.pk)
    else:
        audit.record_view(request, child_id=child.pk, reference=period.reference)
        form = LegalStatusPeriodChangeForm(
            initial={
                "version": period.version,
                "status": period.status,
                "start_date": period.start_date,
                "end_date": period.end_date,
            }
        )
    return _facts_page(
        request,
        child=child,
        form=form,
        title=f"End or correct {period.reference}",
        action=reverse("legal_status_change", kwargs={"pk": child.pk, "period_id": period.pk}),
        button="Save the period",
        status=status,
        intro="To end the period, enter the day it ceased. To correct it, change what was "
        "wrong. Recorded in error? "
        "Remove it instead (the link is on the child's page).",
    )


@facts_roles_required
@require_http_methods(["GET", "POST"])
def legal_status_remove(request: StaffRequest, pk: int, period_id: int) -> HttpResponse:
    """Remove a period recorded in error, with a reason (FFD, managers)."""
    period = _visible_period(request, pk, period_id)
    child = period.child
    status = 200
    if request.method == "POST":
        form = LegalStatusPeriodRemoveForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                child_facts.legal_status_period_remove(
                    form.to_data(),
                    actor=request.user,
                    period_id=period.pk,
                    now=timezone.now(),
                    expected_version=form.cleaned_data["version"],
                )
            except DOMAIN_ERRORS as exc:
                status = apply_domain_error(form, exc)
            else:
                messages.success(request, f"{period.reference} was removed.")
                return redirect("child_detail", pk=child.pk)
    else:
        audit.record_view(request, child_id=child.pk, reference=period.reference)
        form = LegalStatusPeriodRemoveForm(initial={"version": period.version})
    return _facts_page(
        request,
        child=child,
        form=form,
        title=f"Remove {period.reference} ({period.get_status_display().lower()})",
        action=reverse("legal_status_remove", kwargs={"pk": child.pk, "period_id": period.pk}),
        button="Remove the period",
        status=status,
        intro="Only for a period that should never have been recorded. A period that ended "
        "is ended, not removed.",
    )
