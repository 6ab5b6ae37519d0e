"""The processes of a test deployment: any long-running component, the SeekrFlow emulator, Redis.

``Process`` starts a command with its output appended to its own log and can stop it, kill it
(a crash) or read its log's tail; ``Emulator`` is the SeekrFlow emulator as such a process with a
client for its admin and list APIs; ``Redis`` is the Celery broker that scripts/integration/redis.sh
starts and stops. ``wait_for`` is the suites' one polling loop. tests/system/integration/harness.py puts
them together into a deployment.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[3]
REDIS_SH = REPO / "scripts" / "integration" / "redis.sh"


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
        response = requests.request(
            method,
            f"{self.base_url}/_emulator/{path}",
            json=body,
            headers={"Authorization": self.api_key},  # the admin API needs the key too
            timeout=30,
        )
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

    def stored_deployments(self) -> list[dict[str, Any]]:
        """Deployment records (token counters included); the status is computed on read: ``deployment()``."""
        return self._stored("deployments")

    def stored_vector_ingestions(self) -> list[dict[str, Any]]:
        """Vector database ingestion jobs as stored (``vector_database_id``, ``file_ids``); status: the API."""
        return self._stored("vector_ingestions")

    def data_job(self, data_job_id: str) -> dict[str, Any]:
        return self.api(f"data-jobs/{data_job_id}")

    def fine_tune(self, fine_tune_id: str) -> dict[str, Any]:
        return self.api(f"fine-tunes/{fine_tune_id}")

    def deployment(self, deployment_id: str) -> dict[str, Any]:
        return self.api(f"deployments/{deployment_id}")


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
