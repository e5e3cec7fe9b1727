"""The core's operations and their two adapters (docs/decisions/0063-operations-take-data-objects.md).

Every operation of `missing.cases.services` (and the Philomena profile's, the child's facts' and
legal-status periods', and the child merge's) a user's input reaches takes that input as ONE
frozen dataclass, positional-only, then keyword-only context (`actor`, the row, `now`,
`expected_version`). A web form and an API serializer each build the data object in their own
`to_data()`; the views pass it on and build none themselves. One stale-version check
(`require_version`) and one role check per kind (`require_roles`, `require_role`) serve all.
"""

import ast
import dataclasses
import importlib
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from missing.cases import child_facts, merge, philomena, services

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "missing"
ADAPTERS = sorted([*(CORE / "web").glob("*.py"), *(CORE / "api").glob("*.py")])
MODULES = (services, philomena, child_facts, merge)

# Public functions with an `actor` that take no data object, and why.
NOT_USER_INPUT = {
    # A check, not an operation.
    "require_transition_role": "the transition role check every operation calls",
    # Opened by intake from a stored notification: the user's input was its NotificationData.
    "episode_open": "run by intake from a notification the user sent as NotificationData",
    # Milestones the interviews app runs inside its own operation, which took the user's input;
    # the note is that operation's reason, not a field of a form of ours.
    "episode_arrange_interview": "a milestone of an interviews operation",
    "episode_withdraw_arrangement": "a milestone of an interviews operation",
    # The photograph is an uploaded file, checked by its bytes; its date is the one field.
    "philomena_set_photo": "an uploaded file, not typed fields",
    # Run by the child merge, not by a form of its own.
    "merge_child": "a step of merging two child records",
    # Steps of the merge and of the case-system import, which took (or read) the input.
    "recompute_after_merge": "a step of merging two child records",
    "recompute_after_import": "a step of the case-system import, which has no form",
}

# The operations the two adapters drive: each must be found by the discovery below.
ADAPTER_OPERATIONS = {
    "notification_receive": services.NotificationData,
    "notification_resolve_match": services.MatchData,
    "notification_review": services.ReviewData,
    "episode_record_decision": services.DecisionData,
    "episode_record_return": services.ReturnData,
    "episode_cancel": services.CancelData,
    "episode_sign_off": services.SignOffData,
    "episode_set_flags": services.FlagsData,
    "risk_task_complete": services.MeetingOutcomeData,
    "philomena_save": philomena.PhilomenaData,
    "child_update_facts": child_facts.FactsData,
    "legal_status_period_add": child_facts.PeriodData,
    "legal_status_period_change": child_facts.PeriodChangeData,
    "legal_status_period_remove": child_facts.PeriodRemoveData,
    "child_merge": merge.MergeData,
}


def operations() -> dict[str, Callable[..., Any]]:
    """Public functions of the operations' modules that act for a user (they take an `actor`)."""
    return {
        name: function
        for module in MODULES
        for name, function in vars(module).items()
        if inspect.isfunction(function)
        and function.__module__ == module.__name__
        and not name.startswith("_")
        and "actor" in inspect.signature(function).parameters
        and name not in NOT_USER_INPUT
    }


def signature_problems(function: Callable[..., Any]) -> list[str]:
    """What breaks `operation(data, /, *, actor, …, now, …)` with `data` a frozen dataclass."""
    parameters = list(inspect.signature(function).parameters.values())
    if not parameters or parameters[0].kind is not inspect.Parameter.POSITIONAL_ONLY:
        return ["the first parameter is not positional-only"]
    problems = []
    if sum(p.kind is inspect.Parameter.POSITIONAL_ONLY for p in parameters) != 1:
        problems.append("more than one positional-only parameter")
    rest = parameters[1:]
    if any(p.kind is not inspect.Parameter.KEYWORD_ONLY for p in rest):
        problems.append("context after the data object is not keyword-only")
    if not {"actor", "now"} <= {p.name for p in rest}:
        problems.append("no keyword-only actor and now")
    cls = typing.get_type_hints(function).get(parameters[0].name)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        problems.append("the first parameter is not annotated with a dataclass")
    elif not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        problems.append(f"{cls.__name__} is not frozen")
    return problems


def test_the_adapters_operations_are_found():
    found = operations()
    assert set(ADAPTER_OPERATIONS) <= set(found)
    for name, cls in ADAPTER_OPERATIONS.items():
        first = next(iter(typing.get_type_hints(found[name]).items()))
        assert first == ("data", cls), name


@pytest.mark.parametrize("name", sorted(operations()))
def test_an_operation_takes_one_frozen_data_object_then_keyword_context(name):
    assert signature_problems(operations()[name]) == []


def test_the_signature_check_sees_a_scattered_operation():
    def scattered(*, actor: Any, note: str, now: Any) -> None: ...

    @dataclasses.dataclass
    class Loose:
        note: str

    def mutable(data: Loose, /, *, actor: Any, now: Any) -> None: ...

    def positional(
        data: services.SignOffData, episode_id: int, /, *, actor: Any, now: Any
    ) -> None: ...

    assert signature_problems(scattered) == ["the first parameter is not positional-only"]
    assert signature_problems(mutable) == ["Loose is not frozen"]
    assert "more than one positional-only parameter" in signature_problems(positional)
    assert signature_problems(services.episode_cancel) == []


def test_data_from_takes_the_fields_it_knows_and_defaults_the_rest():
    built = services.data_from(services.ReturnData, {"returned_at": 1, "version": 3, "x": 2})
    assert built == services.ReturnData(returned_at=1)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# The adapters: to_data() builds the data object, the view passes it on
# --------------------------------------------------------------------------------------------

DATA_CLASSES = {
    name
    for module in MODULES
    for name, value in vars(module).items()
    if isinstance(value, type)
    and dataclasses.is_dataclass(value)
    and value.__module__ == module.__name__
    and name.endswith("Data")
}


def _called_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def hand_built_data(path: Path) -> list[str]:
    """Data objects built in an adapter module outside a `to_data()` method."""
    tree = ast.parse(path.read_text(), filename=str(path))
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "to_data":
            allowed.update(id(inner) for inner in ast.walk(node))
    return [
        f"{path.name}:{node.lineno} builds {_called_name(node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and _called_name(node) in DATA_CLASSES
        and id(node) not in allowed
    ]


def operation_calls_without_to_data(path: Path) -> list[str]:
    """Calls of an operation whose first argument is not `<form or serializer>.to_data()`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    wrong = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _called_name(node) in operations()):
            continue
        first = node.args[0] if node.args else None
        if not (isinstance(first, ast.Call) and _called_name(first) == "to_data"):
            wrong.append(f"{path.name}:{node.lineno} {_called_name(node)}")
    return wrong


@pytest.mark.parametrize("path", ADAPTERS, ids=lambda p: str(p.relative_to(CORE)))
def test_views_build_no_data_object_by_hand(path):
    assert hand_built_data(path) == []


@pytest.mark.parametrize("path", ADAPTERS, ids=lambda p: str(p.relative_to(CORE)))
def test_views_pass_the_adapters_to_data_to_every_operation(path):
    assert operation_calls_without_to_data(path) == []


def test_the_adapter_checks_see_a_view_that_maps_input_itself(tmp_path):
    sample = tmp_path / "views.py"
    sample.write_text(
        "def view(form, request):\n"
        "    services.episode_cancel(\n"
        "        services.CancelData(reason=form.cleaned_data['reason']), actor=request.user\n"
        "    )\n"
        "    services.episode_sign_off(form.to_data(), actor=request.user)\n"
        "class Form:\n"
        "    def to_data(self):\n"
        "        return SignOffData(note='')\n"
    )
    assert hand_built_data(sample) == ["views.py:3 builds CancelData"]
    assert operation_calls_without_to_data(sample) == ["views.py:2 episode_cancel"]


ADAPTER_INPUTS = {
    "missing.web.forms": [
        "NotificationForm",
        "MatchForm",
        "NotificationReviewForm",
        "DecisionForm",
        "ReturnForm",
        "CancelForm",
        "SignOffForm",
        "EpisodeFlagsForm",
        "MeetingCompleteForm",
        "ChildFactsForm",
        "LegalStatusPeriodForm",
        "LegalStatusPeriodChangeForm",
        "LegalStatusPeriodRemoveForm",
        "ChildMergeForm",
    ],
    "missing.web.philomena_forms": ["PhilomenaForm"],
    "missing.api.serializers": [
        "NotificationIn",
        "ResolveMatchIn",
        "NotificationReviewIn",
        "DecisionIn",
        "ReturnIn",
        "CancelIn",
        "SignOffIn",
        "EpisodeFlagsIn",
        "RiskMeetingCompleteIn",
        "ChildFactsIn",
        "LegalStatusPeriodIn",
        "LegalStatusPeriodChangeIn",
        "LegalStatusPeriodRemoveIn",
        "ChildMergeIn",
    ],
    "missing.api.philomena": ["PhilomenaIn"],
}


@pytest.mark.parametrize(
    ("module", "name"),
    [(module, name) for module, names in ADAPTER_INPUTS.items() for name in names],
)
def test_every_form_and_serializer_of_an_operation_has_to_data(module, name):
    cls = getattr(importlib.import_module(module), name)
    assert typing.get_type_hints(cls.to_data).get("return") in ADAPTER_OPERATIONS.values()


# --------------------------------------------------------------------------------------------
# One stale-version check, one role check
# --------------------------------------------------------------------------------------------


def _version_comparisons(path: Path, root: Path = CORE) -> list[str]:
    """Functions that compare a version with another (a comparison with None is not one)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef):
            continue
        for node in ast.walk(function):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            if any(isinstance(side, ast.Constant) for side in sides):
                continue
            names = [
                side.attr if isinstance(side, ast.Attribute) else getattr(side, "id", "")
                for side in sides
            ]
            if any(str(name).endswith("version") for name in names):
                found.append(f"{path.relative_to(root)}:{function.name}")
    return found


def test_one_stale_version_check_in_the_core():
    """Only `missing.cases.errors.require_version` compares a version the caller read with the
    row's: every stale edit is the same 409, worded once."""
    found = [hit for path in sorted(CORE.rglob("*.py")) for hit in _version_comparisons(path)]
    assert found == ["cases/errors.py:require_version"]


def test_the_version_check_sees_a_copy(tmp_path):
    sample = tmp_path / "copy.py"
    sample.write_text(
        "def save(profile, version):\n"
        "    if version is not None and version != profile.version:\n"
        "        raise Conflict('stale')\n"
    )
    assert _version_comparisons(sample, root=tmp_path) == ["copy.py:save"]


def _role_refusals(path: Path, root: Path = CORE) -> list[str]:
    """Functions that raise NotAllowed("Your role cannot …") themselves."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef):
            continue
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Raise)
                and isinstance(node.exc, ast.Call)
                and _called_name(node.exc) == "NotAllowed"
                and node.exc.args
                and "Your role cannot" in ast.unparse(node.exc.args[0])
            ):
                found.append(f"{path.relative_to(root)}:{function.name}")
    return found


def test_one_role_check_in_the_core():
    """A role refusal is worded in one place per kind: a set of roles (`require_roles`) or an
    FSM transition's own permission (`require_role`). The Philomena profile's check is a
    relationship as well as a role (the child's own social worker may edit it)."""
    found = sorted(hit for path in CORE.rglob("*.py") for hit in _role_refusals(path))
    assert found == [
        "cases/errors.py:require_roles",
        "cases/philomena.py:_locked_profile",
        "cases/transitions.py:require_role",
    ]


def test_the_role_check_sees_a_copy(tmp_path):
    sample = tmp_path / "copy.py"
    sample.write_text(
        "def merge(actor):\n"
        "    if not actor.has_role(MERGE_ROLES):\n"
        "        raise NotAllowed('Your role cannot merge child records.')\n"
    )
    assert _role_refusals(sample, root=tmp_path) == ["copy.py:merge"]
