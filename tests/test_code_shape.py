"""The shape the team keeps automation/ in (docs/architecture.md), checked on the source itself.

- No import cycles, deferred imports (inside functions, under TYPE_CHECKING) included: the layers
  only import downward.
- No private name (leading underscore) crosses a module: none imported, none reached on another
  object (`other._name`), ours or a library's. A library's private name is allowed only where no
  public way exists, listed below with its reason and a test that fails when the library changes.
- No function over 80 lines, no class over 350 lines.
- The functional core imports no I/O library.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "automation"

MAX_FUNCTION_LINES = 80
MAX_CLASS_LINES = 350

# "module:function" → why it is still long. Remove an entry when the unit is split; never add one.
LONG_UNITS_BEING_SPLIT: dict[str, str] = {}
# Import cycles still being untangled (each a frozenset of module names). Never add one.
CYCLES_BEING_UNTANGLED: dict[frozenset[str], str] = {}
# (module, "object._name" or imported name) → why no public way exists; each is exercised against
# the pinned library by tests/test_library_privates.py, which fails loudly when it changes.
PRIVATE_NAMES_KEPT = {
    ("automation.adapters.google.client", "_client"): "google-auth: jwt_grant without its sleeping retries",
    ("automation.adapters.google.client", "ServiceAccountCredentials._perform_refresh_token"):
        "google-auth: no public way to refresh a token without its sleeping retries",
    ("automation.adapters.google.client", "self._make_authorization_grant_assertion"): "google-auth: as above",
    ("automation.adapters.google.client", "self._token_uri"): "google-auth: as above",
    ("automation.adapters.google.client", "self._use_self_signed_jwt"): "google-auth: as above",
    ("automation.adapters.workbook", "sheet._cells"): "openpyxl: iter_rows fills every gap with a cell",
    ("automation.adapters.workbook", "sheet._images"): "openpyxl: no public list of a sheet's pictures",
    ("automation.adapters.workbook", "image._data"): "openpyxl: no public way to a picture's bytes",
    ("automation.adapters.workbook_tabs", "cell._style"): "openpyxl: no public way to give cells one style record",
}
CORE = ("automation.domain", "automation.presentation")
IO_LIBRARIES = ("gspread", "google", "openpyxl", "smtplib", "socket", "requests", "aiosmtpd")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(encoding="utf-8"), filename=str(path)) for name, path in MODULES.items()}


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def imported_modules(name: str, tree: ast.AST) -> set[str]:
    """Every module `name` imports, anywhere in its body (deferred imports included)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package(name) else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from pkg import module` imports that module
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target)
    return {module for module in found if module in MODULES and module != name}


def import_graph() -> dict[str, set[str]]:
    return {name: imported_modules(name, tree) for name, tree in TREES.items()}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def is_private(text: str) -> bool:
    return text.startswith("_") and not text.startswith("__")


def defined_here(tree: ast.AST) -> set[str]:
    """The private names a module defines itself (functions, classes, attributes it assigns)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and \
                isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return {name for name in names if is_private(name)}


def private_names(name: str, tree: ast.AST) -> set[str]:
    """Private names this module takes from elsewhere: imported, reached on an object by a name
    the module does not define itself, or looked up by string (`getattr(x, "_name")`); and a
    library's private method overridden (`Class._method`)."""
    own = defined_here(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.update(alias.name for alias in node.names if is_private(alias.name))
        elif isinstance(node, ast.Attribute) and is_private(node.attr) and node.attr not in own:
            found.add(ast.unparse(node))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) >= 2:
            key = node.args[1]
            if isinstance(key, ast.Constant) and isinstance(key.value, str) and is_private(key.value):
                found.add(f"getattr({key.value})")
    found.update(overridden_library_privates(name))
    return found


def overridden_library_privates(name: str) -> set[str]:
    """`Class._method` for each private method a class of ours defines over a library's."""
    if name.endswith("__main__"):
        return set()  # importing it would run the command line
    module = importlib.import_module(name)
    found = set()
    for value in vars(module).values():
        if not isinstance(value, type) or value.__module__ != name:
            continue
        for attribute in vars(value):
            if not is_private(attribute) or not inspect.isfunction(vars(value)[attribute]):
                continue
            for base in value.__mro__[1:]:
                if not base.__module__.startswith("automation") and base is not object and attribute in vars(base):
                    found.add(f"{value.__name__}.{attribute}")
    return found


def test_the_import_graph_is_seen():
    graph = import_graph()
    assert "automation.application.one_center" in graph["automation.application.all_centers"]
    assert "automation.adapters.ports" in graph["automation.adapters.workbook"]


def test_no_import_cycles():
    found = {cycle for cycle in cycles(import_graph()) if cycle not in CYCLES_BEING_UNTANGLED}
    assert not found, "import cycles (deferred imports count too): " + "; ".join(
        " ↔ ".join(sorted(cycle)) for cycle in found)


def test_the_known_cycles_still_exist():
    """An untangled cycle is removed from CYCLES_BEING_UNTANGLED, so it cannot come back."""
    gone = set(CYCLES_BEING_UNTANGLED) - set(cycles(import_graph()))
    assert not gone, f"no longer a cycle, remove from CYCLES_BEING_UNTANGLED: {gone}"


def test_no_private_names_cross_modules():
    found = sorted((name, text) for name, tree in TREES.items() for text in private_names(name, tree)
                   if (name, text) not in PRIVATE_NAMES_KEPT)
    assert not found, "private names used across modules: " + ", ".join(f"{m}: {t}" for m, t in found)


def test_every_kept_private_name_is_still_used():
    used = {(name, text) for name, tree in TREES.items() for text in private_names(name, tree)}
    stale = set(PRIVATE_NAMES_KEPT) - used
    assert not stale, f"no longer used, remove from PRIVATE_NAMES_KEPT: {stale}"


def long_units() -> dict[str, int]:
    found = {}
    for name, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                limit = MAX_FUNCTION_LINES
            elif isinstance(node, ast.ClassDef):
                limit = MAX_CLASS_LINES
            else:
                continue
            lines = node.end_lineno - node.lineno + 1
            if lines > limit:
                found[f"{name}:{node.name}"] = lines
    return found


def test_no_function_over_80_lines_and_no_class_over_350():
    found = {unit: lines for unit, lines in long_units().items() if unit not in LONG_UNITS_BEING_SPLIT}
    assert not found, (f"functions over {MAX_FUNCTION_LINES} lines / classes over {MAX_CLASS_LINES} lines "
                       f"(split them into named steps): {found}")


def test_the_long_units_being_split_are_still_long():
    gone = set(LONG_UNITS_BEING_SPLIT) - set(long_units())
    assert not gone, f"now short enough, remove from LONG_UNITS_BEING_SPLIT: {gone}"


@pytest.mark.parametrize("name", [name for name in MODULES if name.startswith(CORE)])
def test_the_core_imports_no_io_library(name):
    imported = set()
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            imported.add((node.module or "").split(".")[0])
    assert not imported & set(IO_LIBRARIES), f"{name} imports {imported & set(IO_LIBRARIES)}"


def test_the_core_imports_no_adapter_nor_application():
    for name in MODULES:
        if name.startswith(CORE):
            upward = {m for m in import_graph()[name]
                      if m.startswith(("automation.adapters", "automation.application", "automation.wiring"))}
            assert not upward, f"{name} imports {upward}"
