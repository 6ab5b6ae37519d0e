"""A real Airflow 3 deployment for the integration suite, plus the SeekrFlow emulator as the service.

``Deployment`` runs, each as its own process with its own log file under ``<work>/logs``:

- the SeekrFlow emulator (``python -m airflow_provider_seekrflow.emulator``, own data dir, fixed port);
- ``airflow api-server``, ``airflow scheduler`` (LocalExecutor), ``airflow triggerer`` and
  ``airflow dag-processor``, all sharing one AIRFLOW_HOME and a PostgreSQL metadata database;
- or, with ``executor="CeleryExecutor"`` (tests/distributed), the scheduler hands tasks to N
  ``airflow celery worker`` processes through a private Redis (scripts/integration/redis.sh), with
  the Celery results in the metadata database, and M ``airflow triggerer`` processes share the
  deferred waits (Airflow's HA triggerer). Each worker and triggerer has its own hostname
  (tests/integration/hostnames.py), so ``task_instance.hostname`` and ``job.hostname`` say which one.

DAGs come from two local bundles: the repository's ``example_dags/`` and the harness's
``tests/integration/dags/``. The SeekrFlow connection is created through the REST API (so the
API key lives only in the metadata database, Fernet-encrypted), and DAG runs are triggered and
watched through the REST API, as a user or an outside system would.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[2]
HARNESS_DAGS = Path(__file__).resolve().parent / "dags"
EXAMPLE_DAGS = REPO / "example_dags"
DOCUMENTS = EXAMPLE_DAGS / "data" / "documents"
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "triggerer", "dag-processor")
REDIS_SH = REPO / "scripts" / "integration" / "redis.sh"
TERMINAL_RUN_STATES = ("success", "failed")
# tests/integration/dags/seekrflow_pipeline_dags.py: upload -> data job -> fine-tune.
PIPELINE_DAG_IDS = ("it_pipeline_soak", "it_pipeline_deferred", "it_pipeline_exec_timeout")


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    what: str,
    check: Callable[[], Any],
    timeout: float,
    interval: float = 1.0,
    on_timeout: Callable[[], str] | None = None,
) -> Any:
    """Call ``check`` until it returns something truthy; raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = check()
        except Exception as err:  # noqa: BLE001 - a check may fail while a process starts
            value, last_error = None, err
        if value:
            return value
        if time.monotonic() > deadline:
            extra = on_timeout() if on_timeout else ""
            raise TimeoutError(
                f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error}) {extra}"
            )
        time.sleep(interval)


class Process:
    """One long-running component: started with its output appended to a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert not self.alive, f"{self.name} is already running"
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts} of {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(  # noqa: S603
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=str(REPO),
            )  # fmt: skip

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL the component's whole process group, at once (a crash, not a shutdown)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` (the process group, so its children go too)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:  # children the component left behind (task processes, gunicorn workers...)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


class Emulator:
    """The SeekrFlow emulator as a separate process, and a client for its admin and list APIs."""

    def __init__(self, work: Path, api_key: str, env: dict[str, str], job_duration: float) -> None:
        self.api_key = api_key
        self.data_dir = work / "emulator-data"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process = Process(
            "emulator",
            [
                sys.executable, "-m", "airflow_provider_seekrflow.emulator", "--host", "127.0.0.1",
                "--port", str(self.port), "--data-dir", str(self.data_dir),
                "--job-duration", str(job_duration), "--log-level", "warning",
            ],
            # The key goes by environment, not argv: argv is in `ps` and in our log's start line.
            {**env, "SEEKRFLOW_EMULATOR_API_KEY": api_key},
            work / "logs",
        )  # fmt: skip

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process.start()
        wait_for("the emulator", lambda: self.admin("GET", "health"), 60, 0.2, self.process.tail)

    def restart(self, down_for: float = 0.0, hard: bool = True) -> None:
        """Crash (SIGKILL) or stop the emulator, stay down ``down_for`` seconds, start it again."""
        self.process.kill() if hard else self.process.stop()
        time.sleep(down_for)
        self.start()

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(method, f"{self.base_url}/_emulator/{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    def api(self, path: str, **params: Any) -> Any:
        response = requests.get(
            f"{self.base_url}/v1/flow/{path}",
            params=params,
            headers={"Authorization": self.api_key},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()

    def reset(self, **config: Any) -> None:
        """Clear journal and faults, restore the start-up config, then apply ``config``."""
        self.admin("POST", "reset")
        if config:
            self.admin("PUT", "config", config)

    def journal(self) -> list[dict[str, Any]]:
        return self.admin("GET", "journal")

    # The data directory is the emulator's ground truth (it survives restarts, unlike the journal).
    def stored_files(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted((self.data_dir / "files").glob("*.json"))]

    def stored_jobs(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted((self.data_dir / "jobs").glob("*.json"))]

    def jobs_for(self, tag: str) -> list[dict[str, Any]]:
        marker = f"[run {tag}]"
        return [job for job in self.stored_jobs() if marker in job["instructions"]]

    def job(self, job_id: str) -> dict[str, Any]:
        return self.api(f"alignment/{job_id}")

    # The pipeline's records (data jobs, fine-tunes, projects), raw as stored: internal keys included
    # (a data job's ``_files``, a fine-tune's ``_final``). Statuses are computed on read: use the API.
    def _stored(self, kind: str) -> list[dict[str, Any]]:
        records = []
        for path in sorted((self.data_dir / kind).glob("*.json")):
            try:
                records.append(json.loads(path.read_text()))
            except (OSError, ValueError):  # replaced while we read it: an atomic write in progress
                continue
        return records

    def stored_data_jobs(self) -> list[dict[str, Any]]:
        return self._stored("data_jobs")

    def stored_fine_tunes(self) -> list[dict[str, Any]]:
        return self._stored("fine_tunes")

    def stored_projects(self) -> list[dict[str, Any]]:
        return self._stored("projects")

    def data_job(self, data_job_id: str) -> dict[str, Any]:
        return self.api(f"data-jobs/{data_job_id}")

    def fine_tune(self, fine_tune_id: str) -> dict[str, Any]:
        return self.api(f"fine-tunes/{fine_tune_id}")


class Redis:
    """The Celery broker: a private redis-server that scripts/integration/redis.sh starts and stops."""

    def __init__(self, work: Path) -> None:
        self.dir = work / "redis"
        self.url = ""

    def _script(self, action: str) -> str:
        result = subprocess.run(  # noqa: S603
            ["bash", str(REDIS_SH), action], env={**os.environ, "IT_REDIS_DIR": str(self.dir)},
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"redis.sh {action} failed ({result.returncode}):\n{result.stderr[-3000:]}")
        return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""

    def start(self) -> None:
        self.url = self._script("start")

    def stop(self) -> None:
        self._script("stop")

    @property
    def pid(self) -> int | None:
        try:
            return int((self.dir / "redis.pid").read_text())
        except (OSError, ValueError):
            return None


class AirflowAPI:
    """The Airflow 3 public REST API (``/api/v2``), authenticated with a simple-auth-manager token."""

    def __init__(self, base_url: str, credentials: tuple[str, str] | None = None) -> None:
        self.base_url = base_url
        self.credentials = credentials
        self.session = requests.Session()

    def login(self) -> None:
        if self.credentials is None:  # simple_auth_manager_all_admins: a token for the asking
            response = requests.get(f"{self.base_url}/auth/token", timeout=30)
        else:
            username, password = self.credentials
            response = requests.post(
                f"{self.base_url}/auth/token", json={"username": username, "password": password}, timeout=30
            )
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def request(self, method: str, path: str, ok: Iterable[int] = (200,), **kwargs: Any) -> Any:
        url = f"{self.base_url}/api/v2/{path}"
        for attempt in range(3):
            response = self.session.request(method, url, timeout=60, **kwargs)
            if response.status_code == 401 and attempt < 2:
                self.login()  # tokens expire
                continue
            break
        if response.status_code not in ok:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code}: {response.text[:2000]}")
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    @staticmethod
    def q(value: str) -> str:
        return urllib.parse.quote(value, safe="")

    # -- DAG runs ----------------------------------------------------------------------------------
    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> dict[str, Any]:
        return self.request(
            "POST", f"dags/{dag_id}/dagRuns", json={"dag_run_id": run_id, "logical_date": None, "conf": conf}
        )

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Every run of the DAG, page by page (the API returns at most ``[api] maximum_page_limit``, 100)."""
        runs: list[dict[str, Any]] = []
        while True:
            page = self.get(f"dags/{dag_id}/dagRuns", limit=100, offset=len(runs), order_by="id")
            runs += page["dag_runs"]
            if not page["dag_runs"] or len(runs) >= page["total_entries"]:
                return runs

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.get(f"dags/{dag_id}/dagRuns/{self.q(run_id)}")["state"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        return wait_for(
            f"DAG run {dag_id}/{run_id} to end",
            lambda: (s := self.run_state(dag_id, run_id)) in TERMINAL_RUN_STATES and s,
            timeout,
            2,
            lambda: json.dumps(self.task_instances(dag_id, run_id), default=str)[:3000],
        )

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        data = self.get(f"dags/{dag_id}/dagRuns/{self.q(run_id)}/taskInstances")
        return {ti["task_id"]: ti for ti in data["task_instances"]}

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return self.get(f"dags/{dag_id}/dagRuns/{self.q(run_id)}/taskInstances/{task_id}")

    def wait_ti_state(
        self, dag_id: str, run_id: str, task_id: str, states: Iterable[str], timeout: float = 180
    ) -> str:
        wanted = set(states)
        return wait_for(
            f"{dag_id}/{run_id}/{task_id} to be {sorted(wanted)}",
            lambda: (s := self.task_instance(dag_id, run_id, task_id)["state"]) in wanted and s,
            timeout,
            1,
            lambda: json.dumps(self.task_instances(dag_id, run_id), default=str)[:3000],
        )

    def set_ti_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> Any:
        return self.request(
            "PATCH",
            f"dags/{dag_id}/dagRuns/{self.q(run_id)}/taskInstances/{task_id}",
            json={"new_state": state},
        )

    def clear(self, dag_id: str, run_id: str, task_ids: list[str], include_downstream: bool = True) -> Any:
        return self.request(
            "POST",
            f"dags/{dag_id}/clearTaskInstances",
            json={
                "dry_run": False,
                "dag_run_id": run_id,
                "task_ids": task_ids,
                "only_failed": False,
                "reset_dag_runs": True,
                "include_downstream": include_downstream,
            },
        )

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        entry = self.get(
            f"dags/{dag_id}/dagRuns/{self.q(run_id)}/taskInstances/{task_id}/xcomEntries/{key}",
            deserialize=True,
        )
        value = entry["value"]
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def state_store(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        data = self.get(f"dags/{dag_id}/dagRuns/{self.q(run_id)}/taskInstances/{task_id}/state-store")
        return {item["key"]: item["value"] for item in data.get("task_state_store", [])}


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
                *PIPELINE_DAG_IDS,
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
            env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = "tests.integration.hostnames.component_hostname"
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
