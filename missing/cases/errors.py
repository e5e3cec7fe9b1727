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


def stale_version(record: Any, expected_version: int, *, then: str) -> Conflict:
    """The one refusal of a change made from a stale read (optimistic locking), for any record
    with a `reference` and a `version` (episodes, interviews, risk-meeting tasks): 409, with the
    version now current so the client can reload to it. `then` says what the user does next."""
    return Conflict(
        f"{record.reference} was changed by someone else since you opened it "
        f"(version {expected_version}, now {record.version}). {then}",
        extra={"current_version": record.version},
    )


def require_roles(actor: Any, roles: frozenset[str] | set[str], *, label: str) -> None:
    """The one refusal (403) of a user whose role may not do an operation that is not an FSM
    transition (those ask the transition's own `permission=`: missing.cases.transitions).
    `label` completes "Your role cannot …"."""
    if not actor.has_role(roles):
        raise NotAllowed(f"Your role cannot {label}.")


def require_version(record: Any, expected_version: int | None) -> None:
    """Refuse (409) unless `expected_version` is the record's version; None skips the check
    (callers that read and write in one request)."""
    if expected_version is not None and record.version != expected_version:
        raise stale_version(record, expected_version, then="Reload and try again.")
