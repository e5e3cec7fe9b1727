"""Domain errors. One exception handler (api_errors) and one view mixin map them to HTTP."""

from typing import Any


class DomainError(Exception):
    """Base class: a rule of the domain refused the operation."""

    status = 400

    def __init__(
        self,
        message: str,
        *,
        field_errors: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}
        # Structured detail a client can act on (a stale edit's differences), sent as is.
        self.extra = extra or {}


class InvalidInput(DomainError):
    """Input broke a rule (400); `field_errors` names each field and its problem."""

    status = 400


class Conflict(DomainError):
    """The record changed underneath the caller, or the operation clashes with another (409)."""

    status = 409


class NotAllowed(DomainError):
    """The user's role may not do this (403)."""

    status = 403


class EpisodeOverlap(Conflict):
    """A new episode would overlap `episode`, one of the same child's (the child is still
    missing in it, or their time spans cross). Intake links the notification to it instead."""

    def __init__(self, message: str, *, episode: Any) -> None:
        super().__init__(message)
        self.episode = episode


class ChildGone(Conflict):
    """The child was merged into another record (or erased) while this operation waited for it."""
