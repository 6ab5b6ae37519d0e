"""A real Airflow 3 deployment for the integration suite, plus the SeekrFlow emulator as the service.

``Deployment`` runs, each as its own process with its own log file under ``<work>/logs``:

- the SeekrFlow emulator (``python -m airflow_provider_seekrflow.emulator``, own data dir, fixed port);
- ``airflow api-server``, ``airflow scheduler`` (LocalExecutor), ``airflow triggerer`` and
  ``airflow dag-processor``, all sharing one AIRFLOW_HOME and a PostgreSQL metadata database;
- or, with ``executor="CeleryExecutor"`` (tests/system/distributed), the scheduler hands tasks to N
  ``airflow celery worker`` processes through a private Redis (scripts/integration/redis.sh), with
  the Celery results in the metadata database, and M ``airflow triggerer`` processes share the
  deferred waits (Airflow's HA triggerer). Each worker and triggerer has its own hostname
  (tests/system/integration/hostnames.py), so ``task_instance.hostname`` and ``job.hostname`` say which one.

DAGs come from two local bundles: the repository's ``example_dags/`` and the harness's
``tests/system/integration/dags/``. The SeekrFlow connection is created through the REST API (so the
API key lives only in the metadata database, Fernet-encrypted), and DAG runs are triggered and
watched through the REST API, as a user or an outside system would.

The parts live beside it: tests/system/integration/processes.py (``Process``, ``Emulator``, ``Redis``,
``wait_for``) and tests/system/integration/airflow_api.py (the REST API client).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import requests

from tests.system.integration.airflow_api import AirflowAPI
from tests.system.integration.processes import REPO, Emulator, Process, Redis, free_port, wait_for

HARNESS_DAGS = Path(__file__).resolve().parent / "dags"
EXAMPLE_DAGS = REPO / "example_dags"
DOCUMENTS = EXAMPLE_DAGS / "data" / "documents"
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "triggerer", "dag-processor")
# tests/system/integration/dags/seekrflow_pipeline_dags.py: upload -> data job -> fine-tune (the serve soak:
# -> deploy -> evaluate -> demote).
PIPELINE_DAG_IDS = (
    "it_pipeline_soak",
    "it_pipeline_serve_soak",
    "it_pipeline_deferred",
    "it_pipeline_exec_timeout",
)
# tests/system/integration/dags/seekrflow_vector_sync_dags.py: create-or-find a vector database, then sync a
# folder (and the create alone).
VECTOR_SYNC_DAG_IDS = ("it_vector_sync_soak", "it_vector_database_create")


def metadata_db_url(default_db: str | None = None) -> str:
    """
    The PostgreSQL URL a suite's deployment uses: ``IT_SQL_ALCHEMY_CONN``, else scripts/integration/postgres.sh's.

    :param default_db: The database when ``IT_PG_DB`` is not set (each suite its own, so one never
        resets another's); None: postgres.sh's default.
    """
    url = os.environ.get("IT_SQL_ALCHEMY_CONN")
    if url:
        return url
    env = dict(os.environ)
    if default_db is not None:
        env["IT_PG_DB"] = os.environ.get("IT_PG_DB", default_db)
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "integration" / "postgres.sh")],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


class Deployment:
    """The whole deployment; ``start()`` brings it up from an empty database, ``stop()`` tears it down."""

    def __init__(
        self,
        work: Path,
        sql_alchemy_conn: str,
        *,
        job_duration: float = 8.0,
        parallelism: int = 24,
        users: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        dag_ids: Iterable[str] | None = None,
        executor: str = "LocalExecutor",
        celery_workers: int = 2,
        worker_concurrency: int = 4,
        broker_url: str | None = None,
        triggerers: int = 1,
        triggerer_capacity: int | None = None,
    ) -> None:
        """
        Configure the deployment; nothing starts before ``start()``.

        :param users: Simple-auth-manager users (all admins) and their passwords, for a deployment
            that asks for a login (the browser suite); None: ``simple_auth_manager_all_admins``.
        :param env: Airflow settings applied over the harness's own (``AIRFLOW__...`` variables).
        :param dag_ids: The DAGs ``start()`` waits for and unpauses; default: the suite's.
        :param executor: ``LocalExecutor`` (the scheduler runs the tasks) or ``CeleryExecutor``:
            ``celery_workers`` worker processes (``worker-1``...), ``worker_concurrency`` tasks each.
        :param broker_url: The Celery broker; None: a private Redis, started and stopped with the rest.
        :param triggerers: How many ``airflow triggerer`` processes; one is ``triggerer``, several are
            ``triggerer-1``, ``triggerer-2``... (``self.triggerers`` lists the names).
        :param triggerer_capacity: ``airflow triggerer --capacity`` (None: Airflow's default, 1000). A
            triggerer takes every unassigned trigger up to its capacity when it polls, so a burst of
            waits lands on one triggerer unless the capacity splits it.
        """
        self.work = work
        self.sql_alchemy_conn = sql_alchemy_conn
        self.api_key = secrets.token_hex(16)  # 32 chars: long enough for Airflow's secret masker
        self.home = work / "airflow-home"
        self.log_dir = work / "logs"
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.parallelism = parallelism
        self.timings: dict[str, float] = {}
        self.users = dict(users or {})
        self.passwords_file = work / "simple_auth_manager_passwords.json"
        self.dag_ids = tuple(
            dag_ids
            if dag_ids is not None
            else (
                "example_seekrflow_alignment", "it_soak", "it_sync_wait", "it_deferred", "it_exec_timeout",
                *PIPELINE_DAG_IDS, *VECTOR_SYNC_DAG_IDS,
            )
        )  # fmt: skip
        self.celery = executor == "CeleryExecutor"
        self.redis = Redis(work) if self.celery and broker_url is None else None
        self.broker_url = broker_url or ""
        self.workers = [f"worker-{i}" for i in range(1, celery_workers + 1)] if self.celery else []
        self.triggerers = (
            ["triggerer"] if triggerers == 1 else [f"triggerer-{i}" for i in range(1, triggerers + 1)]
        )
        self.env = {**self._environment(), **self._distributed_environment(executor), **(env or {})}
        self.emulator = Emulator(work, self.api_key, self._emulator_env(), job_duration)
        self.api = AirflowAPI(self.api_url, next(iter(self.users.items())) if self.users else None)
        airflow = [sys.executable, "-m", "airflow"]
        argv = {
            "api-server": [
                *airflow,
                "api-server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.api_port),
                "--workers",
                "2",
            ],
            "scheduler": [*airflow, "scheduler"],
            "dag-processor": [*airflow, "dag-processor"],
        }
        self.components = {
            name: Process(name, argv[name], self.env, self.log_dir) for name in ("api-server", "scheduler")
        }
        # Several workers or triggerers on one machine: each its own hostname, log-server port and pid.
        distinct = self.celery or len(self.triggerers) > 1
        for name in self.triggerers:
            own = {"IT_HOSTNAME": name, "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
            capacity = ["--capacity", str(triggerer_capacity)] if triggerer_capacity else []
            self.components[name] = Process(
                name,
                [*airflow, "triggerer", *capacity],
                {**self.env, **own} if distinct else self.env,
                self.log_dir,
            )
        self.components["dag-processor"] = Process(
            "dag-processor", argv["dag-processor"], self.env, self.log_dir
        )
        for name in self.workers:
            own = {"IT_HOSTNAME": name, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
            self.components[name] = Process(
                name,
                [*airflow, "celery", "worker", "--celery-hostname", f"{name}@%h",
                 "--concurrency", str(worker_concurrency)],
                {**self.env, **own},
                self.log_dir,
            )  # fmt: skip

    # -- configuration ---------------------------------------------------------------------------
    def _environment(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SEEKR"))}
        bundles = [
            {"name": "seekrflow_examples", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
             "kwargs": {"path": str(EXAMPLE_DAGS), "refresh_interval": 0}},
            {"name": "integration_dags", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
             "kwargs": {"path": str(HARNESS_DAGS), "refresh_interval": 0}},
        ]  # fmt: skip
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
                "PYTHONUNBUFFERED": "1",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.sql_alchemy_conn,
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
                "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "64",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": str(not self.users),
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                # A crashed triggerer's triggers move to a live one after this many seconds.
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                # Ports of the scheduler's and triggerer's log servers, free ones rather than 8793 and
                # 8794: CI runs two deployments at once (integration-mid beside browser).
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__STATE_STORE__CLEAR_ON_SUCCESS": "False",
            }
        )
        if self.users:  # a login page: these users, all admins, with these passwords
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = ",".join(f"{u}:admin" for u in self.users)
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(self.passwords_file)
        return env

    def _distributed_environment(self, executor: str) -> dict[str, str]:
        """Settings of a deployment with several workers or triggerers (nothing for today's shape)."""
        env: dict[str, str] = {}
        if self.celery or len(self.triggerers) > 1:
            env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = "tests.system.integration.hostnames.component_hostname"
        if not self.celery:
            return env
        # Celery keeps its results in the metadata database, as the production shape does. The
        # driver stays named: a bare postgresql:// means psycopg (3) to this SQLAlchemy, not installed.
        result_backend = "db+" + self.sql_alchemy_conn
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": executor,
                "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
                # Sending a task to the broker may take more than the default 1 s on a loaded 2-core machine.
                "AIRFLOW__CELERY__OPERATION_TIMEOUT": "10",
                # Airflow's default, said explicitly (else every component warns): a task whose worker died
                # unacknowledged is redelivered by Redis only after this long.
                "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "86400",
            }
        )
        if self.broker_url:
            env["AIRFLOW__CELERY__BROKER_URL"] = self.broker_url
        return env

    def _emulator_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SEEKR"))}
        env["PYTHONPATH"] = self.env["PYTHONPATH"]
        env["PYTHONUNBUFFERED"] = "1"
        return env

    # -- lifecycle -----------------------------------------------------------------------------------
    def _timed(self, name: str, started: float) -> None:
        self.timings[name] = round(time.monotonic() - started, 1)

    def airflow(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True, text=True, timeout=timeout,
            cwd=str(REPO),
        )  # fmt: skip
        with open(self.log_dir / "airflow-cli.log", "a") as log:
            log.write(
                f"\n===== airflow {' '.join(args)} (exit {result.returncode})\n{result.stdout}\n{result.stderr}\n"
            )
        if result.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}"
            )
        return result.stdout

    def start(self) -> None:
        started = time.monotonic()
        for path in (self.home, self.log_dir, self.emulator.data_dir):
            shutil.rmtree(path, ignore_errors=True)
        self.home.mkdir(parents=True)
        self.log_dir.mkdir(parents=True)
        if self.users:
            self.passwords_file.write_text(json.dumps(self.users) + "\n")
        t = time.monotonic()
        self.airflow("db", "reset", "--yes", "--skip-init")
        if self.celery:  # Celery's result tables are not Airflow's: `db reset` keeps them, and their rows
            self._drop_tables("celery_taskmeta", "celery_tasksetmeta")  # of every earlier session
        self.airflow("db", "migrate")
        self._timed("db_migrate_s", t)
        self.emulator.start()
        if self.redis is not None:
            t = time.monotonic()
            self.redis.stop()  # a broker left running in this work dir may still hold old messages
            self.redis.start()
            self.broker_url = self.redis.url
            for process in self.components.values():  # the URL is known only now: a free port
                process.env["AIRFLOW__CELERY__BROKER_URL"] = self.broker_url
            self.env["AIRFLOW__CELERY__BROKER_URL"] = self.broker_url
            self._timed("redis_up_s", t)
        t = time.monotonic()
        for component in self.components.values():
            component.start()
        wait_for("the API server", self._api_ready, 180, 1, self.components["api-server"].tail)
        self.api.login()
        self._timed("components_up_s", t)
        self.create_connection()
        t = time.monotonic()
        for dag_id in self.dag_ids:
            wait_for(f"DAG {dag_id} to be parsed", lambda d=dag_id: self.api.get(f"dags/{d}"), 240, 2,
                     self.components["dag-processor"].tail)  # fmt: skip
            self.api.request("PATCH", f"dags/{dag_id}", json={"is_paused": False})
        self._timed("dags_parsed_s", t)
        self.wait_triggerer_alive()
        if self.celery or len(self.triggerers) > 1:
            t = time.monotonic()
            self.wait_distributed_ready()
            self._timed("workers_and_triggerers_up_s", t)
        self._timed("deployment_up_s", started)

    def _api_ready(self) -> bool:
        for name, component in self.components.items():
            if not component.alive:
                raise RuntimeError(f"{name} exited:\n{component.tail()}")
        return requests.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).status_code == 200

    def health(self) -> dict[str, Any]:
        return requests.get(f"{self.api_url}/api/v2/monitor/health", timeout=10).json()

    def wait_triggerer_alive(self, timeout: float = 120) -> None:
        wait_for(
            "a healthy triggerer",
            lambda: self.health().get("triggerer", {}).get("status") == "healthy",
            timeout,
            1,
            self.components[self.triggerers[0]].tail,
        )

    def create_connection(self) -> None:
        """The ``seekrflow_default`` connection, through the REST API: the key goes only to the DB."""
        self.api.request("DELETE", "connections/seekrflow_default", ok=(204, 404))
        self.api.request(
            "POST",
            "connections",
            ok=(200, 201),
            json={
                "connection_id": "seekrflow_default",
                "conn_type": "seekrflow",
                "host": self.emulator.base_url,
                "password": self.api_key,
            },
        )

    def stop(self) -> None:
        # The scheduler first (nothing new is queued), the api-server last (tasks report to it).
        for name in ("scheduler", *self.workers, *self.triggerers, "dag-processor", "api-server"):
            self.components[name].stop()
        self.emulator.process.stop()
        if self.redis is not None:
            self.redis.stop()

    def restart_component(self, name: str, down_for: float = 0.0) -> None:
        """SIGKILL a component (a crash), wait ``down_for`` seconds, start it again."""
        component = self.components[name]
        component.kill()
        time.sleep(down_for)
        component.start()

    # -- several workers and triggerers ----------------------------------------------------------------
    def wait_distributed_ready(self, timeout: float = 180) -> None:
        """Every Celery worker answers a ping through the broker; every triggerer heartbeats."""
        wait_for(
            f"Celery workers {self.workers} to answer",
            lambda: set(self.workers) <= set(self.celery_workers_alive()),
            timeout, 2, lambda: "\n".join(self.components[w].tail(15) for w in self.workers),
        )  # fmt: skip
        wait_for(
            f"triggerers {self.triggerers} to heartbeat",
            lambda: set(self.triggerers) <= set(self.triggerers_alive()),
            timeout, 2, lambda: "\n".join(self.components[t].tail(15) for t in self.triggerers),
        )  # fmt: skip

    def celery_workers_alive(self, timeout: float = 3.0) -> list[str]:
        """The workers that answer ``celery inspect ping`` (names before the ``@``: ``worker-1``)."""
        from celery import Celery

        app = Celery(broker=self.broker_url)
        try:
            replies = app.control.ping(timeout=timeout)
        finally:
            app.close()
        return sorted(name.split("@", 1)[0] for reply in replies for name in reply)

    def db_query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a query on the metadata database (psycopg2, which run.sh installs), as dicts."""
        import psycopg2

        dsn = self.sql_alchemy_conn.replace("postgresql+psycopg2://", "postgresql://", 1)
        with psycopg2.connect(dsn) as db, db.cursor() as cursor:
            cursor.execute(sql, tuple(params))
            columns = [c.name for c in cursor.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        db.close()
        return rows

    def _drop_tables(self, *tables: str) -> None:
        import psycopg2

        dsn = self.sql_alchemy_conn.replace("postgresql+psycopg2://", "postgresql://", 1)
        with psycopg2.connect(dsn) as db, db.cursor() as cursor:
            for table in tables:
                cursor.execute(f"drop table if exists {table}")  # noqa: S608 (our own table names)
        db.close()

    def triggerers_alive(self, within: float = 15.0) -> dict[str, int]:
        """Running triggerer jobs that heartbeat within ``within`` seconds: hostname -> job id."""
        rows = self.db_query(
            "select id, hostname from job where job_type = 'TriggererJob' and state = 'running'"
            " and latest_heartbeat > now() - make_interval(secs => %s)",
            (within,),
        )
        return {row["hostname"]: row["id"] for row in rows}

    def triggers_by_triggerer(self) -> dict[str, list[dict[str, Any]]]:
        """
        Every trigger row, grouped by the hostname of the triggerer job holding it (``unassigned``).

        The hostname is the component's name (``triggerer-1``...: hostnames.py); the ``job`` table
        has no pid. Each row: ``trigger_id``, ``classpath``, ``triggerer_job_id`` and ``job_state`` of
        that job, its ``heartbeat_age_s``, and the deferred task (``dag_id``, ``run_id``, ``task_id``;
        None for a trigger without one). A killed triggerer's triggers stay with its dead job until a
        live triggerer takes them over (``[triggerer] triggerer_health_check_threshold``); a restarted
        triggerer is a new job with the same hostname: compare ``triggerer_job_id`` with
        ``triggerers_alive()`` or look at ``heartbeat_age_s`` to tell the two apart.
        """
        rows = self.db_query(
            "select t.id as trigger_id, t.classpath, t.triggerer_id as triggerer_job_id, j.hostname,"
            " j.state as job_state,"
            " extract(epoch from now() - j.latest_heartbeat)::float as heartbeat_age_s,"
            " ti.dag_id, ti.run_id, ti.task_id"
            " from trigger t left join job j on j.id = t.triggerer_id"
            " left join task_instance ti on ti.trigger_id = t.id order by t.id"
        )
        grouped: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            grouped.setdefault(row.pop("hostname") or "unassigned", []).append(row)
        return grouped

    # -- helpers for tests -----------------------------------------------------------------------------
    def make_documents(self, tag: str) -> Path:
        """A folder of the example's source documents, renamed ``<tag>-<name>`` (run-scoped)."""
        folder = self.work / "documents" / tag
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for source in sorted(DOCUMENTS.iterdir()):
            shutil.copyfile(source, folder / f"{tag}-{source.name}")
        return folder

    def conf(self, tag: str, **extra: Any) -> dict[str, Any]:
        return {"tag": tag, "docs_dir": str(self.make_documents(tag)), **extra}

    def source_names(self, tag: str) -> list[str]:
        return sorted(f"{tag}-{source.name}" for source in DOCUMENTS.iterdir())

    def component_logs(self) -> list[Path]:
        return sorted(self.log_dir.glob("*.log"))
