"""Every third-party module the package imports is declared in pyproject.toml (issue 19)."""

from __future__ import annotations

import ast
import sys
from importlib.metadata import distributions, requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_provider_seekrflow"

# Imported only inside get_connection_form_widgets, which only Airflow 2's webserver calls; Airflow 2
# installs them itself, and declaring them would pull Flask-AppBuilder into every Airflow 3 install.
AIRFLOW_2_UI = {"flask_appbuilder", "flask_babel", "wtforms"}
# Where an extra's modules may be imported, besides everywhere the base dependencies may.
EXTRA_OF_FOLDER = {"emulator": "emulator"}
# Imported only when a user's installed extra brings them (parquet outputs; s3 through Airflow's own
# object storage, so nothing of the amazon provider is imported by name).
OPTIONAL_EVERYWHERE = {"parquet"}


def imported_modules(path: Path) -> set[str]:
    """Return the top-level names a file imports (absolute imports only)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def module_providers() -> dict[str, set[str]]:
    """Return the distributions that install each top-level module, from their RECORD files.

    importlib.metadata.packages_distributions() of Python 3.10 reads only top_level.txt, which most
    wheels no longer ship.
    """
    providers: dict[str, set[str]] = {}
    for distribution in distributions():
        name = canonicalize_name(distribution.metadata["Name"])
        for file in distribution.files or []:
            top = file.parts[0]
            if top.endswith(".py"):
                top = top[:-3]
            elif len(file.parts) == 1 or top.endswith((".dist-info", ".data")) or top == "..":
                continue
            providers.setdefault(top, set()).add(name)
    return providers


def declared() -> dict[str | None, set[str]]:
    """Return the declared distributions by extra (None: the base dependencies), canonical names."""
    by_extra: dict[str | None, set[str]] = {}
    for line in requires("airflow-provider-seekrflow") or []:
        requirement = Requirement(line)
        extra = None
        if requirement.marker is not None:
            extra = next(
                (
                    name
                    for name in ("emulator", "parquet", "s3", "openlineage")
                    if requirement.marker.evaluate({"extra": name})
                ),
                "other",
            )
        by_extra.setdefault(extra, set()).add(canonicalize_name(requirement.name))
    return by_extra


def test_every_third_party_import_is_declared():
    providers = module_providers()
    by_extra = declared()
    undeclared = []
    for path in sorted(PACKAGE.rglob("*.py")):
        folder = path.relative_to(PACKAGE).parts[0]
        allowed = set(by_extra.get(None, set()))
        for extra in OPTIONAL_EVERYWHERE | {EXTRA_OF_FOLDER.get(folder, "")}:
            allowed |= by_extra.get(extra, set())
        for module in imported_modules(path):
            if (
                module in sys.stdlib_module_names
                or module in AIRFLOW_2_UI
                or module == "airflow_provider_seekrflow"
            ):
                continue
            providing = providers.get(module, set())
            if module == "airflow":
                continue  # apache-airflow and its providers share the namespace; apache-airflow is declared
            if not providing & allowed:
                undeclared.append(
                    f"{path.relative_to(PACKAGE.parent)}: {module} ({', '.join(sorted(providing)) or 'not installed'})"
                )
    assert not undeclared, "imported but not declared in pyproject.toml:\n" + "\n".join(undeclared)


def test_the_floors_close_the_known_holes():
    base = {
        Requirement(line).name.lower(): Requirement(line)
        for line in requires("airflow-provider-seekrflow") or []
        if ";" not in line
    }
    # CVE-2024-47081 (.netrc credentials), CVE-2025-66471 (decompression in read(amt))
    assert not base["requests"].specifier.contains("2.32.3")
    assert base["requests"].specifier.contains("2.32.4")
    assert not base["urllib3"].specifier.contains("2.5.0")
    assert base["urllib3"].specifier.contains("2.6.0")
    extras = [
        Requirement(line) for line in requires("airflow-provider-seekrflow") or [] if "extra ==" in line
    ]
    for pyarrow in (r for r in extras if r.name == "pyarrow"):  # CVE-2023-47248
        assert not pyarrow.specifier.contains("14.0.0")
    assert "cryptography" not in base  # the Fernet break is Airflow's; the provider never needs it
