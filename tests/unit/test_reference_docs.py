"""docs/reference.md documents every parameter of every operator and sensor, and is up to date."""

from __future__ import annotations

import difflib
import importlib.util
import sys

import pytest

from tests.conftest import REPO

FIX = "add it to the class docstring, then run `python scripts/gen_reference.py`"


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_reference", REPO / "scripts" / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()
CLASSES = [cls for group in gen.provider_classes().values() for cls in group]


def test_every_operator_and_sensor_is_found():
    names = {cls.__name__ for cls in CLASSES}
    assert {"SeekrFlowUploadFileOperator", "SeekrFlowDataJobOperator", "SeekrFlowDataJobSensor"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_parameter_has_a_param_line(cls):
    missing = gen.undocumented(cls)
    assert not missing, (
        f"{cls.__module__}.{cls.__name__}: no `:param name:` description for "
        + ", ".join(f"{cls.__name__}({name}=...)" for name in missing)
        + f"; {FIX}"
    )


def _section(text: str, cls: type) -> str | None:
    head = f"### {cls.__name__}\n"
    return text.split(head, 1)[1].split("\n#", 1)[0] if head in text else None


def test_reference_is_up_to_date():
    committed = gen.OUTPUT.read_text(encoding="utf-8") if gen.OUTPUT.exists() else ""
    generated = gen.generate()
    if committed == generated:
        return
    # Name what changed: a class, or a parameter of one, that the committed file lacks or describes otherwise.
    changed = []
    for cls in CLASSES:
        old, new = _section(committed, cls), _section(generated, cls)
        if old is None:
            changed.append(cls.__name__)
            continue
        old_rows, new_rows = set(old.splitlines()), set(new.splitlines())
        changed += [
            f"{cls.__name__}.{param.name}"
            for param in gen.parameters(cls)
            if {row for row in new_rows if row.startswith(f"| `{param.name}` |")} - old_rows
        ]
    diff = "".join(
        list(
            difflib.unified_diff(
                committed.splitlines(True), generated.splitlines(True), "committed", "generated"
            )
        )[:40]
    )
    pytest.fail(
        f"docs/reference.md is stale (changed: {', '.join(changed) or 'text outside the tables'}); "
        f"run `python scripts/gen_reference.py`.\n{diff}"
    )
