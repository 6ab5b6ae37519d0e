"""The CeleryExecutor deployment itself: every component its own live process, both workers and triggerers up.

The batch of pipelines spread over them is test_02_load.py.
"""

from __future__ import annotations

import os

import pytest

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(1200)]

RUNS = int(os.environ.get("IT_DIST_RUNS", "8"))
FAULT_RATE = float(os.environ.get("IT_DIST_FAULT_RATE", "0.1"))
PREFIX = "dist-batch-"


def test_every_component_is_a_separate_live_process(deployment, figures):
    names = ["api-server", "scheduler", "dag-processor", "worker-1", "worker-2", "triggerer-1", "triggerer-2"]
    assert sorted(deployment.components) == sorted(names)
    assert deployment.workers == ["worker-1", "worker-2"]
    assert deployment.triggerers == ["triggerer-1", "triggerer-2"]
    assert all(deployment.components[name].alive for name in names)
    assert deployment.redis is not None and deployment.redis.pid is not None
    pids = {deployment.components[name].pid for name in names}
    pids |= {deployment.emulator.process.pid, deployment.redis.pid}
    assert len(pids) == len(names) + 2
    assert deployment.broker_url.startswith("redis://127.0.0.1:")
    assert deployment.env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql")

    health = deployment.health()
    for part in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[part]["status"] == "healthy", health
    assert deployment.celery_workers_alive() == ["worker-1", "worker-2"]
    assert sorted(deployment.triggerers_alive()) == ["triggerer-1", "triggerer-2"]
    figures["components"] = {
        "pids": {name: deployment.components[name].pid for name in names},
        "redis_pid": deployment.redis.pid,
        "health": {part: value.get("status") for part, value in health.items() if isinstance(value, dict)},
    }
