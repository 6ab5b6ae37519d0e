"""Session fixtures of the integration suite: one real deployment shared by every test.

Environment:
- ``IT_SQL_ALCHEMY_CONN``: the PostgreSQL URL (default: ``scripts/integration/postgres.sh`` prepares
  one and prints it);
- ``IT_WORK_DIR``: where AIRFLOW_HOME, logs, emulator data and ``results.json`` go (default: a
  temporary directory, kept so its logs can be read);
- ``IT_SOAK_RUNS`` (50), ``IT_SOAK_FAULT_RATE`` (0.2): the soak's size and fault rate;
- ``IT_PIPELINE_SOAK_RUNS`` (20): the pipeline soak's size (upload -> data job -> fine-tune -> deploy -> evaluate
  -> demote; same fault rate);
- ``IT_VECTOR_SYNC_FILES`` (1000): the documents of the vector sync soak's folder (same fault rate).
"""

from __future__ import annotations

import pytest

from tests.system.integration.harness import Deployment, metadata_db_url
from tests.system.integration.lifecycle import reset_emulator_around, running, work_dir


@pytest.fixture(scope="session")
def figures():
    """Measured figures; written to ``<work>/results.json`` at the end of the session."""
    data: dict = {}
    yield data


@pytest.fixture(scope="session")
def deployment(figures):
    dep = Deployment(work_dir("seekrflow-it-"), metadata_db_url(), job_duration=8.0)
    with running(dep, figures, echo="integration figures"):
        yield dep


@pytest.fixture
def emulator(deployment):
    """The emulator with an empty journal, no faults and the start-up config; faults cleared after."""
    yield from reset_emulator_around(deployment)
