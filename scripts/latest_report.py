"""Report what a `make test-latest` run found: failures by error, packages moved, known breaks.

    python scripts/latest_report.py WORK TARGET=VENV=LABEL [...]

WORK holds the matrix's runs (LABEL/junit.xml, or LABEL.1of2/... when sharded); TARGET names the
venv's lock (locks/TARGET.txt) and its known breaks (TARGET_KNOWN_BREAKS in locks/targets.sh).
"""

from __future__ import annotations

import collections
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def locked_versions(target: str) -> dict[str, str]:
    """Return the versions locks/<target>.txt pins, by canonical name."""
    pins = {}
    for line in (REPO / "locks" / f"{target}.txt").read_text().splitlines():
        if match := PIN.match(line):
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def installed_versions(venv: str) -> dict[str, str]:
    """Return the versions installed in a venv, by canonical name (the project itself left out)."""
    script = "import json, importlib.metadata as m; print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    found = json.loads(subprocess.check_output([f"{venv}/bin/python", "-c", script], text=True))
    return {
        canonicalize_name(name): version
        for name, version in found.items()
        if canonicalize_name(name) != "airflow-provider-seekrflow"
    }


def target_setting(variable: str) -> str:
    """Return a variable of locks/targets.sh ('' when unset)."""
    return subprocess.check_output(
        ["bash", "-c", f'. locks/targets.sh && printf "%s" "${{{variable}:-}}"'], cwd=REPO, text=True
    )


def break_verdict(constraint: str, installed: dict[str, str], errors: collections.Counter[str]) -> str:
    """Say whether a known break (a constraint the lock keeps) still breaks on the newest packages."""
    requirement = Requirement(constraint)
    version = installed.get(canonicalize_name(requirement.name))
    if version is None or requirement.specifier.contains(version, prereleases=True):
        return f"the newest {requirement.name} ({version}) is inside it: nothing learnt this run"
    symptom = target_setting(f"{requirement.name.upper().replace('-', '_')}_BREAK_SYMPTOM")
    hit = sum(count for message, count in errors.items() if symptom and symptom in message)
    if hit:
        return f"{requirement.name} {version} installed, {hit} failures say {symptom!r}: still broken"
    return (
        f"{requirement.name} {version} installed, no failure says {symptom!r}: resolved upstream; "
        "drop the constraint (locks/targets.sh, README Install) and make lock"
    )


def failures(work: Path, label: str) -> tuple[int, int, collections.Counter[str]]:
    """Return (tests, failed, failed tests by the first line of their error) of a label's runs."""
    # The whole message is kept for matching symptoms; only the printout is cut.
    tests = failed = 0
    errors: collections.Counter[str] = collections.Counter()
    for junit in sorted(work.glob(f"{label}*/junit.xml")):
        for case in ET.parse(junit).getroot().iter("testcase"):
            tests += 1
            for outcome in ("failure", "error"):
                node = case.find(outcome)
                if node is not None:
                    failed += 1
                    message = (node.get("message") or node.text or "").strip().splitlines()
                    errors[message[-1] if message else outcome] += 1
                    break
    if not tests and not any(work.glob(f"{label}*/junit.xml")):
        failed = 1
        errors["no JUnit report: the run did not start (see the matrix log)"] += 1
    return tests, failed, errors


def main(argv: list[str]) -> int:
    """Print the report; return 0."""
    work = Path(argv[1])
    for spec in argv[2:]:
        target, venv, label = spec.split("=", 2)
        tests, failed, errors = failures(work, label)
        print(f"================================================================ {label} (latest)")
        print(f"{tests} tests, {failed} failed")
        for message, count in errors.most_common(8):
            print(f"  {count:5d} x {message[:200]}")
        locked, installed = locked_versions(target), installed_versions(venv)
        moved = sorted(
            (name, locked.get(name, "-"), version)
            for name, version in installed.items()
            if locked.get(name) != version
        )
        moved += sorted((name, version, "-") for name, version in locked.items() if name not in installed)
        print(f"packages moved against locks/{target}.txt: {len(moved)}")
        for name, old, new in moved:
            print(f"  {name}: {old} -> {new}")
        for constraint in target_setting(f"{target.upper()}_KNOWN_BREAKS").split():
            print(f"known break {constraint}: {break_verdict(constraint, installed, errors)}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
