"""The deployment itself: every component up, and the shipped example DAG runs end to end."""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def test_components_are_separate_processes(deployment):
    pids = {name: c.pid for name, c in deployment.components.items()}
    assert all(c.alive for c in deployment.components.values())
    assert len(set(pids.values()) | {deployment.emulator.process.pid}) == 5
    health = deployment.health()
    assert health["metadatabase"]["status"] == "healthy"
    assert health["scheduler"]["status"] == "healthy"
    assert health["triggerer"]["status"] == "healthy"
    assert deployment.sql_alchemy_conn.startswith("postgresql")


def test_example_alignment_dag_succeeds(deployment, emulator, figures):
    """example_seekrflow_alignment (upload -> generate, deferrable -> show sample) via the REST API."""
    started = time.monotonic()
    run_id = "example-smoke"
    deployment.api.trigger("example_seekrflow_alignment", run_id, {})
    assert deployment.api.wait_run("example_seekrflow_alignment", run_id, timeout=600) == "success"
    tis = deployment.api.task_instances("example_seekrflow_alignment", run_id)
    assert {t: ti["state"] for t, ti in tis.items()} == {
        "upload_documents": "success",
        "generate_pairs": "success",
        "show_sample_pair": "success",
    }
    sample = deployment.api.xcom("example_seekrflow_alignment", run_id, "show_sample_pair")
    assert sample["pairs"] > 0
    generates = [e for e in emulator.journal() if e["route"] == "alignment_generate"]
    assert len(generates) == 1
    figures["example_dag"] = {"wall_s": round(time.monotonic() - started, 1), "pairs": sample["pairs"]}
