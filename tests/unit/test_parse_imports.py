"""DAG parsing stays cheap: importing an operator or sensor module loads no hook, client or job kind.

Those (pydantic models, the transports) load when a task runs: in ``execute``, ``poke``,
``execute_complete``, ``on_kill`` or a property first read then (``hook``, ``kind``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import airflow_provider_seekrflow

PACKAGE = Path(airflow_provider_seekrflow.__file__).resolve().parent
ROOT = PACKAGE.parent
# Every operator and sensor module, found on disk so that a new one is checked too.
MODULES = sorted(
    f"airflow_provider_seekrflow.{path.parent.name}.{path.stem}"
    for folder in ("operators", "sensors")
    for path in (PACKAGE / folder).glob("*.py")
    if path.stem != "__init__"
)
HEAVY_PREFIXES = ("airflow_provider_seekrflow.hooks", "airflow_provider_seekrflow.client")
HEAVY_MODULES = {
    f"airflow_provider_seekrflow.jobs.{name}"
    for name in ("kinds", "alignment", "data_job", "fine_tune", "deployment", "ingestion")
}

# A fresh interpreter imports what every DAG file has already paid for (``airflow.sdk``; Airflow 2
# has no Task SDK, its DAG files import ``airflow``), then the module, and prints what the module
# added. Modules Airflow itself loaded before (its provider discovery reads the connection form,
# and so the client's connection settings) are not the module's doing.
CHILD = """
import json, sys, warnings
warnings.simplefilter("ignore")
try:
    import airflow.sdk
except ImportError:
    from airflow import DAG
before = set(sys.modules)
__import__(sys.argv[1])
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_every_operator_and_sensor_module_is_checked():
    assert "airflow_provider_seekrflow.operators.job_base" in MODULES
    assert "airflow_provider_seekrflow.sensors.job_base" in MODULES
    assert len(MODULES) >= 8


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_no_hook_client_or_job_kind(module):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, module],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(ROOT),
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    added = json.loads(proc.stdout.strip().splitlines()[-1])
    assert module in added, f"{module} was imported before the test imported it: {proc.stderr[-2000:]}"
    heavy = [name for name in added if name.startswith(HEAVY_PREFIXES) or name in HEAVY_MODULES]
    assert heavy == [], f"importing {module} loaded {', '.join(heavy)}"
