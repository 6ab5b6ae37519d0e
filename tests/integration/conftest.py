"""Session fixtures of the integration suite: one real deployment shared by every test.

Environment:
- ``IT_SQL_ALCHEMY_CONN``: the PostgreSQL URL (default: ``scripts/integration/postgres.sh`` prepares
  one and prints it);
- ``IT_WORK_DIR``: where AIRFLOW_HOME, logs, emulator data and ``results.json`` go (default: a
  temporary directory, kept so its logs can be read);
- ``IT_SOAK_RUNS`` (50), ``IT_SOAK_FAULT_RATE`` (0.2): the soak's size and fault rate;
- ``IT_PIPELINE_SOAK_RUNS`` (20): the pipeline soak's size (upload -> data job -> fine-tune; same fault rate).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import pytest

from tests.integration.harness import Deployment, metadata_db_url


@pytest.fixture(scope="session")
def figures():
    """Measured figures; written to ``<work>/results.json`` at the end of the session."""
    data: dict = {}
    yield data


@pytest.fixture(scope="session")
def deployment(figures):
    work = Path(os.environ.get("IT_WORK_DIR") or tempfile.mkdtemp(prefix="seekrflow-it-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    dep = Deployment(work, metadata_db_url(), job_duration=8.0)
    figures["work_dir"] = str(work)
    try:
        dep.start()
        figures["startup"] = dict(dep.timings)
        yield dep
    finally:
        dep.stop()
        figures["harness_wall_s"] = round(time.monotonic() - started, 1)
        (work / "results.json").write_text(json.dumps(figures, indent=2, sort_keys=True, default=str))
        print(f"\nintegration figures: {work / 'results.json'}\n{json.dumps(figures, indent=2, default=str)}")


@pytest.fixture
def emulator(deployment):
    """The emulator with an empty journal, no faults and the start-up config; faults cleared after."""
    deployment.emulator.reset()
    yield deployment.emulator
    if deployment.emulator.process.alive:
        deployment.emulator.reset()
