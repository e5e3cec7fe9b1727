"""The managers' page to upload an SSD extract: the form and recent uploads, each upload's page
(refused files, the dry run's report, Import, progress) and the Import button. Thin: the work
is ssd.uploads'; the dry run and the import run in a worker, and the upload's page refreshes
itself while they do (a meta refresh: no JavaScript needed)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from missing.audit import access_log as audit
from missing.models import AccessAction
from missing.web.forms import GovukFormMixin
from missing.web.shared import StaffRequest, role_required
from missing.web.views import DOMAIN_ERRORS, apply_domain_error
from ssd import uploads
from ssd.models import Upload

upload_roles_required = role_required(uploads.UPLOAD_ROLES)
# Seconds between refreshes of an upload's page while a worker checks or imports it.
REFRESH_SECONDS = 3


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget",
            MultipleFileInput(
                attrs={"multiple": True, "accept": ".csv,.zip", "class": "govuk-file-upload"}
            ),
        )
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(d, initial) for d in data]
        return [super().clean(data, initial)]


class UploadForm(GovukFormMixin, forms.Form):
    # A field named "files" (the form class drops it; the instance's files are the upload).
    files = MultipleFileField(  # type: ignore[assignment]
        label="SSD files",
        help_text="Several CSV files named as the SSD tables (ssd_person.csv, "
        "ssd_cla_episodes.csv…), or one .zip of them. UTF-8, with a header row.",
        error_messages={"required": "Choose the SSD files, or one .zip of them."},
    )


def _page(request: HttpRequest, form: UploadForm, status: int = 200) -> HttpResponse:
    recent = Upload.objects.select_related("uploaded_by", "run")[:20]
    return render(request, "ssd/upload.html", {"form": form, "recent": recent}, status=status)


@transaction.non_atomic_requests
@upload_roles_required
@require_http_methods(["GET", "POST"])
def upload(request: StaffRequest) -> HttpResponse:
    """The form; a POST stores the files, reads them and queues the dry run. Not one
    transaction with the request: the files are committed before anything reads them, so
    whatever happens next, what was received is kept."""
    if request.method == "GET":
        return _page(request, UploadForm())
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        received = uploads.upload_receive(
            actor=request.user,
            files=[(f.name, f.read()) for f in form.cleaned_data["files"]],
            now=timezone.now(),
        )
    except DOMAIN_ERRORS as exc:
        return _page(request, form, status=apply_domain_error(form, exc))
    audit.record_access(
        request, action=AccessAction.CHANGE, reference=f"SSD upload {received.pk}: files received"
    )
    if received.status == Upload.Status.REFUSED:
        for problem in received.problems:
            label = f"{problem['file']}: " if problem["file"] else ""
            form.add_error("files", f"{label}{problem['problem']}")
        return _page(request, form, status=400)
    return redirect("ssd:upload_detail", pk=received.pk)


@upload_roles_required
@require_http_methods(["GET"])
def upload_detail(request: StaffRequest, pk: int) -> HttpResponse:
    """The dry run's report and the Import button; progress while a worker is busy."""
    found = Upload.objects.select_related("uploaded_by", "run").filter(pk=pk).first()
    if found is None:
        raise Http404("Not found")
    audit.record_access(request, action=AccessAction.VIEW, reference=f"SSD upload {found.pk}")
    busy = found.status in (Upload.Status.CHECKING, Upload.Status.APPLYING)
    context = {
        "upload": found,
        "report": found.dry_run_report,
        "progress": uploads.progress_of(found),
        "refresh": REFRESH_SECONDS if busy else None,
        "counts": sorted((found.dry_run_report.get("counts") or {}).items()),
        "applied_counts": sorted(((found.run.summary or {}).get("counts") or {}).items())
        if found.run
        else [],
    }
    return render(request, "ssd/upload_detail.html", context)


@upload_roles_required
@require_POST
def upload_apply(request: StaffRequest, pk: int) -> HttpResponse:
    """Import a checked upload (409 when it is not checked or already started)."""
    if not Upload.objects.filter(pk=pk).exists():
        raise Http404("Not found")
    try:
        uploads.upload_start(actor=request.user, upload_id=pk)
    except DOMAIN_ERRORS as exc:
        found = Upload.objects.select_related("uploaded_by", "run").get(pk=pk)
        context = {
            "upload": found,
            "report": found.dry_run_report,
            "progress": uploads.progress_of(found),
            "refresh": None,
            "counts": sorted((found.dry_run_report.get("counts") or {}).items()),
            "applied_counts": [],
            "conflict": getattr(exc, "message", str(exc)),
        }
        return render(request, "ssd/upload_detail.html", context, status=409)
    audit.record_access(
        request, action=AccessAction.CHANGE, reference=f"SSD upload {pk}: import started"
    )
    messages.success(request, "The import has started. This page shows its progress.")
    return redirect("ssd:upload_detail", pk=pk)
