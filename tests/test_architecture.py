"""The core (`missing`) imports no other app of ours: interviews and notifications build on it,
through its services, its indexed columns and the settings hooks (EXTRA_NAVIGATION,
EPISODE_DETAIL_PANELS, CHILD_DETAIL_PANELS), and import only its public names: the shared web
plumbing (role checks, 404s, the API's error answers) is `missing.web.shared`.

Inside the core, one folder per job (docs/decisions/0058-core-split-by-job.md): the folder list
alone says where sign-in, the audit log, the episode state machine and the returns live."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "missing"
OURS_BUILT_ON_CORE = {"interviews", "notifications", "ssd"}


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


def private_core_names(path: Path) -> set[str]:
    """`from missing… import _name`: a private name of the core imported by another module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.split(".")[0] == "missing"
        for alias in node.names
        if alias.name.startswith("_")
    }


BUILT_ON_CORE = sorted(path for app in OURS_BUILT_ON_CORE for path in (ROOT / app).rglob("*.py"))


@pytest.mark.parametrize("path", BUILT_ON_CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_apps_built_on_the_core_import_only_its_public_names(path):
    assert private_core_names(path) == set()


def test_the_private_name_check_sees_one(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from missing.web.views import _get_or_404, person\n")
    assert private_core_names(sample) == {"missing.web.views._get_or_404"}


def test_one_role_decorator_for_every_app():
    """`role_required` is defined once, in the core's shared web module, and used from there."""
    defining = [
        path.relative_to(ROOT).as_posix()
        for app in ("missing", *OURS_BUILT_ON_CORE)
        for path in (ROOT / app).rglob("*.py")
        if "def role_required(" in path.read_text()
    ]
    assert defining == ["missing/web/shared.py"]


# The core's jobs, each a package; at the top level only the Django app itself.
CORE_PACKAGES = {"cases", "accounts", "audit", "web", "api"}
CORE_TOP_LEVEL_MODULES = {"__init__", "admin", "apps", "models", "tasks"}
# `reference`: data files the migrations load (the council directory), not code.
CORE_TOP_LEVEL_FOLDERS = CORE_PACKAGES | {"migrations", "management", "reference"}
ADAPTERS = [["missing", "web"], ["missing", "api"]]


def test_the_core_is_split_into_packages_by_job():
    for package in CORE_PACKAGES:
        assert (CORE / package / "__init__.py").is_file(), package
    # Where a newcomer looks first: sign-in, the audit log, the state machine, the returns.
    for path in (
        "missing/accounts/signin.py",
        "missing/audit/access_log.py",
        "missing/cases/transitions.py",
        "interviews/returns/ssda903.py",
        "interviews/returns/annex_a.py",
    ):
        assert (ROOT / path).is_file(), path


def test_no_module_is_left_at_the_core_top_level():
    modules = {path.stem for path in CORE.glob("*.py")}
    folders = {path.name for path in CORE.iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert modules - CORE_TOP_LEVEL_MODULES == set()
    assert folders - CORE_TOP_LEVEL_FOLDERS == set()


@pytest.mark.parametrize(
    "path", sorted((CORE / "cases").rglob("*.py")), ids=lambda p: str(p.relative_to(CORE))
)
def test_cases_import_no_adapter(path):
    """The domain is called by the web pages and the API, never the other way round."""
    assert {
        module for module in imported_dotted_modules(path) if module.split(".")[:2] in ADAPTERS
    } == set()


def imported_dotted_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_adapter_check_sees_one(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from missing import web\nfrom missing.api.errors import x\n")
    imported = [module.split(".")[:2] for module in imported_dotted_modules(sample)]
    assert all(adapter in imported for adapter in ADAPTERS)
