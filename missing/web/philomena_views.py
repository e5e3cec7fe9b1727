"""Philomena profile pages: the profile, its form, its photograph, and the printable and
downloadable Part 1 (missing.cases.philomena has the rules). Addressed by numeric ids only.

Every page and download writes an access-log row: the profile and Part 1 pages a view row,
the photograph a view row of its own (it is fetched separately), a download an export row."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from missing.accounts.security import rate_limit
from missing.audit import access_log as audit
from missing.cases import philomena
from missing.models import (
    CASE_READERS,
    Child,
    MissingEpisode,
    PhilomenaProfile,
    Role,
    may_see_restricted,
)
from missing.web.philomena_forms import AssociateFormSet, PhilomenaForm, associates_from
from missing.web.shared import StaffRequest, get_or_404, role_required
from missing.web.views import DOMAIN_ERRORS, apply_domain_error

# Interviewers assigned to the child read the profile and Part 1 (which children is decided
# by `philomena.readable_children`); only `philomena.may_edit` users change it.
reader_required = role_required(CASE_READERS | {Role.INTERVIEWER})


def _photo_response(profile: PhilomenaProfile | None) -> tuple[bytes, str] | None:
    if profile is None:
        return None
    content = philomena.read_photo(profile)
    return (content, profile.photo_content_type) if content is not None else None


@reader_required
def philomena_detail(request: StaffRequest, pk: int) -> HttpResponse:
    """The child's profile and their computed missing history (four queries: child and
    profile, the history's counts and last five, the access-log row)."""
    now = timezone.now()
    child, profile = get_or_404(lambda: philomena.child_with_profile(request.user, pk))
    audit.record_view(
        request, child_id=child.pk, reference=profile.reference if profile else child.reference
    )
    return render(
        request,
        "missing/philomena_detail.html",
        {
            "child": child,
            "profile": profile,
            "history": philomena.missing_history(child_id=child.pk, now=now),
            "may_edit": philomena.may_edit(request.user, child),
            "age": child.age_on(timezone.localdate(now)),
        },
    )


@reader_required
@require_http_methods(["GET", "POST"])
def philomena_edit(request: StaffRequest, pk: int) -> HttpResponse:
    """The profile's form (multipart: the photograph is a file). No reason is asked for: the
    save records who and when."""
    child, profile = get_or_404(lambda: philomena.child_with_profile(request.user, pk))
    if not philomena.may_edit(request.user, child):
        raise PermissionDenied("Your role cannot change the Philomena profile.")
    status = 200
    if request.method == "POST":
        form = PhilomenaForm(request.POST, request.FILES)
        formset = AssociateFormSet(request.POST, prefix="associates")
        status = 400
        if form.is_valid() and formset.is_valid():
            try:
                philomena.philomena_save(
                    form.to_data(associates_from(formset)),
                    actor=request.user,
                    child_id=child.pk,
                    version=form.cleaned_data["version"],
                    photo=form.cleaned_data["photo"],
                    remove_photo=form.cleaned_data["remove_photo"],
                    now=timezone.now(),
                )
            except Child.DoesNotExist:
                raise Http404("Not found") from None
            except DOMAIN_ERRORS as exc:
                status = apply_domain_error(form, exc)
            else:
                messages.success(request, "Philomena profile saved.")
                return redirect("philomena_detail", pk=child.pk)
    else:
        audit.record_view(
            request,
            child_id=child.pk,
            reference=profile.reference if profile else child.reference,
        )
        form = PhilomenaForm(initial=PhilomenaForm.initial_for(profile))
        formset = AssociateFormSet(
            initial=profile.associates if profile else [], prefix="associates"
        )
    return render(
        request,
        "missing/philomena_edit.html",
        {"child": child, "profile": profile, "form": form, "formset": formset},
        status=status,
    )


@reader_required
def philomena_photo(request: StaffRequest, pk: int) -> HttpResponse:
    """The photograph's bytes, to a reader of the profile only, never cached, logged."""
    child, profile = get_or_404(lambda: philomena.child_with_profile(request.user, pk))
    found = _photo_response(profile)
    if found is None or profile is None:
        raise Http404("No photograph")
    audit.record_view(request, child_id=child.pk, reference=f"{profile.reference} photograph")
    content, content_type = found
    response = HttpResponse(content, content_type=content_type)
    extension = "png" if content_type == "image/png" else "jpg"
    response["Content-Disposition"] = (
        f'inline; filename="photograph-{profile.reference}.{extension}"'
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --------------------------------------------------------------------------------------------
# Part 1
# --------------------------------------------------------------------------------------------


def _part1_context(
    request: StaffRequest,
    *,
    child: Child,
    profile: PhilomenaProfile | None,
    episode: MissingEpisode | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "child": child,
        "profile": profile,
        "episode": episode,
        "history": philomena.missing_history(
            child_id=child.pk, now=now, exclude_episode_id=episode.pk if episode else None
        ),
        "age": child.age_on(timezone.localdate(now)),
        "prepared_at": now,
        "prepared_by": request.user,
        # Part 1 goes to the police, but this copy is read in the council first: restricted
        # intelligence stays with those who may read it.
        "restricted_intelligence": episode.restricted_intelligence
        if episode is not None and may_see_restricted(request.user)
        else "",
    }


def _part1(
    request: StaffRequest,
    *,
    child_id: int,
    episode: MissingEpisode | None,
    download: bool,
    download_url: str = "",
) -> HttpResponse:
    now = timezone.now()
    child, profile = get_or_404(lambda: philomena.child_with_profile(request.user, child_id))
    context = _part1_context(request, child=child, profile=profile, episode=episode, now=now)
    label = f"Philomena Part 1 {episode.reference if episode else child.reference}"
    if not download:
        audit.record_view(request, child_id=child.pk, reference=label)
        context["download_url"] = download_url
        return render(request, "missing/philomena_part1.html", context)
    audit.record_export(request, rows=1, child_ids=[child.pk], reference=label)
    # One self-contained file: the stylesheet inline and the photograph as a data URI, so it
    # prints the same wherever it is opened (the police's own systems have no access to ours).
    css_path = finders.find("css/philomena.css")
    context["inline_css"] = open(css_path, encoding="utf-8").read() if css_path else ""  # noqa: SIM115
    found = _photo_response(profile)
    if found is not None:
        content, content_type = found
        context["photo_data_uri"] = (
            f"data:{content_type};base64,{base64.b64encode(content).decode('ascii')}"
        )
    body = render_to_string("missing/philomena_part1_file.html", context, request=request)
    response = HttpResponse(body, content_type="text/html; charset=utf-8")
    reference = episode.reference if episode else child.reference
    response["Content-Disposition"] = f'attachment; filename="philomena-part-1-{reference}.html"'
    response["Cache-Control"] = "private, no-store"
    return response


def _visible_episode(request: StaffRequest, pk: int) -> MissingEpisode:
    return get_or_404(
        lambda: MissingEpisode.objects.visible_to(request.user).with_related().get(pk=pk)
    )


@reader_required
def philomena_part1(request: StaffRequest, pk: int) -> HttpResponse:
    """Part 1 for episode `pk`: the profile and the episode's reporting facts, printable."""
    episode = _visible_episode(request, pk)
    return _part1(
        request,
        child_id=episode.child_id,
        episode=episode,
        download=False,
        download_url=reverse("philomena_part1_download", args=[episode.pk]),
    )


@reader_required
@rate_limit("export")
def philomena_part1_download(request: StaffRequest, pk: int) -> HttpResponse:
    episode = _visible_episode(request, pk)
    return _part1(request, child_id=episode.child_id, episode=episode, download=True)


@reader_required
def philomena_child_part1(request: StaffRequest, pk: int) -> HttpResponse:
    """Part 1 from the child's page: with the episode still open, if there is one."""
    return _part1(
        request,
        child_id=pk,
        episode=philomena.open_episode(pk, request.user),
        download=False,
        download_url=reverse("philomena_child_part1_download", args=[pk]),
    )


@reader_required
@rate_limit("export")
def philomena_child_part1_download(request: StaffRequest, pk: int) -> HttpResponse:
    return _part1(
        request,
        child_id=pk,
        episode=philomena.open_episode(pk, request.user),
        download=True,
    )
