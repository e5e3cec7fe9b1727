"""The core (`missing`) imports no other app of ours: interviews and notifications build on it,
through its services, its indexed columns and the settings hooks (EXTRA_NAVIGATION,
EPISODE_DETAIL_PANELS, CHILD_DETAIL_PANELS)."""

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "missing"
OURS_BUILT_ON_CORE = {"interviews", "notifications"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(CORE)))
def test_core_imports_no_app_built_on_it(path):
    assert imported_modules(path) & OURS_BUILT_ON_CORE == set()


def test_the_check_sees_an_import():
    assert "notifications" in imported_modules(Path(__file__).parent / "test_url_auth.py")
