"""Modules the emulator and the client's declarations load must not drag Airflow in."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "airflow_provider_seekrflow.emulator.app",
        "airflow_provider_seekrflow.client.alignment",
        "airflow_provider_seekrflow.client.data_jobs",
        "airflow_provider_seekrflow.client.fine_tunes",
        "airflow_provider_seekrflow.client.projects",
        # The provider info imports the connection form while Airflow lists providers.
        "airflow_provider_seekrflow.client.config",
        "airflow_provider_seekrflow.connection_form",
        "airflow_provider_seekrflow.vocabulary",
    ],
)
def test_module_imports_without_airflow(module):
    # A fresh interpreter: this test process has imported Airflow long ago.
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
