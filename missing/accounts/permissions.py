"""API permissions. Row visibility is decided by the querysets' visible_to(); these decide which
roles may reach an endpoint at all, and keep intake-scoped tokens to the intake endpoint."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from missing.accounts.security import is_verified, second_factor_relaxed
from missing.models import CASE_READERS, INTAKE_ROLES, OVERSIGHT_ROLES, ApiToken, Role


def _token_scope(request: Request) -> str | None:
    return request.auth.scope if isinstance(request.auth, ApiToken) else None


def _role(request: Request) -> str | None:
    """The caller's role, or None: not signed in, disabled, or signed in by session with a
    password alone. (The middleware refuses such a session first; this keeps the rule should it
    ever be reordered.) A bearer token (`request.auth`) is its own credential."""
    user = request.user
    if not (user and user.is_authenticated and user.is_active):
        return None
    if request.auth is None and not (second_factor_relaxed() or is_verified(user)):
        return None
    return user.role


class IsStaffWithFullAccess(BasePermission):
    """Default for every endpoint: case staff (FFD, managers, heads of service), not via an
    intake-only token. Views that admit other roles say so with their own class."""

    allowed_roles: frozenset[str] = CASE_READERS
    message = "Your role cannot use this part of the API."

    def has_permission(self, request: Request, view: Any) -> bool:
        if _token_scope(request) == ApiToken.Scope.INTAKE:
            # Instances are made per request, so the message is this request's alone.
            self.message = "This token is scoped to intake: it may only post notifications."
            return False
        return _role(request) in self.allowed_roles


class IsOversightRole(IsStaffWithFullAccess):
    allowed_roles = OVERSIGHT_ROLES


class CanReadCases(IsStaffWithFullAccess):
    """Case reads that interviewers may reach too. Only the endpoint is opened to them: which
    rows they see is decided by the querysets' visible_to() (their granted episodes alone)."""

    allowed_roles = CASE_READERS | {Role.INTERVIEWER}


class CanSubmitNotifications(BasePermission):
    """Intake: police systems (intake tokens) and case staff may post notifications."""

    message = "Your role cannot log police notifications."

    def has_permission(self, request: Request, view: Any) -> bool:
        role = _role(request)
        if role not in INTAKE_ROLES:
            return False
        if request.method == "POST":
            return True
        # Reading notifications back is for case staff with full access, not police systems.
        return role != Role.POLICE_SYSTEM and _token_scope(request) != ApiToken.Scope.INTAKE
