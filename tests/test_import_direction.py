"""Imports go one way: doors (views, API, commands, tasks) → services → pure rules → models.
Read from the source with `ast`, so a lazy import inside a function counts too."""

import ast
from pathlib import Path

import pytest

ANNOTATIONS = Path(__file__).resolve().parent.parent / "annotations"
DOORS = ("views", "api", "management")
PURE_EXPORT_MODULES = ("options.py", "pairs.py", "writers.py")


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, as absolute dotted names (relative imports resolved)."""
    package = ["annotations", *path.relative_to(ANNOTATIONS).parent.parts]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # `from . import tasks`
    return found


def services() -> list[Path]:
    return [path for path in ANNOTATIONS.rglob("*.py")
            if path.name != "tasks.py" and path.relative_to(ANNOTATIONS).parts[0] not in DOORS]


def test_the_walk_finds_a_relative_import_of_tasks():
    door = ANNOTATIONS / "views" / "exports.py"
    assert "annotations.tasks" in imported_modules(door)


@pytest.mark.parametrize("path", services(), ids=lambda p: str(p.relative_to(ANNOTATIONS)))
def test_no_service_imports_tasks(path):
    assert "annotations.tasks" not in imported_modules(path), f"{path.name} imports annotations.tasks"


@pytest.mark.parametrize("name", PURE_EXPORT_MODULES)
def test_the_exports_pure_modules_import_nothing_from_django(name):
    modules = imported_modules(ANNOTATIONS / "export" / name)
    assert not {m for m in modules if m == "django" or m.startswith("django.")}
    assert not {m for m in modules if m.startswith("annotations.models")}
