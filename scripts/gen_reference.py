"""
Generate ``docs/reference.md``: every operator and sensor's parameters, and the connection's fields.

Run from the repository root, in any of the project's virtualenvs (the output does not depend on the
Airflow version)::

    python scripts/gen_reference.py            # (re)write docs/reference.md
    python scripts/gen_reference.py --check    # exit 1, with a diff, when docs/reference.md is stale

Everything comes from the code: the classes from the provider metadata (``get_provider_info``), each
parameter and its default from ``__init__`` (our own base classes' included), "templated" from
``template_fields``, the descriptions from the class docstring's ``:param name:`` lines, and the
connection's fields from ``connection_form``. ``tests/unit/test_reference_docs.py`` fails when the
file is stale or a parameter has no ``:param`` line.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib
import inspect
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "docs" / "reference.md"
PACKAGE = "airflow_provider_seekrflow"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# BaseSensorOperator's own arguments (the same in Airflow 2.11 and 3.x), listed unless ours override them.
SENSOR_BASE_ARGUMENTS = (
    "poke_interval",
    "timeout",
    "soft_fail",
    "mode",
    "exponential_backoff",
    "max_wait",
    "silent_fail",
    "never_fail",
)
PARAM_LINE = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+):\s*(.*)$")
RETURNS = re.compile(r"\breturns?\b|\bXCom\b|\bpush", re.IGNORECASE)


def provider_classes() -> dict[str, list[type]]:
    """Return the public operator and sensor classes of the provider metadata's modules, in order."""
    from airflow.providers.common.compat.sdk import BaseOperator, BaseSensorOperator

    from airflow_provider_seekrflow.get_provider_info import get_provider_info

    info = get_provider_info()
    found: dict[str, list[type]] = {}
    for group, base in (("operators", BaseOperator), ("sensors", BaseSensorOperator)):
        found[group] = []
        for entry in info[group]:
            for module_name in entry["python-modules"]:
                module = importlib.import_module(module_name)
                classes = [
                    obj
                    for name, obj in vars(module).items()
                    if inspect.isclass(obj)
                    and not name.startswith("_")
                    and obj.__module__ == module_name
                    and issubclass(obj, base)
                ]
                found[group].extend(sorted(classes, key=lambda cls: inspect.getsourcelines(cls)[1]))
    return found


def own_inits(cls: type) -> list[Any]:
    """Return the unwrapped ``__init__`` of the class and of each of our base classes, subclass first."""
    return [
        inspect.unwrap(vars(klass)["__init__"])
        for klass in cls.__mro__
        if klass.__module__.startswith(PACKAGE) and "__init__" in vars(klass)
    ]


def parameters(cls: type) -> list[inspect.Parameter]:
    """Return the public ``__init__`` parameters of the class, its own first, then our base classes'."""
    seen: dict[str, inspect.Parameter] = {}
    for init in own_inits(cls):
        for param in list(inspect.signature(init).parameters.values())[1:]:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or param.name.startswith("_"):
                continue
            seen.setdefault(param.name, param)
    return list(seen.values())


def default_sources(cls: type) -> dict[str, ast.expr]:
    """Return each parameter's default as written in the source, for defaults read from Airflow's config."""
    sources: dict[str, ast.expr] = {}
    for init in reversed(own_inits(cls)):
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
        args = next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)).args
        positional = args.posonlyargs + args.args
        pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True))
        pairs += [
            (arg, node)
            for arg, node in zip(args.kwonlyargs, args.kw_defaults, strict=True)
            if node is not None
        ]
        sources.update({arg.arg: node for arg, node in pairs})
    return sources


def render_default(param: inspect.Parameter, source: ast.expr | None) -> str:
    """Return the default as the table shows it: the config option it comes from, or its repr."""
    if param.default is inspect.Parameter.empty:
        return "required"
    if isinstance(source, ast.Call) and ast.unparse(source.func).startswith("conf.get"):
        section, key = (ast.literal_eval(arg) for arg in source.args[:2])
        fallback = next((kw.value for kw in source.keywords if kw.arg == "fallback"), None)
        unset = f" (`{ast.unparse(fallback)}` when unset)" if fallback is not None else ""
        return f"config `[{section}] {key}`{unset}"
    text = repr(param.default)
    if re.search(r" at 0x[0-9a-f]+", text):  # an object without a stable repr: show the source
        text = ast.unparse(source) if source is not None else type(param.default).__name__
    return f"`{text}`"


def docstring_parts(cls: type) -> tuple[list[str], dict[str, str]]:
    """Return the docstring's paragraphs before its field list, and its ``:param`` descriptions."""
    lines = inspect.cleandoc(cls.__doc__ or "").splitlines()
    fields_at = next((i for i, line in enumerate(lines) if line.startswith(":")), len(lines))
    paragraphs = [" ".join(p.split()) for p in "\n".join(lines[:fields_at]).split("\n\n") if p.strip()]
    params: dict[str, list[str]] = {}
    current = None
    for line in lines[fields_at:]:
        match = PARAM_LINE.match(line)
        if match:
            current = match[1]
            params[current] = [match[2].strip()]
        elif current and line[:1].isspace() and line.strip():
            params[current].append(line.strip())
        else:
            current = None
    return paragraphs, {name: " ".join(part for part in text if part) for name, text in params.items()}


def param_docs(cls: type) -> dict[str, str]:
    """Return the ``:param`` descriptions of the class's own docstring."""
    return docstring_parts(cls)[1]


def undocumented(cls: type) -> list[str]:
    """Return the public ``__init__`` parameters the class's docstring gives no ``:param`` description."""
    docs = param_docs(cls)
    return [param.name for param in parameters(cls) if not docs.get(param.name, "").strip()]


def markdown(text: str) -> str:
    """Turn the docstring's reST literals into Markdown ones, safe inside a table cell."""
    return re.sub(r"``([^`]+)``", r"`\1`", text).replace("|", "\\|")


def class_section(cls: type, group: str) -> list[str]:
    """Return the Markdown section of one operator or sensor."""
    paragraphs, docs = docstring_parts(cls)
    sources = default_sources(cls)
    templated = set(getattr(cls, "template_fields", ()))
    out = [f"### {cls.__name__}", "", f"`from {cls.__module__} import {cls.__name__}`", ""]
    if paragraphs:
        out += [markdown(paragraphs[0]), ""]
    # What it returns and pushes, as the docstring says it beyond the first paragraph shown above.
    sentences = [
        s for p in paragraphs[1:] for s in re.split(r"(?<=\.)\s+(?=[A-Z`(])", p) if RETURNS.search(s)
    ]
    if sentences:
        out += ["**Returns / XCom:**", ""] + [f"- {markdown(s)}" for s in sentences] + [""]
    out += ["| parameter | default | templated | description |", "| --- | --- | --- | --- |"]
    for param in parameters(cls):
        description = re.sub(r"\s*\(templated\)", "", docs.get(param.name, ""))
        default = render_default(param, sources.get(param.name))
        mark = "yes" if param.name in templated else ""
        out.append(f"| `{param.name}` | {default} | {mark} | {markdown(description)} |")
    if group == "sensors":
        names = {param.name for param in parameters(cls)}
        inherited = ", ".join(f"`{name}`" for name in SENSOR_BASE_ARGUMENTS if name not in names)
        out += ["", f"Also BaseSensorOperator's {inherited}."]
    return [*out, ""]


def connection_section() -> list[str]:
    """Return the Markdown section of the connection, from the form's definition."""
    from airflow_provider_seekrflow.connection_form import (
        EXTRA_FIELDS,
        HIDDEN_FIELDS,
        RELABELING,
        placeholders,
    )
    from airflow_provider_seekrflow.get_provider_info import get_provider_info
    from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook

    (conn_type,) = get_provider_info()["connection-types"]
    shown = placeholders()
    out = [
        "## Connection",
        "",
        f"Connection type `{conn_type['connection-type']}` (hook `{conn_type['hook-class-name']}`); "
        f"the default connection id is `{SeekrFlowHook.default_conn_name}`. The form hides "
        + ", ".join(f"`{name}`" for name in HIDDEN_FIELDS)
        + ".",
        "",
        "| field | label | placeholder |",
        "| --- | --- | --- |",
    ]
    out += [f"| `{name}` | {label} | `{shown[name]}` |" for name, label in RELABELING.items()]
    out += [
        "",
        "Extras (the connection's `extra` JSON), all optional:",
        "",
        "| extra | label | type | bounds | placeholder | description |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for field in EXTRA_FIELDS:
        bounds = ", ".join(filter(None, (field.lower_bound_text(), field.upper_bound_text())))
        out.append(
            f"| `{field.name}` | {field.label} | {field.kind} | {bounds} | `{field.placeholder}` "
            f"| {markdown(field.description)} |"
        )
    return [*out, ""]


def generate() -> str:
    """Return the whole of ``docs/reference.md``."""
    classes = provider_classes()
    out = [
        "# Reference",
        "",
        "<!-- Generated by scripts/gen_reference.py from the code; do not edit by hand. -->",
        "",
        "Every parameter of every operator and sensor, with its default, whether it is templated "
        "(Jinja-rendered before the task runs), and what it does. Every operator also takes "
        "BaseOperator's arguments (`task_id`, `retries`, `execution_timeout`, `do_xcom_push`, ...), "
        "and every sensor BaseSensorOperator's (`mode`, `poke_interval`, `timeout`, `soft_fail`, ...) "
        "where the table does not list them. A default read from Airflow's configuration is shown "
        "as its option.",
        "",
    ]
    for group, title in (("operators", "Operators"), ("sensors", "Sensors")):
        out += [f"## {title}", ""]
        for cls in classes[group]:
            out += class_section(cls, group)
    out += connection_section()
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write ``docs/reference.md``, or with ``--check`` report whether it is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/reference.md is stale")
    args = parser.parse_args(argv)
    text = generate()
    if not args.check:
        OUTPUT.write_text(text, encoding="utf-8")
        print(f"wrote {OUTPUT.relative_to(REPO)}")
        return 0
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
    if current == text:
        return 0
    diff = difflib.unified_diff(
        current.splitlines(keepends=True),
        text.splitlines(keepends=True),
        "docs/reference.md (committed)",
        "docs/reference.md (generated)",
    )
    sys.stdout.writelines(diff)
    print("docs/reference.md is stale: run python scripts/gen_reference.py", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
