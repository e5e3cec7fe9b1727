"""How every state machine here runs one django-fsm transition: the episode's (missing.cases.services)
and the return interview's (interviews.services) alike.

The caller locks the row (`select_for_update`) in its transaction; `run_transition` then checks
the role (the transition's own `permission=`), any extra authorisation the caller needs (an
interviewer's live assignment), the version the caller read, the state (`source`), the
caller's input and the transition's `conditions=`, applies the transition, bumps the version,
saves and lets the caller record what happened. The row lock serialises racing requests on
PostgreSQL; the version refuses a stale form or API call (409) even when the state happens to
be the same; ConcurrentTransitionMixin's state-guarded UPDATE is the last line should both be
bypassed. Nothing here knows which model it runs: the core imports no app built on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar

from django.db import models
from django_fsm import can_proceed

from missing.cases.errors import Conflict, NotAllowed, require_version


class Versioned(Protocol):
    """A model with a protected FSM field, an optimistic version and a reference for messages."""

    pk: Any
    version: int
    updated_at: datetime

    @property
    def reference(self) -> str: ...

    def save(self, *args: Any, **kwargs: Any) -> None: ...


M = TypeVar("M", bound=models.Model)


def role_may(method: Callable[..., Any], user: Any) -> bool:
    """The transition's own `permission=`, asked regardless of the current state."""
    meta = method._django_fsm  # type: ignore[attr-defined]
    return any(t.has_perm(method.__self__, user) for t in meta.transitions.values())  # type: ignore[attr-defined]


def require_role(probe: models.Model, *, action: str, actor: Any, label: str) -> None:
    """Refuse (403) a user whose role may never run `action`: the one role check of every
    transition. Asked of the locked row by run_transition; asked of `probe`, an unsaved
    instance, before looking at the user's input (only role-based permissions can be asked so).
    """
    if not role_may(getattr(probe, action), actor):
        raise NotAllowed(f"Your role cannot {label}.")


def _state_label(obj: Any, method: Callable[..., Any]) -> str:
    field = method._django_fsm.field  # type: ignore[attr-defined]
    return str(getattr(obj, f"get_{field.name}_display")())


def run_transition(
    obj: M,
    *,
    action: str,
    actor: Any,
    now: datetime,
    label: str,
    kwargs: Mapping[str, Any] | None = None,
    expected_version: int | None = None,
    authorise: Callable[[M], None] | None = None,
    validate: Callable[[M], None] | None = None,
    refused: Callable[[M], str] | None = None,
    unmet: Callable[[M], str] | None = None,
    record: Callable[[M, str], None] | None = None,
) -> str:
    """Run `obj.<action>(**kwargs)` on a row the caller locked in its open transaction, and
    return the state it left. In order: role (403), `authorise` (raises NotAllowed), version
    (409), state (409, `refused` words it), `validate` (raises InvalidInput: the caller's own
    input, checked against the locked row), conditions (409, `unmet` words it), apply, version
    bump, save, then `record(obj, from_state)` (the history or audit row).

    `label` completes "you cannot …" ("arrange the return interview")."""
    method = getattr(obj, action)
    require_role(obj, action=action, actor=actor, label=label)
    if authorise is not None:
        authorise(obj)
    versioned: Versioned = obj  # type: ignore[assignment]
    require_version(versioned, expected_version)
    if not can_proceed(method, check_conditions=False):
        raise Conflict(
            refused(obj)
            if refused is not None
            else f"{versioned.reference} is '{_state_label(obj, method)}': you cannot {label} now."
        )
    if validate is not None:
        validate(obj)
    if not can_proceed(method):
        raise Conflict(
            unmet(obj)
            if unmet is not None
            else f"{versioned.reference}: the conditions to {label} are not met."
        )
    field = method._django_fsm.field
    from_state = str(getattr(obj, field.name))
    method(**(kwargs or {}))
    versioned.version += 1
    versioned.updated_at = now
    obj.save()
    if record is not None:
        record(obj, from_state)
    return from_state
