"""The second sign-in step and the pages around it: enter a code, set up an authenticator,
recovery codes, and "confirm it's you" before an export.

The password step is `missing.web.views.LoginView`; it signs the user in with Django's `login()`
(new session id) and sends them here. Until a code is accepted the session reaches only these
pages (`missing.accounts.security.SecondFactorRequiredMiddleware`). Accepting a code gives the session a
new id again: the privilege changed.
"""

from __future__ import annotations

from typing import Any

import django_otp
import segno
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods

from missing.accounts import second_factor
from missing.accounts.security import is_verified, stamp_second_factor
from missing.models import User
from missing.web.forms import GovukFormMixin
from missing.web.shared import StaffRequest


class CodeForm(GovukFormMixin, forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=20,
        error_messages={"required": "Enter the code"},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "spellcheck": "false",
                "autocapitalize": "none",
                "class": "govuk-input--width-10",
            }
        ),
    )


WRONG_CODE = "The code is not correct. Enter the latest code from your authenticator app."
THROTTLED = "Too many wrong codes. Wait a minute, then enter the latest code."


def safe_next(request: HttpRequest, default: str = "/") -> str:
    """The `next` the user came for, if it is ours; never an address elsewhere."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _mark_verified(request: HttpRequest, device: Any) -> None:
    django_otp.login(request, device)
    # Password-only to fully signed in is a privilege change: a new session id (ASVS 7.2.4).
    request.session.cycle_key()
    stamp_second_factor(request, now=timezone.now())


def _check_code(request: HttpRequest, user: User, form: CodeForm, *, allow_recovery: bool) -> Any:
    """The device that accepted the form's code, or None with the error on the form."""
    if not form.is_valid():
        return None
    check = second_factor.code_verify(
        user=user, code=form.cleaned_data["code"], allow_recovery=allow_recovery
    )
    if check.device is None:
        form.add_error("code", THROTTLED if check.throttled else WRONG_CODE)
        return None
    if check.recovery_codes_left is not None:
        messages.warning(
            request,
            f"You used a recovery code. You have {check.recovery_codes_left} left: "
            "make new ones from your account page if you are running low.",
        )
    return check.device


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Sign-in step two: a code from the authenticator app, or a recovery code."""
    if not isinstance(request.user, User):  # not signed in with a password yet
        return redirect_to_login(safe_next(request))
    if is_verified(request.user):
        return redirect(safe_next(request))
    if second_factor.confirmed_totp_device(request.user) is None:
        return redirect(f"{reverse('second_factor_enrol')}?{request.GET.urlencode()}")
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        device = _check_code(request, request.user, form, allow_recovery=True)
        if device is not None:
            _mark_verified(request, device)
            return redirect(safe_next(request))
    status = 400 if form.errors else 200
    return render(
        request,
        "registration/second_factor_verify.html",
        {"form": form, "next": safe_next(request, "")},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    """First sign-in: set up an authenticator app (QR code or key), confirm it with a code,
    then see the recovery codes, once."""
    if not request.user.is_authenticated:
        return redirect_to_login(safe_next(request))
    if second_factor.confirmed_totp_device(request.user) is not None:
        return redirect(f"{reverse('second_factor_verify')}?{request.GET.urlencode()}")
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        result = second_factor.enrolment_confirm(user=request.user, code=form.cleaned_data["code"])
        if result is not None:
            device, codes = result
            _mark_verified(request, device)
            return render(
                request,
                "registration/recovery_codes_show.html",
                {"codes": codes, "next": safe_next(request), "first_time": True},
            )
        form.add_error("code", WRONG_CODE)
    device = second_factor.enrolment_device(user=request.user)
    # Inline SVG markup (no script, no style attribute): allowed by the CSP as part of the page.
    qr_svg = segno.make(device.config_url, error="m").svg_inline(scale=5, border=2)
    key = device.config_url.split("secret=", 1)[1].split("&", 1)[0]
    return render(
        request,
        "registration/second_factor_enrol.html",
        {
            "form": form,
            "qr_svg": mark_safe(qr_svg),  # noqa: S308 - generated by segno from our own data
            "key_groups": [key[i : i + 4] for i in range(0, len(key), 4)],
            "next": safe_next(request, ""),
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def recovery_codes(request: StaffRequest) -> HttpResponse:
    """Make a new set of recovery codes (the old ones stop working). Needs a code from the
    authenticator app: a stolen session alone cannot mint codes."""
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        device = _check_code(request, request.user, form, allow_recovery=False)
        if device is not None:
            stamp_second_factor(request, now=timezone.now())
            codes = second_factor.recovery_codes_issue(user=request.user)
            return render(
                request,
                "registration/recovery_codes_show.html",
                {"codes": codes, "next": "/", "first_time": False},
            )
    return render(
        request,
        "registration/recovery_codes.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def confirm(request: StaffRequest) -> HttpResponse:
    """Step-up: "confirm it's you" with a fresh code before an export, then back to it."""
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        device = _check_code(request, request.user, form, allow_recovery=True)
        if device is not None:
            stamp_second_factor(request, now=timezone.now())
            return redirect(safe_next(request))
    return render(
        request,
        "registration/second_factor_confirm.html",
        {"form": form, "next": safe_next(request, "")},
        status=400 if form.errors else 200,
    )
