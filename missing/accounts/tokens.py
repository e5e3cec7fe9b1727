"""Personal API tokens, seen and revoked by their owner (issue 14 item 3): "Your API tokens".

Only the owner's own tokens are listed (the prefix, never the token), and a revoke names a
token of the signed-in user or is a 404. No child's record is shown: no access row."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from missing.cases import services
from missing.models import ApiToken
from missing.web.shared import StaffRequest


@login_required
@require_http_methods(["GET"])
def tokens_page(request: StaffRequest) -> HttpResponse:
    """The signed-in user's tokens, newest first (one query)."""
    rows = list(ApiToken.objects.filter(user=request.user).order_by("-created_at", "-pk"))
    return render(request, "missing/tokens.html", {"rows": rows, "now": timezone.now()})


@login_required
@require_POST
def token_revoke(request: StaffRequest, pk: int) -> HttpResponse:
    """Revoke one of the user's own tokens; another user's token is a 404 (no hint it exists)."""
    token = ApiToken.objects.filter(pk=pk, user=request.user).first()
    if token is None:
        raise Http404
    services.api_token_revoke(token=token, now=timezone.now())
    messages.success(request, f"Token {token.prefix}… revoked.")
    return redirect("api_tokens")
