"""Heads of service decide account changes (separation of duties, missing.accounts.account_changes):
the list of pending requests with the history, one page per request to approve or refuse it,
and the signed-in user's acknowledgement of the sign-in notice about their own account.

Who may decide is the service's rule (an active head of service, never the requester or the
subject): the pages only ask it. No child's record is shown: no access row for reading them;
each request and decision writes its own row (missing.accounts.account_changes)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from missing.accounts import account_changes
from missing.accounts.signin import safe_next
from missing.cases.errors import DomainError, NotAllowed
from missing.models import AccountChange, AccountChangeState, Role
from missing.web.forms import GovukFormMixin
from missing.web.shared import StaffRequest, role_required

head_of_service_required = role_required(frozenset({Role.HEAD_OF_SERVICE}))


class DecisionForm(GovukFormMixin, forms.Form):
    decision = forms.ChoiceField(
        label="Your decision",
        choices=[("approve", "Approve: it takes effect now"), ("refuse", "Refuse")],
        widget=forms.RadioSelect,
        error_messages={"required": "Choose approve or refuse"},
    )
    reason = forms.CharField(
        label="Reason",
        help_text="Needed to refuse. The person who asked and the account's owner read it.",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


@head_of_service_required
@require_http_methods(["GET"])
def account_changes_page(request: StaffRequest) -> HttpResponse:
    """Pending requests (oldest first) and the newest decided ones. Requests past their time
    are expired first, so the page never offers one that can no longer be approved."""
    account_changes.account_changes_expire(now=timezone.now())
    return render(
        request,
        "missing/account_changes.html",
        {
            "pending": list(account_changes.account_changes_pending()),
            "history": list(account_changes.account_changes_history()),
            "limit": account_changes.HISTORY_SHOWN,
            "max_age_days": settings.ACCOUNT_CHANGE_MAX_AGE.days,
        },
    )


@head_of_service_required
@require_http_methods(["GET", "POST"])
def account_change_decide(request: StaffRequest, pk: int) -> HttpResponse:
    """Approve or refuse one request. A request already decided (by someone else meanwhile, or
    by a second click) is a 409 with the page saying who decided it; one's own request, or one
    about oneself, is a 403."""
    change = AccountChange.objects.with_people().filter(pk=pk).first()
    if change is None:
        raise Http404("Not found")
    form = DecisionForm(
        request.POST if request.method == "POST" else None, initial={"version": change.version}
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        decide = (
            account_changes.account_change_approve
            if form.cleaned_data["decision"] == "approve"
            else account_changes.account_change_refuse
        )
        try:
            decided = decide(
                actor=request.user,
                change_id=change.pk,
                reason=form.cleaned_data["reason"],
                now=timezone.now(),
                expected_version=form.cleaned_data["version"],
            )
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from exc
        except DomainError as exc:
            for field, field_messages in exc.field_errors.items():
                for message in field_messages:
                    form.add_error(field if field in form.fields else None, message)
            if not exc.field_errors:
                form.add_error(None, exc.message)
            status = exc.status
            change = AccountChange.objects.with_people().get(pk=pk)
        else:
            messages.success(request, f"{decided.reference} {decided.get_state_display().lower()}.")
            return redirect("account_changes")
    elif form.errors:
        status = 400
    return render(
        request,
        "missing/account_change_decide.html",
        {"change": change, "form": form, "pending": change.state == AccountChangeState.PENDING},
        status=status,
    )


@login_required
@require_POST
def account_notice_acknowledge(request: StaffRequest) -> HttpResponse:
    """The signed-in user has read the notice about changes to their account: not shown again."""
    account_changes.sign_in_notices_acknowledge(request, now=timezone.now())
    return redirect(safe_next(request))
