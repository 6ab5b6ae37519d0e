"""The provider as Airflow sees it: entry point, CLI listing, connection form, secrets backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pytest

import airflow_provider_seekrflow
from airflow_provider_seekrflow.get_provider_info import get_provider_info


def _airflow(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_entry_point_declares_get_provider_info():
    found = [
        ep
        for ep in entry_points(group="apache_airflow_provider")
        if ep.value.startswith("airflow_provider_seekrflow")
    ]
    assert len(found) == 1
    assert found[0].load() is get_provider_info


def test_provider_info_names_every_module_that_exists():
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-seekrflow"
    assert info["versions"] == [airflow_provider_seekrflow.__version__]
    modules = [
        m
        for section in ("hooks", "operators", "sensors", "triggers")
        for entry in info[section]
        for m in entry["python-modules"]
    ]
    assert {
        "airflow_provider_seekrflow.operators.files",
        "airflow_provider_seekrflow.operators.data_job",
        "airflow_provider_seekrflow.operators.fine_tune",
        "airflow_provider_seekrflow.sensors.data_job",
        "airflow_provider_seekrflow.sensors.fine_tune",
        "airflow_provider_seekrflow.triggers.job",
    } <= set(modules)
    for module in modules:
        __import__(module)
    (conn_type,) = info["connection-types"]
    assert conn_type["connection-type"] == "seekrflow"
    assert conn_type["hook-class-name"] == "airflow_provider_seekrflow.hooks.seekrflow.SeekrFlowHook"
    assert conn_type["ui-field-behaviour"]["relabeling"] == {"host": "API base URL", "password": "API key"}
    # Every extra the hook reads is on the form, each with a placeholder.
    extras = {"team_id", "timeout", "connect_timeout", "max_retries", "verify", "console_url"}
    assert set(conn_type["conn-fields"]) == extras
    assert extras | {"host"} <= set(conn_type["ui-field-behaviour"]["placeholders"])


def test_airflow_cli_lists_the_provider():
    assert "airflow-provider-seekrflow" in _airflow("providers", "list")
    details = _airflow("providers", "get", "airflow-provider-seekrflow")
    assert airflow_provider_seekrflow.__version__ in details


def test_airflow_registers_the_connection_type_and_form_fields():
    hooks = _airflow("providers", "hooks")
    assert "airflow_provider_seekrflow.hooks.seekrflow.SeekrFlowHook" in hooks
    widgets = _airflow("providers", "widgets")
    if not widgets.strip() or "No data found" in widgets:
        # Airflow 3.0-3.2 list form widgets only from the FAB forms of get_connection_form_widgets
        # (3.3 reads the provider info's conn-fields): without the FAB provider there are none to list.
        import importlib.util

        assert importlib.util.find_spec("flask_appbuilder") is None, widgets
        pytest.skip("this Airflow lists connection form widgets only with the FAB provider installed")
    for field in ("team_id", "timeout", "connect_timeout", "max_retries", "verify", "console_url"):
        assert f"extra__seekrflow__{field}" in widgets


def test_connection_from_a_secrets_backend(seekrflow_connection, tmp_path):
    """A connection kept in a secrets backend (the local-filesystem one) works like any other."""
    emulator = seekrflow_connection
    connections = tmp_path / "connections.json"
    connections.write_text(
        json.dumps(
            {
                "seekrflow_vault": {
                    "conn_type": "seekrflow",
                    "host": emulator.base_url,
                    "password": emulator.api_key,
                }
            }
        )
    )
    script = textwrap.dedent(
        """
        from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
        ok, message = SeekrFlowHook("seekrflow_vault").test_connection()
        print(ok, message)
        """
    )
    env = {
        **os.environ,
        "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"connections_file_path": str(connections)}),
    }
    env.pop("AIRFLOW_CONN_SEEKRFLOW_DEFAULT", None)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1].startswith("True Connected to SeekrFlow")
    assert emulator.api_key not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "module", ["airflow_provider_seekrflow.emulator", "airflow_provider_seekrflow.validation"]
)
def test_light_modules_do_not_import_airflow(module):
    """The emulator and the validator run without paying for an Airflow import."""
    code = f"import sys, {module}; print('airflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
