"""Each return-interview operation that takes what a person entered takes it as ONE frozen
data object, its first and positional-only parameter, then keyword-only context (who, which
interview, when, the version read). The web views and the API never build that object by
hand: they pass the form's or the serializer's own `to_data()` (docs/decisions/0064)."""

import ast
import dataclasses
import inspect
import typing
from pathlib import Path

import pytest

from interviews import services

ROOT = Path(__file__).resolve().parent.parent

# Every operation that takes user-entered values, and the data object it takes.
OPERATIONS = {
    "interview_create": services.CreateData,
    "interview_assign": services.AssignData,
    "interview_unassign": services.UnassignData,
    "interview_add_episode": services.AddEpisodeData,
    "interview_attempt_record": services.AttemptData,
    "interview_record_update": services.RecordData,
    "interview_complete": services.CompleteData,
    "interview_sign_off": services.SignOffData,
}
DATA_CLASSES = {cls.__name__ for cls in OPERATIONS.values()}
ADAPTERS = [ROOT / "interviews" / "views.py", ROOT / "interviews" / "api.py"]


def public_operations() -> set[str]:
    """The services' public functions named `interview_*` that write (every one of them)."""
    return {
        name
        for name, fn in inspect.getmembers(services, inspect.isfunction)
        if name.startswith("interview_") and fn.__module__ == services.__name__
    }


def test_every_interview_operation_is_listed():
    assert public_operations() == set(OPERATIONS)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_the_first_parameter_is_a_frozen_dataclass_positional_only(name):
    fn = getattr(services, name)
    params = list(inspect.signature(fn).parameters.values())
    first, rest = params[0], params[1:]
    assert first.kind is inspect.Parameter.POSITIONAL_ONLY
    hints = typing.get_type_hints(fn)
    data_class = hints[first.name]
    assert data_class is OPERATIONS[name]
    assert dataclasses.is_dataclass(data_class)
    assert data_class.__dataclass_params__.frozen  # type: ignore[attr-defined]
    # The rest is context, keyword-only: who, which interview, when, the version read.
    assert rest
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in rest)
    assert {"actor", "now"} <= {p.name for p in rest}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_the_data_object_cannot_change_once_made(name):
    cls = OPERATIONS[name]
    fields = dataclasses.fields(cls)
    if not fields:
        return  # nothing to change (completing takes no values)
    required = {
        f.name: None
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    data = cls(**required)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(data, fields[0].name, None)


def service_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in OPERATIONS
    ]


def built_data_objects(path: Path) -> list[str]:
    """Places where `path` makes a data object itself (`…Data(…)`)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in DATA_CLASSES:
                found.append(f"{path.name}:{node.lineno} {name}")
    return found


def is_to_data(node: ast.expr, assigned: dict[str, ast.expr]) -> bool:
    """`x.to_data(…)`, or a name last assigned from one in the same function."""
    if isinstance(node, ast.Name) and node.id in assigned:
        node = assigned[node.id]
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "to_data"
    )


def calls_not_from_to_data(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    wrong = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef):
            continue
        assigned = {
            target.id: node.value
            for node in ast.walk(fn)
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(fn):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in OPERATIONS
                and not (node.args and is_to_data(node.args[0], assigned))
            ):
                wrong.append(f"{path.name}:{node.lineno} {node.func.attr}")
    return wrong


@pytest.mark.parametrize("path", ADAPTERS, ids=lambda p: p.name)
def test_the_adapters_pass_the_forms_or_serializers_data_object(path):
    assert service_calls(path), "the check found no operation called"
    assert calls_not_from_to_data(path) == []
    assert built_data_objects(path) == []


def test_the_check_sees_a_data_object_built_by_hand(tmp_path):
    by_hand = tmp_path / "views.py"
    by_hand.write_text(
        "def view(request, form):\n"
        "    services.interview_unassign(\n"
        "        services.UnassignData(reason=form.cleaned_data['reason']), actor=request.user\n"
        "    )\n"
        "    data = form.to_data()\n"
        "    services.interview_sign_off(data, actor=request.user)\n"
    )
    assert calls_not_from_to_data(by_hand) == ["views.py:2 interview_unassign"]
    assert built_data_objects(by_hand) == ["views.py:3 UnassignData"]


@pytest.mark.parametrize(
    ("module", "class_names"),
    [
        ("interviews.forms", ["CreateForm", "AssignForm", "UnassignForm", "AttemptForm"]),
        ("interviews.forms", ["AddEpisodeForm", "RecordForm", "CompleteForm", "SignOffForm"]),
        ("interviews.serializers", ["InterviewCreateIn", "AssignIn", "UnassignIn", "AttemptIn"]),
        ("interviews.serializers", ["AddEpisodeIn", "RecordIn", "VersionIn"]),
        ("interviews.serializers", ["InterviewSignOffIn"]),
    ],
)
def test_each_form_and_serializer_gives_its_operations_data_object(module, class_names):
    mod = __import__(module, fromlist=["_"])
    for class_name in class_names:
        to_data = getattr(mod, class_name).to_data
        returned = typing.get_type_hints(to_data, vars(mod))["return"]
        assert returned in OPERATIONS.values(), class_name
