"""The ``sources`` package imports in one direction: its face imports the submodules, never the reverse."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter

import pytest

from tests.conftest import REPO

PACKAGE = "airflow_provider_seekrflow.sources"
FOLDER = REPO / "airflow_provider_seekrflow" / "sources"


def _module_name(path) -> str:
    return PACKAGE if path.name == "__init__.py" else f"{PACKAGE}.{path.stem}"


def _own_imports(path) -> list[tuple[str, bool]]:
    """Each module of the package ``path`` imports, and whether the import sits at module level."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            # A relative import counts from the package, for __init__.py as for its submodules.
            base = (
                (f"{PACKAGE}.{node.module}" if node.module else PACKAGE) if node.level else node.module or ""
            )
            # ``from package import submodule`` imports the submodule; ``from package import name``, the face.
            targets = [
                f"{base}.{alias.name}" if base == PACKAGE and (FOLDER / f"{alias.name}.py").exists() else base
                for alias in node.names
            ]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        found += [(t, id(node) in top_level) for t in targets if t == PACKAGE or t.startswith(PACKAGE + ".")]
    return found


MODULES = {_module_name(path): _own_imports(path) for path in sorted(FOLDER.glob("*.py"))}


def test_the_layout_is_found():
    assert {f"{PACKAGE}.source", f"{PACKAGE}.resolver", f"{PACKAGE}.local", f"{PACKAGE}.remote"} <= set(
        MODULES
    )
    assert (f"{PACKAGE}.source", True) in MODULES[f"{PACKAGE}.local"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_submodule_imports_the_package_face(module):
    if module == PACKAGE:
        return
    assert PACKAGE not in {target for target, _ in MODULES[module]}, (
        f"{module} imports {PACKAGE} (its __init__): import the submodule that defines the name"
    )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_of_the_package_hides_in_a_function(module):
    hidden = sorted({target for target, top in MODULES[module] if not top})
    assert not hidden, f"{module} imports {hidden} inside a function: such an import can hide a cycle"


def test_the_package_imports_form_no_cycle():
    graph = {module: {target for target, _ in imports} for module, imports in MODULES.items()}
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as err:
        pytest.fail(f"import cycle in {PACKAGE}: {' -> '.join(err.args[1])}")
