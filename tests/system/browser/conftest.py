"""Session fixtures of the browser suite: the integration harness's deployment, and Chromium on its UI.

The deployment is ``tests.system.integration.harness.Deployment`` (PostgreSQL, api-server, scheduler with
LocalExecutor, triggerer, dag-processor, the emulator), set up for a person at a browser:

- a login page: the simple auth manager with one admin user and a password of this session (not
  ``simple_auth_manager_all_admins``);
- only the repository's ``example_dags/`` bundle, and new DAGs paused, so the UI unpauses the pipeline;
- ``[core] test_connection = Enabled`` for ``airflow connections test``.

Environment: ``IT_SQL_ALCHEMY_CONN`` (default: ``scripts/integration/postgres.sh`` with ``IT_PG_DB``,
default ``seekrflow_browser``), ``IT_WORK_DIR`` (default: a new temporary directory, kept),
``BROWSER_SCREENSHOT_DIR`` (default ``<work>/screenshots``), ``BROWSER_CHROMIUM`` (default
``/usr/bin/chromium``). ``scripts/browser/run.sh`` (``make browser``) sets them.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

import pytest

from tests.system.browser.ui import CHROMIUM_ARGS, UI, VIEWPORT
from tests.system.integration.harness import EXAMPLE_DAGS, Deployment, metadata_db_url, wait_for
from tests.system.integration.lifecycle import running, work_dir

PIPELINE_DAG = "example_seekrflow_pipeline"
USERNAME = "admin"


@pytest.fixture(scope="session")
def figures():
    """Measured figures; written to ``<work>/results.json`` at the end of the session."""
    return {}


@pytest.fixture(scope="session")
def deployment(figures):
    started = time.monotonic()
    bundles = [
        {
            "name": "seekrflow_examples",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(EXAMPLE_DAGS), "refresh_interval": 0},
        }
    ]
    dep = Deployment(
        work_dir("seekrflow-browser-"),
        metadata_db_url("seekrflow_browser"),
        job_duration=4.0,
        parallelism=4,  # one pipeline run at a time: fewer idle LocalExecutor workers on a shared machine
        users={USERNAME: secrets.token_urlsafe(12)},
        env={
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
        },
        dag_ids=(),
    )
    with running(dep, figures):
        wait_for(
            f"DAG {PIPELINE_DAG} to be parsed",
            lambda: dep.api.get(f"dags/{PIPELINE_DAG}"),
            240,
            2,
            dep.components["dag-processor"].tail,
        )
        figures["startup"]["until_pipeline_parsed_s"] = round(time.monotonic() - started, 1)
        yield dep


@pytest.fixture(scope="session")
def password(deployment) -> str:
    return deployment.users[USERNAME]


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("BROWSER_CHROMIUM", "/usr/bin/chromium")
    if not os.access(executable, os.X_OK):
        pytest.fail(f"no Chromium at {executable}: run scripts/browser/install_chromium.sh (make browser)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def shots_root(deployment) -> Path:
    root = Path(os.environ.get("BROWSER_SCREENSHOT_DIR") or deployment.work / "screenshots")
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(scope="session")
def ui_session(deployment, chromium, shots_root):
    """One browser context (one login) for the whole tour."""
    context = chromium.new_context(
        viewport=VIEWPORT, locale="en-US", timezone_id="UTC", reduced_motion="reduce", color_scheme="light"
    )
    try:
        yield UI(context, deployment.api_url, shots_root)
    finally:
        context.close()


@pytest.fixture
def ui(ui_session, request, capsys):
    """The tour's tab, its screenshots going to ``<screenshot dir>/<test name>/`` (printed after the test)."""
    folder = ui_session.use_shots_dir(request.node.name)
    for old in folder.glob("*.png"):
        old.unlink()
    yield ui_session
    with capsys.disabled():
        print(f"\n>>> screenshots of {request.node.name}: {folder} ({len(list(folder.glob('*.png')))} PNG)")


@pytest.fixture(scope="session")
def tour():
    """What one test leaves for the next (the pipeline's run id); each test also works alone."""
    return {}
