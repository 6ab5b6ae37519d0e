"""Session fixtures of the distributed suite: Airflow 3.3 on CeleryExecutor, as production runs it.

The deployment is ``tests.system.integration.harness.Deployment`` with ``executor="CeleryExecutor"``
(issue 13): PostgreSQL as metadata DB and Celery result backend (``db+postgresql://``), a private
Redis (Debian's ``redis-server``, scripts/integration/redis.sh) as broker, ``airflow scheduler``,
``airflow dag-processor``, ``airflow api-server`` (2 workers), two ``airflow celery worker``
processes (``worker-1``, ``worker-2``) and two ``airflow triggerer`` processes (``triggerer-1``,
``triggerer-2``: Airflow's HA triggerer), and the emulator as SeekrFlow. Each is its own process
with its own log under ``<work>/logs``; ``Deployment.stop()`` stops them all, Redis included.

Settings, sized for a 2-core machine:

- ``[celery] worker_concurrency`` 4 per worker (8 task slots): every running task is a Celery pool
  process plus its task process, and most of a task's life here is start-up CPU, so more slots
  would only queue on the 2 cores;
- ``[core] parallelism`` 16: the scheduler may have 8 tasks running and 8 queued in Redis, so a
  freed slot never waits for a scheduler loop; deferred tasks hold no slot;
- ``[celery] operation_timeout`` 10 s (default 1 s): sending to Redis on a loaded machine;
- triggerers with the default capacity (1000 each): which one takes a new trigger is whichever
  polls first, as in production, so a burst of waits often lands on one; the tests that need both
  to hold waits steer them (tests/system/distributed/steering.py);
- the emulator's jobs scaled down (data job ingestion 2 s, alignment 6 s, fine-tune 10 s);
- ``[scheduler] task_instance_heartbeat_timeout`` 40 s (default 300 s): how soon a killed worker's
  task tries are failed and retried (test_04).

Environment: ``IT_SQL_ALCHEMY_CONN`` (default: ``scripts/integration/postgres.sh`` with ``IT_PG_DB``,
default ``seekrflow_dist``: its own database, so it never resets an integration run's),
``IT_WORK_DIR`` (default: a new temporary directory, kept; Redis lives in ``<work>/redis``),
``IT_DIST_RUNS`` (40, the load batch of test_02), ``IT_DIST_FAULT_RATE`` (0.2).
"""

from __future__ import annotations

import pytest

from tests.system.distributed.load_metrics import LAG_LOG_THRESHOLD_S
from tests.system.integration.harness import Deployment, metadata_db_url
from tests.system.integration.lifecycle import reset_emulator_around, running, work_dir

CELERY_WORKERS, WORKER_CONCURRENCY, TRIGGERERS, PARALLELISM = 2, 4, 2, 16
PIPELINE_DAG = "it_pipeline_soak"
# The load (test_02), the sync waits a worker's loss interrupts (test_04), the kill and execution_timeout
# DAGs of the integration suite (test_05): tests/system/integration/dags/seekrflow_pipeline_dags.py.
SCALE_DAG, SYNC_DAG = "it_pipeline_scale", "it_pipeline_sync"
DAG_IDS = (PIPELINE_DAG, SCALE_DAG, SYNC_DAG, "it_pipeline_deferred", "it_pipeline_exec_timeout")
# A task try whose worker died (SIGKILL: no heartbeat, no failure report) is failed by the scheduler
# after this many seconds without a heartbeat, and its retry queued (Airflow's default: 300 s).
# Redis would redeliver the dead worker's unacknowledged message only after the visibility timeout
# (a day), and Airflow refuses to start a try that is no longer queued anyway: the heartbeat timeout
# is how a lost worker's work is resumed.
TASK_HEARTBEAT_TIMEOUT_S = 40
DISTRIBUTED_ENV = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(TASK_HEARTBEAT_TIMEOUT_S),
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    # Airflow's watchdog logs every event-loop lag above this (default 0.2 s): load_metrics.loop_lag.
    "AIRFLOW__TRIGGERER__BLOCKED_MAIN_THREAD_WARNING_THRESHOLD": str(LAG_LOG_THRESHOLD_S),
}


@pytest.fixture(scope="session")
def figures():
    """Measured figures; written to ``<work>/results.json`` at the end of the session."""
    return {}


@pytest.fixture(scope="session")
def deployment(figures):
    dep = Deployment(
        work_dir("seekrflow-dist-"),
        metadata_db_url("seekrflow_dist"),
        job_duration=6.0,
        parallelism=PARALLELISM,
        dag_ids=DAG_IDS,
        env=DISTRIBUTED_ENV,
        executor="CeleryExecutor",
        celery_workers=CELERY_WORKERS,
        worker_concurrency=WORKER_CONCURRENCY,
        triggerers=TRIGGERERS,
    )
    figures["settings"] = {
        "executor": "CeleryExecutor",
        "celery_workers": CELERY_WORKERS,
        "worker_concurrency": WORKER_CONCURRENCY,
        "triggerers": TRIGGERERS,
        "parallelism": PARALLELISM,
        "task_instance_heartbeat_timeout_s": TASK_HEARTBEAT_TIMEOUT_S,
    }
    with running(dep, figures):
        yield dep


@pytest.fixture
def emulator(deployment):
    """The emulator with an empty journal, no faults and the start-up config; faults cleared after."""
    yield from reset_emulator_around(deployment)
